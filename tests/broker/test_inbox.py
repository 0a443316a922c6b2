"""An agency's stream read from a stored cursor: each item names its handoff by a signed token or a sent id.

The stream here is the stub adapter's inbox directory (one JSON file per item): the mailbox shape of
the contract without a mail server (the e-mail adapter's own tests use real SMTP and IMAP servers).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from pydantic import SecretStr
from sqlalchemy import insert, select

from broker import events, inbound, reply_tokens
from broker.hub import Hub
from broker.store.engine import now, transaction
from broker.store.tables import agency_messages, handoffs, sent_messages
from tests.broker.agency_setup import hub_with_agencies, submit
from tests.support import pump

SECRET = "reply-token-secret-for-tests-0123456789"
MAILBOX, OTHER = "mailbox-agency", "other-agency"


@pytest.fixture
def inbox(tmp_path: Path) -> Path:
    folder = tmp_path / "inbox"
    folder.mkdir()
    return folder


@pytest.fixture
def hub(any_hub: Hub, tmp_path: Path, inbox: Path) -> Hub:
    agencies = {
        MAILBOX: {"adapter": {"kind": "stub", "inbox_dir": str(inbox)}},
        OTHER: {"adapter": {"kind": "stub"}},
    }
    made = hub_with_agencies(any_hub, tmp_path / "config", agencies, reply_secret=SecretStr(SECRET))
    submit(made, MAILBOX, 2)
    submit(made, OTHER, 1)
    pump(made)
    return made


def handoff_ids(hub: Hub, agency: str) -> list[str]:
    with hub.engine.connect() as conn:
        query = select(handoffs.c.id).where(handoffs.c.agency_id == agency).order_by(handoffs.c.id)
        return list(conn.execute(query).scalars())


def drop(inbox: Path, name: str, **item: Any) -> None:
    """One item arrives in the agency's stream."""
    (inbox / f"{name}.json").write_text(json.dumps(item, ensure_ascii=False), encoding="utf-8")


def said(hub: Hub, handoff_id: str) -> list[tuple[str, str]]:
    with hub.engine.connect() as conn:
        query = select(agency_messages.c.kind, agency_messages.c.text).where(agency_messages.c.handoff_id == handoff_id)
        return [(k, t) for k, t in conn.execute(query)]


def state_of(hub: Hub, handoff_id: str) -> str:
    with hub.engine.connect() as conn:
        return str(conn.execute(select(handoffs.c.state).where(handoffs.c.id == handoff_id)).scalar_one())


def test_a_reply_naming_its_handoff_by_a_signed_token_is_recorded_there(hub: Hub, inbox: Path) -> None:
    first, second = handoff_ids(hub, MAILBOX)
    token = reply_tokens.make(SECRET, second)
    drop(inbox, "001", kind="answered", text="تم حل المشكلة", dedup_key="<m1@agency>", reply_token=token.upper())
    assert inbound.read_inbox(hub, MAILBOX) == 1
    assert said(hub, second) == [("answered", "تم حل المشكلة")] and said(hub, first) == []
    assert inbound.read_cursor(hub.engine, f"inbox:{MAILBOX}") == "001.json"
    assert [p.name for p in inbox.iterdir()] == ["001.read"]  # flagged only after the hub committed it


def test_a_reply_quoting_what_the_hub_sent_finds_its_handoff(hub: Hub, inbox: Path) -> None:
    first, _ = handoff_ids(hub, MAILBOX)
    with transaction(hub.engine) as conn:
        conn.execute(insert(sent_messages).values(message_id="<case-1@hub>", handoff_id=first, created_at=now()))
    drop(inbox, "001", kind="acknowledged", text="استلمنا", dedup_key="<m2@agency>", references=["<case-1@hub>"])
    assert inbound.read_inbox(hub, MAILBOX) == 1
    assert state_of(hub, first) == "acknowledged"


UNMATCHED = [
    # (what the reply carries, why it cannot be placed)
    ({"reply_token": "h01jd7yq4zq8k3m2n1p0r9s8t7v-aaaaaaaaaaaaaaaa"}, "does not verify"),
    ({}, "names no handoff"),
    ({"references": ["<never-sent@hub>"]}, "names no handoff"),
]


@pytest.mark.parametrize(("names", "why"), UNMATCHED)
def test_what_names_no_handoff_goes_to_the_review_list_never_to_a_guess(
    hub: Hub, inbox: Path, names: dict[str, Any], why: str
) -> None:
    drop(inbox, "001", kind="answered", text="رد بلا مرجع", dedup_key="<m3@agency>", **names)
    assert inbound.read_inbox(hub, MAILBOX) == 0
    assert inbound.read_inbox(hub, MAILBOX) == 0  # read once only
    with hub.engine.connect() as conn:
        [item] = inbound.unresolved(conn)
        recorded = conn.execute(select(agency_messages.c.id)).all()
    assert why in item["reason"] and item["text"] == "رد بلا مرجع" and recorded == []


def test_a_token_for_another_agencys_handoff_is_not_accepted(hub: Hub, inbox: Path) -> None:
    [elsewhere] = handoff_ids(hub, OTHER)
    token = reply_tokens.make(SECRET, elsewhere)
    drop(inbox, "001", kind="answered", text="محاولة", dedup_key="<m4@agency>", reply_token=token)
    assert inbound.read_inbox(hub, MAILBOX) == 0
    assert said(hub, elsewhere) == []
    with hub.engine.connect() as conn:
        [item] = inbound.unresolved(conn)
    assert "not this agency's" in item["reason"]


def test_an_officer_places_an_unmatched_reply_on_a_handoff(hub: Hub, inbox: Path) -> None:
    first, _ = handoff_ids(hub, MAILBOX)
    drop(inbox, "001", kind="answered", text="الرد المتأخر", dedup_key="<m5@agency>")
    inbound.read_inbox(hub, MAILBOX)
    with hub.engine.connect() as conn:
        [item] = inbound.unresolved(conn)
    inbound.settle_unmatched(hub, item["id"], actor="central-office:amina", handoff_id=first)
    assert said(hub, first) == [("answered", "الرد المتأخر")]
    with hub.engine.connect() as conn:
        assert inbound.unresolved(conn) == []


def test_a_reader_killed_between_fetching_and_committing_takes_the_reply_once(
    hub: Hub, inbox: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    first, _ = handoff_ids(hub, MAILBOX)
    token = reply_tokens.make(SECRET, first)
    drop(inbox, "001", kind="answered", text="جواب", dedup_key="<m6@agency>", reply_token=token)

    def killed(*_args: Any) -> None:
        raise KeyboardInterrupt("the process died before the cursor was stored")

    with monkeypatch.context() as patched:
        patched.setattr(inbound, "write_cursor", killed)
        with pytest.raises(KeyboardInterrupt):
            inbound.read_inbox(hub, MAILBOX)
    assert [p.name for p in inbox.iterdir()] == ["001.json"]  # never flagged: the cursor did not move
    assert inbound.read_inbox(hub, MAILBOX) == 0  # read again after the restart: already recorded
    assert said(hub, first) == [("answered", "جواب")]


def test_a_bounce_fails_the_delivery_and_an_auto_reply_is_only_noted(hub: Hub, inbox: Path) -> None:
    first, second = handoff_ids(hub, MAILBOX)
    token_1, token_2 = reply_tokens.make(SECRET, first), reply_tokens.make(SECRET, second)
    drop(inbox, "001", type="notice", kind="bounce", dedup_key="<b@mx>", reply_token=token_1, text="550 no such user")
    drop(inbox, "002", type="notice", kind="auto_reply", dedup_key="<o@agency>", reply_token=token_2, text="في إجازة")
    inbound.read_inbox(hub, MAILBOX)
    inbound.read_inbox(hub, MAILBOX)
    assert state_of(hub, first) == "failed" and state_of(hub, second) == "delivered"
    with hub.engine.connect() as conn:
        reason = conn.execute(select(handoffs.c.followup_reason).where(handoffs.c.id == first)).scalar_one()
        kinds = [e.type for e in events.for_case(conn, _case_of(conn, second)) if e.type == "handoff.auto_reply"]
    assert reason == "delivery_failed" and kinds == ["handoff.auto_reply"]


def _case_of(conn: Any, handoff_id: str) -> str:
    return str(conn.execute(select(handoffs.c.case_id).where(handoffs.c.id == handoff_id)).scalar_one())


def test_reply_tokens_cannot_be_guessed_from_an_id_nor_moved_to_another_handoff() -> None:
    token = reply_tokens.make(SECRET, "h_01JD7YQ4ZQ8K3M2N1P0R9S8T7V")
    assert reply_tokens.verify(SECRET, token) == "h_01JD7YQ4ZQ8K3M2N1P0R9S8T7V"
    assert reply_tokens.verify(SECRET, token.upper()) == "h_01JD7YQ4ZQ8K3M2N1P0R9S8T7V"  # mail may fold case
    moved = "h01jd7yq4zq8k3m2n1p0r9s8t7w" + token[27:]
    assert reply_tokens.verify(SECRET, moved) is None
    assert reply_tokens.verify("another-hub's-secret", token) is None
    assert reply_tokens.make(None, "h_01JD7YQ4ZQ8K3M2N1P0R9S8T7V") == ""  # no secret, no inbox: no tokens
