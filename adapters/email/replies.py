"""Taking only the new text of a reply, in Arabic and English, as each mail program writes it.

mail-parser-reply (PyPI) was measured first on the reply table in tests/adapters/email: it knows
no Arabic (no Arabic reply headers, no "في … كتب"), so these rules are the hub's own. The text is
cut at the first of: a quoted line (`>`), an "On … wrote:" / "في … كتب:" line (also wrapped over
two lines), an Outlook reply header block (From:/Sent:/To:/Subject: or من:/أرسل:/إلى:/الموضوع:, with
or without the underscore line above it), an "Original Message" separator, the quote marker HTML
conversion leaves; then signatures ("-- ", a short sign-off block) and mobile footers are dropped.
"""

from __future__ import annotations

import re

from adapters.email.parse import QUOTE_MARK

_MARKS = re.compile(r"[\u200e\u200f\u202a-\u202e\u2066-\u2069\ufeff\u061c]")
_FROM = re.compile(r"^\**\s*(from|من|de|von|van)\s*:\s*\**", re.IGNORECASE)
_HEADER_FIELD = re.compile(
    r"^\**\s*(sent|date|to|subject|cc|أرسل|أرسلت|ارسل|التاريخ|تاريخ|إلى|الى|الموضوع|نسخة|نسخة إلى|envoyé|gesendet)"
    r"\s*:",
    re.IGNORECASE,
)
_SEPARATORS = re.compile(
    r"^\s*(-{2,}\s*(original message|forwarded message|الرسالة الأصلية|رسالة أصلية|رسالة معاد توجيهها)\s*-{2,}"
    r"|_{20,}|-{5,}\s*$|begin forwarded message:|بداية الرسالة المعاد توجيهها:)",
    re.IGNORECASE,
)
_WROTE_EN = re.compile(r"^(on|le|am)\s.+\b(wrote|a écrit|schrieb)\s*:?\s*$", re.IGNORECASE)
_WROTE_AR = re.compile(r"^(في|بتاريخ)\s.+كتب.*:?\s*$")
_WROTE_START = re.compile(r"^(on|في|بتاريخ)\s", re.IGNORECASE)
_FOOTERS = re.compile(
    r"^\s*(sent from my \w+|sent from (outlook|mail) for \w+|get outlook for \w+|sent from outlook"
    r"|sent from yahoo mail|sent from samsung mobile|sent via \w+"
    r"|أُ?رسلت من (الـ ?|جهاز )?(iphone|ipad|هاتفي|هاتف)|تم الإرسال من (الـ ?)?(iphone|هاتفي|جهاز|outlook)"
    r"|احصل على outlook ل[ـ ]?\s*\w+|مرسلة من (الـ ?)?(iphone|هاتفي|جهازي))",
    re.IGNORECASE,
)
_SIGN_OFFS = re.compile(
    r"^\s*(مع (خالص |أطيب )?(التحية|التحيات|الشكر)|مع التحية والتقدير|وتفضلوا بقبول (فائق )?الاحترام|تحياتي"
    r"|شكرا(ً)? لكم|best( regards)?|kind regards|regards|many thanks|thanks|thank you|sincerely|cheers)"
    r"\s*[,،.!]?\s*$",
    re.IGNORECASE,
)
SIGNATURE_LINES = 6
"""A sign-off followed by at most this many short lines is a signature block."""


def _clean(line: str) -> str:
    return _MARKS.sub("", line).strip()


def _cut_index(lines: list[str]) -> int:
    """The index of the first line of quoted history (len(lines) when there is none)."""
    clean = [_clean(line) for line in lines]
    for i, line in enumerate(clean):
        if line == QUOTE_MARK or line.startswith(">") or _SEPARATORS.match(line):
            return _attribution_above(clean, i)
        if _WROTE_EN.match(line) or _WROTE_AR.match(line):
            return i
        if _WROTE_START.match(line) and i + 1 < len(clean):
            joined = f"{line} {clean[i + 1]}"
            if len(line) < 200 and (_WROTE_EN.match(joined) or _WROTE_AR.match(joined)):
                return i
        if _FROM.match(line) and _header_block(clean, i):
            return i
    return len(lines)


def _header_block(clean: list[str], i: int) -> bool:
    """Whether an Outlook reply header starts at line i: From: then Sent:/To:/Subject: within a few lines."""
    fields = sum(1 for line in clean[i + 1 : i + 7] if _HEADER_FIELD.match(line))
    return fields >= 1


def _attribution_above(clean: list[str], i: int) -> int:
    """Include an attribution line (and a blank before the quote) that sits just above quoted lines."""
    j = i - 1
    while j >= 0 and not clean[j]:
        j -= 1
    if j >= 0 and (clean[j].endswith(":") and ("wrote" in clean[j].lower() or "كتب" in clean[j])):
        return j
    if j >= 1 and not clean[j - 1].endswith(".") and "كتب" in f"{clean[j - 1]} {clean[j]}" and clean[j].endswith(":"):
        return j - 1
    return i


def _drop_footers(lines: list[str]) -> list[str]:
    out = []
    for line in lines:
        clean = _clean(line)
        if clean in {"--", "-- "}:
            break
        if _FOOTERS.match(clean):
            continue
        out.append(line)
    return out


def _drop_signature(lines: list[str]) -> list[str]:
    """A sign-off line with only a short block (name, title, phone) after it ends the text."""
    for i, line in enumerate(lines):
        if i == 0 or not _SIGN_OFFS.match(_clean(line)):
            continue
        rest = [_clean(x) for x in lines[i + 1 :] if _clean(x)]
        if len(rest) <= SIGNATURE_LINES and all(len(x) <= 80 for x in rest):
            return lines[:i]
    return lines


def extract(text: str) -> str:
    """The new text of a reply: quoted history, reply headers, signatures and mobile footers removed."""
    lines = text.replace("\r\n", "\n").replace("\r", "\n").split("\n")
    lines = lines[: _cut_index(lines)]
    lines = _drop_signature(_drop_footers(lines))
    kept = "\n".join(line.rstrip() for line in lines)
    kept = re.sub(r"\n{3,}", "\n\n", kept)
    return kept.strip()


def full_text(text: str) -> str:
    """The whole text of a mail (for the review list): only the HTML quote marker taken out."""
    return text.replace(QUOTE_MARK, "").strip()
