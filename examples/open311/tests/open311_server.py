"""A small Open311 GeoReport v2 server, written from the published specification, for tests.

Endpoints (JSON only): `GET services.json`, `POST requests.json` (form-encoded), `GET requests/{id}.json`,
`GET tokens/{token}.json`. Errors are `[{"code": n, "description": "..."}]` with that HTTP status.
With `issue_tokens` on, a new request is answered with a token only; its id shows on `tokens/{token}.json`.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

SERVICES = [
    {"service_code": "POTHOLE", "service_name": "حفر الطرق / Potholes", "type": "realtime", "metadata": False},
    {"service_code": "LIGHT", "service_name": "إنارة الشوارع / Street lights", "type": "realtime", "metadata": False},
    {"service_code": "WASTE", "service_name": "النظافة / Waste", "type": "batch", "metadata": False},
]


@dataclass
class Open311Server:
    """The server's state, and the controls a test uses (as the municipality's staff would)."""

    api_key: str = "open311-test-key"
    issue_tokens: bool = False
    requests: dict[str, dict[str, Any]] = field(default_factory=dict)
    received: list[dict[str, str]] = field(default_factory=list)
    tokens: dict[str, str | None] = field(default_factory=dict)
    url: str = ""
    lock: threading.Lock = field(default_factory=threading.Lock)

    def update(self, request_id: str, *, status: str = "open", notes: str = "", expected: str | None = None) -> None:
        """Staff change a request: status, notes, expected date."""
        with self.lock:
            record = self.requests[request_id]
            record.update(status=status, status_notes=notes, updated_datetime=datetime.now(UTC).isoformat())
            if expected is not None:
                record["expected_datetime"] = expected

    def create(self, form: dict[str, str]) -> tuple[int, Any]:
        """POST requests.json."""
        if form.get("api_key") != self.api_key:
            return 403, [{"code": 403, "description": "Invalid api_key"}]
        if form.get("service_code") not in {s["service_code"] for s in SERVICES}:
            return 400, [{"code": 400, "description": f"service_code {form.get('service_code')} not found"}]
        if not (form.get("address_string") or form.get("lat") or form.get("address_id")):
            return 400, [{"code": 400, "description": "a location is required (address_string, lat/long)"}]
        with self.lock:
            self.received.append(form)
            request_id = f"{len(self.requests) + 1001}"
            now = datetime.now(UTC).isoformat()
            self.requests[request_id] = {
                "service_request_id": request_id,
                "status": "open",
                "status_notes": None,
                "service_code": form["service_code"],
                "description": form.get("description", ""),
                "address": form.get("address_string"),
                "requested_datetime": now,
                "updated_datetime": now,
                "expected_datetime": None,
                "agency_responsible": "Muharraq Municipality",
            }
            if self.issue_tokens:
                token = f"tok-{request_id}"
                self.tokens[token] = request_id
                return 201, [{"token": token}]
        return 201, [{"service_request_id": request_id, "service_notice": "", "account_id": None}]

    def read(self, path: str) -> tuple[int, Any]:
        """The GET endpoints."""
        if path == "/services.json":
            return 200, SERVICES
        for prefix, table in (("/requests/", self.requests), ("/tokens/", self.tokens)):
            if path.startswith(prefix) and path.endswith(".json"):
                key = path.removeprefix(prefix).removesuffix(".json")
                if key not in table:
                    return 404, [{"code": 404, "description": f"{key} not found"}]
                if prefix == "/tokens/":
                    return 200, [{"token": key, "service_request_id": table[key]}]
                return 200, [table[key]]
        return 404, [{"code": 404, "description": "no such endpoint"}]


def _handler(server: Open311Server, root: str) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def _send(self, status: int, body: Any) -> None:
            data = json.dumps(body, ensure_ascii=False).encode("utf-8")
            self.send_response(status)
            self.send_header("Content-Type", "application/json; charset=utf-8")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def _path(self) -> str | None:
            path = urlsplit(self.path).path
            return path.removeprefix(root) if path.startswith(root) else None

        def do_GET(self) -> None:
            path = self._path()
            self._send(*(server.read(path) if path else (404, [{"code": 404, "description": "not found"}])))

        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("Content-Length", "0"))).decode("utf-8")
            form = {k: v[0] for k, v in parse_qs(body, keep_blank_values=True).items()}
            if self._path() != "/requests.json":
                self._send(404, [{"code": 404, "description": "not found"}])
                return
            self._send(*server.create(form))

        def log_message(self, *_args: Any) -> None:
            """Quiet."""

    return Handler


@contextmanager
def running_open311(**options: Any) -> Iterator[Open311Server]:
    """An Open311 server on a free port; its endpoint root at `server.url` (…/open311/v2)."""
    state = Open311Server(**options)
    root = "/open311/v2"
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), _handler(state, root))
    state.url = f"http://127.0.0.1:{httpd.server_port}{root}"
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        yield state
    finally:
        httpd.shutdown()
        httpd.server_close()
