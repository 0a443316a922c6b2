"""Loads config/agencies.yaml, checks all of it at once and builds each agency's adapter."""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import structlog
import yaml
from pydantic import ValidationError

from adapters.base import Adapter
from adapters.errors import ConfigError, HubError
from adapters.registry import adapter_class
from broker.sla import SlaPolicy, load_policy
from schemas import AdapterConfig, AgencyConfig, CategoryRoute, HubConfig, OnboardingStatus
from schemas.sla import SlaConfig

log = structlog.get_logger(__name__)

_ENV = re.compile(r"\$\{([A-Z0-9_]+)(?::-([^}]*))?\}")

EXPANDED_KEYS = frozenset({"base_url", "token_url", "wsdl", "host", "port", "spool"})
"""The only fields where `${NAME:-default}` is replaced from the environment: where to reach an agency (L8)."""
DEMO_VARIABLES = frozenset(
    {"HUB_SIMULATOR_URL", "HUB_SOAP_SIMULATOR_URL", "HUB_EMAIL_SMTP_PORT", "HUB_EMAIL_LISTENER_PORT", "HUB_EMAIL_SPOOL"}
)
"""Where the demo's and tests' simulators listen: the only HUB_* names a config may expand (none is a setting)."""
_SECRETISH = re.compile(r"KEY|SECRET|TOKEN|PASSWORD|PEPPER|CREDENTIAL", re.IGNORECASE)


def _label(item: Any, index: int) -> str:
    return str(item["id"]) if isinstance(item, dict) and item.get("id") else f"[{index}]"


def _expand(value: Any, path: str = "", problems: list[str] | None = None) -> Any:
    """Replace ${NAME:-default} from the environment, only in the fields that say where an agency is.

    Anywhere else (headers, templates, constants, contacts) a ${…} is refused, and so is the name
    of any of the hub's own variables or of a secret, so the config cannot ship them to an agency.
    """
    found = problems if problems is not None else []
    if isinstance(value, str):
        key = path.rsplit(".", 1)[-1]
        for match in _ENV.finditer(value):
            name = match.group(1)
            if key not in EXPANDED_KEYS:
                found.append(f"{path}: ${{{name}}} is expanded only in {', '.join(sorted(EXPANDED_KEYS))}")
            elif (name.startswith("HUB_") and name not in DEMO_VARIABLES) or _SECRETISH.search(name):
                found.append(f"{path}: ${{{name}}} names the hub's own setting or a secret; it is never expanded")
        return _ENV.sub(lambda m: os.environ.get(m.group(1), m.group(2) or ""), value)
    if isinstance(value, list):
        return [_expand(v, f"{path}.{_label(v, i)}", found) for i, v in enumerate(value)]
    if isinstance(value, dict):
        return {k: _expand(v, f"{path}.{k}" if path else str(k), found) for k, v in value.items()}
    return value


def _path(loc: tuple[int | str, ...], raw: dict[str, Any]) -> str:
    """`agencies[3].adapter.kind` → `agencies.ministry-of-works.adapter.kind`, readable for people."""
    parts: list[str] = []
    node: Any = raw
    for key in loc:
        if isinstance(key, int) and isinstance(node, list) and key < len(node):
            node = node[key]
            label = node.get("id") if isinstance(node, dict) else None
            parts.append(str(label) if label else f"[{key}]")
        else:
            parts.append(str(key))
            node = node.get(key) if isinstance(node, dict) else None
    return ".".join(parts)


@dataclass
class Directory:
    """Every agency and category rule, validated; adapters are built once and reused."""

    agencies: dict[str, AgencyConfig]
    categories: dict[str, CategoryRoute]
    source: Path
    sla: SlaPolicy = field(default_factory=lambda: SlaPolicy(SlaConfig()))
    _adapters: dict[str, Adapter] = field(default_factory=dict)
    _shadows: dict[str, Adapter] = field(default_factory=dict)

    def agency(self, agency_id: str) -> AgencyConfig:
        """One agency's configuration."""
        return self.agencies[agency_id]

    def adapter(self, agency_id: str) -> Adapter:
        """The adapter of one agency, built at load time (constructors do no I/O)."""
        return self._adapters[agency_id]

    def shadow(self, agency_id: str) -> Adapter | None:
        """The adapter that receives copies of the agency's handoffs in shadow mode (broker.shadow), if any."""
        return self._shadows.get(agency_id)

    def overlaid(self, adapters: Mapping[str, dict[str, Any]], shadows: Mapping[str, dict[str, Any]]) -> Directory:
        """This directory with some agencies' adapters switched at run time (broker.agency_adapters).

        `adapters` and `shadows` hold adapter blocks as in agencies.yaml, by agency. A block this
        process cannot build (a variable missing from its environment, a plugin not installed here)
        is logged and left out: the agency keeps its agencies.yaml adapter rather than none.
        """
        agencies = dict(self.agencies)
        built = dict(self._adapters)
        shadow_built: dict[str, Adapter] = {}
        for agency_id, block in adapters.items():
            if agency_id in agencies and (made := _usable(agencies[agency_id], block, "adapter")) is not None:
                agencies[agency_id], built[agency_id] = made
        for agency_id, block in shadows.items():
            if agency_id in agencies and (made := _usable(agencies[agency_id], block, "shadow")) is not None:
                shadow_built[agency_id] = made[1]
        return replace(self, agencies=agencies, _adapters=built, _shadows=shadow_built)

    def check_adapters(self) -> list[str]:
        """Ask each agency's adapter whether its endpoint is usable; every problem, with its agency."""
        problems = []
        for agency_id, adapter in self._adapters.items():
            try:
                adapter.check()
            except ConfigError as exc:  # every problem, each on its line with the agency's path
                problems += [f"agencies.{agency_id}.adapter: {problem}" for problem in exc.problems]
            except HubError as exc:
                problems.append(f"agencies.{agency_id}.adapter: {exc}")
        return problems

    def describe_adapters(self) -> dict[str, dict[str, Any]]:
        """What each agency's adapter does, for people (never a secret)."""
        return {agency_id: adapter.describe() for agency_id, adapter in self._adapters.items()}

    def close(self) -> None:
        """Release the adapters' connections (at shutdown)."""
        for adapter in self._adapters.values():
            adapter.close()

    def operator(self) -> AgencyConfig:
        """The central office's own entity, which triages what fits nowhere else."""
        return next(a for a in self.agencies.values() if a.operator)


def _usable(agency: AgencyConfig, block: Mapping[str, Any], role: str) -> tuple[AgencyConfig, Adapter] | None:
    """The agency with this block and its adapter; None (logged) when this process cannot build it."""
    try:
        switched = agency_with(agency, block)
        return switched, build_adapter(switched, f"agencies.{agency.id}.{role}.")
    except ConfigError as exc:
        log.error("agency_adapters.unusable", agency=agency.id, role=role, problems=exc.problems)
        return None


def agency_with(agency: AgencyConfig, block: Mapping[str, Any]) -> AgencyConfig:
    """`agency` speaking through another adapter block (`kind` plus settings, `${…}` expanded here).

    An agency on the manual adapter is `joining`, any other `onboarded` (agencies.yaml's own rule).
    """
    problems: list[str] = []
    expanded = _expand(dict(block), f"agencies.{agency.id}.adapter", problems)
    if problems:
        raise ConfigError(problems[0], problems)
    if not isinstance(expanded.get("kind"), str) or not expanded["kind"]:
        raise ConfigError(f"agencies.{agency.id}.adapter.kind: field required")
    status = OnboardingStatus.joining if expanded["kind"] == "manual" else OnboardingStatus.onboarded
    return agency.model_copy(update={"adapter": AdapterConfig.model_validate(expanded), "status": status})


def build_adapter(agency: AgencyConfig, where: str) -> Adapter:
    """Validate the agency's adapter settings against its kind's model and build it; no I/O.

    Raises one ConfigError listing every problem, each as `<where><field>: message`
    (`where` is `agencies.x.adapter.` or `settings.yaml: `, say).
    """
    try:
        return adapter_class(agency.adapter.kind).from_config(agency)
    except ValidationError as exc:
        found = [f"{where}{'.'.join(str(p) for p in e['loc'])}: {e['msg']}" for e in exc.errors()]
        raise ConfigError(found[0], found) from None
    except HubError as exc:
        raise ConfigError(f"{where}kind: {exc}") from None


def _read(source: Path) -> dict[str, Any]:
    problems: list[str] = []
    try:
        raw = _expand(yaml.safe_load(source.read_text(encoding="utf-8")), problems=problems)
    except FileNotFoundError:
        raise ConfigError(f"{source}: file not found") from None
    except yaml.YAMLError as exc:
        raise ConfigError(f"{source.name}: not valid YAML: {exc}") from None
    if problems:
        named = [f"{source.name}: {p}" for p in problems]
        raise ConfigError(named[0], named)
    if not isinstance(raw, dict):
        raise ConfigError(f"{source.name}: expected a mapping with `agencies` and `categories`")
    return raw


def _check_agencies(name: str, hub: HubConfig, problems: list[str]) -> dict[str, AgencyConfig]:
    agencies: dict[str, AgencyConfig] = {}
    for agency in hub.agencies:
        if agency.id in agencies:
            problems.append(f"{name}: agencies.{agency.id}: duplicate agency id")
        agencies[agency.id] = agency
        try:
            adapter_class(agency.adapter.kind).settings_model.model_validate(agency.adapter.settings)
            for partner in agency.transfer_partners:
                if partner not in {a.id for a in hub.agencies}:
                    problems.append(f"{name}: agencies.{agency.id}.transfer_partners: unknown agency '{partner}'")
        except ValidationError as exc:
            for e in exc.errors():
                loc = ".".join(str(p) for p in e["loc"])
                problems.append(f"{name}: agencies.{agency.id}.adapter.{loc}: {e['msg']}")
        except HubError as exc:
            problems.append(f"{name}: agencies.{agency.id}.adapter.kind: {exc}")
    if sum(a.operator for a in agencies.values()) != 1:
        problems.append(f"{name}: agencies: exactly one agency must be `operator: true`")
    return agencies


def _check_categories(
    name: str, hub: HubConfig, agencies: dict[str, AgencyConfig], problems: list[str]
) -> dict[str, CategoryRoute]:
    categories: dict[str, CategoryRoute] = {}
    for route in hub.categories:
        if route.id in categories:
            problems.append(f"{name}: categories.{route.id}: duplicate category id")
        categories[route.id] = route
        for target in [*route.agencies, *route.by_governorate.values()]:
            if target not in agencies:
                problems.append(f"{name}: categories.{route.id}: unknown agency '{target}'")
    return categories


def load_directory(config_dir: Path, source: Path | None = None) -> Directory:
    """Read and check agencies.yaml; raise one ConfigError that lists every problem with its path.

    `source` reads the agencies from another file (a proposed change) with config_dir's sla.yaml.
    """
    source = source or config_dir / "agencies.yaml"
    name = source.name
    raw = _read(source)
    try:
        hub = HubConfig.model_validate(raw)
    except ValidationError as exc:
        found = [f"{name}: {_path(e['loc'], raw)}: {e['msg']}" for e in exc.errors()]
        raise ConfigError(f"{name}: {len(found)} problem(s)", found) from None
    problems: list[str] = []
    agencies = _check_agencies(name, hub, problems)
    categories = _check_categories(name, hub, agencies, problems)
    sla = load_policy(config_dir, set(agencies), set(categories), problems)
    if problems:
        raise ConfigError(f"{name}: {len(problems)} problem(s)", problems)
    adapters = {a.id: adapter_class(a.adapter.kind).from_config(a) for a in agencies.values()}
    return Directory(agencies=agencies, categories=categories, source=source, sla=sla, _adapters=adapters)
