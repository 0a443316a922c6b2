"""Personal data never reaches a log line, whatever shape it arrives in."""

from __future__ import annotations

import json

import pytest
import structlog

from broker.logging import configure_logging, redact_text

TEXTS = [
    ("رقمي الشخصي 850412345 أرجو الاتصال", "رقمي الشخصي [cpr] أرجو الاتصال"),
    ("write to fatima@example.bh please", "write to [email] please"),
    ("call +97333123456 or 33123456", "call [phone] or [phone]"),
    ("call +973 3312 3456", "call [phone]"),
    ("block 525 road 2511 building 1123", "block 525 road 2511 building 1123"),
    ("TW-2026-004217", "TW-2026-004217"),
]


@pytest.mark.parametrize(("text", "expected"), TEXTS)
def test_personal_numbers_and_addresses_are_masked_inside_free_text(text: str, expected: str) -> None:
    assert redact_text(text) == expected


def test_a_json_log_line_carries_ids_but_no_personal_data(capsys: pytest.CaptureFixture[str]) -> None:
    configure_logging("json", "INFO")
    log = structlog.get_logger("test")
    log.info(
        "case.accepted",
        case="c_01J",
        handoff="h_01J",
        cpr="850412345",
        citizen={"name": "فاطمة علي", "mobile": "+97333123456"},
        note="اتصلت فاطمة من 33123456 وبريدها fatima@example.bh",
    )
    line = json.loads(capsys.readouterr().err.strip().splitlines()[-1])
    assert line["case"] == "c_01J" and line["handoff"] == "h_01J"
    assert line["cpr"] == "[redacted]" and line["citizen"] == "[redacted]"
    assert "33123456" not in line["note"] and "fatima@" not in line["note"]
    assert "اتصلت فاطمة" in line["note"]  # Arabic stays readable, not \\u-escaped
