"""A circuit breaker per agency, kept in the database so every relay and worker sees the same one.

An agency whose deliveries keep failing with retriable errors is parked: its circuit opens after
`circuit_failures` consecutive failures and the relay stops publishing its work (the rows stay
due). After a cool-down one probe delivery is let through (half-open); success closes the circuit,
failure re-opens it with a doubled cool-down, capped. While open, the agency's waiting handoffs sit
on the follow-up queue so the central office can act when a deadline is at risk.

The transitions are pure functions of (circuit, outcome, time); the store only loads and saves.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any

import structlog
from sqlalchemy import Connection, bindparam, insert, select, update
from sqlalchemy.dialects import postgresql, sqlite

from adapters.errors import AttachmentStoreError, DeliveryError, RetriableDeliveryError, UncertainDeliveryError
from broker import followup
from broker.settings import Settings
from broker.store.engine import now
from broker.store.tables import agency_circuits
from schemas import HandoffState, Receipt

log = structlog.get_logger(__name__)


class CircuitState(StrEnum):
    """Whether the relay publishes an agency's deliveries: all, none, or one probe."""

    closed = "closed"
    open = "open"
    half_open = "half_open"


@dataclass(frozen=True)
class Policy:
    """When circuits open and how long they stay open."""

    failures: int
    cooldown: float
    cooldown_cap: float
    probe_lease: float

    @classmethod
    def from_settings(cls, s: Settings) -> Policy:
        """The policy the hub's settings describe (a probe is in flight for one lease)."""
        return cls(s.circuit_failures, s.circuit_cooldown, s.circuit_cooldown_cap, s.lease_seconds)

    def cooldown_after(self, reopened: int) -> timedelta:
        """Cool-down after `reopened` failed probes: doubled each time, capped."""
        return timedelta(seconds=min(self.cooldown_cap, self.cooldown * 2**reopened))


@dataclass(frozen=True)
class Circuit:
    """One agency's breaker; `reopened` counts failed probes since it first opened."""

    agency_id: str
    state: CircuitState = CircuitState.closed
    consecutive_failures: int = 0
    reopened: int = 0
    opened_at: datetime | None = None
    opened_until: datetime | None = None
    probe_until: datetime | None = None
    last_error: str | None = None


def after_success(c: Circuit) -> Circuit:
    """The agency answered (even a refusal proves it reachable): the circuit closes."""
    if c.state is CircuitState.closed and c.consecutive_failures == 0:
        return c
    return Circuit(c.agency_id, last_error=c.last_error)


def after_failure(c: Circuit, error: str, at: datetime, policy: Policy) -> Circuit:
    """A retriable failure: counted while closed, opens at the threshold, re-opens a failed probe."""
    failures = c.consecutive_failures + 1
    if c.state is CircuitState.half_open:
        reopened = c.reopened + 1
        return replace(
            c,
            state=CircuitState.open,
            consecutive_failures=failures,
            reopened=reopened,
            opened_until=at + policy.cooldown_after(reopened),
            probe_until=None,
            last_error=error,
        )
    if c.state is CircuitState.open or failures < policy.failures:
        # open: a late report from a delivery that started before the circuit opened
        return replace(c, consecutive_failures=failures, last_error=error)
    return replace(
        c,
        state=CircuitState.open,
        consecutive_failures=failures,
        reopened=0,
        opened_at=at,
        opened_until=at + policy.cooldown_after(0),
        probe_until=None,
        last_error=error,
    )


def allowance(c: Circuit, at: datetime) -> int | None:
    """How many deliveries the breaker lets the relay claim now: None (no limit), 0, or 1 (a probe)."""
    if c.state is CircuitState.closed:
        return None
    if c.state is CircuitState.open:
        return 1 if c.opened_until is None or c.opened_until <= at else 0
    return 1 if c.probe_until is None or c.probe_until <= at else 0


def start_probe(c: Circuit, at: datetime, policy: Policy) -> Circuit:
    """The relay let one delivery through: half-open until it reports or its lease runs out."""
    return replace(c, state=CircuitState.half_open, probe_until=at + timedelta(seconds=policy.probe_lease))


def followup_note(c: Circuit) -> str:
    """Why an open circuit's handoffs are on the follow-up queue, in English and Arabic."""
    since = f"{c.opened_at:%Y-%m-%d %H:%M} UTC" if c.opened_at else "now"
    return (
        f"agency unreachable: circuit open since {since} ({c.consecutive_failures} failed deliveries: {c.last_error}); "
        f"delivery resumes when the agency answers — "
        f"الجهة لا تستجيب: أوقف التسليم منذ {since} بعد {c.consecutive_failures} محاولات فاشلة، "
        f"ويُستأنف عندما تستجيب الجهة"
    )


def _circuit(row: Any) -> Circuit:
    return Circuit(
        agency_id=row.agency_id,
        state=CircuitState(row.state),
        consecutive_failures=row.consecutive_failures,
        reopened=row.reopened,
        opened_at=row.opened_at,
        opened_until=row.opened_until,
        probe_until=row.probe_until,
        last_error=row.last_error,
    )


def load(conn: Connection) -> dict[str, Circuit]:
    """Every stored circuit, by agency (an agency without a row is closed)."""
    return {row.agency_id: _circuit(row) for row in conn.execute(_ALL)}


_ALL = select(agency_circuits)
"""Built once: every relay pass reads it."""


def _ensure_row(conn: Connection, agency_id: str) -> None:
    """Create the agency's row as closed unless it exists (two workers may race to create it)."""
    values = {
        "agency_id": agency_id,
        "state": CircuitState.closed.value,
        "consecutive_failures": 0,
        "reopened": 0,
        "updated_at": now(),
    }
    if conn.dialect.name == "postgresql":
        conn.execute(postgresql.insert(agency_circuits).values(values).on_conflict_do_nothing())
    elif conn.dialect.name == "sqlite":
        conn.execute(sqlite.insert(agency_circuits).values(values).on_conflict_do_nothing())
    elif (
        conn.execute(select(agency_circuits.c.agency_id).where(agency_circuits.c.agency_id == agency_id)).first()
        is None
    ):
        conn.execute(insert(agency_circuits).values(values))


def _locked(conn: Connection, agency_id: str) -> Circuit:
    """The agency's circuit, locked until commit (PostgreSQL; SQLite has one writer at a time)."""
    _ensure_row(conn, agency_id)
    query = select(agency_circuits).where(agency_circuits.c.agency_id == agency_id)
    if conn.dialect.name == "postgresql":
        query = query.with_for_update()
    return _circuit(conn.execute(query).one())


def save(conn: Connection, c: Circuit) -> None:
    """Write one agency's circuit."""
    _ensure_row(conn, c.agency_id)
    conn.execute(
        update(agency_circuits)
        .where(agency_circuits.c.agency_id == c.agency_id)
        .values(
            state=c.state.value,
            consecutive_failures=c.consecutive_failures,
            reopened=c.reopened,
            opened_at=c.opened_at,
            opened_until=c.opened_until,
            probe_until=c.probe_until,
            last_error=c.last_error,
            updated_at=now(),
        )
    )


def probing(conn: Connection, circuits: list[Circuit], policy: Policy) -> None:
    """Mark these circuits half-open: the relay has just claimed their probe deliveries."""
    at = now()
    for c in circuits:
        probe = start_probe(c, at, policy)
        save(conn, probe)
        if c.state is CircuitState.open:
            log.info("agency.circuit_half_open", agency=c.agency_id, failures=c.consecutive_failures)


def _park(conn: Connection, c: Circuit) -> int:
    """Put the agency's waiting handoffs on the follow-up queue; returns how many joined it."""
    waiting = (HandoffState.pending.value, HandoffState.delivering.value)
    return followup.park(conn, c.agency_id, followup_note(c), waiting)


_STATE = select(agency_circuits.c.state, agency_circuits.c.consecutive_failures).where(
    agency_circuits.c.agency_id == bindparam("agency")
)
"""An agency's breaker at a glance, read on every delivery's outcome (built once)."""


def untroubled(state: str | None, consecutive_failures: int | None) -> bool:
    """Whether a success leaves this breaker as it is: closed with no failures counted (None: no row yet)."""
    return state is None or (state == CircuitState.closed and consecutive_failures == 0)


def record(conn: Connection, settings: Settings, agency_id: str, outcome: Receipt | DeliveryError) -> None:
    """Tell the agency's breaker how one call went (called as the outcome is settled).

    Retriable and uncertain failures count against the agency; a refusal proves it reachable. The
    attachment store's failures say nothing about the agency (and adapter bugs are not reported
    here at all). The common case (closed, no failures, success) costs one primary-key read.
    """
    if isinstance(outcome, AttachmentStoreError):
        return
    failed = isinstance(outcome, RetriableDeliveryError | UncertainDeliveryError)
    if not failed:
        row = conn.execute(_STATE, {"agency": agency_id}).first()
        if row is None or untroubled(row.state, row.consecutive_failures):
            return
    before = _locked(conn, agency_id)
    after = (
        after_failure(before, str(outcome), now(), Policy.from_settings(settings)) if failed else after_success(before)
    )
    if after == before:
        return
    save(conn, after)
    if after.state is CircuitState.open and before.state is not CircuitState.open:
        parked = _park(conn, after)
        log.warning(
            "agency.circuit_opened",
            agency=agency_id,
            failures=after.consecutive_failures,
            reopened=after.reopened,
            until=after.opened_until.isoformat() if after.opened_until else None,
            parked=parked,
            error=after.last_error,
        )
    elif after.state is CircuitState.closed and before.state is not CircuitState.closed:
        opened = before.opened_at.isoformat() if before.opened_at else None
        log.info("agency.circuit_closed", agency=agency_id, was=before.state.value, opened_at=opened)
