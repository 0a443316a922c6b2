"""A REST agency simulator: a real HTTP server that plays any number of agencies for the demo and tests.

It is the standard library's threading HTTP server in a background thread (no framework: it must
be able to drop a connection, hang, or answer bytes that are not JSON, which frameworks make hard).

Endpoints (`{agency}` is any agency id):

* `POST /{agency}/cases`: a delivery. The signature is checked when a secret is known for the
  agency (401 if wrong); the same Idempotency-Key always gets the same ticket id.
* `POST /{agency}/…/reminders`: a deadline reminder, recorded (signature checked as above).
* `GET /{agency}/cases/{ticket or handoff id}`: the case's current status (for polling).
* `POST /_sim/oauth/token`: OAuth2 client credentials; tokens live `token_seconds`.
* `POST /_sim/{agency}/mode`: how the agency behaves from now on (JSON of `Behaviour`'s fields).
* `GET /_sim/requests[?agency=…]`: every request recorded, headers and body included.
* `GET /_sim/files/{name}`: a file put in `Controller.files` (attachments for the hub to fetch).

Modes: `ok`, `slow` (waits `delay`), `500`, `503` and `429` (with `Retry-After: retry_after`), `400`,
`401`, `invalid-json`, `no-ticket`, `drop` (closes the connection unanswered), `hang` (never
answers until the server stops or `hang_seconds` pass). `times` limits a failing mode to the next n
deliveries. `answer_after` makes the agency acknowledge and then answer each accepted case after
that many seconds: its status endpoint changes, and with `push`, it also POSTs both messages to
the hub's agency API (`{hub_url}/agency/v1/handoffs/{id}/messages`, header `X-API-Key`).
"""

from __future__ import annotations

import itertools
import json
import os
import re
import secrets
import ssl
import threading
import time
from collections.abc import Iterator, MutableMapping
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field, fields, replace
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

import requests
import structlog

from adapters.rest import RestSettings
from adapters.signing import SIGNATURE_HEADER, TIMESTAMP_HEADER, verify
from broker.config import Directory
from broker.hub import Hub

log = structlog.get_logger(__name__)

MODES = ("ok", "slow", "500", "503", "429", "400", "401", "invalid-json", "no-ticket", "drop", "hang")


@dataclass(frozen=True)
class Profile:
    """The shape of one agency's responses: where its ticket id and status sit, and its status codes."""

    ticket_key: str = "ticket_id"
    status_key: str = "status"
    text_key: str = "note"
    new: str = "NEW"
    acknowledged: str = "ACK"
    answered: str = "DONE"
    prefix: str = ""
    """Ticket id prefix; by default the agency id's initials."""


NESTED = Profile(
    ticket_key="result.caseNumber",
    status_key="data.state",
    text_key="data.remarks",
    new="10",
    acknowledged="20",
    answered="90",
)
"""A second shape: nested ticket and status, numeric status codes."""


@dataclass(frozen=True)
class Behaviour:
    """How one agency answers deliveries (see the module docstring for the modes)."""

    mode: str = "ok"
    delay: float = 0.0
    retry_after: str = "1"
    times: int | None = None
    answer_after: float | None = None
    push: bool = False
    answer_text: str = "تمت معالجة الطلب وإغلاقه. The request was handled and closed."
    hang_seconds: float = 60.0


@dataclass
class Request:
    """One request the simulator received."""

    agency: str
    method: str
    path: str
    headers: dict[str, str]
    body: bytes
    signature_ok: bool | None
    at: float = field(default_factory=time.time)

    def json(self) -> Any:
        """The body parsed as JSON."""
        return json.loads(self.body)


@dataclass
class _Ticket:
    agency: str
    ticket: str
    handoff: str
    timeline: list[tuple[float, str, str]]
    """(from when, status code, text), in order."""


class Controller:
    """The simulator's state and its Python API (thread-safe); the HTTP control endpoints call it too."""

    def __init__(self, signing_secrets: dict[str, str] | None = None, hub_url: str | None = None) -> None:
        self.secrets = dict(signing_secrets or {})
        """Signing secret per agency (`*` for any); deliveries with a wrong signature get 401."""
        self.hub_url = hub_url
        self.hub_keys: dict[str, str] = {}
        """The agency API key each agency uses when it answers through the hub (push)."""
        self.profiles: dict[str, Profile] = {}
        self.files: dict[str, tuple[str, bytes]] = {}
        """Files served at `/_sim/files/{name}` as (content type, bytes): attachments to download."""
        self.token_seconds = 3600.0
        self.tokens_issued = 0
        self.stopping = threading.Event()
        self._behaviour: dict[str, Behaviour] = {}
        self._requests: list[Request] = []
        self._tickets: dict[tuple[str, str], _Ticket] = {}
        """(agency, idempotency key, ticket id or handoff id) → the case."""
        self._tokens: dict[str, float] = {}
        self._counter = itertools.count(1)
        self._lock = threading.Lock()

    def set_mode(self, agency: str, mode: str = "ok", **options: Any) -> None:
        """Make `agency` behave this way from now on (options are `Behaviour` fields)."""
        if mode not in MODES:
            raise ValueError(f"unknown mode '{mode}'; modes: {', '.join(MODES)}")
        known = {f.name for f in fields(Behaviour)}
        if unknown := set(options) - known:
            raise ValueError(f"unknown options {sorted(unknown)}")
        with self._lock:
            self._behaviour[agency] = Behaviour(mode=mode, **options)

    def behaviour(self, agency: str) -> Behaviour:
        """How `agency` behaves now."""
        with self._lock:
            return self._behaviour.get(agency, Behaviour())

    def requests(self, agency: str | None = None, path_suffix: str = "/cases", method: str = "POST") -> list[Request]:
        """Recorded requests, oldest first: by default the deliveries (POSTs to `…/cases`)."""
        with self._lock:
            return [
                r
                for r in self._requests
                if (agency is None or r.agency == agency) and r.path.endswith(path_suffix) and r.method == method
            ]

    def set_status(self, agency: str, ticket_or_handoff: str, code: str, text: str = "") -> None:
        """Change a case's status at once, as the agency's staff would."""
        with self._lock:
            t = self._find(agency, ticket_or_handoff)
            if t is None:
                raise KeyError(ticket_or_handoff)
            t.timeline.append((time.time(), code, text))

    def revoke_tokens(self) -> None:
        """Make every OAuth2 token issued so far invalid (the next request gets 401)."""
        with self._lock:
            self._tokens.clear()

    def profile(self, agency: str) -> Profile:
        """The response shape of `agency`."""
        return self.profiles.get(agency, Profile())

    # --- used by the request handler -------------------------------------------------------

    def _record(self, request: Request) -> None:
        with self._lock:
            self._requests.append(request)

    def _take_behaviour(self, agency: str) -> Behaviour:
        """The behaviour for this delivery; a mode limited to n times counts down, then becomes ok."""
        with self._lock:
            b = self._behaviour.get(agency, Behaviour())
            if b.times is not None:
                left = b.times - 1
                self._behaviour[agency] = replace(b, times=left) if left > 0 else replace(b, mode="ok", times=None)
            return b

    def _ticket_for(self, agency: str, key: str, handoff: str) -> tuple[_Ticket, bool]:
        with self._lock:
            found = self._tickets.get((agency, key))
            if found is not None:
                return found, False
            p = self.profile(agency)
            prefix = p.prefix or "".join(w[0] for w in agency.split("-")).upper()
            t = _Ticket(agency, f"{prefix}-{next(self._counter):06d}", handoff, [(time.time(), p.new, "")])
            for ref in (key, t.ticket, handoff):
                self._tickets[(agency, ref)] = t
            return t, True

    def _find(self, agency: str, ref: str) -> _Ticket | None:
        """A case by its ticket id, its handoff id or the Idempotency-Key it came with."""
        return self._tickets.get((agency, ref))

    def _status(self, agency: str, ref: str) -> tuple[str, str] | None:
        with self._lock:
            t = self._find(agency, ref)
            if t is None:
                return None
            current = [(code, text) for at, code, text in t.timeline if at <= time.time()]
            return current[-1]

    def _issue_token(self) -> tuple[str, float]:
        with self._lock:
            token = f"tok-{next(self._counter)}-{time.time_ns()}"
            self._tokens[token] = time.time() + self.token_seconds
            self.tokens_issued += 1
            return token, self.token_seconds

    def token_valid(self, token: str) -> bool:
        """Whether an OAuth2 token was issued here and is still valid."""
        with self._lock:
            return self._tokens.get(token, 0) > time.time()

    def _answer_later(self, t: _Ticket, b: Behaviour) -> None:
        """Acknowledge after `answer_after` seconds and answer after twice that; push to the hub if told."""
        assert b.answer_after is not None
        p = self.profile(t.agency)
        start = time.time()
        with self._lock:
            t.timeline.append((start + b.answer_after, p.acknowledged, "استلمنا طلبكم. Received."))
            t.timeline.append((start + 2 * b.answer_after, p.answered, b.answer_text))
        if b.push:
            threading.Thread(target=self._push, args=(t, b), daemon=True, name="sim-push").start()

    def _push(self, t: _Ticket, b: Behaviour) -> None:
        assert b.answer_after is not None
        for kind, text in (("acknowledged", "استلمنا طلبكم. Received."), ("answered", b.answer_text)):
            if self.stopping.wait(b.answer_after):
                return
            url = f"{self.hub_url}/agency/v1/handoffs/{t.handoff}/messages"
            body = {"kind": kind, "text": text, "agency_reference": t.ticket}
            try:
                r = requests.post(
                    url,
                    json=body,
                    headers={"X-API-Key": self.hub_keys.get(t.agency, ""), "Idempotency-Key": f"{t.ticket}-{kind}"},
                    timeout=10,
                )
                log.info("simulator.pushed", agency=t.agency, handoff=t.handoff, kind=kind, status=r.status_code)
            except requests.RequestException as exc:
                log.warning("simulator.push_failed", agency=t.agency, handoff=t.handoff, error=str(exc))


def profile_for(settings: RestSettings) -> Profile:
    """Play an agency as its config describes it: ticket and status where the hub looks, in its own codes."""
    plain = re.compile(r"^[A-Za-z_][\w]*(\.[A-Za-z_][\w]*)*$")
    p = Profile()
    if settings.ticket and plain.match(settings.ticket):
        p = replace(p, ticket_key=settings.ticket)
    poll = settings.poll
    if poll is not None:
        codes = {kind.value: code for code, kind in reversed(list(poll.codes.items()))}
        p = replace(
            p,
            status_key=poll.status if plain.match(poll.status) else p.status_key,
            text_key=poll.text if poll.text and plain.match(poll.text) else p.text_key,
            acknowledged=codes.get("acknowledged", p.acknowledged),
            answered=codes.get("answered", p.answered),
        )
    return p


def simulate_agencies(
    directory: Directory, controller: Controller, environ: MutableMapping[str, str] = os.environ
) -> list[str]:
    """Make the simulator play every REST agency of `directory`; returns their ids.

    Secrets the agencies' settings name but the environment lacks are made up for this run (a
    demo convenience), and the simulator learns each signing secret so it checks the signatures.
    """
    played = []
    for agency in directory.agencies.values():
        if agency.adapter.kind != "rest":
            continue
        settings = RestSettings.model_validate(agency.adapter.settings)
        for name in settings.secret_envs():
            environ.setdefault(name, secrets.token_urlsafe(24))
        controller.secrets[agency.id] = environ[settings.signing_secret_env]
        controller.profiles[agency.id] = profile_for(settings)
        played.append(agency.id)
    return played


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
        else:
            self._reply(404, {"error": "not found"})

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
        elif len(parts) >= 2 and parts[-1] == "reminders":
            signed = self._signature_ok(parts[0], body)
            c._record(Request(parts[0], "POST", self.path, dict(self.headers.items()), body, signed))
            self._reply(401 if signed is False else 200, {"received": signed is not False})
        else:
            self._reply(404, {"error": "not found"})

    def _signature_ok(self, agency: str, body: bytes) -> bool | None:
        """Whether the request is signed with the agency's secret (None: no secret known to check)."""
        c = self.server.controller
        key = c.secrets.get(agency, c.secrets.get("*"))
        if key is None:
            return None
        return verify(key, self.headers.get(TIMESTAMP_HEADER, ""), self.headers.get(SIGNATURE_HEADER, ""), body)

    def _deliver(self, agency: str, body: bytes) -> None:
        c = self.server.controller
        signature_ok = self._signature_ok(agency, body)
        c._record(Request(agency, "POST", self.path, dict(self.headers.items()), body, signature_ok))
        b = c._take_behaviour(agency)
        auth = self.headers.get("Authorization", "")
        if auth.startswith("Bearer tok-") and not c.token_valid(auth.removeprefix("Bearer ")):
            self._reply(401, {"error": "token expired or revoked"})
            return
        if signature_ok is False:
            self._reply(401, {"error": "bad signature"})
            return
        if b.mode == "slow":
            time.sleep(b.delay)
        failures = {
            "500": (500, {"error": "internal error"}),
            "400": (400, {"error": "validation failed: field 'title' is required"}),
            "401": (401, {"error": "unknown client"}),
        }
        if b.mode in failures:
            self._reply(*failures[b.mode])
        elif b.mode in ("503", "429"):
            self._reply(int(b.mode), {"error": "try later"}, headers={"Retry-After": b.retry_after})
        elif b.mode == "drop":
            self.close_connection = True
        elif b.mode == "hang":
            c.stopping.wait(b.hang_seconds)
            self.close_connection = True
        elif b.mode == "invalid-json":
            self._reply(200, raw=b"<html>OK</html>")
        elif b.mode == "no-ticket":
            self._reply(200, {"received": True})
        else:
            key = self.headers.get("Idempotency-Key") or f"anon-{time.time_ns()}"
            ticket, new = c._ticket_for(agency, key, self.headers.get("X-Tawasul-Handoff", key))
            if new and b.answer_after is not None:
                c._answer_later(ticket, b)
            self._reply(201 if new else 200, _nest(c.profile(agency).ticket_key, ticket.ticket))


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
        self.controller.stopping.set()
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


def start_for_hub(hub: Hub, hub_url: str, *, port: int = DEMO_PORT, answer_after: float = 5.0) -> Simulator | None:
    """Play every REST agency of `hub` (for the demo); None when HUB_SIMULATOR_URL points elsewhere.

    Polled agencies change their status after `answer_after` seconds; the others acknowledge and
    answer through the hub's agency API with a key issued here for this run.
    """
    if "HUB_SIMULATOR_URL" in os.environ:
        return None
    from broker import agency_keys

    sim = start_simulator(port, controller=Controller(hub_url=hub_url))
    for agency_id in simulate_agencies(hub.directory, sim.controller):
        push = not hub.directory.adapter(agency_id).capabilities.polling
        if push:
            issued = agency_keys.create(hub.engine, hub.directory, agency_id, created_by="demo")
            sim.controller.hub_keys[agency_id] = issued.key
        sim.controller.set_mode(agency_id, "ok", answer_after=answer_after, push=push)
    return sim


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
