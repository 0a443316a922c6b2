"""The e-mail adapter keeps the adapter contract, and reads replies through its inbound SMTP listener."""

from __future__ import annotations

import smtplib
import time
from collections.abc import Iterator
from email.policy import SMTP
from pathlib import Path

import pytest

from adapters.base import Adapter
from adapters.email import EmailAdapter
from adapters.testing import AdapterContract, envelope_for
from adapters.testing.email_agency import STAFF_ANSWER, AgencyMailServer, staff_reply
from schemas import Inbound, Unmatched
from tests.adapters.email.conftest import REPLY_TO, email_adapter, email_agency


def listener_settings(spool: Path) -> dict[str, object]:
    return {"mode": "listener", "listener": {"host": "127.0.0.1", "port": 0, "spool": str(spool)}, "poll_seconds": 0.2}


def send_to(adapter: EmailAdapter, raw: bytes, rcpt: str = REPLY_TO) -> None:
    assert adapter.listener is not None
    with smtplib.SMTP("127.0.0.1", adapter.listener.port, timeout=10) as client:
        client.sendmail("a.alkaabi@works.example.bh", [rcpt], raw)


class TestEmailAdapterContract(AdapterContract):
    adapter_class = EmailAdapter
    agency = email_agency(None)

    @pytest.fixture(autouse=True)
    def _pointed_at_the_agency(self, agency_server: AgencyMailServer, tmp_path: Path) -> Iterator[None]:
        self.agency = email_agency(agency_server, **listener_settings(tmp_path / "spool"))  # type: ignore[misc]
        self.server = agency_server
        self.made: list[Adapter] = []
        yield
        for adapter in self.made:
            adapter.close()

    def make_adapter(self) -> Adapter:
        adapter = EmailAdapter.from_config(self.agency)
        self.made.append(adapter)
        return adapter

    def delivered_texts(self, adapter: Adapter) -> list[str]:
        texts = []
        for mail in self.server.received:
            message = mail.message
            texts.append(str(message["Subject"]))
            for part in message.walk():
                if part.get_content_maintype() == "text":
                    texts.append(part.get_content())
        return texts

    def inbound_sample(self, adapter: Adapter) -> list[Inbound]:
        assert isinstance(adapter, EmailAdapter)
        adapter.receive(None)  # starts the listener
        [case] = self.server.wait_for(1)
        send_to(adapter, staff_reply(case.message).as_bytes(policy=SMTP))
        return adapter.receive(None).messages


@pytest.fixture
def adapter(agency_server: AgencyMailServer, tmp_path: Path) -> Iterator[EmailAdapter]:
    made = email_adapter(agency_server, **listener_settings(tmp_path / "spool"))
    yield made
    made.close()


def test_a_reply_through_the_listener_is_read_then_confirmed_once_committed(
    adapter: EmailAdapter, agency_server: AgencyMailServer, tmp_path: Path
) -> None:
    receipt = adapter.deliver(envelope_for(adapter.agency).model_copy(update={"reply_token": ""}))
    assert adapter.receive(None).messages == []
    [case] = agency_server.wait_for(1)
    send_to(adapter, staff_reply(case.message).as_bytes(policy=SMTP))
    batch = adapter.receive(None)
    [message] = batch.messages
    assert message.text == STAFF_ANSWER and message.references == [receipt.message_id]
    again = adapter.receive(batch.cursor)  # not confirmed yet: still there (the hub takes it once by its key)
    assert [m.dedup_key for m in again.messages] == [message.dedup_key]
    adapter.confirm(again)
    assert adapter.receive(again.cursor).messages == []
    assert len(list((tmp_path / "spool" / "cur").iterdir())) == 1


def test_the_listener_takes_mail_only_for_the_hubs_reply_address(adapter: EmailAdapter) -> None:
    adapter.receive(None)
    with pytest.raises(smtplib.SMTPRecipientsRefused):
        send_to(adapter, b"Subject: x\r\n\r\nhello\r\n", rcpt="someone@elsewhere.example")
    send_to(adapter, b"Subject: x\r\nMessage-ID: <u1@x>\r\n\r\nhello\r\n", rcpt=REPLY_TO.replace("@", "+anything@"))
    [item] = adapter.receive(None).unmatched
    assert isinstance(item, Unmatched) and "names no handoff" in item.reason


def test_a_mail_too_large_for_the_listener_is_refused_at_the_door(
    agency_server: AgencyMailServer, tmp_path: Path
) -> None:
    small = email_adapter(agency_server, **listener_settings(tmp_path / "spool"), limits={"max_message_bytes": 2000})
    try:
        small.receive(None)
        with pytest.raises(smtplib.SMTPException):
            send_to(small, b"Subject: big\r\n\r\n" + b"x" * 5000 + b"\r\n")
        assert small.receive(None).unmatched == []
    finally:
        small.close()


def test_a_second_adapter_cannot_take_a_port_in_use(
    adapter: EmailAdapter, agency_server: AgencyMailServer, tmp_path: Path
) -> None:
    from adapters.errors import InboundError

    adapter.receive(None)
    assert adapter.listener is not None
    port = adapter.listener.port
    other = email_adapter(
        agency_server, mode="listener", listener={"host": "127.0.0.1", "port": port, "spool": str(tmp_path / "s2")}
    )
    started = time.monotonic()
    with pytest.raises(InboundError, match="cannot listen"):
        other.receive(None)
    assert time.monotonic() - started >= 0  # an error, not a hang
    other.close()
