"""Retention: a closed case's personal data leaves every table, event and log line; its audit trail stays."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest
import time_machine
from sqlalchemy import Column, LargeBinary, MetaData, String, Table, Text, insert, select
from typer.testing import CliRunner

from broker import events, retention, review, surveys
from broker.cli import app
from broker.deadlines import record_citizen_info
from broker.hub import Hub
from broker.intake import submit_cases
from broker.logging import configure_logging
from broker.messages import Sender, record_message
from broker.store.cases import get_case
from broker.store.engine import now
from broker.store.tables import cases, handoffs, metadata
from schemas import AgencyMessage, CitizenInfo, MessageKind
from tests.conftest import make_case
from tests.support import pump

NAME, CPR, EMAIL, MOBILE = "مريم عبدالله الخياط", "870523456", "mariam.k@example.bh", "+97336654321"
PERSONAL = (NAME, CPR, EMAIL, MOBILE, "36654321")
SUBJECT = "تسرب مياه الصرف أمام منزل مريم عبدالله الخياط"

runner = CliRunner()


def closed_case(hub: Hub) -> str:
    """A case whose citizen's identifiers appear in every place a case can carry them, then closed."""
    case = make_case(
        category="social-insurance-pensions",
        subject=SUBJECT,
        description=f"اتصلوا بي على {MOBILE} أو {EMAIL}، رقمي الشخصي {CPR}. مريم",
        citizen={"name": NAME, "cpr": CPR, "email": EMAIL, "mobile": MOBILE},
        location={"governorate": "capital", "block": "316", "road": "1605", "building": "45", "lat": 26.2, "lon": 50.5},
        attachments=[
            {
                "filename": f"هوية-{CPR}.pdf",
                "content_type": "application/pdf",
                "size": 1200,
                "url": f"https://files.tawasul.bh/{CPR}/id.pdf",
            }
        ],
    )
    [accepted] = submit_cases(hub.engine, hub.directory, [case], actor="national-system")
    pump(hub)
    with hub.engine.connect() as conn:
        handoff = get_case(conn, accepted.case_id).handoffs[0].id
    ask = AgencyMessage(kind=MessageKind.needs_info, text=f"نرجو من {NAME} تزويدنا بصورة البطاقة {CPR}")
    record_message(hub.engine, hub.directory, handoff, ask, Sender(actor="central-office:amina", source="manual"))
    info = CitizenInfo(text=f"أرسلت الصورة إلى {EMAIL}، للتواصل {MOBILE}")
    record_citizen_info(hub.engine, hub.directory, accepted.case_id, info, actor="national-system")
    answer = AgencyMessage(kind=MessageKind.answered, text=f"تم التواصل مع السيدة {NAME} على الرقم {MOBILE}")
    record_message(hub.engine, hub.directory, handoff, answer, Sender(actor="central-office:amina", source="manual"))
    review.accept(hub.engine, handoff, "central-office:noor")
    review.close(hub.engine, hub.directory, accepted.case_id, "central-office:noor")
    surveys.record(hub.engine, accepted.case_id, 4, f"شكراً، اتصلوا بي على {MOBILE}", actor="national-system")
    return accepted.case_id


def every_value(hub: Hub) -> list[tuple[str, str, str]]:
    """(table, column, text) for every non-null value of every column of every table."""
    found = []
    with hub.engine.connect() as conn:
        for table in metadata.sorted_tables:
            for row in conn.execute(select(table)):
                for column, value in row._mapping.items():
                    if value is not None:
                        text = json.dumps(value, ensure_ascii=False) if isinstance(value, dict | list) else str(value)
                        found.append((table.name, column, text))
    return found


def anonymise_later(hub: Hub, days: int = 30) -> retention.RetentionResult:
    before = retention.cutoff(hub, days, at=now() + timedelta(days=days + 1))
    return retention.anonymise_due(hub, before, actor="retention:test")


@pytest.mark.parametrize("free_text", [False, True], ids=["identifiers", "free-text"])
def test_nothing_personal_is_left_in_any_table_event_or_log_line_of_an_anonymised_case(
    any_hub: Hub, free_text: bool, capsys: pytest.CaptureFixture[str]
) -> None:
    configure_logging("json", "INFO")
    any_hub.settings.retention_free_text = free_text
    case_id = closed_case(any_hub)
    assert any(CPR in text for _, _, text in every_value(any_hub))  # the scan does see them before

    done = anonymise_later(any_hub)

    assert done.cases == 1
    leaks = [(t, c, p) for t, c, text in every_value(any_hub) for p in PERSONAL if p in text]
    assert leaks == []
    logged = capsys.readouterr().err
    assert "retention.anonymised" in logged
    assert [p for p in PERSONAL if p in logged] == []
    words = ("تسرب مياه الصرف", "تم التواصل مع السيدة", "أرسلت الصورة")
    kept = [w for w in words if any(w in text for _, _, text in every_value(any_hub))]
    assert kept == ([] if free_text else list(words))
    with any_hub.engine.connect() as conn:
        read = get_case(conn, case_id)
    assert read.case.citizen.name == retention.REMOVED
    assert read.case.location is not None and read.case.location.model_dump(exclude_none=True) == {
        "governorate": "capital"
    }
    assert [(a.filename, a.url, a.size) for a in read.case.attachments] == [(retention.REMOVED, None, 1200)]


def test_the_audit_trail_keeps_every_event_and_records_who_anonymised_what_without_the_data(any_hub: Hub) -> None:
    case_id = closed_case(any_hub)
    with any_hub.engine.connect() as conn:
        before = [(e.type, e.actor, e.created_at) for e in events.for_case(conn, case_id)]
    anonymise_later(any_hub)
    with any_hub.engine.connect() as conn:
        trail = events.for_case(conn, case_id)
    assert [(e.type, e.actor, e.created_at) for e in trail[:-1]] == before
    last = trail[-1]
    assert (last.type, last.actor) == ("case.anonymised", "retention:test")
    assert last.data["removed"] == ["citizen", "address", "attachments", "identifiers in texts"]
    assert last.data["rows"] == {
        "events": 5,
        "agency_messages": 2,
        "follow_ons": 1,
        "surveys": 1,
    }  # the two messages, the citizen's reply, the answer as it went to the citizen, and the survey


def test_a_second_run_finds_nothing_to_do_and_changes_nothing(any_hub: Hub) -> None:
    closed_case(any_hub)
    assert anonymise_later(any_hub).cases == 1
    first = every_value(any_hub)
    assert anonymise_later(any_hub).cases == 0
    assert every_value(any_hub) == first


def test_open_cases_and_cases_closed_within_the_period_keep_their_data(sqlite_hub: Hub) -> None:
    closed_case(sqlite_hub)
    submit_cases(
        sqlite_hub.engine, sqlite_hub.directory, [make_case(citizen={"name": "سلمى", "cpr": "990011223"})], "ns"
    )
    assert retention.anonymise_due(sqlite_hub, retention.cutoff(sqlite_hub, 30), actor="retention:test").cases == 0
    assert anonymise_later(sqlite_hub).cases == 1  # only the closed one, once its period is over
    assert any("990011223" in text for _, _, text in every_value(sqlite_hub))


def test_cases_are_taken_in_batches_until_none_is_left(any_hub: Hub) -> None:
    for _ in range(5):
        closed_case(any_hub)
    before = retention.cutoff(any_hub, 30, at=now() + timedelta(days=31))
    assert retention.anonymise_due(any_hub, before, actor="t", batch=2, max_batches=2).cases == 4
    assert retention.count_due(any_hub, before) == 1
    assert retention.anonymise_due(any_hub, before, actor="t", batch=2).cases == 1


def test_a_new_table_holding_personal_data_is_one_more_entry(sqlite_hub: Hub, monkeypatch: pytest.MonkeyPatch) -> None:
    scratch = MetaData()
    notes = Table(
        "officer_notes",
        scratch,
        Column("id", String(10), primary_key=True),
        Column("case_id", String(32), nullable=False),
        Column("body", Text, nullable=False),
    )
    files = Table(
        "stored_files",
        scratch,
        Column("id", String(10), primary_key=True),
        Column("handoff_id", String(32), nullable=False),
        Column("data", LargeBinary, nullable=False),
    )
    scratch.create_all(sqlite_hub.engine)
    case_id = closed_case(sqlite_hub)
    with sqlite_hub.engine.begin() as conn:
        [handoff] = conn.execute(select(handoffs.c.id).where(handoffs.c.case_id == case_id)).scalars()
        conn.execute(insert(notes).values(id="n1", case_id=case_id, body=f"المواطنة {NAME} اتصلت من {MOBILE}"))
        conn.execute(insert(files).values(id="f1", handoff_id=handoff, data=f"{CPR}".encode()))
        conn.execute(insert(files).values(id="f2", handoff_id="h_someone_else", data=b"kept"))
    more = [
        retention.Holding(notes, notes.c.case_id, texts=("body",)),
        retention.Holding(files, files.c.handoff_id, purge=True),
    ]
    monkeypatch.setattr(retention, "HOLDINGS", [*retention.HOLDINGS, *more])

    done = anonymise_later(sqlite_hub)

    with sqlite_hub.engine.connect() as conn:
        assert conn.execute(select(notes.c.body)).scalar_one() == "المواطنة […] اتصلت من […]"
        assert conn.execute(select(files.c.id)).scalars().all() == ["f2"]
    assert (done.rows["officer_notes"], done.rows["stored_files"]) == (1, 1)


def test_the_scheduled_job_runs_only_with_a_retention_period(sqlite_hub: Hub) -> None:
    closed_case(sqlite_hub)
    with time_machine.travel(now() + timedelta(days=40), tick=False):
        retention.run_scheduled(sqlite_hub)
        assert retention.count_due(sqlite_hub, now()) == 1
        sqlite_hub.settings.retention_days = 30
        retention.run_scheduled(sqlite_hub)
        assert retention.count_due(sqlite_hub, now()) == 0
    with sqlite_hub.engine.connect() as conn:
        [actor] = conn.execute(select(cases.c.anonymised_at)).scalars().all()
    assert actor is not None


def env(hub: Hub, **extra: str) -> dict[str, str]:
    return {"HUB_DATABASE_URL": hub.settings.database_url, "HUB_LOG_FORMAT": "console", **extra}


def test_retention_run_dry_run_counts_and_changes_nothing_then_run_anonymises(sqlite_hub: Hub) -> None:
    closed_case(sqlite_hub)
    with time_machine.travel(now() + timedelta(days=8), tick=False):
        dry = runner.invoke(app, ["retention", "run", "--dry-run"], env=env(sqlite_hub, HUB_RETENTION_DAYS="7"))
        assert dry.exit_code == 0, dry.output
        assert "1 case(s) closed before" in dry.output and "would be anonymised" in dry.output
        assert any(CPR in text for _, _, text in every_value(sqlite_hub))
        done = runner.invoke(app, ["retention", "run", "--days", "7"], env=env(sqlite_hub))
    assert done.exit_code == 0, done.output
    assert "anonymised 1 case(s)" in done.output
    assert not any(CPR in text for _, _, text in every_value(sqlite_hub))


def test_retention_run_without_a_period_names_the_setting(sqlite_hub: Hub) -> None:
    result = runner.invoke(app, ["retention", "run"], env=env(sqlite_hub))
    assert result.exit_code == 2
    assert "HUB_RETENTION_DAYS" in result.output
