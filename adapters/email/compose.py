"""The mails the hub sends an agency: a case, and each follow-on message in the case's thread.

Each mail is bilingual: Arabic first, right to left, then English; an HTML part and a plain-text
alternative with the same words. It holds only what the envelope holds (the agency's share of the
case), the answer-by time in Bahrain time, and how to reply. The Reply-To (and the envelope sender,
so bounces come back the same way) is the hub's reply address plus the signed reply token.
"""

from __future__ import annotations

import base64
import html
import re
from dataclasses import dataclass
from datetime import datetime
from email.headerregistry import Address
from email.message import EmailMessage
from email.utils import format_datetime, make_msgid
from zoneinfo import ZoneInfo

from adapters.attachments import Fetched
from adapters.email.settings import EmailSettings
from schemas import Envelope, FollowOnEnvelope, FollowOnKind

BAHRAIN = ZoneInfo("Asia/Bahrain")
SUBJECT_TAG = "Tawasul"

KINDS = {
    "complaint": ("شكوى", "Complaint"),
    "suggestion": ("اقتراح", "Suggestion"),
    "inquiry": ("استفسار", "Inquiry"),
}
FOLLOW_ONS: dict[FollowOnKind, tuple[str, str]] = {
    FollowOnKind.citizen_reply: ("رد المواطن", "The citizen's reply"),
    FollowOnKind.answer_returned: ("إعادة الرد إليكم", "Answer returned to you"),
    FollowOnKind.reminder: ("تذكير", "Reminder"),
    FollowOnKind.cancelled: ("إلغاء", "Cancelled"),
    FollowOnKind.transferred_away: ("تم تحويل الطلب", "Transferred to another agency"),
    FollowOnKind.transfer_refused: ("رفض طلب التحويل", "Transfer not approved"),
    FollowOnKind.case_closed: ("إغلاق الطلب", "Case closed"),
}
GOVERNORATES = {
    "capital": ("العاصمة", "Capital"),
    "muharraq": ("المحرق", "Muharraq"),
    "northern": ("الشمالية", "Northern"),
    "southern": ("الجنوبية", "Southern"),
}
HOW_TO_REPLY_AR = (
    "للرد: اضغط «رد» واكتب ردكم أعلى هذه الرسالة، دون تغيير عنوان الرد. "
    "لتأكيد الاستلام ابدأ الرد بعبارة «تم الاستلام»، ولطلب معلومات من المواطن بعبارة «يرجى تزويدنا»، "
    "ولطلب التحويل إلى جهة أخرى بعبارة «ليس من اختصاص». وأي رد آخر يُعد ردًا نهائيًا على الطلب."
)
HOW_TO_REPLY_EN = (
    "To answer, press Reply and write above this message, keeping the reply address. Start with "
    "'Acknowledged' to confirm receipt, 'Please provide' to ask the citizen for information, or "
    "'Transfer request' if the case is not yours; any other reply is taken as your answer."
)
TOKEN_IN_SUBJECT = re.compile(r"\[#(h[0-9a-z]{26}-[a-z2-7]{16})\]", re.IGNORECASE)


@dataclass(frozen=True)
class Outgoing:
    """A composed mail and the SMTP envelope it goes in."""

    message: EmailMessage
    sender: str
    """MAIL FROM: the tokened reply address, so a bounce names its handoff."""
    recipients: list[str]

    @property
    def message_id(self) -> str:
        """The mail's Message-ID, recorded on the handoff to match replies."""
        return str(self.message["Message-ID"])


def encoded_word(text: str) -> str:
    """`text` as one RFC 2047 word when it is not ASCII (as Gmail and Outlook write attachment names)."""
    if text.isascii():
        return text
    return f"=?utf-8?b?{base64.b64encode(text.encode()).decode('ascii')}?="


def encoded_header(text: str) -> str:
    """A header value folded into RFC 2047 words that each carry their own spaces.

    Decoders drop the white space between two encoded words, and Python's folder can end a word
    just before a space: two Arabic words then come back joined. Here every space sits inside a
    word, so the text comes back exactly.
    """
    if text.isascii():
        return text
    words, current = [], ""
    for piece in re.findall(r"\S+\s*|\s+", text):
        trial = current + piece
        if current and len(base64.b64encode(trial.encode())) > 45:  # 45 + 12 wrapper chars, under 76 a line
            words.append(current)
            current = piece
        else:
            current = trial
    words.append(current)
    out = []
    for word in words:
        rest = word
        while len(base64.b64encode(rest.encode())) > 60:  # one very long word: split between characters
            cut = len(rest)
            while len(base64.b64encode(rest[:cut].encode())) > 45:
                cut -= 1
            out.append(rest[:cut])
            rest = rest[cut:]
        out.append(rest)
    return "\r\n ".join(f"=?utf-8?b?{base64.b64encode(w.encode()).decode('ascii')}?=" for w in out if w)


def reply_address(settings: EmailSettings, token: str) -> str:
    """The hub's reply address with the token as its plus-part (the bare address without a token)."""
    local, _, domain = settings.reply_to.partition("@")
    return f"{local}{settings.plus_separator}{token}@{domain}" if token else settings.reply_to


def message_id(settings: EmailSettings, key: str, round_: int = 1) -> str:
    """A Message-ID fixed by the idempotency key: every attempt of one delivery carries the same one."""
    domain = settings.from_address.partition("@")[2]
    safe = re.sub(r"[^A-Za-z0-9._-]", "", key).lower()
    return f"<tawasul.{safe}.r{round_}@{domain}>" if safe else make_msgid(domain=domain)


def local_time(value: datetime | None) -> str:
    """A time as people in Bahrain read it."""
    if value is None:
        return ""
    if value.tzinfo is not None:
        value = value.astimezone(BAHRAIN)
    return value.strftime("%Y-%m-%d %H:%M")


def _subject(envelope: Envelope, settings: EmailSettings, prefix: str = "") -> str:
    token = f" [#{envelope.reply_token}]" if settings.token_in_subject and envelope.reply_token else ""
    return f"{prefix}[{SUBJECT_TAG} {envelope.case.reference}] {envelope.case.subject}{token}"


def _rows(envelope: Envelope) -> list[tuple[str, str, str]]:
    """(Arabic label, English label, value) for each detail the agency may see."""
    c = envelope.case
    kind_ar, kind_en = KINDS[c.kind.value]
    rows = [
        ("الرقم المرجعي", "Reference", c.reference),
        ("النوع", "Kind", f"{kind_ar} / {kind_en}"),
        ("الفئة", "Category", c.category),
        ("تاريخ التقديم", "Submitted", f"{local_time(c.submitted_at)} (توقيت البحرين / Bahrain time)"),
    ]
    due = envelope.clocks.answer_by_local or envelope.clocks.answer_by
    if due is not None:
        rows.append(("الرد مطلوب قبل", "Answer by", f"{local_time(due)} (توقيت البحرين / Bahrain time)"))
    if c.location is not None:
        loc = c.location
        gov = GOVERNORATES.get(loc.governorate or "", ("", ""))
        if loc.governorate:
            rows.append(("المحافظة", "Governorate", f"{gov[0]} / {gov[1]}"))
        for ar, en, value in (
            ("المجمع", "Block", loc.block),
            ("الطريق", "Road", loc.road),
            ("المبنى", "Building", loc.building),
        ):
            if value:
                rows.append((ar, en, value))
        if loc.lat is not None and loc.lon is not None:
            rows.append(("الموقع", "Location", f"{loc.lat}, {loc.lon}"))
    who = c.citizen
    for ar, en, value in (
        ("اسم المواطن", "Citizen", who.name),
        ("الرقم الشخصي", "CPR", who.cpr),
        ("الهاتف", "Mobile", who.mobile),
        ("البريد الإلكتروني", "E-mail", who.email),
    ):
        if value:
            rows.append((ar, en, value))
    return rows


def _links(envelope: Envelope, attached: list[Fetched]) -> list[str]:
    names = {f.filename for f in attached}
    lines = []
    for a in envelope.case.attachments:
        if a.filename in names:
            lines.append(f"{a.filename} (مرفق / attached)")
        elif a.url:
            lines.append(f"{a.filename}: {a.url}")
        else:
            lines.append(a.filename)
    return lines


def _text(titles: tuple[str, str], rows: list[tuple[str, str, str]], bodies: tuple[str, str], files: list[str]) -> str:
    title_ar, title_en = titles
    ar = [title_ar, "", *(f"{label}: {value}" for label, _, value in rows), "", bodies[0]]
    en = [title_en, "", *(f"{label}: {value}" for _, label, value in rows)] + (["", bodies[1]] if bodies[1] else [])
    if files:
        ar += ["", "المرفقات:", *files]
        en += ["", "Attachments:", *files]
    return "\n".join([*ar, "", HOW_TO_REPLY_AR, "", "—" * 20, "", *en, "", HOW_TO_REPLY_EN, ""])


def _html(titles: tuple[str, str], rows: list[tuple[str, str, str]], bodies: tuple[str, str], files: list[str]) -> str:
    e = html.escape
    title_ar, title_en = titles

    def table(lang: str) -> str:
        cells = "".join(
            f"<tr><th style='text-align:{'right' if lang == 'ar' else 'left'};padding:2px 8px'>"
            f"{e(ar if lang == 'ar' else en)}</th><td style='padding:2px 8px'>{e(value)}</td></tr>"
            for ar, en, value in rows
        )
        return f"<table>{cells}</table>"

    def paragraphs(text: str) -> str:
        return "".join(f"<p>{e(p)}</p>".replace("\n", "<br>") for p in text.split("\n\n") if p.strip())

    file_list = "".join(f"<li>{e(f)}</li>" for f in files)
    files_ar = f"<p>المرفقات:</p><ul>{file_list}</ul>" if files else ""
    files_en = f"<p>Attachments:</p><ul>{file_list}</ul>" if files else ""
    return (
        "<!DOCTYPE html><html lang='ar' dir='rtl'><head><meta charset='utf-8'></head><body>"
        f"<div dir='rtl' lang='ar' style='text-align:right;font-family:Tahoma,Arial,sans-serif'>"
        f"<h3>{e(title_ar)}</h3>{table('ar')}<div>{paragraphs(bodies[0])}</div>{files_ar}"
        f"<p style='color:#555'>{e(HOW_TO_REPLY_AR)}</p></div><hr>"
        f"<div dir='ltr' lang='en' style='text-align:left;font-family:Arial,sans-serif'>"
        f"<h3>{e(title_en)}</h3>{table('en')}<div>{paragraphs(bodies[1])}</div>{files_en}"
        f"<p style='color:#555'>{e(HOW_TO_REPLY_EN)}</p></div>"
        "</body></html>"
    )


def _base(settings: EmailSettings, envelope: Envelope, subject: str, msgid: str) -> Outgoing:
    msg = EmailMessage()
    msg["From"] = Address(settings.from_name, addr_spec=settings.from_address)
    msg["To"] = ", ".join(settings.to)
    reply = reply_address(settings, envelope.reply_token)
    msg["Reply-To"] = reply
    msg.set_raw("Subject", encoded_header(subject))
    msg["Date"] = format_datetime(datetime.now(BAHRAIN))
    msg["Message-ID"] = msgid
    msg["Content-Language"] = "ar, en"
    msg["X-Tawasul-Handoff"] = envelope.handoff_id
    if envelope.thread:
        msg["In-Reply-To"] = envelope.thread[-1]
        msg["References"] = " ".join(
            envelope.thread[:1] + envelope.thread[-9:] if len(envelope.thread) > 10 else envelope.thread
        )
    return Outgoing(msg, reply, list(settings.to))


def _fill(out: Outgoing, text: str, html_body: str, files: list[Fetched]) -> None:
    msg = out.message
    msg.set_content(text, subtype="plain", charset="utf-8", cte="quoted-printable")
    msg.add_alternative(html_body, subtype="html", charset="utf-8", cte="quoted-printable")
    for f in files:
        maintype, _, subtype = f.content_type.partition("/")
        msg.add_attachment(f.data, maintype=maintype, subtype=subtype or "octet-stream", filename=f.filename)
        *_, part = msg.iter_attachments()
        if not f.filename.isascii():  # RFC 2047 in the type's name as well, as Outlook and Gmail write it
            del part["Content-Type"]
            part.set_raw(
                "Content-Type", f'{maintype}/{subtype or "octet-stream"};\r\n name="{encoded_word(f.filename)}"'
            )


def case_mail(settings: EmailSettings, envelope: Envelope, files: list[Fetched]) -> Outgoing:
    """The mail that hands a case over."""
    c = envelope.case
    kind_ar, kind_en = KINDS[c.kind.value]
    out = _base(
        settings, envelope, _subject(envelope, settings), message_id(settings, envelope.idempotency_key, envelope.round)
    )
    title_ar = f"{kind_ar} جديدة من تواصل إلى {envelope.agency.name_ar}: {c.subject}"
    title_en = f"New {kind_en.lower()} from Tawasul for {envelope.agency.name_en}: {c.subject}"
    links = _links(envelope, files)
    rows = _rows(envelope)
    titles, bodies = (title_ar, title_en), (c.description, "")
    _fill(out, _text(titles, rows, bodies, links), _html(titles, rows, bodies, links), files)
    return out


def follow_on_mail(settings: EmailSettings, envelope: FollowOnEnvelope, files: list[Fetched]) -> Outgoing:
    """A follow-on message, in the case's thread."""
    f = envelope.follow_on
    label_ar, label_en = FOLLOW_ONS[f.kind]
    out = _base(
        settings, envelope, _subject(envelope, settings, f"{label_ar} / {label_en}: "), message_id(settings, f.id)
    )
    title_ar = f"{label_ar}: {envelope.case.reference}"
    title_en = f"{label_en}: {envelope.case.reference}"
    body = f.text_ar + (f"\n\n«{f.text}»" if f.text else "")
    rows = [("الرقم المرجعي", "Reference", envelope.case.reference)]
    if f.reminder is not None:
        rows.append(
            ("الرد مطلوب قبل", "Answer by", f"{local_time(f.reminder.answer_due_at)} (توقيت البحرين / Bahrain time)")
        )
    links = [
        f"{a.filename}: {a.url}" if a.url else a.filename
        for a in f.attachments
        if a.filename not in {x.filename for x in files}
    ]
    links += [f"{x.filename} (مرفق / attached)" for x in files]
    titles, bodies = (title_ar, title_en), (body, f.text_en)
    text, html_body = _text(titles, rows, bodies, links), _html(titles, rows, bodies, links)
    _fill(out, text, html_body, files)
    return out
