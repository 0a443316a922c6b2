"""Redaction of personal data in free text: every form in the table, in linear time (M4, L9)."""

from __future__ import annotations

import pytest

from broker.redaction import LONGEST, Steps, redact_text

FORMS = [
    # (text, expected)
    ("رقمي الشخصي 850412345 أرجو الاتصال", "رقمي الشخصي [cpr] أرجو الاتصال"),
    ("الرقم850412345", "الرقم[cpr]"),
    ("850412345الرقم", "[cpr]الرقم"),
    ("cpr 850-412-345", "cpr [cpr]"),
    ("cpr 850 412 345", "cpr [cpr]"),
    ("cpr 85 04 12345", "cpr [cpr]"),
    ("الرقم الشخصي ٨٥٠٤١٢٣٤٥", "الرقم الشخصي [cpr]"),
    ("الرقم ۸۵۰۴۱۲۳۴۵", "الرقم [cpr]"),
    ("CPR850412345", "CPR[cpr]"),
    ("cpr=850412345;", "cpr=[cpr];"),
    ("write to fatima@example.bh please", "write to [email] please"),
    ("البريدfatima.ali+tw@gov.example.bhشكرا", "البريد[email]شكرا"),
    ("<FATIMA_ALI@EXAMPLE.COM>", "<[email]>"),
    ("call +97333123456 or 33123456", "call [phone] or [phone]"),
    ("call +973 3312 3456", "call [phone]"),
    ("اتصل على 3312-3456", "اتصل على [phone]"),
    ("اتصل على٣٣١٢٣٤٥٦", "اتصل على[phone]"),
    ("00973 3312 3456", "[phone]"),
    ("973-3312-3456", "[phone]"),
    ("هاتف المنزل 17123456", "هاتف المنزل [phone]"),
    ("landline 1712 3456", "landline [phone]"),
    ("+966 50 123 4567", "[phone]"),
    ("+966501234567", "[phone]"),
    ("0501234567 (السعودية)", "[phone] (السعودية)"),
    ("+44 20 7946 0958", "[phone]"),
    ("+1 (202) 555-0143", "[phone]"),
    ("٠٠٩٦٦٥٠١٢٣٤٥٦٧", "[phone]"),
    ("+973\u00a03312\u00a03456", "[phone]"),
    ("850412345 33123456", "[cpr] [phone]"),
    ("cpr=850412345 email=fatima@example.bh mobile=+97333123456", "cpr=[cpr] email=[email] mobile=[phone]"),
    # not personal: kept as they are
    ("block 525 road 2511 building 1123", "block 525 road 2511 building 1123"),
    ("TW-2026-004217", "TW-2026-004217"),
    ("h_01M8XJ3W3MVK688AX54K46CEV2", "h_01M8XJ3W3MVK688AX54K46CEV2"),
    ("at 2026-12-03 09:00:09", "at 2026-12-03 09:00:09"),
    ("127.0.0.1:5432", "127.0.0.1:5432"),
    ("took 1234 ms, 12 attempts", "took 1234 ms, 12 attempts"),
    ("a@b", "a@b"),
]


@pytest.mark.parametrize(("text", "expected"), FORMS)
def test_every_form_of_a_cpr_phone_number_or_email_is_masked(text: str, expected: str) -> None:
    """M4: CPRs, Bahraini and foreign phone numbers and e-mails in any common form are masked."""
    assert redact_text(text) == expected


def test_the_table_holds_at_least_twenty_personal_forms() -> None:
    """M4: the table covers at least 20 forms of personal data."""
    assert sum(1 for _, expected in FORMS if "[" in expected) >= 20


LONG_INPUTS = [
    "a" * 1000,
    "a." * 500,
    "a@" * 500,
    "1" * 1000,
    "1-" * 500,
    "1 2 " * 250,
    "+1" * 500,
    "x@" + "a" * 998,
    ("فاطمة 850412345 fatima@example.bh " * 40)[:1000],
]


@pytest.mark.parametrize("unit", LONG_INPUTS, ids=range(len(LONG_INPUTS)))
def test_redaction_works_in_linear_time_on_long_input(unit: str) -> None:
    """L9: ten times the text costs at most about ten times the steps (no quadratic regex)."""
    small, large = Steps(), Steps()
    redact_text(unit * 2, small)
    redact_text(unit * 20, large)
    assert large.count <= 11 * small.count + 100


def test_text_longer_than_the_limit_is_cut_before_redaction() -> None:
    """L9: a huge string is truncated before it is scanned."""
    text = "1" * (LONGEST * 3)
    assert redact_text(text).endswith("…[truncated]")
    assert len(redact_text(text)) < LONGEST + 20
