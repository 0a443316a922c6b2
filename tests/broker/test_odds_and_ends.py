"""The review's odds and ends (L10): docs switch, who before what, the webhook's own session."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
import yaml
from fastapi.testclient import TestClient
from pydantic import SecretStr
from sqlalchemy import select

from adapters.errors import ConfigError
from adapters.registry import TEST_SWITCH, adapter_class, known_kinds
from broker import agency_keys
from broker.api import create_app
from broker.config import load_directory
from broker.hub import Hub
from broker.intake import submit_cases
from broker.settings import PROJECT_ROOT
from broker.store.tables import cases, cursors
from tests.conftest import API_KEY, make_case
from tests.receiver import receiver
from tests.support import free_port, pump


@pytest.mark.parametrize("path", ["/docs", "/redoc", "/openapi.json"])
def test_api_docs_can_be_switched_off_for_production(sqlite_hub: Hub, path: str) -> None:
    """L10: with HUB_DOCS=false there is no /docs, /redoc or /openapi.json; by default there is."""
    assert TestClient(create_app(sqlite_hub)).get(path).status_code == 200
    off = Hub(sqlite_hub.settings.model_copy(update={"docs": False}))
    assert TestClient(create_app(off)).get(path).status_code == 404


BROKEN_JSON = '{"reference": '


def test_the_national_key_is_checked_before_the_body(sqlite_hub: Hub) -> None:
    """L10: no key or a wrong key is a 401 even when the body is broken; the right key gets the 422."""
    client = TestClient(create_app(sqlite_hub))
    send = {"content": BROKEN_JSON, "headers": {"Content-Type": "application/json"}}
    assert client.post("/v1/cases", **send).status_code == 401
    wrong = client.post(
        "/v1/cases", content=BROKEN_JSON, headers={"Content-Type": "application/json", "X-API-Key": "x"}
    )
    assert wrong.status_code == 401
    right = client.post(
        "/v1/cases", content=BROKEN_JSON, headers={"Content-Type": "application/json", "X-API-Key": API_KEY}
    )
    assert right.status_code == 422
    assert client.post("/v1/cases", json={"reference": 1}).status_code == 401


def test_an_agency_key_is_checked_before_the_body(sqlite_hub: Hub) -> None:
    """L10: on the agency API too, 401 before 422."""
    hub = sqlite_hub
    [accepted] = submit_cases(hub.engine, hub.directory, [make_case()], actor="national-system")
    key = agency_keys.create(hub.engine, hub.directory, "ministry-of-works", created_by="t").key
    client = TestClient(create_app(hub))
    url = "/agency/v1/handoffs/h_01JD7YQ4ZQ0000000000000000/messages"
    headers = {"Content-Type": "application/json"}
    assert client.post(url, content=BROKEN_JSON, headers=headers).status_code == 401
    assert client.post(url, content=BROKEN_JSON, headers={**headers, "X-API-Key": key[:-2] + "00"}).status_code == 401
    assert client.post(url, content=BROKEN_JSON, headers={**headers, "X-API-Key": key}).status_code == 422
    assert accepted.created


@contextmanager
def redirecting_to(target: str) -> Iterator[str]:
    """A server that answers every POST with 307 to `target`."""

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            self.rfile.read(int(self.headers.get("Content-Length", 0)))
            self.send_response(307)
            self.send_header("Location", target)
            self.end_headers()

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/hook"
    finally:
        server.shutdown()
        server.server_close()


def _webhook_hub(hub: Hub, url: str) -> Hub:
    return Hub(hub.settings.model_copy(update={"webhook_url": url, "webhook_secret": SecretStr("s" * 32)}))


def test_the_webhook_follows_no_redirect(sqlite_hub: Hub) -> None:
    """L10: a webhook answered with a redirect is a failure, never re-sent to where it points."""
    with receiver() as (elsewhere, record), redirecting_to(elsewhere) as url:
        hub = _webhook_hub(sqlite_hub, url)
        submit_cases(hub.engine, hub.directory, [make_case()], actor="national-system")
        pump(hub)
        assert record.requests == []
        with hub.engine.connect() as conn:
            errors = [r.last_error for r in conn.execute(select(cursors.c.last_error))]
        assert "HTTP 307" in errors


def test_the_webhook_ignores_proxy_settings_of_the_environment(
    sqlite_hub: Hub, monkeypatch: pytest.MonkeyPatch
) -> None:
    """L10: HTTP(S)_PROXY (and .netrc) from the environment do not apply to the webhook."""
    for name in ("NO_PROXY", "no_proxy"):
        monkeypatch.delenv(name, raising=False)
    dead = f"http://127.0.0.1:{free_port()}"
    for name in ("HTTP_PROXY", "http_proxy", "HTTPS_PROXY", "https_proxy", "ALL_PROXY"):
        monkeypatch.setenv(name, dead)
    with receiver() as (url, record):
        hub = _webhook_hub(sqlite_hub, url)
        submit_cases(hub.engine, hub.directory, [make_case()], actor="national-system")
        pump(hub)
        assert record.requests, "the webhook went to the proxy from the environment"


def test_stub_is_no_adapter_kind_outside_a_test_run(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """L10: the in-memory `stub` kind loads only in a test run (TAWASUL_TEST_ADAPTERS=1), never in production."""
    assert adapter_class("stub").kind == "stub"  # the suite sets the switch
    monkeypatch.delenv(TEST_SWITCH)
    assert "stub" not in known_kinds()
    with pytest.raises(ConfigError, match="'stub' is for tests only"):
        adapter_class("stub")
    raw = yaml.safe_load((PROJECT_ROOT / "config" / "agencies.yaml").read_text(encoding="utf-8"))
    next(a for a in raw["agencies"] if a["id"] == "ministry-of-works")["adapter"] = {"kind": "stub"}
    (tmp_path / "agencies.yaml").write_text(yaml.safe_dump(raw, allow_unicode=True), encoding="utf-8")
    with pytest.raises(ConfigError, match="for tests only"):
        load_directory(tmp_path)


def test_a_known_reference_with_different_content_is_a_conflict(sqlite_hub: Hub) -> None:
    """L10: the same reference with another payload is a 409 (a retry with the same content stays a 200)."""
    client = TestClient(create_app(sqlite_hub))
    headers = {"X-API-Key": API_KEY}
    sent = make_case().model_dump(mode="json")
    assert client.post("/v1/cases", json=sent, headers=headers).status_code == 201
    assert client.post("/v1/cases", json=sent, headers=headers).status_code == 200
    changed = client.post("/v1/cases", json={**sent, "subject": "موضوع آخر"}, headers=headers)
    assert changed.status_code == 409
    assert "different content" in changed.json()["detail"]
    batch = client.post("/v1/cases/batch", json={"cases": [{**sent, "description": "نص آخر"}]}, headers=headers)
    assert batch.status_code == 409
    with sqlite_hub.engine.connect() as conn:
        assert conn.execute(select(cases.c.payload)).scalar_one()["subject"] == sent["subject"]
