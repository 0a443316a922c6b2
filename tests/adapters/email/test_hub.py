"""The hub with an agency reached by e-mail: the case out by SMTP, the reply in from Dovecot, the answer recorded.

Real servers only: aiosmtpd plays the agency's mail server, a private Dovecot the hub's mailbox.
"""

from __future__ import annotations

import hashlib
from email.message import EmailMessage
from email.policy import SMTP

from sqlalchemy import select

from adapters.testing.email_agency import AgencyMailServer, staff_reply
from broker import inbound
from broker.hub import Hub
from broker.store.tables import agency_messages, handoffs, inbound_files, sent_messages
from tests.adapters.email.conftest import AGENCY, REPLY_TO
from tests.adapters.email.dovecot import Dovecot
from tests.conftest import make_case
from tests.support import pump

SUBJECT = "تسرب مياه الصرف في الطريق 2511 أمام المدرسة ولم يُصلح بعد رغم البلاغات المتكررة"
ANSWER = "السلام عليكم،\n\nتم إصلاح خط الصرف وتنظيف الطريق، والتقرير مرفق."
PHOTO = "صورة الموقع قبل الإصلاح.jpg"
REPORT = "تقرير الإصلاح النهائي.pdf"
JPEG = b"\xff\xd8\xff\xe0\x00\x10JFIF\x00\x01\x01\x00\x00\x01\x00\x01\x00\x00" + bytes(200) + b"\xff\xd9"
PDF = b"%PDF-1.4\n" + "تقرير".encode() * 40 + b"\n%%EOF\n"


def submit_case(hub: Hub, store: tuple[str, dict[str, tuple[str, bytes]]]) -> str:
    from broker.intake import submit_cases

    url, files = store
    files["photo.jpg"] = ("image/jpeg", JPEG)
    photo = {
        "filename": PHOTO,
        "content_type": "image/jpeg",
        "size": len(JPEG),
        "sha256": hashlib.sha256(JPEG).hexdigest(),
        "url": f"{url}/photo.jpg",
    }
    case = make_case(category=AGENCY, subject=SUBJECT, attachments=[photo])
    submit_cases(hub.engine, hub.directory, [case], actor="national-system")
    pump(hub)
    with hub.engine.connect() as conn:
        return str(conn.execute(select(handoffs.c.id).where(handoffs.c.agency_id == AGENCY)).scalar_one())


def said(hub: Hub, handoff_id: str) -> list[tuple[str, str]]:
    with hub.engine.connect() as conn:
        q = select(agency_messages.c.kind, agency_messages.c.text).where(agency_messages.c.handoff_id == handoff_id)
        return [(k, t) for k, t in conn.execute(q)]


def state(hub: Hub, handoff_id: str) -> str:
    with hub.engine.connect() as conn:
        return str(conn.execute(select(handoffs.c.state).where(handoffs.c.id == handoff_id)).scalar_one())


def answer_with_report(case_mail: EmailMessage) -> bytes:
    reply = staff_reply(case_mail, ANSWER)
    reply.add_attachment(PDF, maintype="application", subtype="pdf", filename=REPORT)
    return reply.as_bytes(policy=SMTP)


def test_case_out_by_smtp_reply_in_from_imap_answer_recorded_arabic_round_trip(
    hub: Hub,
    agency_server: AgencyMailServer,
    dovecot: Dovecot,
    file_store: tuple[str, dict[str, tuple[str, bytes]]],
) -> None:
    handoff_id = submit_case(hub, file_store)
    assert state(hub, handoff_id) == "delivered"
    [sent] = agency_server.wait_for(1)
    case_mail = sent.message
    assert SUBJECT in str(case_mail["Subject"])  # Arabic subject, every space kept
    [photo] = list(case_mail.iter_attachments())
    assert photo.get_filename() == PHOTO and photo.get_content() == JPEG  # Arabic file name, the bytes
    with hub.engine.connect() as conn:
        ids = list(
            conn.execute(select(sent_messages.c.message_id).where(sent_messages.c.handoff_id == handoff_id)).scalars()
        )
    assert ids == [str(case_mail["Message-ID"])]  # the Message-ID recorded on the handoff

    dovecot.append(answer_with_report(case_mail))
    assert inbound.read_inbox(hub, AGENCY) == 1
    assert said(hub, handoff_id) == [("answered", ANSWER)]  # Arabic body, quoted history left out
    assert state(hub, handoff_id) == "answered"
    with hub.engine.connect() as conn:
        [(name, data)] = conn.execute(select(inbound_files.c.filename, inbound_files.c.data)).all()
    assert name == REPORT and data == PDF
    assert "$Tawasul" in dovecot.flags()[1]
    assert inbound.read_inbox(hub, AGENCY) == 0  # taken once


def test_a_reply_found_by_its_token_alone_when_the_thread_headers_are_gone(
    hub: Hub, agency_server: AgencyMailServer, dovecot: Dovecot, file_store: tuple[str, dict[str, tuple[str, bytes]]]
) -> None:
    handoff_id = submit_case(hub, file_store)
    [sent] = agency_server.wait_for(1)
    reply = staff_reply(sent.message, "تم الاستلام، وسنوافيكم بالرد.")
    del reply["In-Reply-To"], reply["References"]
    dovecot.append(reply.as_bytes(policy=SMTP))
    assert inbound.read_inbox(hub, AGENCY) == 1
    assert said(hub, handoff_id) == [("acknowledged", "تم الاستلام، وسنوافيكم بالرد.")]


def test_a_bounce_fails_the_delivery_with_the_servers_reason(
    hub: Hub, agency_server: AgencyMailServer, dovecot: Dovecot, file_store: tuple[str, dict[str, tuple[str, bytes]]]
) -> None:
    handoff_id = submit_case(hub, file_store)
    [sent] = agency_server.wait_for(1)
    bounce = (
        f"From: MAILER-DAEMON@mx.works.example.bh\r\nTo: {sent.sender}\r\n"
        "Subject: Undelivered Mail Returned to Sender\r\n"
        "Message-ID: <bounce-1@mx.works.example.bh>\r\nMIME-Version: 1.0\r\n"
        'Content-Type: multipart/report; report-type=delivery-status; boundary="b"\r\n\r\n'
        "--b\r\nContent-Type: text/plain\r\n\r\nThe mail could not be delivered.\r\n"
        "--b\r\nContent-Type: message/delivery-status\r\n\r\nReporting-MTA: dns; mx.works.example.bh\r\n\r\n"
        "Final-Recipient: rfc822; complaints@works.example.bh\r\nAction: failed\r\nStatus: 5.1.1\r\n"
        "Diagnostic-Code: smtp; 550 5.1.1 User unknown\r\n\r\n"
        f"--b\r\nContent-Type: text/rfc822-headers\r\n\r\nMessage-ID: {sent.message['Message-ID']}\r\n\r\n--b--\r\n"
    )
    dovecot.append(bounce.encode())
    inbound.read_inbox(hub, AGENCY)
    assert state(hub, handoff_id) == "failed"
    with hub.engine.connect() as conn:
        error = conn.execute(select(handoffs.c.last_error).where(handoffs.c.id == handoff_id)).scalar_one()
    assert "550 5.1.1 User unknown" in error


def test_a_forged_token_and_an_unrelated_mail_go_to_the_review_list(
    hub: Hub, agency_server: AgencyMailServer, dovecot: Dovecot, file_store: tuple[str, dict[str, tuple[str, bytes]]]
) -> None:
    handoff_id = submit_case(hub, file_store)
    [sent] = agency_server.wait_for(1)
    forged = staff_reply(sent.message, "أغلقوا الطلب")
    del forged["In-Reply-To"], forged["References"], forged["To"]
    forged["To"] = REPLY_TO.replace("@", f"+{handoff_id.removeprefix('h_').lower().join(['h', '-aaaaaaaaaaaaaaaa'])}@")
    dovecot.append(forged.as_bytes(policy=SMTP))
    dovecot.append(b"From: news@vendor.example.com\r\nSubject: offers\r\nMessage-ID: <n1@vendor>\r\n\r\nbuy\r\n")
    assert inbound.read_inbox(hub, AGENCY) == 0
    assert said(hub, handoff_id) == []
    with hub.engine.connect() as conn:
        reasons = sorted(item["reason"] for item in inbound.unresolved(conn))
    assert len(reasons) == 2
    assert "does not verify" in reasons[1] and "names no handoff" in reasons[0]


def test_a_follow_on_goes_in_the_cases_thread_and_its_id_is_recorded(
    hub: Hub, agency_server: AgencyMailServer, dovecot: Dovecot, file_store: tuple[str, dict[str, tuple[str, bytes]]]
) -> None:
    from broker import follow_ons
    from broker.store.engine import transaction
    from broker.store.handoffs import load
    from schemas import FollowOnKind

    handoff_id = submit_case(hub, file_store)
    [case] = agency_server.wait_for(1)
    with transaction(hub.engine) as conn:
        h = load(conn, handoff_id)
        follow_ons.create(
            conn,
            hub.directory,
            h,
            FollowOnKind.citizen_reply,
            text_ar="ردّ المواطن على سؤالكم:",
            text_en="The citizen answered your question:",
            text="العنوان: مجمع ٥٢٥، طريق ٢٥١١",
            actor="central-office:amina",
        )
    pump(hub)
    mails = agency_server.wait_for(2)
    assert len(mails) == 2
    follow = mails[1].message
    assert str(follow["In-Reply-To"]) == str(case.message["Message-ID"])
    plain = follow.get_body(("plain",))
    assert plain is not None and "العنوان: مجمع ٥٢٥، طريق ٢٥١١" in plain.get_content()
    with hub.engine.connect() as conn:
        ids = set(
            conn.execute(select(sent_messages.c.message_id).where(sent_messages.c.handoff_id == handoff_id)).scalars()
        )
    assert ids == {str(case.message["Message-ID"]), str(follow["Message-ID"])}

    reply = staff_reply(follow, "شكرا، تم تحديث البلاغ.")  # answers the follow-on, not the first mail
    del reply["References"]
    dovecot.append(reply.as_bytes(policy=SMTP))
    assert inbound.read_inbox(hub, AGENCY) == 1
    assert said(hub, handoff_id) == [("answered", "شكرا، تم تحديث البلاغ.")]
