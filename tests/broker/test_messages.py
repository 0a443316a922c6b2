"""Agency messages under concurrency on PostgreSQL: a repeat that commits while another request waits, and
two answers to one case."""

from __future__ import annotations

import threading
import time
from typing import Any

from sqlalchemy import event, insert, select, text

from broker.hub import Hub
from broker.intake import submit_cases
from broker.messages import Recorded, Sender, dedup_key, record_message
from broker.store.cases import get_case
from broker.store.engine import now
from broker.store.tables import agency_messages, cases, events, handoffs
from schemas import AgencyMessage, MessageKind
from tests.conftest import make_case
from tests.support import joint_category, pump


def test_a_repeat_committed_while_the_message_waited_for_the_lock_is_one_message(pg_hub: Hub) -> None:
    """The locked read's counts predate a message committed during the wait: the unique key catches the copy."""
    [accepted] = submit_cases(
        pg_hub.engine, pg_hub.directory, [make_case(category="social-insurance-pensions")], actor="national-system"
    )
    pump(pg_hub)
    with pg_hub.engine.connect() as conn:
        handoff = get_case(conn, accepted.case_id).handoffs[0].id
    message = AgencyMessage(kind=MessageKind.acknowledged, text="استلمنا طلبكم وسنرد قريباً.")
    sender = Sender(actor="central-office:amina", source="manual")
    refused: list[BaseException] = []
    event.listen(pg_hub.engine, "handle_error", lambda ctx: refused.append(ctx.original_exception))

    holder = pg_hub.engine.connect()
    holder.begin()
    holder.execute(select(handoffs.c.id).where(handoffs.c.id == handoff).with_for_update())
    first = {
        "id": "m_first",
        "handoff_id": handoff,
        "kind": "acknowledged",
        "text": message.text,
        "source": "manual",
        "actor": sender.actor,
        "dedup_key": dedup_key(message, "ack-1"),
        "data": message.model_dump(mode="json", exclude={"handoff"}),
        "created_at": now(),
    }
    holder.execute(insert(agency_messages).values(first))
    outcome: list[Recorded] = []
    late = threading.Thread(
        target=lambda: outcome.append(
            record_message(pg_hub.engine, pg_hub.directory, handoff, message, sender, idempotency_key="ack-1")
        )
    )
    late.start()
    _wait_until_blocked(pg_hub)
    holder.commit()
    holder.close()
    late.join(30)

    assert outcome == [Recorded("m_first", "delivered", duplicate=True)]
    assert [type(e).__name__ for e in refused] == ["UniqueViolation"]  # the copy was refused, then read as a repeat
    with pg_hub.engine.connect() as conn:
        assert conn.execute(select(agency_messages.c.id).where(agency_messages.c.handoff_id == handoff)).all() == [
            ("m_first",)
        ]
        assert conn.execute(select(handoffs.c.state).where(handoffs.c.id == handoff)).scalar() == "delivered"


def test_two_answers_to_one_case_wait_for_its_lock_and_answer_it_once(pg_hub: Hub) -> None:
    """Each answer locks the case: the two run one after the other, and the second sees the first's
    answer, so the case is answered, once."""
    [accepted] = submit_cases(
        pg_hub.engine, pg_hub.directory, [make_case(category=joint_category(pg_hub))], actor="national-system"
    )
    pump(pg_hub)
    with pg_hub.engine.connect() as conn:
        ids = [h.id for h in get_case(conn, accepted.case_id).handoffs]
    answer = AgencyMessage(kind=MessageKind.answered, text="تمت المعالجة. Done.")
    sender = Sender(actor="central-office:amina", source="manual")

    holder = pg_hub.engine.connect()
    holder.begin()
    holder.execute(select(cases.c.id).where(cases.c.id == accepted.case_id).with_for_update())
    outcome: list[Recorded] = []
    answering = [
        threading.Thread(
            target=lambda h=h: outcome.append(record_message(pg_hub.engine, pg_hub.directory, h, answer, sender))
        )
        for h in ids
    ]
    for t in answering:
        t.start()
    _wait_until_blocked(pg_hub, sessions=2)  # both wait for the case
    holder.commit()
    holder.close()
    for t in answering:
        t.join(30)

    assert sorted(r.handoff_state for r in outcome) == ["answered", "answered"]
    with pg_hub.engine.connect() as conn:
        assert get_case(conn, accepted.case_id).state == "answered"
        moved = select(events.c.type).where(events.c.case_id == accepted.case_id, events.c.type == "case.answered")
        assert conn.execute(moved).all() == [("case.answered",)]


def _wait_until_blocked(hub: Hub, timeout: float = 10.0, sessions: int = 1) -> None:
    """Until `sessions` sessions of the test's database wait for a row lock."""
    deadline = time.monotonic() + timeout
    query = text(
        "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() AND wait_event_type = 'Lock'"
    )
    while time.monotonic() < deadline:
        with hub.engine.connect() as conn:
            waiting: Any = conn.execute(query).scalar()
        if waiting >= sessions:
            return
        time.sleep(0.01)
    raise AssertionError(f"{sessions} session(s) never waited for a row lock")
