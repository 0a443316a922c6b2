"""A stand-in for the hub's agency API during a conformance run, for agencies that answer by calling the hub.

The agency's staging system is pointed at this listener instead of the hub. Each message it sends
about the kit's sample cases (`POST /agency/v1/handoffs/{id}/messages`) is checked as the agency
API checks it: an `X-API-Key` header, a JSON body that fits `AgencyMessage` (refused with 422 naming
the field otherwise), a kind the handoff's state admits from an agency (409 otherwise; each sample
handoff starts delivered). The `callbacks` check then reads what was heard. Nothing reaches the store:
the sample cases' handoffs exist only in this run.
"""

from __future__ import annotations

import json
import re
import threading
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import Any

from pydantic import ValidationError

from broker.errors import InvalidTransition
from broker.lifecycle import next_handoff_state
from schemas import AgencyMessage

PATH = re.compile(r"^/agency/v1/handoffs/(h_[0-9A-Za-z]{1,40})/messages$")
LIMIT = 256 * 1024
"""The largest body read, as the hub's HUB_MAX_BODY_BYTES default."""


@dataclass(frozen=True)
class Heard:
    """One call about a sample handoff: the message's kind, or what was wrong with the call."""

    handoff: str
    kind: str | None
    problem: str | None


class CallbackListener:
    """An HTTP server on `host:port` (0: any free port) in a thread of its own; use it as a context manager."""

    def __init__(self, host: str = "127.0.0.1", port: int = 0) -> None:
        self._heard: list[Heard] = []
        self._states: dict[str, str] = {}
        self._lock = threading.Lock()
        self._server = ThreadingHTTPServer((host, port), self._handler())
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, name="conformance-listener", daemon=True)

    @property
    def url(self) -> str:
        """Where the agency's staging system sends its messages (the hub's base URL, as it would be)."""
        host, port = str(self._server.server_address[0]), self._server.server_address[1]
        return f"http://{'127.0.0.1' if host == '0.0.0.0' else host}:{port}"  # noqa: S104 - a printed address

    def heard(self, handoff_id: str) -> list[Heard]:
        """What was said about this handoff so far, in arrival order."""
        with self._lock:
            return [h for h in self._heard if h.handoff == handoff_id]

    def __enter__(self) -> CallbackListener:
        self._thread.start()
        return self

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None) -> None:
        self._server.shutdown()
        self._server.server_close()

    def _record(self, heard: Heard) -> None:
        with self._lock:
            self._heard.append(heard)

    def _move(self, handoff: str, kind: str) -> str:
        """The sample handoff's next state, as the agency API would move it (InvalidTransition if not)."""
        with self._lock:
            state = next_handoff_state(self._states.get(handoff, "delivered"), kind, by_agency=True).value
            self._states[handoff] = state
            return state

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        listener = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, format: str, *args: Any) -> None:
                """Quiet: the check reports what matters."""

            def _answer(self, status: int, body: dict[str, Any]) -> None:
                data = json.dumps(body, ensure_ascii=False).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def do_POST(self) -> None:
                found = PATH.match(self.path.split("?", 1)[0])
                if found is None:
                    self._answer(404, {"detail": "not the agency API's messages path"})
                    return
                handoff = found.group(1)
                size = int(self.headers.get("Content-Length") or 0)
                if size > LIMIT:
                    listener._record(Heard(handoff, None, f"a body of {size} bytes, over the hub's {LIMIT}"))
                    self._answer(413, {"detail": "body too large"})
                    return
                raw = self.rfile.read(size)
                if not self.headers.get("X-API-Key"):
                    listener._record(Heard(handoff, None, "no X-API-Key header: send the agency's API key"))
                    self._answer(401, {"detail": "missing X-API-Key header"})
                    return
                try:
                    message = AgencyMessage.model_validate_json(raw)
                except ValidationError as exc:
                    first = exc.errors()[0]
                    where = ".".join(str(p) for p in first["loc"]) or "body"
                    listener._record(Heard(handoff, None, f"{where}: {first['msg']}"))
                    self._answer(422, {"detail": f"{where}: {first['msg']}"})
                    return
                try:
                    state = listener._move(handoff, message.kind.value)
                except InvalidTransition as exc:
                    listener._record(Heard(handoff, None, f"kind {message.kind.value}: {exc}"))
                    self._answer(409, {"detail": str(exc), "state": exc.state})
                    return
                listener._record(Heard(handoff, message.kind.value, None))
                receipt = {"message": "m_conformance", "handoff": handoff, "handoff_state": state}
                self._answer(201, {**receipt, "duplicate": False})

        return Handler
