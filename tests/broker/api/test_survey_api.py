"""The citizen's survey from the national system: once per case, after the reply, kept for each agency that answered."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import requests

from broker import events, review, statistics
from broker.assign import create_handoff
from broker.hub import Hub
from broker.messages import Sender, record_message
from broker.store.engine import transaction
from schemas import AgencyMessage, MessageKind
from tests.broker.test_review import answered
from tests.conftest import API_KEY
from tests.support import live_api, pump

HEADERS = {"X-API-Key": API_KEY}
COMMENT = "شكرًا، تم حل المشكلة خلال يومين."


@pytest.fixture
def api(any_hub: Hub) -> Iterator[tuple[Hub, str]]:
    with live_api(any_hub) as base:
        yield any_hub, base


def _replied(hub: Hub) -> str:
    case_id, handoff = answered(hub)
    review.accept(hub.engine, handoff, "central-office:noor")
    return case_id


def test_a_survey_of_a_replied_case_is_kept_once_and_a_second_is_refused(api: tuple[Hub, str]) -> None:
    hub, base = api
    case_id = _replied(hub)
    first = requests.post(f"{base}/v1/cases/{case_id}/survey", json={"score": 5, "comment": COMMENT}, headers=HEADERS)
    assert first.status_code == 201, first.text
    assert first.json()["agencies"] == ["social-insurance-organisation"]
    assert first.json()["comment"] == COMMENT
    again = requests.post(f"{base}/v1/cases/{case_id}/survey", json={"score": 1}, headers=HEADERS)
    assert again.status_code == 409
    assert "already has its survey" in again.json()["detail"]
    with hub.engine.connect() as conn:
        [surveyed] = [e for e in events.for_case(conn, case_id) if e.type == "case.surveyed"]
        quality = {q.agency: q for q in statistics.agency_quality(conn, hub.directory.sla)}
    assert surveyed.data == {"score": 5, "comment": COMMENT, "agencies": ["social-insurance-organisation"]}
    assert surveyed.actor == "national-system"
    assert quality["social-insurance-organisation"].satisfaction == 5.0


def test_a_survey_counts_for_every_agency_that_answered_the_case(api: tuple[Hub, str]) -> None:
    hub, base = api
    case_id, first = answered(hub)
    with transaction(hub.engine) as conn:
        second = create_handoff(conn, hub.directory, case_id, "ministry-of-works")["id"]
    pump(hub)
    record_message(
        hub.engine,
        hub.directory,
        second,
        AgencyMessage(kind=MessageKind.answered, text="تم إصلاح الطريق."),
        Sender(actor="central-office:amina", source="manual:call"),
    )
    review.accept(hub.engine, first, "central-office:noor")
    assert review.accept(hub.engine, second, "central-office:noor") == "replied"
    review.close(hub.engine, hub.directory, case_id, "central-office:noor")
    kept = requests.post(f"{base}/v1/cases/{case_id}/survey", json={"score": 3}, headers=HEADERS)
    assert kept.status_code == 201, kept.text
    assert kept.json()["agencies"] == ["ministry-of-works", "social-insurance-organisation"]


@pytest.mark.parametrize(
    ("body", "headers", "status"),
    [
        ({"score": 4}, {}, 401),
        ({"score": 0}, HEADERS, 422),
        ({"score": 6}, HEADERS, 422),
        ({"score": 4, "comment": "x" * 4001}, HEADERS, 422),
        ({"score": 4, "rating": 4}, HEADERS, 422),
    ],
)
def test_a_survey_that_is_not_well_formed_or_not_authenticated_is_refused(
    api: tuple[Hub, str], body: dict[str, object], headers: dict[str, str], status: int
) -> None:
    hub, base = api
    case_id = _replied(hub)
    answer = requests.post(f"{base}/v1/cases/{case_id}/survey", json=body, headers=headers)
    assert answer.status_code == status, answer.text


def test_a_survey_before_the_reply_or_of_no_case_is_refused(api: tuple[Hub, str]) -> None:
    hub, base = api
    case_id, _ = answered(hub)  # answered by the agency, not yet reviewed
    early = requests.post(f"{base}/v1/cases/{case_id}/survey", json={"score": 4}, headers=HEADERS)
    assert early.status_code == 409
    assert "no reply yet" in early.json()["detail"]
    missing = requests.post(f"{base}/v1/cases/c_nothing/survey", json={"score": 4}, headers=HEADERS)
    assert missing.status_code == 404
