"""The SLA report: per agency, on-time shares, working days to answer and what is overdue now."""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterator
from datetime import date, datetime
from zoneinfo import ZoneInfo

import pytest
import time_machine
from typer.testing import CliRunner

from broker.cli import app
from broker.hub import Hub
from broker.reports import AgencySla, sla_report
from broker.sweep import sweep
from schemas import MessageKind
from tests.broker.test_deadlines import CREATED, say, submit

BAHRAIN = ZoneInfo("Asia/Bahrain")
REPORTED = datetime(2026, 12, 15, 9, 0, tzinfo=BAHRAIN)
runner = CliRunner()

EXPECTED = AgencySla(
    agency="ministry-of-education",
    handoffs=3,
    acknowledged_on_time=0.3333,  # one of three acknowledged by Sunday 14:00
    answered_on_time=0.3333,  # one answered in time, one late, one still open and late
    median_days_to_answer=7.5,  # 3 and 12 working days
    p90_days_to_answer=11.1,
    overdue_now=1,
)


@pytest.fixture
def history(sqlite_hub: Hub) -> Iterator[Hub]:
    """Three complaints of Sunday 29 November 2026 to one agency, and one of later to another."""
    hub = sqlite_hub
    with time_machine.travel(CREATED, tick=False) as clock:
        _, on_time = submit(hub)
        _, late = submit(hub)
        submit(hub)  # never acknowledged nor answered
        clock.move_to(datetime(2026, 11, 29, 10, 0, tzinfo=BAHRAIN))
        say(hub, on_time, MessageKind.acknowledged)
        clock.move_to(datetime(2026, 11, 30, 9, 0, tzinfo=BAHRAIN))
        say(hub, late, MessageKind.acknowledged)
        clock.move_to(datetime(2026, 12, 1, 14, 0, tzinfo=BAHRAIN))
        say(hub, on_time, MessageKind.answered, "تم")
        clock.move_to(datetime(2026, 12, 14, 14, 0, tzinfo=BAHRAIN))
        say(hub, late, MessageKind.answered, "تم")
        submit(hub, category="hospital-services")
        clock.move_to(REPORTED)
        sweep(hub)
        yield hub


def env(hub: Hub) -> dict[str, str]:
    return {"HUB_DATABASE_URL": hub.settings.database_url, "HUB_LOG_FORMAT": "console", "HUB_LOG_LEVEL": "WARNING"}


def test_the_report_gives_each_agency_its_shares_working_days_and_overdue_count(history: Hub) -> None:
    with history.engine.connect() as conn:
        lines = sla_report(conn, history.directory.sla, date(2026, 11, 29), date(2026, 11, 30), REPORTED)
    assert lines == [EXPECTED]


def test_the_report_covers_every_agency_without_a_period(history: Hub) -> None:
    with history.engine.connect() as conn:
        lines = sla_report(conn, history.directory.sla, None, None, REPORTED)
    assert [line.agency for line in lines] == ["ministry-of-education", "ministry-of-health"]
    assert lines[1].answered_on_time is None  # nothing was due yet


def test_report_sla_as_json(history: Hub) -> None:
    result = runner.invoke(
        app, ["report", "sla", "--from", "2026-11-29", "--to", "2026-11-30", "--json"], env=env(history)
    )
    assert result.exit_code == 0, result.output
    doc = json.loads(result.output)
    assert (doc["from"], doc["to"]) == ("2026-11-29", "2026-11-30")
    assert doc["agencies"] == [EXPECTED.__dict__]


def test_report_sla_as_csv(history: Hub) -> None:
    result = runner.invoke(app, ["report", "sla", "--csv"], env=env(history))
    assert result.exit_code == 0, result.output
    rows = list(csv.DictReader(io.StringIO(result.output)))
    assert [r["agency"] for r in rows] == ["ministry-of-education", "ministry-of-health"]
    assert rows[0]["median_days_to_answer"] == "7.5"
    assert rows[0]["overdue_now"] == "1"


def test_report_sla_as_a_table(history: Hub) -> None:
    result = runner.invoke(app, ["report", "sla"], env={**env(history), "COLUMNS": "200"})
    assert result.exit_code == 0, result.output
    assert "ministry-of-education" in result.output and "33%" in result.output


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--json", "--csv"], "choose one"),
        (["--from", "2026-12-01", "--to", "2026-11-01"], "before --from"),
    ],
)
def test_report_sla_refuses_contradictory_options(sqlite_hub: Hub, args: list[str], message: str) -> None:
    result = runner.invoke(app, ["report", "sla", *args], env=env(sqlite_hub))
    assert result.exit_code == 2
    assert message in result.output
