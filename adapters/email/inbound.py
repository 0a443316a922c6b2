"""What one inbound mail is to the hub: an agency message, a bounce or auto-reply, or an item to review.

The adapter never decides which handoff a mail belongs to: it hands the hub the reply token it
finds (in the plus-address the mail was sent to, or the subject) and the Message-IDs the mail
answers; the hub verifies the token and looks the ids up.
"""

from __future__ import annotations

import re
from email.message import Message

from adapters.email.parse import ParsedMail, Refused, dedup_key, header_text, parse
from adapters.email.replies import extract, full_text
from adapters.email.settings import EmailSettings, Markers
from schemas import Inbound, MessageKind, Notice, Unmatched

_TOKEN = r"(h[0-9a-z]{26}-[a-z2-7]{16})"  # noqa: S105 - the shape of a reply token, not a secret
_SUBJECT_TOKEN = re.compile(r"\[#" + _TOKEN + r"\]", re.IGNORECASE)
_AUTO_SUBJECT = re.compile(
    r"^\s*(automatic reply|auto[- ]?reply|autoreply|out of (the )?office|absence|رد تلقائي|الرد التلقائي|خارج المكتب"
    r"|إجازة|اجازة)\s*[:：]?",
    re.IGNORECASE,
)
_BOUNCE_SUBJECT = re.compile(
    r"^\s*(undeliverable|undelivered mail|delivery status notification \(failure\)|mail delivery failed"
    r"|returned mail|failure notice|delivery failure|لا يمكن التسليم|تعذر التسليم|غير قابلة? للتسليم)",
    re.IGNORECASE,
)
_BOUNCERS = re.compile(r"^(mailer-daemon|postmaster|microsoftexchange[0-9a-f]*|mail-daemon)@", re.IGNORECASE)
_GREETINGS = re.compile(
    r"^\s*(السلام عليكم|تحية طيبة|مرحبا|مرحباً|عزيزي|الأخوة|الإخوة|السادة|dear|hello|hi|good (morning|afternoon))",
    re.IGNORECASE,
)
_REPLY_PREFIX = re.compile(r"^\s*((re|aw|fw|fwd|رد|إعادة توجيه|ر)\s*[:：]\s*)+", re.IGNORECASE)
_OOF_WORDS = re.compile(r"(out of (the )?office|خارج المكتب|في إجازة|فى إجازة|في اجازة)", re.IGNORECASE)


def tokens_in(mail: ParsedMail, settings: EmailSettings) -> list[str]:
    """Reply tokens the mail carries: in a plus-address to the hub's reply mailbox, or in the subject."""
    local, _, domain = settings.reply_to.lower().partition("@")
    plus = re.compile(re.escape(local) + re.escape(settings.plus_separator) + _TOKEN + "@" + re.escape(domain))
    found = [m.group(1) for r in mail.recipients for m in [plus.fullmatch(r)] if m]
    found += [m.group(1).lower() for m in _SUBJECT_TOKEN.finditer(mail.subject)]
    return list(dict.fromkeys(found))


def kind_of(mail_subject: str, text: str, markers: Markers) -> MessageKind:
    """Answered, unless a marker in the subject's brackets or a keyword opening the text says otherwise."""
    subject = mail_subject.lower()
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    if lines and _GREETINGS.match(lines[0]):
        lines = lines[1:]
    opening = lines[0].lower() if lines else ""
    for kind, words in markers.table():
        for word in words:
            w = word.lower()
            if f"[{w}]" in subject or opening.startswith(w):
                return kind
    return MessageKind.answered


def _is_auto_reply(message: Message, subject: str) -> bool:
    auto = header_text(message.get("Auto-Submitted")).lower()
    if auto and auto != "no":
        return True
    if message.get("X-Autoreply") or message.get("X-Autorespond") or message.get("X-Auto-Reply"):
        return True
    if header_text(message.get("Precedence")).lower() in ("auto_reply", "junk", "bulk"):
        return True
    return bool(_AUTO_SUBJECT.match(_REPLY_PREFIX.sub("", subject)) or _AUTO_SUBJECT.match(subject))


def _bounce(message: Message, mail: ParsedMail) -> tuple[bool, str, list[str], str]:
    """Whether the mail is a failed-delivery report; its reason, the ids and tokens of the mail it returns."""
    ctype = message.get_content_type()
    report = ctype == "multipart/report" and str(message.get_param("report-type", "")).lower() == "delivery-status"
    looks = bool(_BOUNCERS.match(mail.sender)) and bool(_BOUNCE_SUBJECT.match(mail.subject))
    if not (report or looks or (_BOUNCE_SUBJECT.match(mail.subject) and not mail.in_reply_to and not mail.text)):
        return False, "", [], ""
    reasons: list[str] = []
    failed = not report
    original_ids: list[str] = []
    original_headers = ""
    for part in message.walk():
        kind = part.get_content_type()
        if kind == "message/delivery-status":
            blocks = part.get_payload()
            for block in blocks if isinstance(blocks, list) else []:
                if not isinstance(block, Message):
                    continue
                action = str(block.get("Action", "")).lower()
                if action == "failed":
                    failed = True
                status, diag = str(block.get("Status", "")), str(block.get("Diagnostic-Code", ""))
                if status or diag:
                    reasons.append(" ".join(x for x in (status, diag.partition(";")[2].strip() or diag) if x))
        elif kind in ("message/rfc822", "message/rfc822-headers", "text/rfc822-headers"):
            inner = part.get_payload()
            if isinstance(inner, list) and inner and isinstance(inner[0], Message):
                original = inner[0]
                original_headers = " ".join(f"{k}: {header_text(v)}" for k, v in original.items())
                original_ids += re.findall(r"<[^<>\s]+>", header_text(original.get("Message-ID")))
            else:
                text = part.get_payload(decode=True)
                raw = text.decode("utf-8", "replace") if isinstance(text, bytes) else str(inner)
                original_headers = raw
                found = re.search(r"^message-id:\s*(<[^<>\s]+>)", raw, re.IGNORECASE | re.MULTILINE)
                original_ids += [found.group(1)] if found else []
    if not failed:
        return False, "", [], ""
    reason = "; ".join(reasons) or " ".join(mail.text.split())[:500] or mail.subject
    return True, reason[:1000], original_ids, original_headers


def read(raw: bytes, settings: EmailSettings) -> Inbound | Notice | Unmatched:
    """Turn one raw mail into what the hub takes; a refused mail becomes an item for review with its reason."""
    try:
        mail = parse(raw, settings.limits)
    except Refused as exc:
        return Unmatched(dedup_key=dedup_key(raw, _message_id_of(raw)), reason=f"refused: {exc}", text="")
    key = dedup_key(raw, mail.message_id)
    message = mail.message
    assert message is not None
    tokens = tokens_in(mail, settings)
    bounced, reason, original_ids, original_headers = _bounce(message, mail)
    if bounced:
        found = _tokens_in_text(original_headers, settings) or tokens
        token = found[0] if found else None
        return Notice(
            kind="bounce", dedup_key=key, reply_token=token, references=original_ids + mail.thread_ids, text=reason
        )
    if _is_auto_reply(message, mail.subject) or (_OOF_WORDS.search(mail.subject) and not mail.in_reply_to):
        return Notice(
            kind="auto_reply",
            dedup_key=key,
            reply_token=tokens[0] if tokens else None,
            references=mail.thread_ids,
            text=extract(mail.text)[:2000] or mail.subject,
        )
    text = extract(mail.text)
    if mail.left_out:
        text += "\n\n[" + "; ".join(f"لم يُحفظ / not kept: {x}" for x in mail.left_out) + "]"
    if not text and not mail.files:
        text = full_text(mail.text)
    if not tokens and not mail.thread_ids:
        return Unmatched(
            dedup_key=key,
            reason="it names no handoff (no reply token, no reference to what the hub sent)",
            sender=mail.sender,
            subject=mail.subject,
            text=full_text(mail.text)[:20000],
            received_at=mail.date,
        )
    return Inbound(
        kind=kind_of(mail.subject, text, settings.markers),
        text=text[:20000],
        sent_at=mail.date,
        dedup_key=key,
        reply_token=tokens[0] if tokens else None,
        references=mail.thread_ids,
        files=mail.files[:20],
    )


def _tokens_in_text(text: str, settings: EmailSettings) -> list[str]:
    local, _, domain = settings.reply_to.lower().partition("@")
    plus = re.compile(re.escape(local) + re.escape(settings.plus_separator) + _TOKEN + "@" + re.escape(domain))
    return list(dict.fromkeys(m.group(1) for m in plus.finditer(text.lower())))


def _message_id_of(raw: bytes) -> str:
    found = re.search(rb"^message-id:\s*(<[^<>\s]{1,180}>)", raw[:65536], re.IGNORECASE | re.MULTILINE)
    return found.group(1).decode("ascii", "replace") if found else ""
