"""Benchmark: what one /metrics scrape costs the store, as open handoffs and closed history grow.

Loads handoffs into a scratch PostgreSQL database (created and dropped here) with bench/deadlines.py's
loader and times the store's gauges (broker.gauges: open, overdue and escalated per agency, the
follow-up queue, outbox lag per agency, circuits, the webhook), median of several scrapes, at:

  1,000 open (the baseline of this run), 100,000 open, and 100,000 open beside 400,000 closed.

Also prints a `SELECT 1` round trip and the plan of the per-agency count, which must read only
the partial index ix_handoffs_open, so that years of closed handoffs cost a scrape nothing.

    .venv/bin/python bench/metrics_scrape.py [--admin-url postgresql+psycopg://postgres@127.0.0.1:5432/test]
"""

from __future__ import annotations

import argparse
import os
import statistics
import time
import uuid

from deadlines import load  # bench/deadlines.py: bulk-loads open handoffs and their cases
from prometheus_client import generate_latest
from sqlalchemy import create_engine, text

from broker.gauges import open_handoffs, store_registry
from broker.hub import Hub
from broker.logging import configure_logging
from broker.settings import Settings
from broker.store.engine import now
from broker.store.migrate import upgrade

REPEATS = 15


def time_scrape(hub: Hub) -> float:
    """Median milliseconds of one scrape of the store's gauges (the first, warming up, dropped)."""
    registry = store_registry(hub)
    runs = []
    for _ in range(REPEATS + 1):
        started = time.perf_counter()
        body = generate_latest(registry)
        runs.append((time.perf_counter() - started) * 1000)
        assert b"hub_store_up 1.0" in body
    return statistics.median(runs[1:])


def time_round_trip(hub: Hub) -> float:
    runs = []
    for _ in range(REPEATS + 1):
        with hub.engine.connect() as conn:
            started = time.perf_counter()
            conn.execute(text("SELECT 1"))
            runs.append((time.perf_counter() - started) * 1000)
    return statistics.median(runs[1:])


def explain(hub: Hub) -> str:
    with hub.engine.connect() as conn:
        captured: list[str] = []
        real = conn.execute

        def capture(statement, *args, **kwargs):  # type: ignore[no-untyped-def]
            compiled = statement.compile(dialect=conn.dialect, compile_kwargs={"literal_binds": True})
            captured.append(str(compiled))
            return real(statement, *args, **kwargs)

        conn.execute = capture  # type: ignore[method-assign]
        open_handoffs(conn)
        plan = conn.exec_driver_sql("EXPLAIN (ANALYZE, BUFFERS, COSTS OFF) " + captured[0]).all()
        conn.rollback()
    return "\n".join(r[0] for r in plan)


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
    hub = Hub(Settings(database_url=url, log_format="console", log_level="WARNING", webhook_url="http://127.0.0.1:9/"))
    try:
        upgrade(hub.engine)
        at = now()
        print(f"SELECT 1 round trip: {time_round_trip(hub):.2f} ms")
        load(hub.engine, 1, 1_000, at)
        baseline = time_scrape(hub)
        print(f"{1_000:>9,} open:                  scrape {baseline:6.2f} ms (baseline)")
        load(hub.engine, 1_001, 100_000, at)
        large = time_scrape(hub)
        print(f"{100_000:>9,} open:                  scrape {large:6.2f} ms ({large / baseline:.1f} x baseline)")
        load(hub.engine, 100_001, 500_000, at)
        with hub.engine.begin() as conn:
            conn.execute(text("UPDATE handoffs SET state = 'accepted', next_check_at = NULL WHERE id > 'h0000100000'"))
        with hub.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            conn.execute(text("VACUUM ANALYZE handoffs"))
        history = time_scrape(hub)
        print(
            f"{100_000:>9,} open + 400,000 closed: scrape {history:6.2f} ms "
            f"({history / baseline:.1f} x baseline, {history / large:.2f} x without history)"
        )
        print("\nplan of the per-agency count at 100,000 open + 400,000 closed:")
        print(explain(hub))
    finally:
        hub.engine.dispose()
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


if __name__ == "__main__":
    main()
