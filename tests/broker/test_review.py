"""The central office reviews answers: accept to reply, return with a reason, then close."""

from __future__ import annotations

import pytest
from sqlalchemy import select
from typer.testing import CliRunner

from broker import events, review
from broker.cli import app
from broker.errors import InvalidTransition
from broker.hub import Hub
from broker.intake import submit_cases
from broker.messages import Sender, record_message
from broker.store.cases import get_case
from broker.store.tables import handoffs
from schemas import AgencyMessage, MessageKind
from tests.conftest import make_case
from tests.support import pump


def answered(hub: Hub, text: str = "تم صرف المستحقات") -> tuple[str, str]:
    [accepted] = submit_cases(
        hub.engine, hub.directory, [make_case(category="social-insurance-pensions")], actor="national-system"
    )
    pump(hub)
    with hub.engine.connect() as conn:
        handoff = get_case(conn, accepted.case_id).handoffs[0].id
    message = AgencyMessage(kind=MessageKind.answered, text=text)
    record_message(hub.engine, hub.directory, handoff, message, Sender(actor="central-office:amina", source="manual"))
    return accepted.case_id, handoff


def test_an_accepted_answer_replies_the_case_which_can_then_be_closed(any_hub: Hub) -> None:
    case_id, handoff = answered(any_hub)
    with any_hub.engine.connect() as conn:
        [waiting] = review.awaiting(conn)
    assert (waiting.handoff, waiting.answer) == (handoff, "تم صرف المستحقات")

    assert review.accept(any_hub.engine, handoff, "central-office:noor") == "replied"
    review.close(any_hub.engine, any_hub.directory, case_id, "central-office:noor")
    with any_hub.engine.connect() as conn:
        assert get_case(conn, case_id).state == "closed"
        assert review.awaiting(conn) == []
        types = [e.type for e in events.for_case(conn, case_id)]
    assert types[-4:] == ["handoff.accepted", "case.replied", "case.closed", "follow_on.queued"]


def test_a_returned_answer_goes_back_to_the_agency_which_answers_again(any_hub: Hub) -> None:
    case_id, handoff = answered(any_hub, "تمت المعالجة")
    with any_hub.engine.connect() as conn:
        due_before = conn.execute(select(handoffs.c.answer_due_at).where(handoffs.c.id == handoff)).scalar_one()
    review.send_back(any_hub.engine, any_hub.directory, handoff, "الرد لا يجيب عن سؤال المواطن", "central-office:noor")
    with any_hub.engine.connect() as conn:
        row = conn.execute(select(handoffs).where(handoffs.c.id == handoff)).one()
    assert row.answered_at is None and row.next_check_at is not None  # the sweep watches it again
    assert row.answer_due_at >= due_before
    with any_hub.engine.connect() as conn:
        read = get_case(conn, case_id)
    assert (read.state, read.handoffs[0].state) == ("returned", "acknowledged")
    again = AgencyMessage(kind=MessageKind.answered, text="تم صرف المبلغ في 20 نوفمبر")
    record_message(
        any_hub.engine, any_hub.directory, handoff, again, Sender(actor="central-office:amina", source="manual")
    )
    assert review.accept(any_hub.engine, handoff, "central-office:noor") == "replied"


def test_review_refuses_what_its_state_does_not_allow(any_hub: Hub) -> None:
    case_id, handoff = answered(any_hub)
    with pytest.raises(InvalidTransition, match="case is answered; cannot close"):
        review.close(any_hub.engine, any_hub.directory, case_id, "central-office:noor")
    with pytest.raises(InvalidTransition, match="without a reason"):
        review.send_back(any_hub.engine, any_hub.directory, handoff, "  ", "central-office:noor")
    review.accept(any_hub.engine, handoff, "central-office:noor")
    with pytest.raises(InvalidTransition, match="handoff is accepted; cannot accept"):
        review.accept(any_hub.engine, handoff, "central-office:noor")


def test_the_review_commands_work_from_the_cli(sqlite_hub: Hub) -> None:
    case_id, handoff = answered(sqlite_hub)
    env = {"HUB_DATABASE_URL": sqlite_hub.settings.database_url}
    runner = CliRunner()
    listed = runner.invoke(app, ["review", "list"], env=env)
    assert listed.exit_code == 0 and handoff in listed.output
    assert runner.invoke(app, ["review", "accept", handoff, "--by", "noor"], env=env).exit_code == 0
    closed = runner.invoke(app, ["review", "close", case_id], env=env)
    assert closed.exit_code == 0, closed.output
    refused = runner.invoke(app, ["review", "accept", "h_nope"], env=env)
    assert refused.exit_code == 1 and "no handoff 'h_nope'" in refused.output


def test_two_reviewers_at_once_get_one_result_and_a_clear_conflict(pg_hub: Hub) -> None:
    """L5: accept and return of the same answer at once on PostgreSQL: one wins, the other is refused."""
    import threading

    from broker.errors import Conflict, InvalidTransition

    case_id, handoff = answered(pg_hub, "تمت المعالجة")
    start = threading.Barrier(2)
    outcomes: list[str] = []

    def act(name: str) -> None:
        start.wait()
        try:
            if name == "accept":
                review.accept(pg_hub.engine, handoff, "central-office:noor")
            else:
                review.send_back(pg_hub.engine, pg_hub.directory, handoff, "ناقص", "central-office:huda")
            outcomes.append(name)
        except (Conflict, InvalidTransition):
            outcomes.append("refused")

    threads = [threading.Thread(target=act, args=(n,)) for n in ("accept", "return")]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert sorted(outcomes) in (["accept", "refused"], ["refused", "return"])
    with pg_hub.engine.connect() as conn:
        types = [e.type for e in events.for_case(conn, case_id)]
    assert types.count("handoff.accepted") + types.count("handoff.returned") == 1
