"""`tawasul-hub export`: a case's trail and a period's cases, as JSON Lines and CSV, streamed page by page."""

from __future__ import annotations

import csv
import io
import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from rich.console import Console
from sqlalchemy import update
from typer.testing import CliRunner

from broker import export
from broker.cli import app
from broker.cli import export as cli_export
from broker.hub import Hub
from broker.intake import submit_cases
from broker.messages import Sender, record_message
from broker.store.cases import get_case
from broker.store.engine import transaction
from broker.store.tables import cases
from schemas import AgencyMessage, MessageKind
from tests.conftest import make_case
from tests.support import pump

runner = CliRunner()

TRICKY = '=HYPERLINK("http://evil") عطل في "الإنارة"، شارع 12,\nمنذ أسبوع'


def env(hub: Hub) -> dict[str, str]:
    return {"HUB_DATABASE_URL": hub.settings.database_url, "HUB_LOG_FORMAT": "console"}


def submitted(hub: Hub, received: datetime, subject: str = "انقطاع الكهرباء") -> str:
    """A case delivered to a manual agency and answered, as if received at `received` (UTC)."""
    [accepted] = submit_cases(
        hub.engine, hub.directory, [make_case(category="social-insurance-pensions", subject=subject)], "ns"
    )
    pump(hub)
    with hub.engine.connect() as conn:
        handoff = get_case(conn, accepted.case_id).handoffs[0].id
    answer = AgencyMessage(kind=MessageKind.answered, text="تم الحل")
    record_message(hub.engine, hub.directory, handoff, answer, Sender(actor="central-office:amina", source="manual"))
    with transaction(hub.engine) as conn:
        conn.execute(update(cases).where(cases.c.id == accepted.case_id).values(created_at=received))
    return accepted.case_id


def test_a_case_trail_exports_as_json_lines_with_arabic_unchanged(any_hub: Hub) -> None:
    case_id = submitted(any_hub, datetime(2026, 3, 1, 9, tzinfo=UTC))
    result = runner.invoke(app, ["export", "case", case_id], env=env(any_hub))
    assert result.exit_code == 0, result.output
    lines = [json.loads(x) for x in result.stdout.splitlines()]
    assert [x["type"] for x in lines] == [
        "case.received",
        "case.routed",
        "handoff.delivered",
        "message.answered",
        "case.answered",
    ]
    assert lines[3]["data"]["text"] == "تم الحل"
    assert {x["case"] for x in lines} == {case_id}


def test_a_case_trail_in_csv_keeps_commas_quotes_and_line_breaks_and_defuses_formulas(sqlite_hub: Hub) -> None:
    case_id = submitted(sqlite_hub, datetime(2026, 3, 1, 9, tzinfo=UTC))
    with transaction(sqlite_hub.engine) as conn:
        from broker import events

        events.append(conn, type="note.added", case_id=case_id, actor=TRICKY, text=TRICKY)
    result = runner.invoke(app, ["export", "case", case_id, "--format", "csv"], env=env(sqlite_hub))
    assert result.exit_code == 0, result.output
    rows = list(csv.DictReader(io.StringIO(result.stdout)))
    assert list(rows[0]) == list(export.TRAIL_FIELDS)
    assert rows[-1]["actor"] == "'" + TRICKY
    assert json.loads(rows[-1]["data"]) == {"text": TRICKY}


def test_an_unknown_case_is_named(sqlite_hub: Hub) -> None:
    result = runner.invoke(app, ["export", "case", "TW-NOPE-1"], env=env(sqlite_hub))
    assert result.exit_code == 1
    assert "no case 'TW-NOPE-1'" in result.output


def test_the_cases_of_a_period_export_in_the_order_received_page_by_page(
    any_hub: Hub, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    zone = any_hub.directory.sla.calendar.zone
    march = [
        submitted(any_hub, datetime(2026, 3, d, 22, tzinfo=zone) - timedelta(hours=h))
        for d in (1, 2)
        for h in (0, 1, 2)
    ]
    submitted(any_hub, datetime(2026, 2, 28, 23, 59, tzinfo=zone))
    submitted(any_hub, datetime(2026, 3, 3, 0, 0, tzinfo=zone))
    monkeypatch.setattr(export, "PAGE", 2)
    out = tmp_path / "march.jsonl"

    result = runner.invoke(
        app, ["export", "cases", "--from", "2026-03-01", "--to", "2026-03-02", "--output", str(out)], env=env(any_hub)
    )

    assert result.exit_code == 0, result.output
    assert "exported 6 case(s)" in result.output
    records = [json.loads(x) for x in out.read_text(encoding="utf-8").splitlines()]
    assert sorted(r["id"] for r in records) == sorted(march)
    assert [r["received_at"] for r in records] == sorted(r["received_at"] for r in records)
    first = records[0]
    assert first["case"]["subject"] == "انقطاع الكهرباء"
    assert [h["state"] for h in first["handoffs"]] == ["answered"]
    assert [m["text"] for m in first["messages"]] == ["تم الحل"]
    assert len(first["events"]) == 5


def test_cases_in_csv_are_one_line_each_with_a_byte_order_mark_in_a_file(sqlite_hub: Hub, tmp_path: Path) -> None:
    submitted(sqlite_hub, datetime(2026, 3, 1, 9, tzinfo=UTC), subject=TRICKY)
    out = tmp_path / "cases.csv"
    result = runner.invoke(app, ["export", "cases", "--format", "csv", "--output", str(out)], env=env(sqlite_hub))
    assert result.exit_code == 0, result.output
    raw = out.read_bytes()
    assert raw.startswith(b"\xef\xbb\xbf")
    [row] = list(csv.DictReader(io.StringIO(raw.decode("utf-8-sig"), newline="")))
    assert row["subject"] == "'" + TRICKY
    assert row["citizen_mobile"] == "'+97333123456"
    assert (row["state"], row["messages"], row["events"]) == ("answered", "1", "5")


def test_a_period_that_ends_before_it_starts_is_refused(sqlite_hub: Hub) -> None:
    result = runner.invoke(app, ["export", "cases", "--from", "2026-03-02", "--to", "2026-03-01"], env=env(sqlite_hub))
    assert result.exit_code == 2
    assert "--to: must not be before --from" in result.output


def test_a_long_export_shows_its_progress_on_the_terminal_and_writes_only_records_to_the_output(
    sqlite_hub: Hub,
) -> None:
    for _ in range(3):
        submitted(sqlite_hub, datetime(2026, 3, 1, 9, tzinfo=UTC))
    screen = io.StringIO()
    terminal = Console(file=screen, force_terminal=True, width=100)
    out = io.StringIO()
    within = export.period(sqlite_hub.directory.sla.calendar.zone, None, None)
    with cli_export.progress_bar(terminal) as progress:
        n = cli_export.write(
            export.cases_within(sqlite_hub.engine, within),
            cli_export.Format.jsonl,
            out,
            export.CASE_FIELDS,
            export.case_line,
            progress,
            total=3,
        )
    assert n == 3
    assert "3/3" in screen.getvalue()
    assert len(out.getvalue().splitlines()) == 3
