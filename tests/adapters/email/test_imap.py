"""Replies read from a real IMAP server (a private Dovecot): cursors, IDLE, flags only after commit, limits."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from email.policy import SMTP
from pathlib import Path

import pytest

from adapters.email import EmailAdapter
from adapters.errors import InboundError
from adapters.testing import envelope_for
from adapters.testing.email_agency import STAFF_ANSWER, AgencyMailServer, staff_reply
from tests.adapters.email.conftest import email_adapter
from tests.adapters.email.dovecot import Dovecot

REPLIES = Path(__file__).parent / "replies"


@pytest.fixture
def adapter(agency_server: AgencyMailServer, dovecot: Dovecot) -> Iterator[EmailAdapter]:
    made = email_adapter(agency_server, mode="imap", imap=dovecot.settings(idle_seconds=0))
    yield made
    made.close()


def a_reply(agency_server: AgencyMailServer, adapter: EmailAdapter) -> bytes:
    """The agency's staff answer the case the adapter sent."""
    adapter.deliver(envelope_for(adapter.agency).model_copy(update={"reply_token": ""}))
    [case] = agency_server.wait_for(1)
    return staff_reply(case.message).as_bytes(policy=SMTP)


def test_a_reply_is_read_and_flagged_only_after_the_hub_confirms(
    adapter: EmailAdapter, agency_server: AgencyMailServer, dovecot: Dovecot
) -> None:
    dovecot.append(a_reply(agency_server, adapter))
    batch = adapter.receive(None)
    [message] = batch.messages
    assert message.text == STAFF_ANSWER
    assert batch.cursor is not None and batch.cursor.endswith(":1")
    assert "$Tawasul" not in dovecot.flags()[1] and "\\Seen" not in dovecot.flags()[1]  # read with PEEK
    adapter.confirm(batch)
    assert "$Tawasul" in dovecot.flags()[1] and "\\Seen" in dovecot.flags()[1]
    assert adapter.receive(batch.cursor).messages == []


def test_with_a_processed_folder_a_committed_reply_is_moved_there(
    agency_server: AgencyMailServer, dovecot: Dovecot
) -> None:
    adapter = email_adapter(
        agency_server, mode="imap", imap=dovecot.settings(idle_seconds=0, processed_folder="Processed")
    )
    try:
        dovecot.append(a_reply(agency_server, adapter))
        adapter.confirm(adapter.receive(None))
        assert dovecot.flags("INBOX") == {} and len(dovecot.flags("Processed")) == 1
    finally:
        adapter.close()


def test_a_read_waits_in_idle_and_takes_mail_that_arrives_meanwhile(
    agency_server: AgencyMailServer, dovecot: Dovecot
) -> None:
    adapter = email_adapter(agency_server, mode="imap", imap=dovecot.settings(idle_seconds=20))
    try:
        reply = a_reply(agency_server, adapter)
        arrives = threading.Timer(0.5, dovecot.append, args=(reply,))
        arrives.start()
        batch = adapter.receive(None)  # the folder is empty: the read waits in IDLE
        arrives.join()
        assert [m.text for m in batch.messages] == [STAFF_ANSWER]
    finally:
        adapter.close()


def test_a_changed_uidvalidity_reads_the_folder_again_from_what_is_not_flagged(
    adapter: EmailAdapter, agency_server: AgencyMailServer, dovecot: Dovecot
) -> None:
    dovecot.append(a_reply(agency_server, adapter))
    first = adapter.receive(None)
    adapter.confirm(first)
    dovecot.append((REPLIES / "07-gmail-web-ar.eml").read_bytes())
    assert first.cursor is not None
    stale = f"1{first.cursor}"  # another UIDVALIDITY: the folder was recreated
    again = adapter.receive(stale)
    assert [m.text for m in again.messages] == ["تم إصلاح العطل في الشبكة، ونعتذر عن التأخير."]


def test_a_bomb_or_a_huge_mail_is_refused_with_its_reason_and_the_read_goes_on(
    agency_server: AgencyMailServer, dovecot: Dovecot
) -> None:
    adapter = email_adapter(
        agency_server, mode="imap", imap=dovecot.settings(idle_seconds=0), limits={"max_message_bytes": 200_000}
    )
    try:
        dovecot.append((REPLIES / "23-mime-bomb-nested.eml").read_bytes())
        dovecot.append(b"Subject: huge\r\nMessage-ID: <huge@x>\r\n\r\n" + b"x" * 300_000 + b"\r\n")
        dovecot.append((REPLIES / "09-gmail-android-ar.eml").read_bytes())
        batch = adapter.receive(None)
        reasons = [u.reason for u in batch.unmatched]
        assert len(reasons) == 2 and "nested deeper" in reasons[0] and "300" in reasons[1]
        assert [m.text for m in batch.messages] == ["تم الانتهاء من الصيانة ويعمل الخط بشكل طبيعي الآن."]
    finally:
        adapter.close()


def test_a_wrong_password_is_an_inbound_error_that_waiting_does_not_fix(
    agency_server: AgencyMailServer, dovecot: Dovecot, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TEST_IMAP_PASSWORD", "wrong")
    adapter = email_adapter(agency_server, mode="imap", imap=dovecot.settings(idle_seconds=0))
    with pytest.raises(InboundError) as raised:
        adapter.receive(None)
    assert raised.value.retriable is False


def test_a_server_that_is_down_is_an_inbound_error_tried_again_later(
    agency_server: AgencyMailServer, dovecot: Dovecot
) -> None:
    adapter = email_adapter(agency_server, mode="imap", imap=dovecot.settings(idle_seconds=0))
    dovecot.stop()
    with pytest.raises(InboundError) as raised:
        adapter.receive(None)
    assert raised.value.retriable is True
