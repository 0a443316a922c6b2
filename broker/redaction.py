"""Personal data in free text: CPR numbers, phone numbers and e-mail addresses found and masked.

Written as one left-to-right scan rather than regular expressions, so the work is linear in the
text whatever it holds (M4, L9): each character is looked at a bounded number of times, and a
`Steps` counter passed in counts them (the tests compare the work at n and 10 n characters).

What counts as personal (digits may be ASCII or Arabic-Indic, groups joined by spaces, no-break
spaces, dashes or brackets, and glued to Arabic letters):

* a CPR: 9 digits;
* a phone number: 7 to 15 digits after ``+`` or ``00``; 8 digits starting 1, 3, 6, 7, 8 or 9
  (Bahrain); 11 to 13 digits starting with a Gulf country code; 10 or 11 digits starting with 0;
* an e-mail address: ``local@domain.tld``.

Digits glued to Latin letters or an underscore (``TW-2026-004217``, ``h_01M8…``) are identifiers,
masked only when they are exactly 9 digits; ``YYYY-MM-DD`` dates are kept.
"""

from __future__ import annotations

import unicodedata
from dataclasses import dataclass

CPR = "[cpr]"
PHONE = "[phone]"
EMAIL = "[email]"
LONGEST = 32 * 1024
"""Text beyond this many characters is cut before redaction (a log line has no use for more)."""

_SEPARATORS = frozenset(" \u00a0\u202f\u2009-\u2010\u2011\u2012\u2013\u2014()")
_GULF = ("973", "966", "971", "965", "974", "968")
_LOCAL = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._%+-")
_DOMAIN = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-.")
_ID_CHARS = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ_")


@dataclass
class Steps:
    """Counts the characters the scan looked at (for tests of linear time)."""

    count: int = 0


def redact_text(value: str, steps: Steps | None = None) -> str:
    """The text with CPR numbers, phone numbers and e-mail addresses masked (and cut at `LONGEST`)."""
    if len(value) > LONGEST:
        value = value[:LONGEST] + "…[truncated]"
    counter = steps if steps is not None else Steps()
    if "@" in value:
        value = _emails(value, counter)
    return _numbers(value, counter)


def _emails(text: str, steps: Steps) -> str:
    out: list[str] = []
    done = 0  # text[:done] is settled
    at = text.find("@")
    while at != -1:
        start = at
        while start > done and at - start < 64 and text[start - 1] in _LOCAL:
            start -= 1
            steps.count += 1
        end = at + 1
        while end < len(text) and end - at <= 255 and text[end] in _DOMAIN:
            end += 1
            steps.count += 1
        while end > at + 1 and text[end - 1] in ".-":
            end -= 1
        domain = text[at + 1 : end]
        tld = domain.rsplit(".", 1)[-1] if "." in domain else ""
        if start < at and len(tld) >= 2 and tld.isalpha() and not domain.startswith("."):
            out.append(text[done:start])
            out.append(EMAIL)
            done = end
        at = text.find("@", max(at + 1, done))
    out.append(text[done:])
    return "".join(out)


def _digit(ch: str) -> str:
    return str(unicodedata.decimal(ch))


def _numbers(text: str, steps: Steps) -> str:
    out: list[str] = []
    done = 0
    i = 0
    n = len(text)
    while i < n:
        steps.count += 1
        ch = text[i]
        if not (ch.isdecimal() or (ch == "+" and i + 1 < n and text[i + 1].isdecimal())):
            i += 1
            continue
        # a run of digit groups, each joined to the next by at most two separators
        start = i
        intl = ch == "+"
        if intl:
            i += 1
        groups: list[tuple[int, int, str]] = []  # (start, end, separators before)
        seps = ""
        while i < n:
            g = i
            while i < n and text[i].isdecimal():
                i += 1
                steps.count += 1
            groups.append((g, i, seps))
            j = i
            while j < n and j - i < 2 and text[j] in _SEPARATORS:
                j += 1
                steps.count += 1
            if j == i or j >= n or not text[j].isdecimal():
                break
            seps = text[i:j]
            i = j
        masked = _classify(text, start, intl, groups, steps)
        for g_start, g_end, mask in masked:
            out.append(text[done:g_start])
            out.append(mask)
            done = g_end
    out.append(text[done:])
    return "".join(out)


def _glued(text: str, start: int) -> bool:
    """True when the digits at `start` continue an identifier (Latin letters, underscore, `X-`)."""
    before = text[start - 1] if start > 0 else ""
    if before in _ID_CHARS and before:
        return True
    return before == "-" and start > 1 and (text[start - 2] in _ID_CHARS or text[start - 2].isdecimal())


def _kind(digits: str, intl: bool, glued: bool) -> str | None:
    size = len(digits)
    if glued or (size == 9 and not intl):
        return CPR if size == 9 else None
    phone = (
        (intl and 7 <= size <= 15)
        or (size == 8 and digits[0] in "136789")
        or (11 <= size <= 13 and digits.startswith(_GULF))
        or (size in (10, 11) and digits[0] == "0")
    )
    return PHONE if phone else None


def _classify(
    text: str, start: int, intl: bool, groups: list[tuple[int, int, str]], steps: Steps
) -> list[tuple[int, int, str]]:
    """Spans of the run to mask: the longest run of groups that reads as personal, left to right."""
    masked: list[tuple[int, int, str]] = []
    glued = _glued(text, start)
    k = 0
    while k < len(groups):
        if _is_date(text, groups, k):
            k += 3
            continue
        first = k == 0
        prefix = intl and first
        digits = ""
        best: tuple[int, str] | None = None
        m = k
        while m < len(groups) and len(digits) <= 15:
            steps.count += 1
            g_start, g_end, _ = groups[m]
            steps.count += g_end - g_start
            digits += "".join(_digit(c) for c in text[g_start:g_end])
            international = prefix or (first and digits.startswith("00") and len(digits) > 2)
            number = digits[2:] if international and not prefix else digits
            kind = _kind(number, international, glued and first)
            if kind is not None:
                best = (m, kind)
            m += 1
        if best is None:
            k += 1
            continue
        m, kind = best
        span_start = start if prefix else groups[k][0]
        masked.append((span_start, groups[m][1], kind))
        k = m + 1
    return masked


def _is_date(text: str, groups: list[tuple[int, int, str]], k: int) -> bool:
    if k + 2 >= len(groups):
        return False
    sizes = [groups[k + d][1] - groups[k + d][0] for d in range(3)]
    return sizes == [4, 2, 2] and groups[k + 1][2] == "-" and groups[k + 2][2] == "-"
