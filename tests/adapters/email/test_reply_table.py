"""The reply table: what each mail program's reply becomes, and the share of new text taken exactly.

The mails are in replies/*.eml (built by replies/build.py as each program writes them); what the
hub must take from each is in replies/expected.yaml. `test_the_share_taken_exactly` prints the
table and the share, for the hub's rules and for mail-parser-reply measured on the same mails.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml

from adapters.email.inbound import read
from adapters.email.parse import Refused, parse
from adapters.email.replies import extract
from adapters.email.settings import EmailSettings
from broker import reply_tokens
from schemas import Inbound, Notice, Unmatched
from tests.adapters.email.conftest import email_adapter
from tests.adapters.email.replies.build import CASE_ID, HANDOFF, SECRET

HERE = Path(__file__).parent / "replies"
TABLE: list[dict[str, Any]] = yaml.safe_load((HERE / "expected.yaml").read_text(encoding="utf-8"))
CLAIMED = {row["file"] for row in TABLE}
"""The rows the hub's rules take exactly: every one of them."""


def settings() -> EmailSettings:
    return email_adapter(None).settings


@dataclass
class Outcome:
    outcome: str
    text: str
    token: str
    files: list[str]
    references: list[str]


def outcome_of(raw: bytes) -> Outcome:
    item = read(raw, settings())
    if isinstance(item, Unmatched):
        kind = "refused" if item.reason.startswith("refused") else "unmatched"
        return Outcome(kind, item.text, "none", [], [])
    token = item.reply_token
    verdict = "none" if not token else ("valid" if reply_tokens.verify(SECRET, token) == HANDOFF else "forged")
    if isinstance(item, Notice):
        return Outcome(item.kind, item.text, verdict, [], item.references)
    assert isinstance(item, Inbound)
    return Outcome(item.kind.value, item.text, verdict, [f.filename for f in item.files], item.references)


def exact(row: dict[str, Any], got: Outcome) -> bool:
    text_ok = row["text"] in got.text if row["outcome"] == "bounce" else got.text == row["text"]
    return (
        got.outcome == row["outcome"]
        and got.token == row["token"]
        and text_ok
        and got.files == row.get("files", [])
        and (row["token"] != "valid" or CASE_ID in got.references or row["outcome"] == "auto_reply")
    )


@pytest.mark.parametrize("row", TABLE, ids=[row["file"] for row in TABLE])
def test_each_reply_gives_exactly_its_new_text(row: dict[str, Any]) -> None:
    got = outcome_of((HERE / row["file"]).read_bytes())
    assert got.outcome == row["outcome"]
    assert got.token == row["token"]
    if row["outcome"] == "bounce":
        assert row["text"] in got.text
    else:
        assert got.text == row["text"]
    assert got.files == row.get("files", [])


def test_the_table_covers_every_client_charset_and_case_asked_for() -> None:
    assert len(TABLE) >= 20
    clients = " ".join(row["client"] for row in TABLE)
    for needed in (
        "Outlook desktop, Arabic",
        "Outlook desktop, English",
        "Outlook on the web",
        "Outlook for iOS",
        "Outlook for Android",
        "Gmail web",
        "Gmail for Android",
        "Apple Mail on iPhone",
        "Thunderbird",
        "windows-1256",
        "iso-8859-6",
        "QP",
        "base64",
        "HTML only",
        "attachments",
        "bounce",
        "out of office",
        "forged",
        "unrelated",
        "MIME bomb",
    ):
        assert needed in clients, needed


def _library_text(raw: bytes) -> str | None:
    """What mail-parser-reply takes from the same mail (English and every language it knows)."""
    from mailparser_reply import EmailReplyParser

    try:
        mail = parse(raw, settings().limits)
    except Refused:
        return None
    parsed = EmailReplyParser(languages=["en", "de", "fr", "es"]).read(mail.text)
    return str(parsed.replies[0].body).strip() if parsed.replies else ""


def test_the_share_taken_exactly(capsys: pytest.CaptureFixture[str]) -> None:
    rows = []
    for row in TABLE:
        raw = (HERE / row["file"]).read_bytes()
        ours = exact(row, outcome_of(raw))
        is_text = row["outcome"] not in ("bounce", "auto_reply", "unmatched", "refused")
        library = _library_text(raw) == row["text"] if is_text else None
        rows.append((row["file"], ours, library))
    taken = {name for name, ours, _ in rows if ours}
    text_rows = [r for r in rows if r[2] is not None]
    with capsys.disabled():
        print("\nreply table: file / hub rules / mail-parser-reply (text rows only)")
        for name, ours, library in rows:
            lib = "-" if library is None else ("exact" if library else "wrong")
            print(f"  {name:50} {'exact' if ours else 'WRONG':6} {lib}")
        print(f"hub rules: {len(taken)}/{len(rows)} exact ({100 * len(taken) / len(rows):.0f} %)")
        lib_ok = sum(1 for r in text_rows if r[2])
        print(f"mail-parser-reply on the same text rows: {lib_ok}/{len(text_rows)} exact")
    assert taken == CLAIMED


def test_text_is_taken_the_same_from_plain_and_from_html_alternatives() -> None:
    raw = (HERE / "01-outlook-desktop-ar.eml").read_bytes()
    mail = parse(raw, settings().limits)
    assert mail.message is not None
    html = mail.message.get_body(("html",))
    assert html is not None
    from adapters.email.parse import html_to_text

    assert extract(html_to_text(html.get_content())) == extract(mail.text)
