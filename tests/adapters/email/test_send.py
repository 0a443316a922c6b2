"""Cases and follow-on messages go out by SMTP to a real server (aiosmtpd), bilingual and threaded."""

from __future__ import annotations

import smtplib
from datetime import UTC, datetime
from email import policy
from email.message import EmailMessage
from email.parser import BytesParser

import pytest

from adapters.email import compose
from adapters.email.parse import filename_of, html_to_text
from adapters.errors import PermanentDeliveryError, RetriableDeliveryError
from adapters.testing import SAMPLE_CASE, envelope_for, follow_on_for
from adapters.testing.email_agency import AgencyMailServer
from schemas import Attachment, Envelope, FollowOnKind, HandoffClocks, SharedCase
from tests.adapters.email.conftest import REPLY_TO, email_adapter, email_agency

TOKEN = "h01jd7yq4zq8k3m2n1p0r9s8t7v-k7f3m2q9x4c8v1b6"


def envelope(**over: object) -> Envelope:
    base = envelope_for(email_agency())
    return base.model_copy(update={"reply_token": TOKEN, **over})


def received(server: AgencyMailServer, n: int = 1) -> EmailMessage:
    mails = server.wait_for(n)
    assert len(mails) >= n
    return mails[n - 1].message


def parts(message: EmailMessage) -> tuple[str, str]:
    plain, html = message.get_body(("plain",)), message.get_body(("html",))
    assert plain is not None and html is not None
    return plain.get_content().replace("\r\n", "\n"), html.get_content().replace("\r\n", "\n")


def test_a_case_goes_out_bilingual_arabic_first_right_to_left(agency_server: AgencyMailServer) -> None:
    due = datetime(2026, 11, 29, 10, 30, tzinfo=UTC)
    env = envelope(clocks=HandoffClocks(answer_by=due))
    receipt = email_adapter(agency_server).deliver(env)
    mail = received(agency_server)
    plain, html = parts(mail)
    assert SAMPLE_CASE.description in plain and SAMPLE_CASE.subject in plain
    assert plain.index("الرقم المرجعي") < plain.index("Reference")  # Arabic first, English below
    assert "dir='rtl'" in html and "lang='ar'" in html and SAMPLE_CASE.subject in html_to_text(html)
    assert "2026-11-29 13:30" in plain  # the answer-by time in Bahrain time (UTC+3)
    assert str(mail["Subject"]) == f"[Tawasul {SAMPLE_CASE.reference}] {SAMPLE_CASE.subject}"
    assert receipt.message_id == str(mail["Message-ID"]) and receipt.message_id.startswith("<tawasul.")


def test_the_reply_address_and_the_envelope_sender_carry_the_signed_token(agency_server: AgencyMailServer) -> None:
    email_adapter(agency_server).deliver(envelope())
    [got] = agency_server.wait_for(1)
    tokened = REPLY_TO.replace("@", f"+{TOKEN}@")
    assert str(got.message["Reply-To"]) == tokened
    assert got.sender == tokened  # bounces come back to the token too
    assert got.recipients == ["complaints@works.example.bh"]


def test_the_agency_sees_only_its_share_of_the_citizen(agency_server: AgencyMailServer) -> None:
    email_adapter(agency_server).deliver(envelope())  # envelope_for shares the name only
    plain, html = parts(received(agency_server))
    assert "فاطمة علي" in plain
    for private in ("850412345", "+97333123456", "fatima@"):
        assert private not in plain and private not in html


@pytest.mark.parametrize("words", range(1, 40, 3))
def test_arabic_subjects_of_any_length_come_back_with_every_space(agency_server: AgencyMailServer, words: int) -> None:
    text = " ".join(["انقطاع المياه عن المنزل منذ ثلاثة أيام في مجمع ٥٢٥ ولم يصل أي رد"] * 4).split()[:words]
    subject = " ".join(text)
    case = SharedCase.model_validate({**envelope().case.model_dump(), "subject": subject})
    email_adapter(agency_server).deliver(envelope(case=case))
    raw = agency_server.wait_for(1)[0].data
    assert max(len(line) for line in raw.split(b"\r\n\r\n")[0].split(b"\r\n")) <= 998
    back = BytesParser(policy=policy.default).parsebytes(raw)
    assert str(back["Subject"]) == f"[Tawasul {SAMPLE_CASE.reference}] {subject}"


def test_arabic_attachment_names_are_encoded_for_every_mail_program(
    agency_server: AgencyMailServer, file_store: tuple[str, dict[str, tuple[str, bytes]]]
) -> None:
    url, files = file_store
    pdf = b"%PDF-1.4\n" + "تقرير".encode() * 100
    files["r.pdf"] = ("application/pdf", pdf)
    attachment = Attachment(
        filename="صورة العداد — تقرير.pdf", content_type="application/pdf", size=len(pdf), url=f"{url}/r.pdf"
    )
    case = SharedCase.model_validate({**envelope().case.model_dump(), "attachments": [attachment.model_dump()]})
    adapter = email_adapter(agency_server, attachments={"mode": "multipart"})
    adapter.deliver(envelope(case=case))
    raw = agency_server.wait_for(1)[0].data
    [part] = list(received(agency_server).iter_attachments())
    assert part.get_filename() == "صورة العداد — تقرير.pdf" and part.get_content() == pdf
    assert filename_of(part) == "صورة العداد — تقرير.pdf"
    assert b"filename*0*=utf-8''" in raw or b"filename*=utf-8''" in raw  # RFC 2231
    assert b'name="=?utf-8?b?' in raw  # RFC 2047 in the type's name, as Outlook and Gmail write it
    assert all(ord(ch) < 128 for ch in raw.decode("latin-1"))  # nothing raw 8-bit on the wire


def test_with_links_the_files_are_named_and_linked_not_attached(agency_server: AgencyMailServer) -> None:
    link = Attachment(filename="صورة.jpg", content_type="image/jpeg", size=10, url="https://files.example.bh/x.jpg")
    case = SharedCase.model_validate({**envelope().case.model_dump(), "attachments": [link.model_dump()]})
    email_adapter(agency_server).deliver(envelope(case=case))
    mail = received(agency_server)
    assert list(mail.iter_attachments()) == []
    assert "صورة.jpg: https://files.example.bh/x.jpg" in parts(mail)[0]


def test_a_retry_carries_the_same_message_id(agency_server: AgencyMailServer) -> None:
    adapter = email_adapter(agency_server)
    first = adapter.deliver(envelope(attempt=1))
    again = adapter.deliver(envelope(attempt=2))
    assert first.message_id == again.message_id


@pytest.mark.parametrize("kind", list(FollowOnKind))
def test_follow_ons_go_in_the_cases_thread(agency_server: AgencyMailServer, kind: FollowOnKind) -> None:
    adapter = email_adapter(agency_server)
    first = adapter.deliver(envelope())
    assert first.message_id
    follow = follow_on_for(email_agency(), kind)
    follow = follow.model_copy(update={"reply_token": TOKEN, "thread": [first.message_id]})
    receipt = adapter.follow_on(follow)
    mail = received(agency_server, 2)
    assert str(mail["In-Reply-To"]) == first.message_id and first.message_id in str(mail["References"])
    assert receipt.message_id == str(mail["Message-ID"]) != first.message_id
    plain, _ = parts(mail)
    assert follow.follow_on.text_ar in plain and follow.follow_on.text_en in plain
    label_ar, label_en = compose.FOLLOW_ONS[kind]
    assert str(mail["Subject"]).startswith(f"{label_ar} / {label_en}: [Tawasul ")


SMTP_ANSWERS = [
    # (stage, the server's answer, the error the hub gets)
    ("rcpt", "550 5.1.1 <complaints@works.example.bh>: Recipient address rejected", PermanentDeliveryError),
    ("rcpt", "450 4.2.0 mailbox busy, try later", RetriableDeliveryError),
    ("data", "554 5.7.1 message refused as spam", PermanentDeliveryError),
    ("data", "451 4.3.0 local error in processing", RetriableDeliveryError),
    ("data", "552 5.3.4 message too big", PermanentDeliveryError),
]


@pytest.mark.parametrize(("stage", "answer", "error"), SMTP_ANSWERS)
def test_smtp_4xx_is_retried_and_5xx_is_permanent_with_the_servers_words(
    agency_server: AgencyMailServer, stage: str, answer: str, error: type[Exception]
) -> None:
    adapter = email_adapter(agency_server)
    agency_server.behave(stage, answer)  # type: ignore[arg-type]
    with pytest.raises(smtplib.SMTPException) as raised:
        adapter.deliver(envelope())
    classified = adapter.classify(raised.value)
    assert type(classified) is error
    assert answer.split(" ", 1)[1] in str(classified)


def test_a_server_that_is_not_there_is_retried() -> None:
    adapter = email_adapter(None)  # port 25 on this machine: nothing listens
    with pytest.raises(OSError) as raised:
        adapter.deliver(envelope())
    assert isinstance(adapter.classify(raised.value), RetriableDeliveryError)


def test_plain_smtp_is_only_for_a_server_on_this_machine() -> None:
    from pydantic import ValidationError

    with pytest.raises(ValidationError, match="only for a server on this machine"):
        email_agency(None, smtp={"host": "mail.example.bh", "port": 25, "security": "plain"})
        email_adapter(None, smtp={"host": "mail.example.bh", "port": 25, "security": "plain"})


def test_message_ids_are_fixed_by_the_idempotency_key() -> None:
    settings = email_adapter(None).settings
    assert compose.message_id(settings, "h_01ABC", 1) == "<tawasul.h_01abc.r1@hub.example.bh>"
    assert compose.message_id(settings, "h_01ABC", 2) != compose.message_id(settings, "h_01ABC", 1)
