"""The wire contract: every bundled sample case is valid, and nothing in it changes on the way through."""

from __future__ import annotations

import json

import pytest
from pydantic import ValidationError

from schemas import AgencyMessage, CaseIn
from tests.conftest import sample_cases


@pytest.mark.parametrize("raw", sample_cases(), ids=lambda c: c["reference"])
def test_each_sample_case_is_valid_and_round_trips_unchanged(raw: dict[str, object]) -> None:
    case = CaseIn.model_validate(raw)
    again = json.loads(case.model_dump_json())
    for field in ("reference", "subject", "description", "category", "agency", "channel"):
        assert again[field] == raw[field]
    assert again["citizen"]["name"] == raw["citizen"]["name"]  # type: ignore[index]


BAD = [
    ({"kind": "praise"}, "kind"),
    ({"citizen": {"name": "x", "cpr": "12345"}}, "citizen.cpr"),
    ({"location": {"governorate": "eastern"}}, "location.governorate"),
    ({"attachments": [{"filename": "a.jpg", "content_type": "image/jpeg", "size": -1}]}, "attachments.0.size"),
    ({"submitted_at": "2026-11-22T09:14:00"}, "submitted_at"),
]


@pytest.mark.parametrize(("change", "field"), BAD, ids=[f for _, f in BAD])
def test_a_wrong_field_is_named(change: dict[str, object], field: str) -> None:
    raw = {**sample_cases()[0], **change}
    with pytest.raises(ValidationError) as caught:
        CaseIn.model_validate(raw)
    assert field in [".".join(str(p) for p in e["loc"]) for e in caught.value.errors()]


def test_an_agency_message_keeps_its_arabic_text() -> None:
    text = "تم إصلاح الخط وإعادة ضخ المياه. «شكراً»"
    message = AgencyMessage.model_validate({"kind": "answered", "text": text})
    assert json.loads(message.model_dump_json())["text"] == text
