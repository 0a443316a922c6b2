"""A case's whole path through the core on SQLite and PostgreSQL, without a broker."""

from __future__ import annotations

from broker import events, followup
from broker.hub import Hub
from broker.intake import submit_cases
from broker.messages import Sender, record_message
from broker.store.cases import get_case
from schemas import AgencyMessage, MessageKind
from tests.conftest import make_case
from tests.support import joint_category, pump


def test_a_case_for_a_joining_agency_reaches_the_follow_up_queue_and_its_answer_flows_back(any_hub: Hub) -> None:
    hub = any_hub
    case = make_case(category="social-insurance-pensions")
    [accepted] = submit_cases(hub.engine, hub.directory, [case], actor="national-system")
    assert pump(hub) == 1

    with hub.engine.connect() as conn:
        [item] = followup.queue(conn)
        assert item.agency == "social-insurance-organisation"
        assert item.subject == case.subject
        assert item.reason.startswith("manual")
        assert get_case(conn, accepted.case_id).state == "with_agency"

    answer = "تمت مراجعة الاشتراكات وصرف المستحقات بأثر رجعي."
    recorded = record_message(
        hub.engine,
        hub.directory,
        item.handoff,
        AgencyMessage(kind=MessageKind.answered, text=answer, agency_reference="SIO-77"),
        Sender(actor="central-office:amina", source="manual"),
    )
    assert recorded.handoff_state == "answered"

    with hub.engine.connect() as conn:
        read = get_case(conn, accepted.case_id)
        trail = events.for_case(conn, accepted.case_id)
        assert followup.queue(conn) == []
    assert read.state == "answered"
    assert read.handoffs[0].agency_reference == "SIO-77"
    assert [e.type for e in trail] == [
        "case.received",
        "case.routed",
        "handoff.delivered",
        "message.answered",
        "case.answered",
    ]
    assert trail[3].data["text"] == answer
    assert trail[3].actor == "central-office:amina"


def test_a_case_routed_by_governorate_goes_to_that_municipality(any_hub: Hub) -> None:
    hub = any_hub
    cases = [
        make_case(category="street-lighting", location={"governorate": g})
        for g in ("capital", "muharraq", "northern", "southern")
    ] + [make_case(category="street-lighting", location=None)]
    accepted = submit_cases(hub.engine, hub.directory, cases, actor="national-system")
    with hub.engine.connect() as conn:
        agencies = [get_case(conn, a.case_id).handoffs[0].agency for a in accepted]
    assert agencies == [
        "capital-municipality",
        "muharraq-municipality",
        "northern-municipality",
        "central-municipality",
        "egovernment-authority",
    ]


def test_the_same_reference_twice_is_one_case(any_hub: Hub) -> None:
    hub = any_hub
    case = make_case()
    first = submit_cases(hub.engine, hub.directory, [case], actor="national-system")[0]
    second = submit_cases(hub.engine, hub.directory, [case], actor="national-system")[0]
    assert first.created and not second.created
    assert first.case_id == second.case_id
    with hub.engine.connect() as conn:
        assert len(get_case(conn, first.case_id).handoffs) == 1
        assert [e.type for e in events.for_case(conn, first.case_id)] == ["case.received", "case.routed"]


def test_two_agencies_answering_at_once_on_postgresql_leave_the_case_answered(pg_hub: Hub) -> None:
    import threading

    hub = pg_hub
    category = joint_category(hub)
    for _ in range(5):
        [accepted] = submit_cases(hub.engine, hub.directory, [make_case(category=category)], actor="national-system")
        pump(hub)
        with hub.engine.connect() as conn:
            ids = [h.id for h in get_case(conn, accepted.case_id).handoffs]
        barrier = threading.Barrier(len(ids))

        def answer(handoff: str, barrier: threading.Barrier = barrier) -> None:
            barrier.wait()
            message = AgencyMessage(kind=MessageKind.answered, text="تمت المعالجة")
            record_message(
                hub.engine, hub.directory, handoff, message, Sender(actor="central-office:x", source="manual")
            )

        threads = [threading.Thread(target=answer, args=(h,)) for h in ids]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        with hub.engine.connect() as conn:
            assert get_case(conn, accepted.case_id).state == "answered"
