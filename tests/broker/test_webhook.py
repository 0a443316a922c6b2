"""Webhooks to the national system: signed, in order, at least once, retried after a failure."""

from __future__ import annotations

import json
import time

from pydantic import SecretStr

from adapters.signing import IDEMPOTENCY_HEADER, SIGNATURE_HEADER, TIMESTAMP_HEADER, verify
from broker.hub import Hub
from broker.intake import submit_cases
from tests.conftest import make_case
from tests.receiver import receiver
from tests.support import pump, wait_until

SECRET = "webhook-secret-for-tests"


def webhook_hub(hub: Hub, url: str) -> Hub:
    return Hub(hub.settings.model_copy(update={"webhook_url": url, "webhook_secret": SecretStr(SECRET)}))


def delivered_events(record: object) -> list[dict[str, object]]:
    out = []
    for _headers, body in record.requests:  # type: ignore[attr-defined]
        out += json.loads(body)["events"]
    return out


def test_events_reach_the_national_system_signed_and_in_order(any_hub: Hub) -> None:
    with receiver() as (url, record):
        hub = webhook_hub(any_hub, url)
        case = make_case(subject="انقطاع الإنارة في الشارع")
        submit_cases(hub.engine, hub.directory, [case], actor="national-system")
        pump(hub)
        pump(hub)
        got = delivered_events(record)
        assert [e["type"] for e in got] == ["case.received", "case.routed", "handoff.delivered"]
        assert [e["id"] for e in got] == [1, 2, 3]
        assert all(e["reference"] == case.reference for e in got)
        for headers, body in record.requests:
            signed = {
                "method": "POST",
                "path": "/hooks/tawasul",
                "timestamp": headers[TIMESTAMP_HEADER],
                "signature": headers[SIGNATURE_HEADER],
                "body": body,
                "idempotency_key": headers[IDEMPOTENCY_HEADER],
            }
            assert verify(SECRET, **signed)
            assert not verify("another-secret", **signed)
            assert "citizen" not in body.decode("utf-8")  # events name cases; personal data stays in the case


def test_a_refused_webhook_is_sent_again_and_the_cursor_waits_for_it(any_hub: Hub) -> None:
    with receiver() as (url, record):
        hub = webhook_hub(any_hub, url)
        record.fail_next = 2
        submit_cases(hub.engine, hub.directory, [make_case()], actor="national-system")

        def all_arrived() -> bool:
            pump(hub)
            time.sleep(0.05)
            return len(delivered_events(record)) >= 3

        wait_until(all_arrived, "the webhook to succeed after two refusals", timeout=20)
        assert record.fail_next == 0
        assert [e["id"] for e in delivered_events(record)][:3] == [1, 2, 3]
