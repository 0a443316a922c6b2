"""Agencies' adapters chosen at run time: rows that override the adapter blocks of agencies.yaml.

`tawasul-hub agencies onboard`/`offboard` (and shadow mode) write here rather than to the file, so a
switch reaches every running worker, relay and API without a restart: each process lays these rows
over agencies.yaml and looks at the table's highest `version` every few seconds (broker.hub),
rebuilding its directory when it moved. A block is stored as written (`${…}` unexpanded), so each
process expands it from its own environment, as it does agencies.yaml.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import structlog
from sqlalchemy import Connection, Engine, func, insert, select, text, update
from sqlalchemy.exc import SQLAlchemyError

from broker.store.engine import now
from broker.store.tables import agency_adapters

log = structlog.get_logger(__name__)

_WRITE_LOCK = 0x7441_6164  # arbitrary, constant advisory-lock key: versions are handed out one at a time


@dataclass(frozen=True)
class Override:
    """One agency's adapter as switched at run time, and the copy it may send on the side."""

    agency_id: str
    adapter: dict[str, Any]
    """The adapter block as in agencies.yaml: `kind` plus the kind's settings."""
    shadow: dict[str, Any] | None
    """Shadow mode (broker.shadow): `{"adapter": block, "since": ISO instant, "open": bool}`, or None."""
    version: int


def version(engine: Engine) -> int | None:
    """The table's highest version (0 when empty); None when it cannot be read (a store not migrated yet).

    An SQLite file that does not exist yet is not created by asking (`config check` before `db upgrade`).
    """
    database = engine.url.database
    if engine.dialect.name == "sqlite" and database not in (None, "", ":memory:") and not Path(database).exists():
        return None
    try:
        with engine.connect() as conn:
            return int(conn.execute(select(func.coalesce(func.max(agency_adapters.c.version), 0))).scalar_one())
    except SQLAlchemyError as exc:
        log.debug("agency_adapters.unreadable", error=type(exc).__name__)
        return None


def read_all(engine: Engine) -> dict[str, Override]:
    """Every override, by agency."""
    with engine.connect() as conn:
        return {row.agency_id: _override(row) for row in conn.execute(select(agency_adapters))}


def read(conn: Connection, agency_id: str) -> Override | None:
    """One agency's override, if it has one."""
    row = conn.execute(select(agency_adapters).where(agency_adapters.c.agency_id == agency_id)).first()
    return None if row is None else _override(row)


def _override(row: Any) -> Override:
    return Override(row.agency_id, dict(row.adapter), dict(row.shadow) if row.shadow else None, int(row.version))


def write(
    conn: Connection,
    agency_id: str,
    *,
    adapter: dict[str, Any],
    shadow: dict[str, Any] | None,
    actor: str,
) -> int:
    """Set one agency's adapter (and shadow) in the caller's transaction; returns the new version.

    The version is one more than the table's highest, under a lock, so every change raises the
    highest version and every process notices it.
    """
    if conn.dialect.name == "postgresql":
        conn.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": _WRITE_LOCK})
    highest = conn.execute(select(func.coalesce(func.max(agency_adapters.c.version), 0))).scalar_one()
    new = int(highest) + 1
    values: dict[str, Any] = {"adapter": adapter, "shadow": shadow, "version": new, "changed_by": actor}
    values["updated_at"] = now()
    changed = conn.execute(
        update(agency_adapters).where(agency_adapters.c.agency_id == agency_id).values(**values)
    ).rowcount
    if not changed:
        conn.execute(insert(agency_adapters).values(agency_id=agency_id, **values))
    return new
