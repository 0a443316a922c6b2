"""Grouping in the store: cases attached as they arrive give the groups a full rebuild gives;
a marked group flags the cases that join it; the report CLI in JSON and CSV; bad input named."""

from __future__ import annotations

import csv
import io
import json
from concurrent.futures import ThreadPoolExecutor

from sqlalchemy import select
from typer.testing import CliRunner

from broker.cli import app
from broker.hub import Hub
from broker.intake import submit_cases
from broker.recurring.store import attach_pending, groups_of, mark, rebuild
from broker.store.engine import transaction
from broker.store.tables import cases, events, recurring_cases
from schemas import CaseIn
from tests.broker.test_reports import env
from tests.conftest import sample_cases

runner = CliRunner()
LIGHTS = ("TW-2026-000144", "TW-2026-000147", "TW-2026-000153")


def _submit(hub: Hub, refs: set[str] | None = None) -> None:
    for raw in sample_cases():
        if refs is None or raw["reference"] in refs:
            submit_cases(hub.engine, hub.directory, [CaseIn.model_validate(raw)], actor="national")


def _ids(hub: Hub, refs: tuple[str, ...]) -> set[str]:
    with hub.engine.connect() as conn:
        return set(conn.execute(select(cases.c.id).where(cases.c.reference.in_(refs))).scalars())


def test_attaching_one_case_at_a_time_gives_the_groups_of_a_rebuild(any_hub: Hub) -> None:
    for raw in sample_cases():
        submit_cases(any_hub.engine, any_hub.directory, [CaseIn.model_validate(raw)], actor="national")
        assert len(attach_pending(any_hub.engine)) == 1
    with any_hub.engine.connect() as conn:
        incremental = groups_of(conn)
    assert len(incremental) < 90
    assert _ids(any_hub, LIGHTS) in incremental
    assert rebuild(any_hub.engine) == 90
    with any_hub.engine.connect() as conn:
        assert groups_of(conn) == incremental


def test_attachers_running_at_once_take_turns_and_still_match_a_rebuild(pg_hub: Hub) -> None:
    _submit(pg_hub)

    def work() -> int:
        done = 0
        while batch := attach_pending(pg_hub.engine, limit=4):
            done += len(batch)
        return done

    with ThreadPoolExecutor(3) as pool:
        counts = list(pool.map(lambda _: work(), range(3)))
    assert sum(counts) == 90  # each case attached once
    with pg_hub.engine.connect() as conn:
        incremental = groups_of(conn)
    rebuild(pg_hub.engine)
    with pg_hub.engine.connect() as conn:
        assert groups_of(conn) == incremental


def test_a_pass_with_nothing_new_attaches_nothing(sqlite_hub: Hub) -> None:
    _submit(sqlite_hub, set(LIGHTS))
    assert len(attach_pending(sqlite_hub.engine)) == 3
    assert attach_pending(sqlite_hub.engine) == []


def test_a_case_joining_a_marked_group_is_flagged_on_each_handoff(any_hub: Hub) -> None:
    sqlite_hub = any_hub
    _submit(sqlite_hub, {"TW-2026-000144", "TW-2026-000147"})
    first = attach_pending(sqlite_hub.engine)
    group = first[0].group_id
    assert first[1].group_id == group
    with transaction(sqlite_hub.engine) as conn:
        mark(conn, group, "muharraq-municipality", "officer@example.bh", "lights cable cut, being replaced")
    _submit(sqlite_hub, {"TW-2026-000153"})
    (joined,) = attach_pending(sqlite_hub.engine)
    assert joined.group_id == group
    with sqlite_hub.engine.connect() as conn:
        flagged = dict(conn.execute(select(recurring_cases.c.case_id, recurring_cases.c.flagged)).all())
        notes = conn.execute(
            select(events.c.handoff_id, events.c.data).where(events.c.type == "handoff.recurring")
        ).all()
    assert flagged[joined.case_id] is True
    assert sum(flagged.values()) == 1  # cases from before the mark are not flagged
    assert notes and all(n.handoff_id for n in notes)
    assert notes[0].data["owner_agency"] == "muharraq-municipality"


def test_a_rebuild_keeps_the_mark(sqlite_hub: Hub) -> None:
    _submit(sqlite_hub, set(LIGHTS))
    group = attach_pending(sqlite_hub.engine)[0].group_id
    with transaction(sqlite_hub.engine) as conn:
        mark(conn, group, "muharraq-municipality", "officer")
    rebuild(sqlite_hub.engine)
    result = runner.invoke(app, ["report", "recurring", "--json"], env=env(sqlite_hub))
    assert result.exit_code == 0, result.output
    (line,) = json.loads(result.stdout)["groups"]
    assert line["group"] == group and line["known"] and line["owner_agency"] == "muharraq-municipality"


def test_the_report_in_json_and_csv(sqlite_hub: Hub) -> None:
    _submit(sqlite_hub)
    result = runner.invoke(app, ["recurring", "attach"], env=env(sqlite_hub))
    assert result.exit_code == 0, result.output
    result = runner.invoke(
        app, ["report", "recurring", "--json", "--from", "2026-10-01", "--to", "2026-10-31"], env=env(sqlite_hub)
    )
    assert result.exit_code == 0, result.output
    doc = json.loads(result.stdout)
    assert doc["from"] == "2026-10-01"
    lights = next(g for g in doc["groups"] if set(g["references"]) == set(LIGHTS))
    assert lights["cases"] == 3 and lights["block"] == "112" and lights["governorate"] == "muharraq"
    assert sum(n for _, n in lights["trend"]) == 3
    assert lights["first_report"].startswith("2026-10-20")
    assert all(g["cases"] >= 2 for g in doc["groups"])
    assert not any("TW-2026-000175" in g["references"] for g in doc["groups"])  # flooding came in November

    result = runner.invoke(app, ["report", "recurring", "--csv"], env=env(sqlite_hub))
    assert result.exit_code == 0, result.output
    rows = list(csv.DictReader(io.StringIO(result.stdout)))
    assert {"group", "cases", "references", "agencies", "trend", "known"} <= set(rows[0])
    assert any(set(r["references"].split()) == set(LIGHTS) for r in rows)

    result = runner.invoke(
        app, ["report", "recurring", "--json", "--agency", "ministry-of-health"], env=env(sqlite_hub)
    )
    groups = json.loads(result.stdout)["groups"]
    assert groups and all("ministry-of-health" in g["agencies"] for g in groups)


BAD = [
    (["report", "recurring", "--from", "2026-13-01"], "--from"),
    (["report", "recurring", "--from", "2026-10-02", "--to", "2026-10-01"], "--to"),
    (["report", "recurring", "--json", "--csv"], "--json"),
    (["report", "recurring", "--agency", "no-such-agency"], "--agency"),
    (["recurring", "mark", "g_nothing", "--agency", "ministry-of-works"], "group"),
    (["recurring", "mark", "g_nothing", "--agency", "no-such-agency"], "--agency"),
]


def test_bad_input_names_the_field(sqlite_hub: Hub) -> None:
    for args, field in BAD:
        result = runner.invoke(app, args, env=env(sqlite_hub))
        assert result.exit_code == 2, args
        assert field in result.output, (args, result.output)


def test_the_scheduler_groups_new_cases(sqlite_hub: Hub) -> None:
    from broker import scheduler
    from broker.recurring.store import run_scheduled

    (job,) = [j for j in scheduler.default_jobs() if j.name == "recurring.attach"]
    assert job.run is run_scheduled
    _submit(sqlite_hub, set(LIGHTS))
    job.run(sqlite_hub)
    with sqlite_hub.engine.connect() as conn:
        assert _ids(sqlite_hub, LIGHTS) in groups_of(conn)


def test_the_report_as_a_table(sqlite_hub: Hub) -> None:
    _submit(sqlite_hub, set(LIGHTS))
    attach_pending(sqlite_hub.engine)
    result = runner.invoke(app, ["report", "recurring"], env={**env(sqlite_hub), "COLUMNS": "200"})
    assert result.exit_code == 0, result.output
    assert "muharraq/112/1219" in result.stdout
    assert "الشكاوى المتكررة" in result.stdout
