"""Moving an agency from the manual follow-up queue to its own system, and back.

`prepare` reads the settings file and validates it against the kind's settings model (the same as
an agency's block in agencies.yaml) and `check` asks the agency's endpoint: neither writes. Then
`onboard` commits the switch (broker.agency_adapters, which every running process picks up) and
re-dispatches each open manual handoff through the new adapter, one transaction per handoff that
acts only while the handoff is still manual: a run that stopped half-way is finished by running it
again, and no handoff is moved twice. Deadlines are never touched. `offboard` switches the agency
back to manual and puts each of its open handoffs on the follow-up queue.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Collection
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import structlog
import yaml
from sqlalchemy import select

from adapters.base import Adapter
from adapters.errors import ConfigError, HubError
from broker import agency_adapters, events, followup, outbox
from broker.config import agency_with, build_adapter
from broker.errors import NotFound
from broker.hub import REFRESH_SECONDS, Hub
from broker.lifecycle import OPEN, next_handoff_state
from broker.outbox import DELIVER
from broker.store.audit import audit
from broker.store.engine import now, transaction
from broker.store.handoffs import load, update_handoff
from broker.store.tables import handoffs
from schemas import AgencyConfig, FollowupReason, HandoffState

log = structlog.get_logger(__name__)

MOVABLE = frozenset(s.value for s in (HandoffState.pending, HandoffState.delivered, HandoffState.acknowledged))
"""A manual handoff in these states is still the agency's to act on and not answered: it is re-dispatched."""

SETTLE_SECONDS = REFRESH_SECONDS + 0.5
"""After a switch, every running process has rebuilt its directory within this time (broker.hub)."""

Progress = Callable[[str, bool], None]
"""Called after each handoff with its id and whether this run moved it."""


@dataclass(frozen=True)
class Plan:
    """A validated onboarding, before anything is written."""

    agency: AgencyConfig
    """The agency as it will be: its new adapter block in place."""
    block: dict[str, Any]
    """The adapter block as stored (`kind` plus the settings file's keys, `${…}` unexpanded)."""
    adapter: Adapter


@dataclass(frozen=True)
class Summary:
    """What a run did: handoffs moved now, and those already moved (by an earlier run) or moved on."""

    agency: str
    kind: str
    moved: list[str]
    skipped: list[str]


def read_settings(path: Path, kind: str) -> dict[str, Any]:
    """The settings file as an adapter block: `kind` plus the file's keys; ConfigError names what is wrong."""
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ConfigError(f"{path}: file not found") from None
    except (yaml.YAMLError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{path.name}: not valid YAML: {exc}") from None
    raw = {} if raw is None else raw
    if not isinstance(raw, dict):
        raise ConfigError(f"{path.name}: expected a mapping of the adapter's settings")
    given = raw.pop("kind", kind)
    if given != kind:
        raise ConfigError(f"{path.name}: kind: the file says '{given}' but --adapter says '{kind}'")
    return {"kind": kind, **raw}


def prepare(hub: Hub, agency_id: str, kind: str, settings: Path) -> Plan:
    """Validate the onboarding of `agency_id` onto `kind` with the settings in `settings` (no I/O beyond the file)."""
    directory = hub.directory
    if agency_id not in directory.agencies:
        raise NotFound(f"unknown agency '{agency_id}'")
    if kind == "manual":
        raise ConfigError("--adapter: manual is where an agency comes from; use `tawasul-hub agencies offboard`")
    block = read_settings(settings, kind)
    agency = agency_with(directory.agency(agency_id), block)
    return Plan(agency, block, build_adapter(agency, f"{settings.name}: "))


def check(plan: Plan) -> list[str]:
    """Ask the agency's endpoint through the new adapter; every problem (none: it is usable)."""
    try:
        plan.adapter.check()
    except ConfigError as exc:
        return list(exc.problems)
    except HubError as exc:
        return [str(exc)]
    return []


def waiting(hub: Hub, agency_id: str) -> list[str]:
    """The agency's open manual handoffs not answered yet, oldest first: what onboarding moves."""
    return _handoffs(hub, agency_id, manual=True, states=MOVABLE)


def connected(hub: Hub, agency_id: str) -> list[str]:
    """The agency's open handoffs that go through its own system: what offboarding puts on the queue."""
    return _handoffs(hub, agency_id, manual=False, states=OPEN)


def _handoffs(hub: Hub, agency_id: str, *, manual: bool, states: Collection[str]) -> list[str]:
    """The agency's handoffs, manual or not, in one of `states`, oldest first."""
    query = (
        select(handoffs.c.id)
        .where(handoffs.c.agency_id == agency_id, handoffs.c.manual.is_(manual), handoffs.c.state.in_(sorted(states)))
        .order_by(handoffs.c.created_at, handoffs.c.id)
    )
    with hub.engine.connect() as conn:
        return list(conn.execute(query).scalars())


def onboard(hub: Hub, plan: Plan, actor: str, progress: Progress | None = None) -> Summary:
    """Switch the agency to the plan's adapter, then re-dispatch its open manual handoffs through it.

    Run again after a stop half-way, it finishes the job: handoffs already moved are skipped.
    """
    agency_id, kind = plan.agency.id, plan.block["kind"]
    todo = waiting(hub, agency_id)
    with transaction(hub.engine) as conn:
        version = agency_adapters.write(conn, agency_id, adapter=plan.block, shadow=None, actor=actor)
        audit(conn, actor, "agency.switched", agency_id, adapter=kind, version=version, open=len(todo))
    hub.refresh_directory()
    log.info("agency.switched", agency=agency_id, adapter=kind, version=version, open=len(todo))
    moved, skipped = _passes(
        lambda: waiting(hub, agency_id), todo, lambda h: _redispatch(hub, h, agency_id, kind, actor), progress
    )
    with transaction(hub.engine) as conn:
        audit(conn, actor, "agency.onboarded", agency_id, adapter=kind, moved=len(moved), skipped=len(skipped))
    log.info("agency.onboarded", agency=agency_id, adapter=kind, moved=len(moved), skipped=len(skipped))
    return Summary(agency_id, kind, moved, skipped)


def start_shadow(hub: Hub, plan: Plan, actor: str, *, include_open: bool) -> None:
    """Shadow mode: the plan's adapter receives copies of the agency's handoffs; the manual queue still decides.

    Only for an agency still on the manual adapter; run again (new settings, say), it keeps the
    time shadow mode began, so the report covers the whole trial. A real `onboard` or `offboard` ends it.
    """
    agency_id = plan.agency.id
    if not hub.directory.adapter(agency_id).capabilities.manual:
        raise ConfigError(
            f"--shadow: {agency_id} is connected already; shadow mode is for an agency on the manual queue"
        )
    with transaction(hub.engine) as conn:
        current = agency_adapters.read(conn, agency_id)
        began = current.shadow["since"] if current is not None and current.shadow else now().isoformat()
        shadow = {"adapter": plan.block, "since": began, "open": include_open}
        version = agency_adapters.write(conn, agency_id, adapter={"kind": "manual"}, shadow=shadow, actor=actor)
        audit(conn, actor, "agency.shadow", agency_id, adapter=plan.block["kind"], version=version, open=include_open)
    hub.refresh_directory()
    log.info("agency.shadow", agency=agency_id, adapter=plan.block["kind"], since=began, open=include_open)


def _passes(
    find: Callable[[], list[str]], todo: list[str], move: Callable[[str], bool], progress: Progress | None
) -> tuple[list[str], list[str]]:
    """Move `todo`, then, once every running process has seen the switch, whatever they made meanwhile.

    A process that had not yet noticed the switch (it looks every REFRESH_SECONDS) may still have
    given the agency a handoff the old way; the second pass, after that time, moves those too.
    """
    started = time.monotonic()
    moved: list[str] = []
    skipped: list[str] = []
    for handoff_id in todo:
        done = move(handoff_id)
        (moved if done else skipped).append(handoff_id)
        if progress is not None:
            progress(handoff_id, done)
    time.sleep(max(0.0, SETTLE_SECONDS - (time.monotonic() - started)))
    for handoff_id in find():
        if move(handoff_id):
            moved.append(handoff_id)
            if progress is not None:
                progress(handoff_id, True)
    return moved, skipped


def _redispatch(hub: Hub, handoff_id: str, agency_id: str, kind: str, actor: str) -> bool:
    """Send one manual handoff out again through the agency's new adapter; False if it is no longer manual.

    One transaction: the handoff's row is locked, so a second run (or an officer recording an
    answer meanwhile) sees it moved or moved on and leaves it.
    """
    with transaction(hub.engine) as conn:
        h = load(conn, handoff_id, lock=True)
        if not h.manual or h.state not in MOVABLE or h.agency_id != agency_id:
            return False
        values: dict[str, Any] = {
            "state": next_handoff_state(h.state, "redispatch").value,
            "adapter": kind,
            "manual": False,
            "uncertain": False,
            "last_error": None,
        }
        values.update(followup.cleared(conn, replace(h, manual=False), FollowupReason.manual))
        update_handoff(conn, h.id, values, expect=h.state)
        if not outbox.waiting(conn, DELIVER, [h.id]):
            outbox.enqueue(conn, [(DELIVER, h.id, agency_id)])
        events.append(
            conn,
            type="handoff.redispatched",
            case_id=h.case_id,
            handoff_id=h.id,
            actor=actor,
            agency=agency_id,
            adapter=kind,
            was=h.state,
            ack_due_at=h.ack_due_at.isoformat() if h.ack_due_at else None,
            answer_due_at=h.answer_due_at.isoformat() if h.answer_due_at else None,
        )
    log.info("handoff.redispatched", handoff=handoff_id, agency=agency_id, adapter=kind)
    return True


def offboard(hub: Hub, agency_id: str, actor: str, progress: Progress | None = None) -> Summary:
    """Return the agency to the manual adapter (ending shadow mode too); its open handoffs join the follow-up queue.

    Run again after a stop half-way, it finishes the job.
    """
    if agency_id not in hub.directory.agencies:
        raise NotFound(f"unknown agency '{agency_id}'")
    todo = connected(hub, agency_id)
    with transaction(hub.engine) as conn:
        version = agency_adapters.write(conn, agency_id, adapter={"kind": "manual"}, shadow=None, actor=actor)
        audit(conn, actor, "agency.switched", agency_id, adapter="manual", version=version, open=len(todo))
    hub.refresh_directory()
    find = lambda: connected(hub, agency_id)  # noqa: E731 - read as the pair below
    moved, skipped = _passes(find, todo, lambda h: _to_manual(hub, h, agency_id, actor), progress)
    with transaction(hub.engine) as conn:
        audit(conn, actor, "agency.offboarded", agency_id, moved=len(moved), skipped=len(skipped))
    log.info("agency.offboarded", agency=agency_id, moved=len(moved), skipped=len(skipped))
    return Summary(agency_id, "manual", moved, skipped)


def _to_manual(hub: Hub, handoff_id: str, agency_id: str, actor: str) -> bool:
    """Make one open handoff manual and put it on the follow-up queue; False if it already is (or closed)."""
    with transaction(hub.engine) as conn:
        h = load(conn, handoff_id, lock=True)
        if h.manual or h.state not in OPEN or h.agency_id != agency_id:
            return False
        note = followup.manual_note("the agency's system was disconnected")
        values: dict[str, Any] = {"adapter": "manual", "manual": True, **followup.flag(h, FollowupReason.manual, note)}
        update_handoff(conn, h.id, values, expect=h.state)
        events.append(
            conn,
            type="handoff.to_manual",
            case_id=h.case_id,
            handoff_id=h.id,
            actor=actor,
            agency=agency_id,
            was=h.adapter,
            state=h.state,
        )
    return True
