"""What an officer and a reviewer do on a handoff's page reaches the core as the CLI's commands do."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from urllib.parse import unquote

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import insert, select, update

from broker import deadlines, events
from broker.hub import Hub
from broker.ids import new_id
from broker.intake import submit_cases
from broker.messages import Sender, record_message
from broker.store.engine import now
from broker.store.tables import assignments, handoffs, inbound_log
from schemas import AgencyMessage, MessageKind
from tests.broker.console.conftest import csrf_of
from tests.conftest import make_case
from tests.support import pump

Client = Callable[[str | None], TestClient]


def _handoff(hub: Hub, category: str = "social-insurance-pensions") -> tuple[str, str]:
    [accepted] = submit_cases(hub.engine, hub.directory, [make_case(category=category)], actor="test")
    pump(hub)
    with hub.engine.connect() as conn:
        handoff = conn.execute(select(handoffs.c.id).where(handoffs.c.case_id == accepted.case_id)).scalar_one()
    return accepted.case_id, handoff


def _post(client: TestClient, path: str, **data: str) -> str:
    """Post a form with the session's token; the message shown on the page it leads to."""
    csrf = csrf_of(client.get("/console/queue").text)
    answer = client.post(path, data={"csrf": csrf, **data}, follow_redirects=False)
    assert answer.status_code == 303, answer.text
    return unquote(answer.cookies.get("tawasul_console_flash", ""))


def _row(hub: Hub, handoff: str) -> dict[str, object]:
    with hub.engine.connect() as conn:
        return dict(conn.execute(select(handoffs).where(handoffs.c.id == handoff)).one()._mapping)


def _types(hub: Hub, case_id: str) -> list[str]:
    with hub.engine.connect() as conn:
        return [e.type for e in events.for_case(conn, case_id)]


def test_a_recorded_visit_is_the_agency_message_with_its_channel(console_hub: Hub, client_for: Client) -> None:
    case_id, handoff = _handoff(console_hub)
    said = _post(
        client_for("amina"),
        f"/console/handoffs/{handoff}/contact",
        channel="visit",
        kind="acknowledged",
        reference="SIO-7",
    )
    assert said == "تم."
    row = _row(console_hub, handoff)
    assert (row["state"], row["agency_reference"]) == ("acknowledged", "SIO-7")
    with console_hub.engine.connect() as conn:
        [message] = [e for e in events.for_case(conn, case_id) if e.type == "message.acknowledged"]
    assert (message.actor, message.data["source"]) == ("central-office:amina", "manual:visit")


@pytest.mark.parametrize(
    ("fields", "shown"),
    [
        ({"kind": "answered", "text": "  "}, "write what the agency said"),
        ({"kind": "shrugged"}, "choose what the agency said"),
        ({"kind": "acknowledged", "reference": "has spaces"}, "agency_reference"),
        ({"kind": "transfer_requested", "transfer_to": "no-such-agency"}, "unknown agency"),
    ],
)
def test_a_contact_the_core_refuses_comes_back_with_its_reason_and_changes_nothing(
    console_hub: Hub, client_for: Client, fields: dict[str, str], shown: str
) -> None:
    _, handoff = _handoff(console_hub)
    said = _post(client_for("amina"), f"/console/handoffs/{handoff}/contact", **fields)
    assert said.startswith("لم يتم:") and shown in said
    assert _row(console_hub, handoff)["state"] == "delivered"


def test_an_uncertain_delivery_is_confirmed_with_the_agency_reference(console_hub: Hub, client_for: Client) -> None:
    _, handoff = _handoff(console_hub, "road-maintenance")
    with console_hub.engine.begin() as conn:
        conn.execute(
            update(handoffs)
            .where(handoffs.c.id == handoff)
            .values(state="outcome_unknown", uncertain=True, followup_reason="outcome_unknown", followup="?")
        )
    client = client_for("amina")
    assert "reference" in _post(client, f"/console/handoffs/{handoff}/confirm", reference=" ")
    assert _post(client, f"/console/handoffs/{handoff}/confirm", reference="MOW-88") == "تم."
    row = _row(console_hub, handoff)
    assert (row["state"], row["agency_reference"]) == ("delivered", "MOW-88")
    assert row["followup_reason"] != "outcome_unknown"


def test_a_failed_delivery_is_sent_again(console_hub: Hub, client_for: Client) -> None:
    case_id, handoff = _handoff(console_hub, "road-maintenance")
    with console_hub.engine.begin() as conn:
        conn.execute(
            update(handoffs)
            .where(handoffs.c.id == handoff)
            .values(state="failed", followup_reason="delivery_failed", followup="gave up")
        )
    assert _post(client_for("root"), f"/console/handoffs/{handoff}/resend") == "تم."
    assert "handoff.resent" in _types(console_hub, case_id)


def test_a_transfer_request_is_approved_to_another_agency(console_hub: Hub, client_for: Client) -> None:
    case_id, handoff = _handoff(console_hub)
    record_message(
        console_hub.engine,
        console_hub.directory,
        handoff,
        AgencyMessage(kind=MessageKind.transfer_requested, text="ليست من اختصاصنا"),
        Sender(actor="central-office:amina", source="manual:call"),
    )
    client = client_for("amina")
    refused = _post(client, f"/console/handoffs/{handoff}/transfer", decision="approve")
    assert "name the agency" in refused
    assert _post(client, f"/console/handoffs/{handoff}/transfer", decision="approve", to="ministry-of-works") == "تم."
    with console_hub.engine.connect() as conn:
        agencies = conn.execute(select(handoffs.c.agency_id).where(handoffs.c.case_id == case_id)).scalars().all()
    assert sorted(agencies) == ["ministry-of-works", "social-insurance-organisation"]


def test_an_extension_is_granted_and_moves_the_answer_by_time(console_hub: Hub, client_for: Client) -> None:
    case_id, handoff = _handoff(console_hub)
    before = _row(console_hub, handoff)["answer_due_at"]
    deadlines.request_extension(console_hub.engine, handoff, 3, "ننتظر تقرير المختبر", "agency")
    assert _post(client_for("amina"), f"/console/handoffs/{handoff}/extension", decision="grant", note="ok") == "تم."
    after = _row(console_hub, handoff)["answer_due_at"]
    assert after > before + timedelta(days=2)  # type: ignore[operator]
    assert "handoff.extension_granted" in _types(console_hub, case_id)
    again = _post(client_for("amina"), f"/console/handoffs/{handoff}/extension", decision="refuse")
    assert "no extension request" in again


def test_a_handoff_is_assigned_to_an_officer_only(console_hub: Hub, client_for: Client) -> None:
    case_id, handoff = _handoff(console_hub)
    client = client_for("root")
    assert "not an active officer" in _post(client, f"/console/handoffs/{handoff}/assign", username="yusuf")
    assert _post(client, f"/console/handoffs/{handoff}/assign", username="amina") == "تم."
    with console_hub.engine.connect() as conn:
        assert conn.execute(select(assignments.c.username)).scalar_one() == "amina"
    assert "amina" in client.get("/console/queue").text
    assert "handoff.assigned" in _types(console_hub, case_id)


def test_an_answer_is_returned_with_a_reason_and_a_new_round(console_hub: Hub, client_for: Client) -> None:
    case_id, handoff = _handoff(console_hub)
    record_message(
        console_hub.engine,
        console_hub.directory,
        handoff,
        AgencyMessage(kind=MessageKind.answered, text="تم."),
        Sender(actor="central-office:amina", source="manual:call"),
    )
    client = client_for("yusuf")
    assert "without a reason" in _post(client, f"/console/handoffs/{handoff}/return", reason=" ")
    assert _post(client, f"/console/handoffs/{handoff}/return", reason="الرد ناقص") == "تم."
    assert _row(console_hub, handoff)["round"] == 2
    again = _post(client, f"/console/handoffs/{handoff}/accept")
    assert again.startswith("لم يتم:")
    assert "handoff.returned" in _types(console_hub, case_id)


def test_unmatched_mail_is_attached_to_a_handoff_of_its_agency_or_dismissed(
    console_hub: Hub, client_for: Client
) -> None:
    case_id, handoff = _handoff(console_hub)
    items = []
    with console_hub.engine.begin() as conn:
        for n in range(2):
            items.append(new_id("i"))
            conn.execute(
                insert(inbound_log).values(
                    id=items[-1],
                    agency_id="social-insurance-organisation",
                    dedup_key=f"mail-{n}",
                    disposition="unmatched",
                    reason="no reply token",
                    sender="clerk@sio.gov.bh",
                    subject="رد على الشكوى",
                    text="تم صرف المستحقات للمواطن.",
                    created_at=now(),
                )
            )
    client = client_for("amina")
    assert "بريد وارد غير مطابق" in client.get("/console/queue").text
    assert _post(client, f"/console/inbound/{items[0]}/attach", handoff=handoff, kind="answered") == "تم."
    assert _post(client, f"/console/inbound/{items[1]}/dismiss") == "تم."
    assert "no unmatched item" not in _post(client, f"/console/inbound/{items[1]}/dismiss")
    assert _row(console_hub, handoff)["state"] == "answered"
    assert "message.answered" in _types(console_hub, case_id)
    assert 'id="unmatched-count"' not in client.get("/console/queue").text
