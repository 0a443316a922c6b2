"""What one inbound mail becomes, rule by rule: markers, auto-replies, charsets, names, limits, broken mail."""

from __future__ import annotations

import base64

import pytest

from adapters.email.inbound import kind_of, read
from adapters.email.parse import Refused, decode_bytes, header_text, html_to_text, parse
from adapters.email.replies import extract
from adapters.email.settings import Limits, Markers
from schemas import Inbound, MessageKind, Notice, Unmatched
from tests.adapters.email.conftest import email_adapter

REF = "<tawasul.h_01x.r1@hub.example.bh>"

MARKERS = [
    # (subject, text, kind)
    ("رد: [Tawasul TW-1] حفرة", "تم إصلاح الحفرة.", MessageKind.answered),
    ("رد: [Tawasul TW-1] حفرة", "تم الاستلام، وسنوافيكم بالرد.", MessageKind.acknowledged),
    ("رد: [Tawasul TW-1] حفرة", "السلام عليكم،\nتم استلام البلاغ.", MessageKind.acknowledged),
    ("[تم الاستلام] رد: حفرة", "سنرد خلال أسبوع.", MessageKind.acknowledged),
    ("RE: pothole", "Acknowledged, thank you.", MessageKind.acknowledged),
    ("رد: حفرة", "يرجى تزويدنا برقم المبنى.", MessageKind.needs_info),
    ("RE: pothole", "Dear Tawasul,\nPlease provide a photo.", MessageKind.needs_info),
    ("رد: حفرة", "ليس من اختصاص الوزارة، الطريق تابع للبلدية.", MessageKind.transfer_requested),
    ("[transfer request] RE: pothole", "This road is the municipality's.", MessageKind.transfer_requested),
    ("رد: حفرة", "قيد المعالجة لدى الفريق الفني.", MessageKind.progress),
    # a keyword inside the answer is not a marker
    ("رد: حفرة", "تم إصلاح الحفرة وتم الاستلام من المقاول.", MessageKind.answered),
    ("RE: pothole", "Fixed. Please provide feedback if it recurs.", MessageKind.answered),
]


@pytest.mark.parametrize(("subject", "text", "kind"), MARKERS)
def test_a_reply_is_an_answer_unless_a_marker_says_otherwise(subject: str, text: str, kind: MessageKind) -> None:
    assert kind_of(subject, text, Markers()) == kind


def mail(headers: str, body: str = "نص الرد", charset: str = "utf-8") -> bytes:
    head = f"From: a@works.example.bh\r\nTo: tawasul-replies@hub.example.bh\r\nMessage-ID: <m1@works>\r\n{headers}"
    return (head + f"Content-Type: text/plain; charset={charset}\r\n\r\n").encode() + body.encode(charset) + b"\r\n"


AUTO = [
    # (headers, auto-reply?)
    ("Subject: Re: x\r\nIn-Reply-To: " + REF + "\r\nAuto-Submitted: auto-replied\r\n", True),
    ("Subject: Re: x\r\nIn-Reply-To: " + REF + "\r\nAuto-Submitted: no\r\n", False),
    ("Subject: Re: x\r\nIn-Reply-To: " + REF + "\r\nX-Autoreply: yes\r\n", True),
    ("Subject: Re: x\r\nIn-Reply-To: " + REF + "\r\nPrecedence: auto_reply\r\n", True),
    ("Subject: Automatic reply: x\r\nIn-Reply-To: " + REF + "\r\n", True),
    ("Subject: =?utf-8?b?2LHYryDYqtmE2YLYp9im2Yo6IHg=?=\r\nIn-Reply-To: " + REF + "\r\n", True),  # رد تلقائي: x
    ("Subject: Re: x\r\nIn-Reply-To: " + REF + "\r\n", False),
]


@pytest.mark.parametrize(("headers", "auto"), AUTO)
def test_auto_replies_are_recognised_by_header_or_subject(headers: str, auto: bool) -> None:
    item = read(mail(headers), email_adapter(None).settings)
    assert isinstance(item, Notice if auto else Inbound)
    if auto:
        assert isinstance(item, Notice) and item.kind == "auto_reply" and item.references == [REF]


CHARSETS = [
    # (declared charset, the bytes' real charset)
    ("utf-8", "utf-8"),
    ("windows-1256", "windows-1256"),
    ("cp1256", "windows-1256"),
    ("iso-8859-6", "iso-8859-6"),
    ("ISO_8859-6", "iso-8859-6"),
    ("us-ascii", "utf-8"),  # mislabelled: the bytes are UTF-8
    ("x-unknown-charset", "windows-1256"),  # unknown label: the fallbacks find it
]


@pytest.mark.parametrize(("declared", "real"), CHARSETS)
def test_arabic_is_decoded_whatever_the_charset_says(declared: str, real: str) -> None:
    text = "تم إصلاح العطل في مجمع 525"
    assert decode_bytes(text.encode(real), declared) == text


def test_raw_eight_bit_headers_and_encoded_words_are_read() -> None:
    b64 = base64.b64encode("السهو".encode("windows-1256")).decode()
    assert header_text(f"=?windows-1256?B?{b64}?=") == "السهو"
    q = "".join(f"={b:02X}" if b > 127 else ("_" if b == 32 else chr(b)) for b in "رد: التواصل".encode("iso-8859-6"))
    assert header_text(f"=?iso-8859-6?Q?{q}?=") == "رد: التواصل"
    raw = "Subject: رد على الشكوى\r\n\r\nx".encode("windows-1256")
    assert parse(raw, Limits()).subject == "رد على الشكوى"


def test_attachment_limits_keep_the_message_and_name_what_was_left_out() -> None:
    big = b"%PDF-1.4\n" + bytes(5000)
    raw = (
        (
            "From: a@works\r\nTo: tawasul-replies@hub.example.bh\r\nMessage-ID: <m2@works>\r\nIn-Reply-To: "
            + REF
            + "\r\n"
            'Content-Type: multipart/mixed; boundary="b"\r\n\r\n'
            "--b\r\nContent-Type: text/plain; charset=utf-8\r\n\r\nالتقرير مرفق\r\n"
            '--b\r\nContent-Type: application/pdf\r\nContent-Disposition: attachment; filename="big.pdf"\r\n'
            "Content-Transfer-Encoding: base64\r\n\r\n"
        ).encode()
        + base64.b64encode(big)
        + b"\r\n--b--\r\n"
    )
    settings = email_adapter(None, limits={"max_attachment_bytes": 1000}).settings
    item = read(raw, settings)
    assert isinstance(item, Inbound) and item.files == []
    assert item.text == "التقرير مرفق\n\n[لم يُحفظ / not kept: big.pdf: larger than 1000 bytes]"


@pytest.mark.parametrize(
    "raw",
    [
        b"",
        b"\x00\xff\xfe garbage \r\n\r\n\x00",
        b'Content-Type: multipart/mixed; boundary="x"\r\n\r\n--x\r\nContent-Type: text/plain\r\n',  # never closed
        b"Subject: =?utf-8?B?broken base64?=\r\nMessage-ID: <b@x>\r\n\r\nbody",
        b"Content-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: base64\r\n\r\n!!!notbase64!!!",
    ],
)
def test_malformed_mail_never_stops_the_read(raw: bytes) -> None:
    item = read(raw, email_adapter(None).settings)
    assert isinstance(item, Unmatched | Inbound | Notice)
    assert isinstance(item, Unmatched)  # none of them names a handoff: for an officer to look at


def test_too_many_parts_and_too_deep_nesting_are_refused_by_the_limits() -> None:
    deep = "".join(f'Content-Type: multipart/mixed; boundary="d{i}"\r\n\r\n--d{i}\r\n' for i in range(10))
    with pytest.raises(Refused, match="nested deeper than 8"):
        parse(deep.encode() + b"Content-Type: text/plain\r\n\r\nx", Limits())
    with pytest.raises(Refused, match="more than 3 MIME parts"):
        many = "".join("--m\r\nContent-Type: text/plain\r\n\r\nx\r\n" for _ in range(5))
        parse(f'Content-Type: multipart/mixed; boundary="m"\r\n\r\n{many}--m--\r\n'.encode(), Limits(max_parts=3))


def test_html_keeps_line_breaks_and_drops_styles_scripts_and_signatures() -> None:
    html = (
        "<html><head><style>p{x}</style><script>alert(1)</script></head><body><p>السطر الأول</p>"
        "<div>السطر الثاني<br>الثالث</div><div class='gmail_signature'>أحمد</div></body></html>"
    )
    assert html_to_text(html) == "السطر الأول\nالسطر الثاني\nالثالث"


EXTRACT = [
    # (text, new text)
    ("شكرا\n\n> النص المقتبس", "شكرا"),
    ("Done.\n\nOn Mon, 23 Nov 2026 at 10:00, Tawasul <t@h> wrote:\n> quoted", "Done."),
    ("تم.\n\nفي الاثنين، 23 نوفمبر 2026، كتب Tawasul <t@h>:\n> مقتبس", "تم."),
    ("تم.\n\n-----Original Message-----\nFrom: x\nSent: y", "تم."),
    ("تم.\n\nمن: Tawasul\nأرسل: الاثنين\nإلى: الوزارة\nالموضوع: شكوى", "تم."),
    ("تم.\n\nFrom: Tawasul\nDate: Monday\nTo: x", "تم."),
    ("تم الإصلاح.\n\nمع خالص التحية،\nأحمد\nقسم الشكاوى", "تم الإصلاح."),
    ("تم الإصلاح.\n\nSent from my iPhone", "تم الإصلاح."),
    ("من: المهندس أحمد زار الموقع ولم يجد العطل.", "من: المهندس أحمد زار الموقع ولم يجد العطل."),  # no header block
]


@pytest.mark.parametrize(("text", "new"), EXTRACT)
def test_only_the_new_text_is_kept(text: str, new: str) -> None:
    assert extract(text) == new
