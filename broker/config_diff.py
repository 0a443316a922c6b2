"""What a proposed agencies.yaml would change, compared with the one in effect (`config check --against`).

Pure: two validated directories in, a list of changes out. Adapter settings are compared key by
key and only the keys are shown: the one kind of value printed is an environment variable's name
(`*_env`), never what it holds, so a diff can be pasted into a change request.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel

from broker.config import Directory
from schemas import AgencyConfig, CategoryRoute

AGENCY_FIELDS = (
    "name_ar",
    "name_en",
    "contacts",
    "share",
    "sign_env",
    "transfer_partners",
    "operator",
    "max_in_flight",
)
"""An agency's fields besides its status and adapter, compared as a whole each."""


@dataclass(frozen=True)
class Change:
    """One difference: its section, what it is about (agency or category id), and for people what changed."""

    section: str
    """`agency added`, `agency removed`, `status`, `adapter`, `agency fields`, `routing` or `deadlines`."""
    subject: str
    detail: str
    agencies: tuple[str, ...]
    """The agencies it touches (a routing change touches the old and the new ones)."""


def _flat(value: Any, prefix: str = "") -> dict[str, Any]:
    """`{"a": {"b": 1}}` → `{"a.b": 1}`: settings compared leaf by leaf."""
    if isinstance(value, dict) and value:
        return {k: v for key, sub in value.items() for k, v in _flat(sub, f"{prefix}{key}.").items()}
    return {prefix.rstrip("."): value}


def _shown(key: str, old: Any, new: Any) -> str:
    """A changed setting: its key, and for an environment variable's name, the names."""
    if key.endswith("_env") and (isinstance(old, str | None) and isinstance(new, str | None)):
        return f"{key} ({old or '-'} → {new or '-'})"
    return key


def adapter_change(old: AgencyConfig, new: AgencyConfig) -> str | None:
    """How the agency's adapter block changed: its kind, or the settings keys added, removed or changed."""
    if old.adapter.kind != new.adapter.kind:
        return f"kind {old.adapter.kind} → {new.adapter.kind}"
    before, after = _flat(old.adapter.settings), _flat(new.adapter.settings)
    keys = sorted(k for k in before.keys() | after.keys() if before.get(k) != after.get(k))
    if not keys:
        return None
    return f"{old.adapter.kind} settings changed: " + ", ".join(_shown(k, before.get(k), after.get(k)) for k in keys)


def _targets(route: CategoryRoute | None) -> list[str]:
    if route is None:
        return []
    by_place = [f"{place}:{agency}" for place, agency in sorted(route.by_governorate.items())]
    return [*route.agencies, *by_place]


def _agencies_of(route: CategoryRoute | None) -> set[str]:
    return set() if route is None else {*route.agencies, *route.by_governorate.values()}


def _agency_changes(current: Directory, proposed: Directory) -> list[Change]:
    was, will = current.agencies, proposed.agencies
    changes = [
        Change("agency added", a, f"{will[a].name_en} ({will[a].status.value})", (a,)) for a in will if a not in was
    ]
    changes += [Change("agency removed", a, was[a].name_en, (a,)) for a in was if a not in will]
    for agency_id in [a for a in was if a in will]:
        old, new = was[agency_id], will[agency_id]
        if old.status != new.status:
            changes.append(Change("status", agency_id, f"{old.status.value} → {new.status.value}", (agency_id,)))
        if (adapter := adapter_change(old, new)) is not None:
            changes.append(Change("adapter", agency_id, adapter, (agency_id,)))
        fields = [f for f in AGENCY_FIELDS if getattr(old, f) != getattr(new, f)]
        if fields:
            changes.append(Change("agency fields", agency_id, ", ".join(fields), (agency_id,)))
    return changes


def _routing_changes(current: Directory, proposed: Directory) -> list[Change]:
    changes = []
    for category in sorted(current.categories.keys() | proposed.categories.keys()):
        old, new = current.categories.get(category), proposed.categories.get(category)
        if _targets(old) != _targets(new):
            detail = f"{', '.join(_targets(old)) or '(none)'} → {', '.join(_targets(new)) or '(none)'}"
            touched = tuple(sorted(_agencies_of(old) ^ _agencies_of(new)) or sorted(_agencies_of(new)))
            changes.append(Change("routing", category, detail, touched))
    return changes


def _override(value: BaseModel | None) -> str:
    return "none" if value is None else json.dumps(value.model_dump(mode="json", exclude_defaults=True))


def _deadline_changes(current: Directory, proposed: Directory) -> list[Change]:
    was, will = current.sla.config, proposed.sla.config
    changes = []
    for agency_id in sorted(was.agencies.keys() | will.agencies.keys()):
        old, new = was.agencies.get(agency_id), will.agencies.get(agency_id)
        if old != new:
            detail = f"sla.yaml agencies.{agency_id}: {_override(old)} → {_override(new)}"
            changes.append(Change("deadlines", agency_id, detail, (agency_id,)))
    rest = [k for k in type(was).model_fields if k != "agencies" and getattr(was, k) != getattr(will, k)]
    if rest:
        changes.append(Change("deadlines", "sla.yaml", f"changed: {', '.join(rest)}", ()))
    return changes


def diff(current: Directory, proposed: Directory) -> list[Change]:
    """Every change from `current` to `proposed`: agencies, statuses, adapters, fields, routing, deadlines."""
    return [
        *_agency_changes(current, proposed),
        *_routing_changes(current, proposed),
        *_deadline_changes(current, proposed),
    ]


def affected(changes: list[Change]) -> list[str]:
    """The agencies the changes touch, in order of first mention."""
    return list(dict.fromkeys(a for change in changes for a in change.agencies))
