"""The conversation with an agency after delivery: follow-on messages, and deliveries that may have arrived.

Against the REST agency simulator over real sockets, with the shipped agencies.yaml; relay and
deliveries run in this thread (tests.support.pump).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import insert, select

from adapters.testing.rest_agency import Controller, running_simulator
from broker import dispatch, events, follow_ons, followup, redelivery, review, transfers
from broker.deadlines import record_citizen_info
from broker.envelopes import SAID, conversations
from broker.hub import Hub
from broker.intake import submit_cases
from broker.messages import Sender, record_message
from broker.relay import Relay
from broker.store.cases import get_case
from broker.store.engine import transaction
from broker.store.tables import agency_messages, handoffs, sent_messages
from broker.store.tables import follow_ons as follow_ons_table
from broker.sweep import sweep
from schemas import AgencyMessage, CitizenInfo, MessageKind
from tests.conftest import make_case
from tests.rest_agencies import change_adapter, deliver, handoff, hub_on_simulator
from tests.support import pump, wait_until

Sim = tuple[str, Controller]
HOUSING = "ministry-of-housing"  # honours Idempotency-Key; takes every follow-on kind
LABOUR = "ministry-of-labour"  # can be asked whether it has a case (lookup)


@pytest.fixture
def sim() -> Iterator[Sim]:
    with running_simulator() as started:
        yield started


@pytest.fixture
def hub(sqlite_hub: Hub, sim: Sim, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Hub:
    return hub_on_simulator(sqlite_hub, sim, tmp_path, monkeypatch)


def housing_case(hub: Hub) -> dict[str, Any]:
    return deliver(hub, make_case(category="housing-applications", subject="طلب وحدة سكنية منذ ٢٠١٥"))


def say(hub: Hub, h: dict[str, Any], kind: MessageKind, text: str = "", **more: Any) -> None:
    """The agency's own system speaks through the agency API's path."""
    agency = h["agency_id"]
    message = AgencyMessage(kind=kind, text=text, **more)
    record_message(hub.engine, hub.directory, h["id"], message, Sender(f"agency:{agency}", "agency-api", agency))


OFFICE = "central-office:amina"


def test_each_follow_on_kind_reaches_a_rest_agency_once_signed_and_arabic_intact(hub: Hub, sim: Sim) -> None:
    controller = sim[1]
    # the citizen answers a question; the answer goes back with the reviewer's reason; then it is closed
    asked = housing_case(hub)
    say(hub, asked, MessageKind.needs_info, "ما رقم الطلب القديم؟")
    record_citizen_info(hub.engine, hub.directory, asked["case_id"], CitizenInfo(text="رقم الطلب ٤٥٦٧"), "ns")
    say(hub, asked, MessageKind.answered, "تمت الإجابة")
    review.send_back(hub.engine, hub.directory, asked["id"], "الرد لا يذكر الموعد", OFFICE)
    say(hub, asked, MessageKind.answered, "الموعد في يناير")
    review.accept(hub.engine, asked["id"], OFFICE)
    review.close(hub.engine, hub.directory, asked["case_id"], OFFICE)
    # another is withdrawn, another transferred away, another's transfer request refused, another reminded
    withdrawn, moved, kept, late = (housing_case(hub) for _ in range(4))
    transfers.cancel(hub.engine, hub.directory, withdrawn["id"], reason="أرسلت بالخطأ", actor=OFFICE)
    transfers.decide(hub.engine, hub.directory, moved["id"], approve=True, to_agency="ministry-of-works", actor=OFFICE)
    say(hub, kept, MessageKind.transfer_requested, "ليست لنا", transfer_to="ministry-of-works")
    transfers.decide(hub.engine, hub.directory, kept["id"], approve=False, reason="بل هي لكم", actor=OFFICE)
    sweep(hub, at=handoff(hub, case_id=late["case_id"])["warn_at"])
    pump(hub)
    pump(hub)  # a second relay pass: nothing is sent twice

    received = controller.follow_ons(HOUSING)
    kinds = Counter(r.json()["follow_on"]["kind"] for r in received)
    assert kinds == {
        "citizen_reply": 1,
        "answer_returned": 1,
        "case_closed": 1,
        "cancelled": 1,
        "transferred_away": 1,
        "transfer_refused": 1,
        "reminder": 2,  # `kept` and `late` are both still open when their warning time comes
    }
    assert all(r.signature_ok for r in received)
    assert len({r.headers["Idempotency-Key"] for r in received}) == len(received)
    by_kind = {r.json()["follow_on"]["kind"]: r for r in received}
    assert by_kind["citizen_reply"].json()["follow_on"]["text"] == "رقم الطلب ٤٥٦٧"
    assert "الرد لا يذكر الموعد".encode() in by_kind["answer_returned"].body  # raw UTF-8 on the wire
    assert by_kind["reminder"].json()["follow_on"]["reminder"]["kind"] == "warning"
    with hub.engine.connect() as conn:  # only the housing ministry's: outside working hours the transferred
        # case's new (manual) handoff warns at the same instant, and its reminder rightly waits for an officer
        states = (
            conn.execute(
                select(follow_ons_table.c.state)
                .join(handoffs, handoffs.c.id == follow_ons_table.c.handoff_id)
                .where(handoffs.c.agency_id == HOUSING)
            )
            .scalars()
            .all()
        )
    assert len(states) == len(received) and set(states) == {"sent"}


def test_a_manual_agency_gets_its_follow_ons_through_an_officer(hub: Hub) -> None:
    """Nothing is dropped: what the adapter cannot carry waits on the follow-up queue until passed on."""
    h = deliver(hub, make_case(category="social-insurance-pensions"))
    record_message(
        hub.engine,
        hub.directory,
        h["id"],
        AgencyMessage(kind=MessageKind.answered, text="صُرف"),
        Sender(OFFICE, "manual"),
    )
    review.send_back(hub.engine, hub.directory, h["id"], "أرفقوا إثبات الصرف", OFFICE)
    pump(hub)
    with hub.engine.connect() as conn:
        [item] = followup.queue(conn, "social-insurance-organisation")
        [waiting] = follow_ons.waiting_for_officer(conn, h["id"])
    assert item.reason == "follow_on" and "أبلغ الجهة" in item.note
    assert waiting["kind"] == "answer_returned" and waiting["payload"]["text"] == "أرفقوا إثبات الصرف"
    follow_ons.passed_on(hub.engine, waiting["id"], OFFICE, "by phone")
    assert handoff(hub, case_id=h["case_id"])["followup_reason"] == "manual"  # still chased by hand, as before


def test_a_follow_on_kind_the_rest_agency_does_not_take_goes_to_an_officer(hub: Hub, sim: Sim) -> None:
    change_adapter(hub, HOUSING, follow_ons={"reminder": {"path": "/cases/{handoff_id}/reminders"}})
    h = housing_case(hub)
    transfers.cancel(hub.engine, hub.directory, h["id"], reason="مكررة", actor=OFFICE)
    pump(hub)
    assert sim[1].follow_ons(HOUSING) == []
    with hub.engine.connect() as conn:
        [waiting] = follow_ons.waiting_for_officer(conn, h["id"])
    assert waiting["kind"] == "cancelled"


def delivered_after_the_retry_delay(hub: Hub, case_id: str) -> None:
    def delivered() -> bool:
        pump(hub)
        return bool(handoff(hub, case_id=case_id)["state"] == "delivered")

    wait_until(delivered, "the next attempt to deliver")


def tickets(sim: Sim, agency: str, reference: str) -> list[str]:
    return sim[1].tickets(agency, reference)


UNCERTAIN = [
    # (agency, how the first delivery ends) — the agency made the ticket either way
    (LABOUR, "timeout-after-create"),
    (LABOUR, "reset-after-create"),
    (HOUSING, "timeout-after-create"),
    (HOUSING, "reset-after-create"),
]


@pytest.mark.parametrize(("agency", "mode"), UNCERTAIN)
def test_a_delivery_that_may_have_arrived_ends_with_exactly_one_ticket(
    hub: Hub, sim: Sim, agency: str, mode: str
) -> None:
    """Labour is asked (lookup) and its ticket adopted; housing recognises the repeated key."""
    change_adapter(hub, agency, total_timeout=0.5)
    sim[1].set_mode(agency, mode, times=1, hang_seconds=3)
    category = "labour-disputes" if agency == LABOUR else "housing-applications"
    case = make_case(category=category)
    first = deliver(hub, case)  # the first attempt cannot tell whether the agency took it
    delivered_after_the_retry_delay(hub, first["case_id"])
    done = handoff(hub, case_id=first["case_id"])
    [ticket] = tickets(sim, agency, case.reference)
    assert (done["state"], done["agency_reference"], done["uncertain"]) == ("delivered", ticket, False)
    with hub.engine.connect() as conn:
        [delivered] = [e for e in events.for_case(conn, first["case_id"]) if e.type == "handoff.delivered"]
    assert delivered.data.get("adopted", False) is (agency == LABOUR)
    posts = sim[1].requests(agency)
    assert len(posts) == (1 if agency == LABOUR else 2)  # asked, not sent again; or sent again, same key


def test_an_agency_that_cannot_be_asked_and_ignores_keys_is_checked_by_an_officer(hub: Hub, sim: Sim) -> None:
    change_adapter(hub, HOUSING, honours_idempotency_key=False, total_timeout=0.5)
    sim[1].set_mode(HOUSING, "timeout-after-create", times=1, hang_seconds=3, idempotency=False)
    case = make_case(category="housing-applications")
    h = deliver(hub, case)
    pump(hub)
    assert handoff(hub, case_id=h["case_id"])["state"] == "outcome_unknown"
    with hub.engine.connect() as conn:
        [item] = followup.queue(conn, HOUSING)
    assert item.reason == "outcome_unknown" and f"followup confirm {h['id']}" in item.note
    assert len(sim[1].requests(HOUSING)) == 1  # never sent blindly a second time
    [ticket] = tickets(sim, HOUSING, case.reference)
    redelivery.confirm(hub.engine, h["id"], ticket, actor=OFFICE)
    done = handoff(hub, case_id=h["case_id"])
    assert (done["state"], done["agency_reference"], done["followup_reason"]) == ("delivered", ticket, None)


def test_an_officer_can_send_an_uncertain_delivery_again(hub: Hub, sim: Sim) -> None:
    change_adapter(hub, HOUSING, honours_idempotency_key=False, total_timeout=0.5)
    sim[1].set_mode(HOUSING, "hang", times=1, hang_seconds=3)  # the agency never took it
    case = make_case(category="housing-applications")
    h = deliver(hub, case)
    pump(hub)
    assert handoff(hub, case_id=h["case_id"])["state"] == "outcome_unknown"
    assert tickets(sim, HOUSING, case.reference) == []
    redelivery.resend(hub.engine, h["id"], actor=OFFICE)
    delivered_after_the_retry_delay(hub, h["case_id"])
    done = handoff(hub, case_id=h["case_id"])
    [ticket] = tickets(sim, HOUSING, case.reference)
    assert (done["state"], done["agency_reference"]) == ("delivered", ticket)


def test_a_conversation_is_read_in_order_both_ways_with_the_hubs_sent_ids(any_hub: Hub) -> None:
    """What a redelivery's envelope carries, read in one statement for a batch of handoffs (issue 14)."""
    [first, second] = submit_cases(
        any_hub.engine, any_hub.directory, [make_case(), make_case()], actor="national-system"
    )
    with any_hub.engine.connect() as conn:
        ids = [get_case(conn, a.case_id).handoffs[0].id for a in (first, second)]
    at = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)
    with transaction(any_hub.engine) as conn:
        said = {"source": "agency-api", "actor": "agency", "data": {}, "agency_reference": None, "sent_at": None}
        conn.execute(
            insert(agency_messages),
            [
                {
                    **said,
                    "id": "m1",
                    "handoff_id": ids[0],
                    "kind": "answered",
                    "text": "تم الإصلاح",
                    "dedup_key": "a",
                    "created_at": at + timedelta(minutes=2),
                },
                {
                    **said,
                    "id": "m2",
                    "handoff_id": ids[0],
                    "kind": "acknowledged",
                    "text": "استلمنا",
                    "dedup_key": "b",
                    "created_at": at,
                },
            ],
        )
        conn.execute(
            insert(follow_ons_table),
            [
                {
                    "id": "f1",
                    "handoff_id": ids[0],
                    "kind": "citizen_info",
                    "state": "sent",
                    "attempts": 1,
                    "payload": {"text": "رقم الطلب ٤٥٦٧"},
                    "created_at": at + timedelta(minutes=1),
                    "updated_at": at,
                },
                {
                    "id": "f2",
                    "handoff_id": ids[1],
                    "kind": "reminder",
                    "state": "sent",
                    "attempts": 1,
                    "payload": {"text": "", "text_en": "A reminder"},
                    "created_at": at,
                    "updated_at": at,
                },
            ],
        )
        conn.execute(
            insert(sent_messages),
            [
                {"message_id": "<r2@hub>", "handoff_id": ids[0], "created_at": at + timedelta(minutes=3)},
                {"message_id": "<r1@hub>", "handoff_id": ids[0], "created_at": at},
            ],
        )
    with any_hub.engine.connect() as conn:
        found = conversations(conn, [*ids, "h_nothing_said"])
    assert [(i.direction, i.kind, i.text, i.at) for i in found[ids[0]].history] == [
        ("from_agency", "acknowledged", "استلمنا", at),
        ("to_agency", "citizen_info", "رقم الطلب ٤٥٦٧", at + timedelta(minutes=1)),
        ("from_agency", "answered", "تم الإصلاح", at + timedelta(minutes=2)),
    ]
    assert found[ids[0]].thread == ["<r1@hub>", "<r2@hub>"]
    assert [(i.direction, i.text) for i in found[ids[1]].history] == [("to_agency", "A reminder")]
    assert found[ids[1]].thread == []
    assert found["h_nothing_said"].history == []


def test_a_claim_reads_the_conversation_of_the_handoffs_that_have_one_only(any_hub: Hub) -> None:
    """Each kind of entry makes a handoff's claim read its conversation; a first delivery's is not read."""
    cases = [make_case(), make_case(), make_case(), make_case()]
    accepted = submit_cases(any_hub.engine, any_hub.directory, cases, actor="national-system")
    claims: list[tuple[str, str]] = []
    Relay(any_hub, lambda _topic, taken: claims.extend(taken)).run_once()  # claimed, not delivered yet
    with any_hub.engine.connect() as conn:
        said_by_agency, told, sent, nothing = (get_case(conn, a.case_id).handoffs[0].id for a in accepted)
    at = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)
    with transaction(any_hub.engine) as conn:
        conn.execute(
            insert(agency_messages).values(
                id="m1",
                handoff_id=said_by_agency,
                kind="acknowledged",
                text="استلمنا",
                source="agency-api",
                actor="agency",
                data={},
                dedup_key="a",
                created_at=at,
            )
        )
        conn.execute(
            insert(follow_ons_table).values(
                id="f1",
                handoff_id=told,
                kind="reminder",
                state="sent",
                attempts=1,
                payload={"text": "تذكير"},
                created_at=at,
                updated_at=at,
            )
        )
        conn.execute(insert(sent_messages).values(message_id="<r1@hub>", handoff_id=sent, created_at=at))
        ids = [said_by_agency, told, sent, nothing]
        flags = dict(conn.execute(select(handoffs.c.id, SAID).where(handoffs.c.id.in_(ids))).all())
    assert flags == {said_by_agency: True, told: True, sent: True, nothing: False}

    jobs = {job.h.id: job.envelope for job in dispatch._claim(any_hub, claims)}
    assert [(i.direction, i.text) for i in jobs[said_by_agency].history] == [("from_agency", "استلمنا")]
    assert [(i.direction, i.text) for i in jobs[told].history] == [("to_agency", "تذكير")]
    assert (jobs[sent].history, jobs[sent].thread) == ([], ["<r1@hub>"])
    assert (jobs[nothing].history, jobs[nothing].thread) == ([], [])
