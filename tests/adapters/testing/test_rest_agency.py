"""The REST agency simulator itself: control over HTTP, recorded requests, shapes and modes."""

from __future__ import annotations

import json
import socket
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, ClassVar

import pytest
import requests
from structlog.testing import capture_logs

from adapters.testing.rest_agency import NESTED, Controller, profile_for, running_simulator, simulate_agencies
from broker.config import load_directory
from broker.settings import PROJECT_ROOT

Sim = tuple[str, Controller]


@pytest.fixture
def sim() -> Iterator[Sim]:
    with running_simulator() as started:
        yield started


def _deliver(url: str, agency: str, key: str, body: dict[str, object] | None = None) -> requests.Response:
    data = json.dumps(body or {"subject": "انقطاع المياه"}, ensure_ascii=False).encode()
    return requests.post(f"{url}/{agency}/cases", data=data, headers={"Idempotency-Key": key}, timeout=5)


def test_the_same_idempotency_key_gets_the_same_ticket(sim: Sim) -> None:
    url, _ = sim
    first, again, other = (_deliver(url, "ministry-of-works", k) for k in ("h_1", "h_1", "h_2"))
    assert (first.status_code, again.status_code, other.status_code) == (201, 200, 201)
    assert first.json() == again.json() != other.json()
    assert first.json()["ticket_id"].startswith("MOW-")


def test_modes_are_set_over_http_and_a_limited_one_wears_off(sim: Sim) -> None:
    url, _ = sim
    r = requests.post(f"{url}/_sim/ministry-of-works/mode", json={"mode": "503", "times": 1}, timeout=5)
    assert r.json()["mode"] == "503"
    assert _deliver(url, "ministry-of-works", "h_1").status_code == 503
    assert _deliver(url, "ministry-of-works", "h_1").status_code == 201
    bad = requests.post(f"{url}/_sim/ministry-of-works/mode", json={"mode": "explode"}, timeout=5)
    assert bad.status_code == 400 and "unknown mode" in bad.json()["error"]


def test_every_request_is_recorded_and_readable_over_http(sim: Sim) -> None:
    url, controller = sim
    _deliver(url, "ministry-of-works", "h_1")
    requests.get(f"{url}/ministry-of-works/cases/h_1", timeout=5)
    [recorded] = controller.requests("ministry-of-works")
    assert recorded.json() == {"subject": "انقطاع المياه"}
    listed = requests.get(f"{url}/_sim/requests", params={"agency": "ministry-of-works"}, timeout=5).json()
    assert [(r["method"], r["headers"].get("Idempotency-Key")) for r in listed] == [("POST", "h_1"), ("GET", None)]
    assert json.loads(listed[0]["body"])["subject"] == "انقطاع المياه"


def test_each_agency_answers_in_its_own_shape(sim: Sim) -> None:
    url, controller = sim
    controller.profiles["northern-municipality"] = NESTED
    ticket = _deliver(url, "northern-municipality", "h_9").json()["result"]["caseNumber"]
    controller.set_status("northern-municipality", ticket, "90", "تم")
    status = requests.get(f"{url}/northern-municipality/cases/h_9", timeout=5).json()
    assert status == {"data": {"state": "90", "remarks": "تم", "revision": 2}, "result": {"caseNumber": ticket}}


def test_a_dropped_connection_is_seen_by_the_client(sim: Sim) -> None:
    url, controller = sim
    controller.set_mode("ministry-of-works", "drop")
    with pytest.raises(requests.ConnectionError):
        _deliver(url, "ministry-of-works", "h_1")


def test_the_simulator_plays_the_shipped_agencies_as_configured(sim: Sim) -> None:
    directory = load_directory(PROJECT_ROOT / "config")
    controller = sim[1]
    env: dict[str, str] = {}
    played = simulate_agencies(directory.agencies.values(), controller, env)
    assert {"ministry-of-housing", "ministry-of-labour", "northern-municipality"} <= set(played)
    assert {"MHO_SIGNING_SECRET", "MOL_API_KEY", "NM_API_TOKEN"} <= set(env)
    nested = profile_for(directory.adapter("northern-municipality").settings)  # type: ignore[arg-type]
    assert (nested.ticket_key, nested.status_key, nested.acknowledged, nested.answered) == (
        "result.caseNumber",
        "data.state",
        "20",
        "90",
    )


class _Hub(BaseHTTPRequestHandler):
    """A hub that drops the first call's connection, answers the second 503, and takes the rest."""

    calls: ClassVar[list[tuple[str, str]]] = []

    def log_message(self, format: str, *args: object) -> None:
        pass

    def do_POST(self) -> None:
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        self.calls.append((body["kind"], self.headers["Idempotency-Key"]))
        if len(self.calls) == 1:
            self.close_connection = True
            self.connection.shutdown(socket.SHUT_RDWR)  # no answer at all: a connection reset
            return
        status = 503 if len(self.calls) == 2 else 201
        self.send_response(status)
        self.send_header("Retry-After", "0")
        self.send_header("Content-Length", "2")
        self.end_headers()
        self.wfile.write(b"{}")


def _pushed_to(handler: type[BaseHTTPRequestHandler], calls: list[Any], sim: Sim, handoff: str, posts: int) -> None:
    """Deliver one case to an agency that pushes to `handler` (the hub's part); wait for `posts` `calls`."""
    url, controller = sim
    hub = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=hub.serve_forever, daemon=True).start()
    try:
        controller.hub_url = f"http://127.0.0.1:{hub.server_address[1]}"
        controller.hub_keys["ministry-of-works"] = "k"
        controller.set_mode("ministry-of-works", "ok", answer_after=0.0, push=True)
        assert _deliver(url, "ministry-of-works", handoff).status_code == 201
        deadline = time.monotonic() + 10
        while len(calls) < posts and time.monotonic() < deadline:
            time.sleep(0.05)
    finally:
        hub.shutdown()
        hub.server_close()


def test_a_push_is_sent_again_with_its_key_after_a_reset_or_a_503(sim: Sim) -> None:
    _Hub.calls.clear()
    _pushed_to(_Hub, _Hub.calls, sim, "h_01JPUSH", 4)
    kinds = [kind for kind, _ in _Hub.calls]
    assert kinds == ["acknowledged", "acknowledged", "acknowledged", "answered"]  # reset, 503, taken; then the answer
    assert len({key for kind, key in _Hub.calls if kind == "acknowledged"}) == 1  # the same key each time


class _ClosingHub(BaseHTTPRequestHandler):
    """A hub that answers keeping the connection alive, then closes it (as at its keep-alive timeout)."""

    protocol_version = "HTTP/1.1"
    calls: ClassVar[list[str]] = []

    def log_message(self, format: str, *args: object) -> None:
        pass

    def do_POST(self) -> None:
        self.calls.append(json.loads(self.rfile.read(int(self.headers["Content-Length"])))["kind"])
        self.send_response(201)
        self.send_header("Content-Length", "2")
        self.end_headers()
        self.wfile.write(b"{}")
        self.wfile.flush()
        self.close_connection = True  # no "Connection: close" said: the client thinks it still open


def test_a_push_on_a_connection_the_hub_closed_while_idle_goes_at_once_on_a_new_one(sim: Sim) -> None:
    _ClosingHub.calls.clear()
    with capture_logs() as logs:
        _pushed_to(_ClosingHub, _ClosingHub.calls, sim, "h_01JIDLE", 2)
    assert _ClosingHub.calls == ["acknowledged", "answered"]  # the answer went on the closed connection first
    assert [e["event"] for e in logs if e["event"].startswith("simulator.push")] == ["simulator.pushed"] * 2
