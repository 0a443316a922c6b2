"""Schema migrations (Alembic) run on the hub's engine: `tawasul-hub db upgrade`, `db status`."""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache
from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Engine

MIGRATIONS = Path(__file__).parent / "migrations"


def alembic_config(engine: Engine) -> Config:
    """Alembic settings pointing at our migrations; the engine is handed over, never a URL string."""
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    cfg.attributes["engine"] = engine
    return cfg


def upgrade(engine: Engine, revision: str = "head") -> None:
    """Bring the database schema up to `revision` (idempotent)."""
    with engine.begin() as conn:
        cfg = alembic_config(engine)
        cfg.attributes["connection"] = conn
        command.upgrade(cfg, revision)


@dataclass(frozen=True)
class SchemaStatus:
    """Where the database's schema stands against the migrations this code ships."""

    stored: tuple[str, ...]
    """The revisions the database records (none: never migrated)."""
    head: str
    """The newest revision this code knows."""
    state: str
    """`current`; `behind` (run `tawasul-hub db upgrade`); or `ahead` (a newer release migrated it:
    expected during a rolling upgrade, whose migrations only add)."""


@cache
def _script() -> ScriptDirectory:
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    return ScriptDirectory.from_config(cfg)


def schema_status(engine: Engine) -> SchemaStatus:
    """Compare the database's recorded revision with this code's head (one small query)."""
    script = _script()
    head = script.get_current_head()
    assert head is not None
    with engine.connect() as conn:
        stored = tuple(MigrationContext.configure(conn).get_current_heads())
    known = {rev.revision for rev in script.walk_revisions()}
    if stored == (head,):
        state = "current"
    elif any(rev not in known for rev in stored):
        state = "ahead"
    else:
        state = "behind"
    return SchemaStatus(stored, head, state)
