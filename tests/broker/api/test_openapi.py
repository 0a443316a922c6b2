"""The OpenAPI document describes both directions, with Arabic examples, as served on a real socket."""

from __future__ import annotations

import json
import re
from typing import Any

import requests

from broker.hub import Hub
from tests.support import live_api

ARABIC = re.compile(r"[\u0600-\u06ff]")


def _document(hub: Hub) -> dict[str, Any]:
    with live_api(hub) as base:
        r = requests.get(f"{base}/openapi.json", timeout=10)
    assert r.status_code == 200
    return r.json()  # type: ignore[no-any-return]


def test_the_document_lists_what_the_hub_accepts_from_the_national_system_and_from_agencies(sqlite_hub: Hub) -> None:
    doc = _document(sqlite_hub)
    paths = doc["paths"]
    assert {"post"} <= set(paths["/v1/cases"])
    assert {"get"} <= set(paths["/agency/v1/handoffs"])
    assert {"get"} <= set(paths["/agency/v1/handoffs/{handoff_id}"])
    post = paths["/agency/v1/handoffs/{handoff_id}/messages"]["post"]
    assert {"201", "200", "401", "404", "409", "413", "422"} <= set(post["responses"])
    assert "Idempotency-Key" in [p["name"] for p in post["parameters"]]
    assert {"AgencyKey", "APIKeyHeader"} <= set(doc["components"]["securitySchemes"])


def test_the_document_describes_what_the_hub_sends_to_agencies_and_to_the_national_system(sqlite_hub: Hub) -> None:
    doc = _document(sqlite_hub)
    webhooks = doc["webhooks"]
    assert {"agency-delivery", "case-events"} <= set(webhooks)
    delivery = webhooks["agency-delivery"]["post"]
    headers = {p["name"] for p in delivery["parameters"] if p["in"] == "header"}
    assert headers == {"Idempotency-Key", "X-Tawasul-Handoff", "X-Tawasul-Timestamp", "X-Tawasul-Signature"}
    assert delivery["requestBody"]["content"]["application/json"]["schema"]["$ref"].endswith("/AgencyDelivery")
    example = doc["components"]["schemas"]["AgencyDelivery"]["examples"][0]
    assert ARABIC.search(example["case"]["subject"])


def test_the_agency_messages_come_with_arabic_examples(sqlite_hub: Hub) -> None:
    doc = _document(sqlite_hub)
    body = doc["paths"]["/agency/v1/handoffs/{handoff_id}/messages"]["post"]["requestBody"]["content"]
    examples = body["application/json"]["examples"]
    assert {"acknowledged", "answered", "needs_info", "transfer_requested"} <= set(examples)
    assert all(ARABIC.search(e["value"]["text"]) for e in examples.values())
    handoff = doc["components"]["schemas"]["AgencyHandoff"]
    assert ARABIC.search(json.dumps(handoff["examples"], ensure_ascii=False))
