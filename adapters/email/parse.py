"""Reading an inbound mail: every charset agencies send, HTML-only mail as text, attachments within limits.

A mail beyond the limits (size, parts, nesting) or one that cannot be parsed raises `Refused` with
the reason, so the reader logs it, puts it on the review list and goes on with the next mail.
"""

from __future__ import annotations

import contextlib
import fnmatch
import hashlib
import re
from dataclasses import dataclass, field
from datetime import datetime
from email import policy
from email.header import decode_header, make_header
from email.message import EmailMessage, Message
from email.parser import BytesParser
from email.utils import getaddresses, parsedate_to_datetime
from html.parser import HTMLParser

from adapters.attachments import safe_filename
from adapters.email.settings import Limits
from schemas import InboundFile

QUOTE_MARK = "\u2063\u2063quoted\u2063\u2063"
"""A line HTML conversion puts where the quoted history starts (Gmail, Outlook, Apple, Thunderbird)."""
_FALLBACK_CHARSETS = ("utf-8", "windows-1256", "iso-8859-6")
_ALIASES = {
    "cp-1256": "windows-1256",
    "arabic": "iso-8859-6",
    "iso-8859-6-i": "iso-8859-6",
    "x-mac-arabic": "mac-arabic",
}
_MSGID = re.compile(r"<[^<>\s]+>")


class Refused(Exception):
    """Raised when a mail is not read (too large, too many or too deep parts, malformed); says why."""


@dataclass
class ParsedMail:
    """What the hub needs from one mail."""

    message_id: str
    sender: str
    subject: str
    date: datetime | None
    recipients: list[str]
    in_reply_to: list[str]
    references: list[str]
    text: str
    html_only: bool
    files: list[InboundFile] = field(default_factory=list)
    left_out: list[str] = field(default_factory=list)
    message: EmailMessage | None = None

    @property
    def thread_ids(self) -> list[str]:
        """Message-IDs this mail answers, nearest first."""
        seen = []
        for mid in [*self.in_reply_to, *reversed(self.references)]:
            if mid not in seen:
                seen.append(mid)
        return seen


def dedup_key(raw: bytes, message_id: str) -> str:
    """The key of one mail: its Message-ID, or a hash of its bytes when it has none."""
    if message_id and len(message_id) <= 190:
        return f"mail:{message_id}"
    return f"mail-sha256:{hashlib.sha256(raw).hexdigest()}"


def decode_bytes(data: bytes, charset: str | None) -> str:
    """Bytes in a declared charset, falling back to UTF-8, windows-1256, iso-8859-6 when it lies."""
    name = (charset or "").strip().strip('"').lower()
    name = _ALIASES.get(name, name)
    tried = [name] if name and name not in ("us-ascii", "ascii", "unknown-8bit") else []
    for candidate in [*tried, *_FALLBACK_CHARSETS]:
        try:
            return data.decode(candidate)
        except (LookupError, UnicodeDecodeError):
            continue
    return data.decode("utf-8", errors="replace")


def header_text(value: object) -> str:
    """A header as text: RFC 2047 words decoded, raw 8-bit (UTF-8 or windows-1256) recovered."""
    if value is None:
        return ""
    text = str(value)
    if any("\udc80" <= ch <= "\udcff" for ch in text):
        text = decode_bytes(text.encode("utf-8", "surrogateescape"), None)
    if "=?" in text:
        with contextlib.suppress(LookupError, UnicodeDecodeError, ValueError):
            text = str(make_header(decode_header(text)))
    return " ".join(text.split())


def raw_header(message: Message, name: str) -> str | None:
    """A header as it came (raw 8-bit bytes kept as surrogates, for `header_text` to decode), or None."""
    for key, value in message.raw_items():
        if key.lower() == name.lower():
            return str(value)
    return None


def _ids(value: object) -> list[str]:
    return _MSGID.findall(header_text(value))


def _addresses(message: Message, *names: str) -> list[str]:
    values = [header_text(v) for name in names for v in (message.get_all(name) or [])]
    return [addr.lower() for _, addr in getaddresses(values) if addr]


def _check_shape(message: Message, limits: Limits) -> None:
    """Count parts and depth without recursion (a bomb may nest thousands deep)."""
    stack: list[tuple[Message, int]] = [(message, 1)]
    parts = 0
    while stack:
        part, depth = stack.pop()
        parts += 1
        if parts > limits.max_parts:
            raise Refused(f"more than {limits.max_parts} MIME parts")
        if depth > limits.max_depth:
            raise Refused(f"MIME parts nested deeper than {limits.max_depth}")
        payload = part.get_payload()
        if part.is_multipart() and isinstance(payload, list):
            stack.extend((p, depth + 1) for p in payload if isinstance(p, Message))


def _part_text(part: Message) -> str:
    payload = part.get_payload(decode=True)
    if not isinstance(payload, bytes):
        return ""
    return decode_bytes(payload, part.get_content_charset())


def filename_of(part: Message) -> str | None:
    """A part's file name, RFC 2231 or RFC 2047 encoded (Outlook), in the filename or the type's name."""
    raw = part.get_filename() or part.get_param("name")
    if raw is None:
        return None
    if isinstance(raw, tuple):  # an undecoded RFC 2231 triple
        raw = decode_bytes(str(raw[2]).encode("latin-1", "replace"), raw[0])
    return safe_filename(header_text(raw))


def _allowed(limits: Limits, content_type: str) -> bool:
    return any(fnmatch.fnmatchcase(content_type.lower(), p.lower()) for p in limits.attachment_types)


def parse(raw: bytes, limits: Limits) -> ParsedMail:
    """Read one mail (raises Refused with the reason)."""
    if len(raw) > limits.max_message_bytes:
        raise Refused(f"the mail is {len(raw)} bytes, more than the {limits.max_message_bytes} accepted")
    try:
        message = BytesParser(policy=policy.default).parsebytes(raw)
    except (RecursionError, Exception) as exc:
        raise Refused(f"malformed mail: {type(exc).__name__}") from None
    assert isinstance(message, EmailMessage)
    _check_shape(message, limits)
    try:
        return _read(message, limits)
    except Refused:
        raise
    except RecursionError:
        raise Refused("MIME parts nested too deep to read") from None
    except Exception as exc:
        raise Refused(f"malformed mail: {type(exc).__name__}: {str(exc)[:200]}") from None


def _leaves(message: Message) -> list[Message]:
    """The parts that hold content, in order; a mail inside the mail (message/rfc822) is one part, not opened."""
    found: list[Message] = []
    stack: list[Message] = [message]
    while stack:
        part = stack.pop()
        payload = part.get_payload()
        if part.is_multipart() and part.get_content_maintype() == "multipart" and isinstance(payload, list):
            stack.extend(reversed([p for p in payload if isinstance(p, Message)]))
        else:
            found.append(part)
    return found


def _read(message: EmailMessage, limits: Limits) -> ParsedMail:
    plain: list[str] = []
    html: list[str] = []
    files: list[InboundFile] = []
    left_out: list[str] = []
    total = 0
    for part in _leaves(message):
        ctype = part.get_content_type()
        disposition = (part.get_content_disposition() or "").lower()
        name = filename_of(part)
        if ctype in ("message/delivery-status", "text/rfc822-headers", "message/rfc822-headers"):
            continue
        if ctype == "message/rfc822" and disposition != "attachment":
            continue  # the returned mail inside a bounce
        if disposition != "attachment" and name is None and ctype == "text/plain":
            plain.append(_part_text(part))
            continue
        if disposition != "attachment" and name is None and ctype == "text/html":
            html.append(_part_text(part))
            continue
        if name is None and disposition != "attachment":
            continue  # inline bits without a name (a tracking pixel, a calendar blob)
        data = part.get_payload(decode=True)
        name = name or "attachment"
        if not isinstance(data, bytes):
            left_out.append(f"{name}: an attached mail ({ctype}) is not kept")
            continue
        if len(data) > limits.max_attachment_bytes or total + len(data) > limits.max_message_bytes:
            left_out.append(f"{name}: larger than {limits.max_attachment_bytes} bytes")
            continue
        if not _allowed(limits, ctype):
            left_out.append(f"{name}: type {ctype} not accepted")
            continue
        total += len(data)
        files.append(InboundFile(filename=name, content_type=ctype, data=data))
    text = "\n".join(plain).strip()
    html_only = not text and bool(html)
    if html_only:
        text = html_to_text("\n".join(html))
    date = None
    try:
        date = parsedate_to_datetime(header_text(message["Date"])) if message["Date"] else None
    except (TypeError, ValueError):
        date = None
    if date is not None and date.tzinfo is None:
        date = None
    return ParsedMail(
        message_id=(_ids(message["Message-ID"]) or [""])[0],
        sender=(_addresses(message, "From") or [""])[0],
        subject=header_text(raw_header(message, "Subject")),
        date=date,
        recipients=_addresses(
            message, "X-Tawasul-Rcpt", "Delivered-To", "X-Original-To", "Envelope-To", "To", "Cc", "Resent-To"
        ),
        in_reply_to=_ids(message["In-Reply-To"]),
        references=_ids(message["References"]),
        text=text.replace("\r\n", "\n"),
        html_only=html_only,
        files=files,
        left_out=left_out,
        message=message,
    )


# --- HTML to text --------------------------------------------------------------------------------

_SOFT = "\x00"
_BLOCKS = {"p", "div", "br", "tr", "li", "h1", "h2", "h3", "h4", "h5", "h6", "table", "ul", "ol", "hr", "pre"}
_SKIP = {"style", "script", "head", "title", "xml", "o:p"}
_QUOTE_IDS = {"divrplyfwdmsg", "appendonsend", "mail-editor-reference-message-container"}
_QUOTE_CLASSES = {"gmail_quote", "moz-cite-prefix", "yahoo_quoted", "outlookmessageheader", "gmail_attr"}
_SIGNATURE_CLASSES = {"gmail_signature", "moz-signature", "ms-outlook-mobile-signature"}


class _Html(HTMLParser):
    """Text of an HTML mail: blocks on their own lines, quoted history marked, signatures left out."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.out: list[str] = []
        self.skip = 0
        self.stack: list[tuple[str, bool]] = []
        self.quoted = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = {k.lower(): (v or "") for k, v in attrs}
        classes = set(a.get("class", "").lower().split())
        ident = a.get("id", "").lower()
        if tag == "br":
            self.out.append("\n")
            return
        if tag == "hr":
            self.out.append(_SOFT)
        quote = (
            tag == "blockquote"
            or ident in _QUOTE_IDS
            or bool(classes & _QUOTE_CLASSES)
            or (tag == "div" and "border-top:solid #e1e1e1" in a.get("style", "").replace(" ", "").lower())
        )
        if quote and not self.quoted:
            self.out.extend([_SOFT, QUOTE_MARK, "\n"])
            self.quoted = True
        skipping = tag in _SKIP or bool(classes & _SIGNATURE_CLASSES)
        if tag in ("img", "meta", "link", "input", "hr", "col", "area", "base", "wbr"):
            return
        self.stack.append((tag, skipping))
        if skipping:
            self.skip += 1
        if tag in _BLOCKS:
            self.out.append(_SOFT)

    def handle_endtag(self, tag: str) -> None:
        while self.stack:
            opened, skipping = self.stack.pop()
            if skipping:
                self.skip -= 1
            if opened == tag:
                break
        if tag in _BLOCKS:
            self.out.append(_SOFT)

    def handle_data(self, data: str) -> None:
        if self.skip:
            return
        if not any(tag == "pre" for tag, _ in self.stack):
            data = re.sub(r"[ \t\r\n\f]+", " ", data)  # HTML white space: the source's line breaks are not the text's
            if data == " " and (not self.out or self.out[-1] in (_SOFT, "\n")):
                return
        self.out.append(data)


def html_to_text(markup: str) -> str:
    """The text of an HTML mail, each block on a line, the quoted history after a QUOTE_MARK line."""
    parser = _Html()
    try:
        parser.feed(markup)
        parser.close()
    except (AssertionError, ValueError):
        pass
    pieces: list[str] = []
    for piece in parser.out:  # a block boundary breaks the line unless it is already broken
        if piece != _SOFT:
            pieces.append(piece)
        elif pieces and not pieces[-1].endswith("\n"):
            pieces.append("\n")
    text = "".join(pieces).replace("\xa0", " ")
    lines = [" ".join(line.split()) for line in text.splitlines()]
    text = "\n".join(lines)
    return re.sub(r"\n{3,}", "\n\n", text).strip()
