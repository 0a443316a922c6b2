"""Benchmark: what the console's pages cost over the core reads they show.

Loads N cases (default 5,000) for a joining agency into a scratch SQLite store, so every one is on
the follow-up queue, then times (median of 20) the queue page, its live fragment and the
statistics page through the whole app (session check, CSRF, template), against the core reads
alone (`followup.queue` + `followup.counts`; the statistics functions) measured in the same run.

    .venv/bin/python bench/console.py [--cases 5000]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from fastapi.testclient import TestClient

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # tests.support, run from anywhere

from broker import followup
from broker import statistics as stats
from broker.api import create_app
from broker.console import accounts
from broker.console.permissions import Role
from broker.hub import Hub
from broker.intake import submit_cases
from broker.logging import configure_logging
from broker.settings import Settings
from broker.statistics import Period
from broker.store.migrate import upgrade
from schemas import CaseIn
from tests.support import pump

CASE = {
    "kind": "complaint",
    "category": "social-insurance-pensions",
    "subject": "تأخر صرف المعاش التقاعدي",
    "description": "لم يُصرف معاشي لهذا الشهر رغم تقديم جميع المستندات.",
    "language": "ar",
    "channel": "portal",
    "submitted_at": "2026-11-22T09:14:00+03:00",
    "citizen": {"name": "فاطمة علي", "cpr": "850412345"},
}


def _median_ms(action: Callable[[], object], rounds: int = 20) -> float:
    times = []
    for _ in range(rounds):
        started = time.perf_counter()
        action()
        times.append(time.perf_counter() - started)
    return statistics.median(times) * 1000


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--cases", type=int, default=5000)
    args = parser.parse_args()
    configure_logging("console", "WARNING")
    with tempfile.TemporaryDirectory() as tmp:
        hub = Hub(Settings(database_url=f"sqlite:///{Path(tmp) / 'hub.db'}", log_level="WARNING"))
        upgrade(hub.engine)
        cases = [CaseIn.model_validate({**CASE, "reference": f"TW-B-{n:06d}"}) for n in range(args.cases)]
        for start in range(0, len(cases), 500):
            submit_cases(hub.engine, hub.directory, cases[start : start + 500], actor="bench")
        pump(hub, rounds=1000)  # delivered to the joining agency: all on the follow-up queue
        with hub.engine.connect() as conn:
            queued = sum(followup.counts(conn).values())
        accounts.create_user(hub.engine, "bench", Role.admin, "bench password 1", actor="bench")
        client = TestClient(create_app(hub), base_url="https://bench")
        login = client.get("/console/login").text
        csrf = login.split('name="csrf" value="')[1].split('"')[0]
        client.post("/console/login", data={"username": "bench", "password": "bench password 1", "csrf": csrf})

        def core_queue() -> None:
            with hub.engine.connect() as conn:
                followup.queue(conn, limit=26)
                followup.counts(conn)

        def core_stats() -> None:
            with hub.engine.connect() as conn:
                stats.cases_by_kind(conn, Period.month, 6)
                stats.cases_by_agency(conn, Period.month, 6)
                stats.agency_quality(conn, hub.directory.sla)

        figures = {
            "core queue read (baseline)": _median_ms(core_queue),
            "queue page": _median_ms(lambda: client.get("/console/queue")),
            "queue live fragment": _median_ms(lambda: client.get("/console/queue/live")),
            "queue page, search text": _median_ms(lambda: client.get("/console/queue?search=TW-B-004")),
            "core statistics read (baseline)": _median_ms(core_stats, 5),
            "statistics page": _median_ms(lambda: client.get("/console/stats"), 5),
        }
        print(f"{args.cases} cases, {queued} handoffs on the follow-up queue, SQLite, median ms:")
        for name, ms in figures.items():
            print(f"  {name:34} {ms:8.1f}")
        print(f"  queue page / core read:     {figures['queue page'] / figures['core queue read (baseline)']:.1f}x")
        print(
            f"  statistics page / core read: "
            f"{figures['statistics page'] / figures['core statistics read (baseline)']:.1f}x"
        )


if __name__ == "__main__":
    main()
