"""The REST agency simulator's HTTP server: the standard library's threading server on a real socket.

No framework: it must be able to drop a connection, hang, or answer bytes that are not JSON.
"""

from __future__ import annotations

import json
import ssl
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, replace
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

import structlog

from adapters.signing import HANDOFF_HEADER, IDEMPOTENCY_HEADER, SIGNATURE_HEADER, TIMESTAMP_HEADER, verify
from adapters.testing.rest_agency.controller import Behaviour, Controller, Request, _Ticket

log = structlog.get_logger(__name__)


def _pick(body: bytes, dotted: str) -> str:
    """The value at `a.b` in a JSON body (or in the `case` part of a multipart one), or ''."""
    try:
        node: Any = json.loads(body)
    except ValueError:
        start = body.find(b"{")
        try:
            node = json.JSONDecoder().raw_decode(body[start:].decode("utf-8", "replace"))[0] if start >= 0 else {}
        except ValueError:
            return ""
    for part in dotted.split("."):
        node = node.get(part) if isinstance(node, dict) else None
    return str(node or "")


def _blank(body: bytes, dotted: str) -> bool:
    """Whether a JSON body holds the field at `a.b` but leaves it empty (an invalid request)."""
    try:
        node: Any = json.loads(body)
    except ValueError:
        return False
    for part in dotted.split("."):
        if not isinstance(node, dict) or part not in node:
            return False
        node = node[part]
    return node in ("", None)


def _nest(dotted: str, value: Any) -> dict[str, Any]:
    """`a.b` and 1 → {"a": {"b": 1}}."""
    *parents, leaf = dotted.split(".")
    node: dict[str, Any] = {leaf: value}
    for part in reversed(parents):
        node = {part: node}
    return node


def _merge(a: dict[str, Any], b: dict[str, Any]) -> dict[str, Any]:
    out = dict(a)
    for k, v in b.items():
        out[k] = _merge(out[k], v) if isinstance(v, dict) and isinstance(out.get(k), dict) else v
    return out


class _Handler(BaseHTTPRequestHandler):
    server: _Server
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True  # headers and body go out in two writes: without this, 40 ms each

    def log_message(self, format: str, *args: Any) -> None:
        """Quiet: the simulator records requests itself."""

    def _reply(
        self, status: int, body: Any = None, *, raw: bytes | None = None, headers: dict[str, str] | None = None
    ) -> None:
        data = raw if raw is not None else json.dumps(body, ensure_ascii=False).encode()
        headers = {"Content-Type": "application/json; charset=utf-8", **(headers or {})}
        self.send_response(status)
        self.send_header("Content-Length", str(len(data)))
        for k, v in headers.items():
            self.send_header(k, v)
        self.end_headers()
        self.wfile.write(data)

    def _body(self) -> bytes:
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length) if length else b""

    def do_GET(self) -> None:
        """Status of a case, or the recorded requests."""
        c = self.server.controller
        url = urlsplit(self.path)
        parts = [p for p in url.path.split("/") if p]
        if parts == ["_sim", "requests"]:
            agency = parse_qs(url.query).get("agency", [None])[0]
            recorded = c.requests(agency, "", "POST") + c.requests(agency, "", "GET")
            items = [
                {**asdict(r), "body": r.body.decode("utf-8", "replace")} for r in sorted(recorded, key=lambda r: r.at)
            ]
            self._reply(200, items)
        elif parts == ["_sim", "health"]:
            self._reply(200, {"status": "ok"})
        elif len(parts) == 3 and parts[:2] == ["_sim", "files"] and parts[2] in c.files:
            content_type, data = c.files[parts[2]]
            self._reply(200, raw=data, headers={"Content-Type": content_type})
        elif len(parts) == 3 and parts[1] == "cases":
            self._status(parts[0], parts[2])
        elif len(parts) == 2 and parts[1] == "cases" and "reference" in parse_qs(url.query):
            self._lookup(parts[0], parse_qs(url.query)["reference"][0])
        else:
            self._reply(404, {"error": "not found"})

    def _lookup(self, agency: str, reference: str) -> None:
        """`GET /{agency}/cases?reference=…`: the agency's tickets for a national reference."""
        c = self.server.controller
        c._record(Request(agency, "GET", self.path, dict(self.headers.items()), b"", None))
        key = c.profile(agency).ticket_key
        self._reply(200, {"items": [_nest(key, t) for t in c.tickets(agency, reference)]})

    def _status(self, agency: str, ref: str) -> None:
        c = self.server.controller
        c._record(Request(agency, "GET", self.path, dict(self.headers.items()), b"", None))
        found = c._status(agency, ref)
        if found is None:
            self._reply(404, {"error": f"no case {ref}"})
            return
        p = c.profile(agency)
        t = c._find(agency, ref)
        body = _merge(_nest(p.status_key, found[0]), _nest(p.text_key, found[1]))
        body = _merge(body, _nest(p.change_key, found[2]))
        self._reply(200, _merge(body, _nest(p.ticket_key, t.ticket if t else ref)))

    def do_POST(self) -> None:
        """A delivery, a token request or a control call."""
        c = self.server.controller
        parts = [p for p in urlsplit(self.path).path.split("/") if p]
        body = self._body()
        if parts == ["_sim", "oauth", "token"]:
            token, seconds = c._issue_token()
            self._reply(200, {"access_token": token, "token_type": "bearer", "expires_in": seconds})
        elif len(parts) == 3 and parts[0] == "_sim" and parts[2] == "mode":
            try:
                options = json.loads(body or b"{}")
                c.set_mode(parts[1], **options)
            except (ValueError, TypeError) as exc:
                self._reply(400, {"error": str(exc)})
                return
            self._reply(200, asdict(c.behaviour(parts[1])))
        elif len(parts) == 2 and parts[1] == "cases":
            self._deliver(parts[0], body)
        elif len(parts) >= 4 and parts[1] == "cases":
            self._follow_on(parts[0], body)
        else:
            self._reply(404, {"error": "not found"})

    def _signature_ok(self, agency: str, body: bytes) -> bool | None:
        """Whether the request is signed with the agency's secret (None: no secret known to check)."""
        c = self.server.controller
        key = c.secrets.get(agency, c.secrets.get("*"))
        if key is None:
            return None
        return verify(
            key,
            method=self.command,
            path=self.path,
            timestamp=self.headers.get(TIMESTAMP_HEADER, ""),
            signature=self.headers.get(SIGNATURE_HEADER, ""),
            body=body,
            idempotency_key=self.headers.get(IDEMPOTENCY_HEADER, ""),
        )

    def _follow_on(self, agency: str, body: bytes) -> None:
        """A follow-on message (`POST /{agency}/cases/{id}/…`): recorded; a repeated Idempotency-Key is a 200."""
        c = self.server.controller
        signed = self._signature_ok(agency, body)
        key = self.headers.get(IDEMPOTENCY_HEADER, "")
        seen = bool(key) and any(r.headers.get(IDEMPOTENCY_HEADER) == key for r in c.follow_ons(agency))
        c._record(Request(agency, "POST", self.path, dict(self.headers.items()), body, signed))
        b = c._take_behaviour(agency) if c.behaviour(agency).mode != "ok" else Behaviour()
        if b.mode in ("hang", "drip"):
            self._stall(b)
            return
        if b.mode in ("500", "503"):
            self._reply(int(b.mode), {"error": "try later"})
            return
        self._reply(401 if signed is False else (200 if seen else 201), {"received": signed is not False})

    def _stall(self, b: Behaviour) -> None:
        """Hang without answering, or drip an answer one byte every `delay` seconds, until told to stop."""
        c = self.server.controller
        if b.mode == "hang":
            c.stopping.wait(b.hang_seconds)
            self.close_connection = True
            return
        answer = b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 2000\r\n\r\n" + b" " * 2000
        deadline = time.monotonic() + b.hang_seconds
        for byte in answer:
            if c.stopping.wait(b.delay or 1.0) or time.monotonic() > deadline:
                break
            try:
                self.wfile.write(bytes([byte]))
                self.wfile.flush()
            except OSError:
                break
        self.close_connection = True

    def _unauthorised(self, signature_ok: bool | None) -> bool:
        """Answer 401 for an expired OAuth2 token or a bad signature; True if it did."""
        auth = self.headers.get("Authorization", "")
        if auth.startswith("Bearer tok-") and not self.server.controller.token_valid(auth.removeprefix("Bearer ")):
            self._reply(401, {"error": "token expired or revoked"})
            return True
        if signature_ok is False:
            self._reply(401, {"error": "bad signature"})
            return True
        return False

    def _deliver(self, agency: str, body: bytes) -> None:
        c = self.server.controller
        b = self._behaviour(agency, body)
        signature_ok = None if b.mode == "ignore-signature" else self._signature_ok(agency, body)
        stored = body.decode("utf-8", "replace").encode("cp1256", "replace") if b.mode == "mangle-arabic" else body
        c._record(Request(agency, "POST", self.path, dict(self.headers.items()), stored, signature_ok))
        if self._unauthorised(signature_ok):
            return
        if b.mode == "slow":
            time.sleep(b.delay)
        failures = {
            "500": (500, {"error": "internal error"}),
            "400": (400, {"error": "validation failed: field 'title' is required"}),
            "401": (401, {"error": "unknown client"}),
            "invalid": (400, {"error": "validation failed: reference is empty"}),
            "no-ticket": (200, {"received": True}),
        }
        if b.mode in failures:
            self._reply(*failures[b.mode])
        elif b.mode in ("503", "429"):
            self._reply(int(b.mode), {"error": "try later"}, headers={"Retry-After": b.retry_after})
        elif b.mode == "409-in-progress":
            self._reply(409, {"error": "a request with this Idempotency-Key is in progress"})
        elif b.mode == "drop":
            self.close_connection = True
        elif b.mode in ("hang", "drip"):
            self._stall(b)
        elif b.mode in ("timeout-after-create", "reset-after-create"):
            self._create(agency, body, b)  # the agency takes the case, then never answers
            if b.mode == "timeout-after-create":
                c.stopping.wait(b.hang_seconds)
            self.close_connection = True
        elif b.mode == "invalid-json":
            self._reply(200, raw=b"<html>OK</html>")
        else:
            ticket, new = self._create(agency, body, b)
            self._reply(201 if new else 200, _nest(c.profile(agency).ticket_key, ticket.ticket))

    def _behaviour(self, agency: str, body: bytes) -> Behaviour:
        """This delivery's behaviour; one whose reference is empty is invalid (400, or 500 in `500-on-invalid`)."""
        c = self.server.controller
        b = c._take_behaviour(agency)
        if _blank(body, c.profile(agency).reference_key):
            return replace(b, mode="500" if b.mode == "500-on-invalid" else "invalid")
        return b

    def _create(self, agency: str, body: bytes, b: Behaviour) -> tuple[_Ticket, bool]:
        """Open a ticket for a delivery (or find the one its Idempotency-Key made, if the agency honours keys)."""
        c = self.server.controller
        key = self.headers.get(IDEMPOTENCY_HEADER) or f"anon-{time.time_ns()}"
        reference = _pick(body, c.profile(agency).reference_key)
        handoff = self.headers.get(HANDOFF_HEADER, key)
        ticket, new = c._ticket_for(agency, key, handoff, reference, idempotent=b.idempotency)
        if new and b.answer_after is not None:
            c._answer_later(ticket, b)
        return ticket, new


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, address: tuple[str, int], controller: Controller) -> None:
        super().__init__(address, _Handler)
        self.controller = controller


@dataclass
class Simulator:
    """A started simulator: its base URL and controller; `stop()` ends it."""

    url: str
    controller: Controller
    _server: _Server
    _thread: threading.Thread

    def stop(self) -> None:
        """Stop serving and release hanging requests."""
        self.controller.close()
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(5)


def start_simulator(
    port: int = 0, host: str = "127.0.0.1", *, controller: Controller | None = None, tls: ssl.SSLContext | None = None
) -> Simulator:
    """Start the simulator in a background thread (port 0 picks a free one); with `tls`, it speaks HTTPS."""
    c = controller or Controller()
    server = _Server((host, port), c)
    if tls is not None:
        server.socket = tls.wrap_socket(server.socket, server_side=True)
    thread = threading.Thread(
        target=server.serve_forever, kwargs={"poll_interval": 0.05}, name="rest-agency-simulator", daemon=True
    )
    thread.start()
    url = f"{'https' if tls else 'http'}://{host}:{server.server_address[1]}"
    log.info("simulator.started", url=url)
    return Simulator(url, c, server, thread)


DEMO_PORT = 8701
"""Where the shipped config's REST agencies look for the simulator unless HUB_SIMULATOR_URL says otherwise."""


@contextmanager
def running_simulator(
    port: int = 0, *, controller: Controller | None = None, tls: ssl.SSLContext | None = None
) -> Iterator[tuple[str, Controller]]:
    """The simulator for the length of a `with` block; yields (base URL, controller)."""
    sim = start_simulator(port, controller=controller, tls=tls)
    try:
        yield sim.url, sim.controller
    finally:
        sim.stop()
