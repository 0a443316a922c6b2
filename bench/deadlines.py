"""Benchmark: the deadline sweep reads what is due, not what is open.

Loads 100,000 and then 1,000,000 open handoffs into a scratch PostgreSQL database (created and
dropped here), the same 1,000 of them due, and times at both sizes the sweep's selection (the
query it runs, FOR UPDATE SKIP LOCKED, rolled back) and a full sweep of the 1,000 (warnings,
events, claims). Prints the ratio of the two sizes and the query plan, which must show the
partial index on `next_check_at`.

    .venv/bin/python bench/deadlines.py [--admin-url postgresql+psycopg://postgres@127.0.0.1:5432/test]

Goal: selection under 100 ms at 1,000,000 open, ratio (1,000,000 / 100,000) at most 1.5.
"""

from __future__ import annotations

import argparse
import os
import statistics
import time
import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import Engine, create_engine, text

from broker.hub import Hub
from broker.logging import configure_logging
from broker.settings import Settings
from broker.store.engine import now
from broker.store.migrate import upgrade
from broker.store.tables import handoffs
from broker.sweep import due_query, sweep

DUE = 1000
SIZES = (100_000, 1_000_000)
REPEATS = 15

_CASES = """
INSERT INTO cases (id, reference, kind, category, state, payload, created_at, updated_at)
SELECT 'c' || lpad(g::text, 10, '0'), 'TW-B-' || g, 'complaint', 'public-schools', 'with_agency',
       '{}'::json, :at - interval '3 days', :at - interval '3 days'
FROM generate_series(CAST(:lo AS integer), CAST(:hi AS integer)) AS g
"""

# Open handoffs whose next check lies in the next 30 days; the first DUE of them are due now.
_HANDOFFS = """
INSERT INTO handoffs (id, case_id, agency_id, adapter, state, overdue, attempts, created_at, updated_at,
                      ack_due_at, answer_due_at, answer_allowed, warn_at, next_check_at,
                      warned, escalation_level, deadline_version)
SELECT 'h' || lpad(g::text, 10, '0'), 'c' || lpad(g::text, 10, '0'), 'ministry-of-education', 'manual',
       'acknowledged', false, 1, :at - interval '3 days', :at - interval '3 days',
       :at - interval '2 days', n + interval '3 days', 252000, n, n, false, 0, 0
FROM generate_series(CAST(:lo AS integer), CAST(:hi AS integer)) AS g,
     LATERAL (SELECT CASE WHEN g <= :due THEN :at - interval '1 hour' * (1 + g % 24)
                          ELSE :at + interval '1 second' * (1 + (g::bigint * 7919) % (30 * 86400)) END AS n) AS t
"""

_RESET = """
UPDATE handoffs SET warned = false, next_check_at = warn_at, deadline_version = deadline_version + 1
WHERE id <= 'h' || lpad(CAST(:due AS text), 10, '0')
"""


def load(engine: Engine, lo: int, hi: int, at: datetime) -> float:
    """Bulk-load handoffs lo..hi (and their cases) in SQL; returns seconds taken."""
    started = time.perf_counter()
    with engine.begin() as conn:
        conn.execute(text("SET LOCAL synchronous_commit = off"))
        conn.execute(text(_CASES), {"lo": lo, "hi": hi, "at": at})
        conn.execute(text(_HANDOFFS), {"lo": lo, "hi": hi, "at": at, "due": DUE})
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        conn.execute(text("VACUUM ANALYZE handoffs"))
        conn.execute(text("VACUUM ANALYZE cases"))
    return time.perf_counter() - started


def _selection(at: datetime) -> Any:
    """The sweep's query, asked for everything due at once (the sweep takes it SWEEP_BATCH at a time)."""
    return due_query(at, 2 * DUE).with_for_update(skip_locked=True, of=handoffs)


def time_selection(engine: Engine, at: datetime) -> tuple[float, int]:
    """Median milliseconds to select every due handoff (locked, then rolled back), and rows seen."""
    q = _selection(at)
    runs = []
    rows = 0
    for _ in range(REPEATS + 1):  # the first run warms the cache and the connection; it is dropped
        with engine.connect() as conn:
            started = time.perf_counter()
            rows = len(conn.execute(q).all())
            runs.append((time.perf_counter() - started) * 1000)
            conn.rollback()
    return statistics.median(runs[1:]), rows


def explain(engine: Engine, at: datetime) -> str:
    compiled = _selection(at).compile(dialect=engine.dialect)
    with engine.connect() as conn:
        plan = conn.exec_driver_sql("EXPLAIN (ANALYZE, BUFFERS, COSTS OFF) " + str(compiled), compiled.params).all()
        conn.rollback()
    return "\n".join(r[0] for r in plan)


def time_sweep(hub: Hub, at: datetime) -> tuple[float, int]:
    """Milliseconds for one full sweep of the due handoffs; then puts them back as they were."""
    started = time.perf_counter()
    result = sweep(hub, at)
    took = (time.perf_counter() - started) * 1000
    with hub.engine.begin() as conn:
        conn.execute(text(_RESET), {"due": DUE})
        conn.execute(text("DELETE FROM events"))
    return took, result.warned


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument(
        "--admin-url", default=os.environ.get("TEST_PG_ADMIN_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test")
    )
    args = parser.parse_args()
    configure_logging("console", "WARNING")
    name = f"hub_bench_{uuid.uuid4().hex[:8]}"
    admin = create_engine(args.admin_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    url = args.admin_url.rsplit("/", 1)[0] + f"/{name}"
    hub = Hub(Settings(database_url=url, log_format="console", log_level="WARNING"))
    try:
        upgrade(hub.engine)
        at = now()
        figures = {}
        loaded = 0
        for size in SIZES:
            took = load(hub.engine, loaded + 1, size, at)
            loaded = size
            select_ms, rows = time_selection(hub.engine, at)
            sweep_ms, warned = time_sweep(hub, at)
            assert rows == DUE and warned == DUE, (rows, warned)
            figures[size] = select_ms
            print(
                f"{size:>9,} open, {DUE} due: loaded in {took:5.1f} s; selection {select_ms:6.1f} ms "
                f"(median of {REPEATS}); full sweep of the {DUE} {sweep_ms:7.1f} ms"
            )
        small, large = figures[SIZES[0]], figures[SIZES[1]]
        print(
            f"ratio {SIZES[1]:,} / {SIZES[0]:,}: {large / small:.2f} (goal <= 1.5); "
            f"selection at 1M: {large:.1f} ms (goal < 100)"
        )
        print("\nplan at 1,000,000 open:")
        print(explain(hub.engine, at))
    finally:
        hub.engine.dispose()
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


if __name__ == "__main__":
    main()
