"""Benchmark: does the hub slow down as its history grows? Intake and agency messages on an empty store
and on one holding 1,000,000 cases, in the same run.

    .venv/bin/python bench/history.py [--history 1000000] [--probes 3000]

In a scratch PostgreSQL database (created and dropped here), single-threaded and in this process so
the figures are the hub's own work and its database's: `--probes` one-case intakes
(`broker.intake.submit_cases`, one transaction each), then as many acknowledgements from the agency
(`broker.messages.record_message`, one each, on the handoffs just made). Then PostgreSQL writes the
history itself (INSERT … SELECT generate_series): closed cases spread over the past year, each with a
handoff its agency answered and the central office accepted, four events and two agency messages,
and the tables are analysed. Then the same probes again. Printed: each rate and its ratio to the
empty store's (goal: within 10 %). The writes take a few minutes at 1,000,000.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

from sqlalchemy import Engine, select, text, update

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from throughput import scratch_database  # noqa: E402

from broker.hub import Hub  # noqa: E402
from broker.intake import submit_cases  # noqa: E402
from broker.logging import configure_logging  # noqa: E402
from broker.messages import Sender, record_message  # noqa: E402
from broker.settings import Settings  # noqa: E402
from broker.store.tables import handoffs  # noqa: E402
from schemas import AgencyMessage, CaseIn  # noqa: E402

SAMPLES = [json.loads(line) for line in (ROOT / "config/samples/cases.jsonl").read_text("utf-8").splitlines()]

HISTORY_SQL = [
    """INSERT INTO cases (id, reference, kind, category, state, payload, created_at, updated_at)
       SELECT 'c_hist' || lpad(g::text, 20, '0'), 'TW-H-' || lpad(g::text, 10, '0'), 'complaint',
              'road-maintenance', 'closed', CAST(:payload AS json),
              now() - make_interval(secs => g * :spread), now() - make_interval(secs => g * :spread - 86400)
       FROM generate_series(1, :n) AS g""",
    """INSERT INTO handoffs (id, case_id, agency_id, adapter, manual, state, overdue, round, uncertain,
                             attempts, agency_reference, created_at, updated_at, acknowledged_at, answered_at,
                             warned, escalation_level, deadline_version)
       SELECT 'h_hist' || lpad(g::text, 20, '0'), 'c_hist' || lpad(g::text, 20, '0'), 'ministry-of-works', 'rest',
              false, 'accepted', false, 1, false, 1, 'MOW-' || g,
              now() - make_interval(secs => g * :spread), now() - make_interval(secs => g * :spread - 86400),
              now() - make_interval(secs => g * :spread - 3600), now() - make_interval(secs => g * :spread - 80000),
              false, 0, 0
       FROM generate_series(1, :n) AS g""",
    """INSERT INTO events (position, case_id, handoff_id, type, actor, data, created_at)
       SELECT g * 4 + k, 'c_hist' || lpad(g::text, 20, '0'), 'h_hist' || lpad(g::text, 20, '0'),
              (ARRAY['case.received', 'handoff.delivered', 'message.answered', 'case.closed'])[k + 1],
              'bench', CAST('{}' AS json), now() - make_interval(secs => g * :spread - k * 3600)
       FROM generate_series(1, :n) AS g, generate_series(0, 3) AS k""",
    """INSERT INTO agency_messages (id, handoff_id, kind, text, agency_reference, source, actor, dedup_key, data,
                                    created_at)
       SELECT 'm_hist' || lpad(g::text, 18, '0') || k, 'h_hist' || lpad(g::text, 20, '0'),
              (ARRAY['acknowledged', 'answered'])[k + 1], 'تم', 'MOW-' || g, 'agency-api',
              'agency:ministry-of-works', 'hist-' || g || '-' || k, CAST('{}' AS json),
              now() - make_interval(secs => g * :spread - k * 3600)
       FROM generate_series(1, :n) AS g, generate_series(0, 1) AS k""",
]


def probe(hub: Hub, n: int, tag: str) -> tuple[float, float]:
    """`n` one-case intakes, then an agency acknowledgement of each: (cases a second, messages a second)."""
    cases = []
    for i in range(n):
        raw = dict(SAMPLES[i % len(SAMPLES)], reference=f"TW-{tag}-{i:07d}", agency="ministry-of-works")
        cases.append(CaseIn.model_validate(raw))
    t0 = time.perf_counter()
    accepted = [submit_cases(hub.engine, hub.directory, [case], actor="bench")[0] for case in cases]
    intake = n / (time.perf_counter() - t0)
    ids = [a.case_id for a in accepted]
    with hub.engine.begin() as conn:  # as if delivered: the benchmark measures the agency's messages
        conn.execute(update(handoffs).where(handoffs.c.case_id.in_(ids)).values(state="delivered"))
        rows = conn.execute(select(handoffs.c.id, handoffs.c.agency_id).where(handoffs.c.case_id.in_(ids))).all()
    t0 = time.perf_counter()
    for row in rows:
        message = AgencyMessage(kind="acknowledged", text="استلمنا طلبكم.", agency_reference=f"T-{row.id[-8:]}")
        sender = Sender(actor=f"agency:{row.agency_id}", source="agency-api", agency_id=row.agency_id)
        record_message(hub.engine, hub.directory, row.id, message, sender)
    return intake, len(rows) / (time.perf_counter() - t0)


def write_history(engine: Engine, n: int) -> float:
    """`n` closed cases with their handoffs, events and messages, written by PostgreSQL; seconds taken."""
    payload = json.dumps(dict(SAMPLES[0], reference="TW-H"), ensure_ascii=False)
    t0 = time.perf_counter()
    with engine.begin() as conn:
        for sql in HISTORY_SQL:
            conn.execute(text(sql), {"n": n, "payload": payload, "spread": 365 * 86400 / n})
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        conn.execute(text("ANALYZE"))
    return time.perf_counter() - t0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--history", type=int, default=1_000_000, help="cases stored before the second probe")
    parser.add_argument("--probes", type=int, default=3000, help="intakes and messages timed in each probe")
    parser.add_argument("--admin-url", default="postgresql+psycopg://postgres@127.0.0.1:5432/test")
    args = parser.parse_args()
    configure_logging("console", "WARNING")
    with scratch_database(args.admin_url) as url:
        hub = Hub(Settings(database_url=url, log_level="WARNING"))
        probe(hub, 50, "warm")
        empty = probe(hub, args.probes, "empty")
        print(f"empty store: intake {empty[0]:.0f} cases/s, agency messages {empty[1]:.0f}/s", flush=True)
        took = write_history(hub.engine, args.history)
        print(f"history: {args.history:,} closed cases written and analysed in {took:.0f} s", flush=True)
        full = probe(hub, args.probes, "full")
        print(f"with history: intake {full[0]:.0f} cases/s, agency messages {full[1]:.0f}/s")
        print(f"ratio with history / empty: intake {full[0] / empty[0]:.2f}, agency messages {full[1] / empty[1]:.2f}")
        hub.engine.dispose()


if __name__ == "__main__":
    main()
