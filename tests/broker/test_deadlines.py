"""Deadlines on handoffs, with a frozen clock: set at routing, warned, overdue, escalated, paused."""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Iterator
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

import pytest
import requests
import time_machine
from sqlalchemy import select

from broker import events, follow_ons, followup
from broker.deadlines import decide_extension, request_extension
from broker.errors import NotFound, Unprocessable
from broker.hub import Hub
from broker.intake import submit_cases
from broker.messages import Sender, record_message
from broker.store.tables import handoffs
from broker.sweep import sweep
from schemas import AgencyMessage, MessageKind
from tests.conftest import API_KEY, make_case
from tests.support import live_api, pump

BAHRAIN = ZoneInfo("Asia/Bahrain")


def local(year: int, month: int, day: int, hour: int = 0, minute: int = 0) -> datetime:
    return datetime(year, month, day, hour, minute, tzinfo=BAHRAIN)


CREATED = local(2026, 11, 29, 7, 0)  # a Sunday, at opening time
# A complaint has 10 working days of 7 hours; warned at 75 %; escalated 0, 2 and 5 working days late.
WARN = local(2026, 12, 8, 10, 30)
DUE = local(2026, 12, 10, 14, 0)
HEAD = local(2026, 12, 14, 14, 0)
CENTRAL = local(2026, 12, 21, 14, 0)  # National Day (16-17 December) does not count


@pytest.fixture
def clock() -> Iterator[time_machine.Traveller]:
    """The hub's one clock (broker.db.now), frozen at the moment the case arrives."""
    with time_machine.travel(CREATED, tick=False) as traveller:
        yield traveller


def submit(hub: Hub, **overrides: Any) -> tuple[str, str]:
    """One complaint for the Ministry of Education, delivered; returns (case id, handoff id)."""
    [accepted] = submit_cases(
        hub.engine, hub.directory, [make_case(**{"category": "public-schools", **overrides})], actor="national-system"
    )
    pump(hub)
    with hub.engine.connect() as conn:
        handoff = conn.execute(select(handoffs.c.id).where(handoffs.c.case_id == accepted.case_id)).scalar_one()
    return accepted.case_id, handoff


def handoff_row(hub: Hub, handoff: str) -> dict[str, Any]:
    with hub.engine.connect() as conn:
        return dict(conn.execute(select(handoffs).where(handoffs.c.id == handoff)).one()._mapping)


def deadline_events(hub: Hub, case_id: str) -> Counter[str]:
    with hub.engine.connect() as conn:
        return Counter(
            e.type
            for e in events.for_case(conn, case_id)
            if e.type.startswith("handoff.") and e.type != "handoff.delivered"
        )


def say(hub: Hub, handoff: str, kind: MessageKind, text: str = "") -> None:
    record_message(
        hub.engine,
        hub.directory,
        handoff,
        AgencyMessage(kind=kind, text=text),
        Sender(actor="agency:moe", source="agency"),
    )


def test_the_routing_event_tells_the_national_system_the_answer_by_date(
    any_hub: Hub, clock: time_machine.Traveller
) -> None:
    case_id, handoff = submit(any_hub)
    with any_hub.engine.connect() as conn:
        routed = next(e for e in events.for_case(conn, case_id) if e.type == "case.routed")
    assert routed.data["handoffs"] == [
        {
            "handoff": handoff,
            "agency": "ministry-of-education",
            "acknowledge_by": "2026-11-29T14:00:00+03:00",
            "answer_by": "2026-12-10T14:00:00+03:00",
            "answer_by_day": "2026-12-10",
            "answer_within": "10 working days",
        }
    ]
    row = handoff_row(any_hub, handoff)
    assert (row["warn_at"], row["answer_due_at"], row["next_check_at"]) == (WARN, DUE, WARN)


STEPS = [
    # (sweep at, deadline events so far, escalation level, overdue)
    (local(2026, 12, 8, 10, 29), {}, 0, False),
    (WARN, {"handoff.warned": 1}, 0, False),
    (local(2026, 12, 10, 13, 59), {"handoff.warned": 1}, 0, False),
    (DUE, {"handoff.warned": 1, "handoff.overdue": 1, "handoff.escalated": 1}, 1, True),
    (HEAD, {"handoff.warned": 1, "handoff.overdue": 1, "handoff.escalated": 2}, 2, True),
    (CENTRAL, {"handoff.warned": 1, "handoff.overdue": 1, "handoff.escalated": 3}, 3, True),
    (local(2027, 3, 1, 9, 0), {"handoff.warned": 1, "handoff.overdue": 1, "handoff.escalated": 3}, 3, True),
]


def test_the_sweep_walks_a_handoff_through_warning_breach_and_each_escalation_once(
    any_hub: Hub, clock: time_machine.Traveller
) -> None:
    case_id, handoff = submit(any_hub)
    for at, expected, level, overdue in STEPS:
        clock.move_to(at)
        sweep(any_hub, at)
        sweep(any_hub, at)  # a second scheduler, or an overlapping sweep: nothing happens twice
        row = handoff_row(any_hub, handoff)
        assert deadline_events(any_hub, case_id) == Counter(expected), at
        assert (row["escalation_level"], row["overdue"]) == (level, overdue), at
    assert row["next_check_at"] is None  # the last level is reached: nothing more to do
    with any_hub.engine.connect() as conn:
        [item] = followup.queue(conn)
        trail = [e for e in events.for_case(conn, case_id) if e.type == "handoff.escalated"]
    assert item.overdue and item.reason == "escalated"
    assert item.note.startswith("overdue since 2026-12-10T14:00:00+03:00; escalated to Central office")
    assert [e.data["level_id"] for e in trail] == ["agency-liaison", "agency-head", "central-office"]


def test_a_sweep_that_was_down_catches_up_in_one_pass_without_doubling(
    any_hub: Hub, clock: time_machine.Traveller
) -> None:
    case_id, _ = submit(any_hub)
    result = sweep(any_hub, HEAD)
    assert (result.warned, result.overdue, result.escalated) == (1, 1, 2)
    assert deadline_events(any_hub, case_id) == Counter(
        {"handoff.warned": 1, "handoff.overdue": 1, "handoff.escalated": 2}
    )


def test_two_sweeps_running_at_once_warn_and_escalate_each_handoff_once(
    pg_hub: Hub, clock: time_machine.Traveller
) -> None:
    cases = [make_case(category="public-schools") for _ in range(60)]
    accepted = submit_cases(pg_hub.engine, pg_hub.directory, cases, actor="national-system")
    barrier = threading.Barrier(2)
    failures: list[BaseException] = []

    def run() -> None:
        try:
            barrier.wait()
            for at in (WARN, DUE, HEAD, CENTRAL):
                sweep(pg_hub, at, batch=7)
        except BaseException as exc:  # surfaced below
            failures.append(exc)

    threads = [threading.Thread(target=run) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert failures == []
    for a in accepted:
        assert deadline_events(pg_hub, a.case_id) == Counter(
            {"handoff.warned": 1, "handoff.overdue": 1, "handoff.escalated": 3}
        )


def test_the_clock_pauses_while_the_citizen_is_asked_and_resumes_with_the_time_left(
    any_hub: Hub, clock: time_machine.Traveller
) -> None:
    case_id, handoff = submit(any_hub)
    clock.move_to(local(2026, 12, 3, 14, 0))  # Thursday evening: 5 of 10 working days used
    say(any_hub, handoff, MessageKind.needs_info, "يرجى تزويدنا برقم الطالب / please send the student number")
    paused = handoff_row(any_hub, handoff)
    assert paused["next_check_at"] is None
    assert paused["remaining"] == 5 * 7 * 3600

    assert sweep(any_hub, local(2027, 1, 31, 9, 0)).warned == 0  # paused handoffs are never swept
    assert not handoff_row(any_hub, handoff)["overdue"]

    clock.move_to(local(2027, 1, 31, 9, 0))  # the citizen answers weeks later, Sunday 09:00
    with live_api(any_hub) as base:
        reply = requests.post(
            f"{base}/v1/cases/{case_id}/citizen-info",
            json={"text": "رقم الطالب 20231187"},
            headers={"X-API-Key": API_KEY},
            timeout=10,
        )
    assert reply.status_code == 202, reply.text
    [resumed] = reply.json()["resumed"]
    # 5 working days from Sunday 09:00: Sunday 5 h, Monday to Thursday 7 h each, Sunday 2 h
    assert resumed["answer_by"] == "2027-02-07T09:00:00+03:00"
    row = handoff_row(any_hub, handoff)
    assert row["answer_due_at"] == local(2027, 2, 7, 9, 0)
    assert row["paused_at"] is None
    assert row["warn_at"] == local(2027, 2, 2, 12, 30)  # 75 % of the 10 days used: 2.5 days left
    with any_hub.engine.connect() as conn:
        types = [e.type for e in events.for_case(conn, case_id)]
    clock_events = {"handoff.paused", "case.citizen_info", "handoff.resumed"}
    assert [t for t in types if t in clock_events] == ["handoff.paused", "case.citizen_info", "handoff.resumed"]
    assert sweep(any_hub, local(2027, 2, 7, 9, 0)).overdue == 1


def test_citizen_info_for_an_unknown_case_is_404(sqlite_hub: Hub) -> None:
    with live_api(sqlite_hub) as base:
        reply = requests.post(
            f"{base}/v1/cases/TW-NONE/citizen-info", json={"text": "x"}, headers={"X-API-Key": API_KEY}, timeout=10
        )
    assert reply.status_code == 404


def test_an_answered_handoff_stops_being_checked(any_hub: Hub, clock: time_machine.Traveller) -> None:
    case_id, handoff = submit(any_hub)
    clock.move_to(local(2026, 12, 1, 9, 0))
    say(any_hub, handoff, MessageKind.answered, "تمت المعالجة")
    row = handoff_row(any_hub, handoff)
    assert row["next_check_at"] is None
    assert row["acknowledged_at"] == row["answered_at"] == local(2026, 12, 1, 9, 0)
    assert row["review_due_at"] == local(2026, 12, 3, 9, 0)  # 2 working days for the central office
    assert sweep(any_hub, CENTRAL).warned == 0
    assert deadline_events(any_hub, case_id) == Counter()


def test_a_granted_extension_moves_the_answer_by_time_and_lifts_the_overdue_flag(
    any_hub: Hub, clock: time_machine.Traveller
) -> None:
    case_id, handoff = submit(any_hub)
    sweep(any_hub, DUE)
    assert handoff_row(any_hub, handoff)["overdue"]
    clock.move_to(DUE)
    request_extension(any_hub.engine, handoff, 3, "ننتظر تقرير المختبر / waiting for the lab report", "agency:moe")
    with pytest.raises(Unprocessable, match="already waiting"):
        request_extension(any_hub.engine, handoff, 1, "again", "agency:moe")
    data = decide_extension(any_hub.engine, any_hub.directory.sla, handoff, grant=True, actor="central-office:amina")
    assert data["answer_by"] == "2026-12-15T14:00:00+03:00"  # Sunday, Monday, Tuesday
    row = handoff_row(any_hub, handoff)
    assert (row["overdue"], row["escalation_level"]) == (False, 0)
    # still on the queue: the reminders sent while it was late wait for an officer to pass them on
    assert row["followup_reason"] == "follow_on"
    assert row["next_check_at"] == local(2026, 12, 15, 14, 0)
    with pytest.raises(NotFound):
        decide_extension(any_hub.engine, any_hub.directory.sla, handoff, grant=False, actor="central-office:amina")
    assert deadline_events(any_hub, case_id)["handoff.extension_granted"] == 1


def test_a_refused_extension_leaves_the_deadline(any_hub: Hub, clock: time_machine.Traveller) -> None:
    case_id, handoff = submit(any_hub)
    request_extension(any_hub.engine, handoff, 5, "busy", "agency:moe")
    decide_extension(
        any_hub.engine, any_hub.directory.sla, handoff, grant=False, actor="central-office:amina", note="لا"
    )
    assert handoff_row(any_hub, handoff)["answer_due_at"] == DUE
    assert deadline_events(any_hub, case_id)["handoff.extension_refused"] == 1


def test_the_agency_is_reminded_by_a_follow_on_message(sqlite_hub: Hub, clock: time_machine.Traveller) -> None:
    """A manual agency's reminders wait on the follow-up queue for an officer to pass them on."""
    _, handoff = submit(sqlite_hub)
    sweep(sqlite_hub, WARN)
    sweep(sqlite_hub, DUE)
    with sqlite_hub.engine.connect() as conn:
        waiting = follow_ons.waiting_for_officer(conn, handoff)
    reminders = [(f["payload"]["reminder"]["kind"], f["payload"]["reminder"]["level"]) for f in waiting]
    assert reminders == [("warning", 0), ("escalated", 1)]
    assert waiting[0]["payload"]["text_ar"].startswith("تذكير") and "2026-12-10" in waiting[0]["payload"]["text_en"]
    for f in waiting:
        follow_ons.passed_on(sqlite_hub.engine, f["id"], "central-office:amina", "by phone")
    row = handoff_row(sqlite_hub, handoff)
    assert row["followup_reason"] == "escalated"  # passing reminders on does not make it any less late


def test_a_transfer_stops_the_old_clock_and_starts_a_new_one(any_hub: Hub, clock: time_machine.Traveller) -> None:
    case_id, handoff = submit(any_hub)
    clock.move_to(local(2026, 12, 1, 9, 0))
    record_message(
        any_hub.engine,
        any_hub.directory,
        handoff,
        AgencyMessage(kind=MessageKind.transfer_requested, text="ليست من اختصاصنا", transfer_to="ministry-of-health"),
        Sender(actor="agency:moe", source="agency"),
    )
    assert handoff_row(any_hub, handoff)["next_check_at"] is None
    with any_hub.engine.connect() as conn:
        transferred = next(e for e in events.for_case(conn, case_id) if e.type == "case.transferred")
    assert transferred.data["answer_by"] == "2026-12-15T09:00:00+03:00"  # 10 working days from Tuesday 09:00
    assert handoff_row(any_hub, transferred.handoff or "")["next_check_at"] is not None
