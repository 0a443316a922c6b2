"""The SLA policy: config/sla.yaml checked at start-up, and the deadlines it gives each handoff."""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

from broker.working_time import WorkingCalendar
from schemas import CaseKind
from schemas.sla import Deadlines, DeadlinesOverride, EscalationLevel, SlaConfig

SLA_FILE = "sla.yaml"


@dataclass(frozen=True)
class SlaPolicy:
    """Deadlines per case kind, overridden per category and per agency, in one working calendar."""

    config: SlaConfig

    @cached_property
    def calendar(self) -> WorkingCalendar:
        """The working calendar every deadline is counted in."""
        return WorkingCalendar.from_config(self.config.calendar)

    @property
    def escalation(self) -> list[EscalationLevel]:
        """The escalation levels, in the order they are reached."""
        return self.config.escalation

    def deadlines(self, kind: str, category: str, agency: str) -> Deadlines:
        """The clocks for one handoff; the more specific rule wins: kind < category < agency.

        Within a category or agency block, its `kinds.<kind>` entry beats its general entry.
        """
        case_kind = CaseKind(kind)
        chosen: dict[str, Any] = self.config.kinds[case_kind].model_dump()
        for override in (self.config.categories.get(category), self.config.agencies.get(agency)):
            for layer in (override, override.kinds.get(case_kind) if override else None):
                if layer is not None:
                    chosen.update(layer.model_dump(exclude={"kinds"}, exclude_none=True))
        return Deadlines.model_validate(chosen)


def load_policy(config_dir: Path, agencies: set[str], categories: set[str], problems: list[str]) -> SlaPolicy:
    """Read config/sla.yaml (built-in defaults when absent), adding every problem with its path."""
    source = config_dir / SLA_FILE
    if not source.exists():
        return SlaPolicy(SlaConfig())
    try:
        raw = yaml.safe_load(source.read_text(encoding="utf-8")) or {}
    except yaml.YAMLError as exc:
        problems.append(f"{SLA_FILE}: not valid YAML: {exc}")
        return SlaPolicy(SlaConfig())
    try:
        config = SlaConfig.model_validate(raw)
    except ValidationError as exc:
        problems.extend(
            f"{SLA_FILE}: {'.'.join(str(p) for p in e['loc']) or '(top)'}: {e['msg']}" for e in exc.errors()
        )
        return SlaPolicy(SlaConfig())
    _check_names(config.agencies, agencies, "agencies", "agency", problems)
    _check_names(config.categories, categories, "categories", "category", problems)
    return SlaPolicy(config)


def _check_names(
    overrides: dict[str, DeadlinesOverride], known: set[str], section: str, what: str, problems: list[str]
) -> None:
    for name in overrides:
        if name not in known:
            problems.append(f"{SLA_FILE}: {section}.{name}: unknown {what} '{name}'")
