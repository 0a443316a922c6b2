"""The REST agency simulator's state: how each agency behaves, its tickets, and what it received."""

from __future__ import annotations

import http.client
import itertools
import json
import os
import re
import secrets
import threading
import time
from collections.abc import Iterable, MutableMapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field, fields, replace
from typing import Any
from urllib.parse import urlsplit

import structlog

from adapters.rest import RestSettings
from schemas import AgencyConfig

log = structlog.get_logger(__name__)

MODES = (
    "ok",
    "slow",
    "500",
    "503",
    "429",
    "400",
    "401",
    "409-in-progress",
    "invalid-json",
    "no-ticket",
    "drop",
    "hang",
    "drip",
    "timeout-after-create",
    "reset-after-create",
    "ignore-signature",
    "mangle-arabic",
    "500-on-invalid",
)


@dataclass(frozen=True)
class Profile:
    """The shape of one agency's responses: where its ticket id and status sit, and its status codes."""

    ticket_key: str = "ticket_id"
    status_key: str = "status"
    text_key: str = "note"
    new: str = "NEW"
    acknowledged: str = "ACK"
    answered: str = "DONE"
    needs_info: str = "INFO"
    prefix: str = ""
    """Ticket id prefix; by default the agency id's initials."""
    reference_key: str = "case.reference"
    """Where a delivery's body holds the national reference (what a lookup searches by); the default is
    where the hub's own body shape has it."""
    change_key: str = "change_id"
    """Where a status answer says which change of the ticket's journal it shows."""


NESTED = Profile(
    ticket_key="result.caseNumber",
    status_key="data.state",
    text_key="data.remarks",
    new="10",
    acknowledged="20",
    answered="90",
    needs_info="30",
    reference_key="request.header.externalRef",
    change_key="data.revision",
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
    idempotency: bool = True
    """Honour `Idempotency-Key` (a repeated key gets the first ticket); off, every POST makes a new ticket."""


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
    reference: str
    timeline: list[tuple[float, str, str]]
    """(from when, status code, text), in order; the position is the change id."""


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
        self._pushers = ThreadPoolExecutor(64, thread_name_prefix="sim-push")
        """Pushes to the hub: pooled threads, each with a keep-alive connection (a thread and a connection
        per push cost the benchmark's simulator more CPU than the hub spent on the call)."""
        self._connections = threading.local()
        self._behaviour: dict[str, Behaviour] = {}
        self._requests: list[Request] = []
        self._tickets: dict[tuple[str, str], _Ticket] = {}
        """(agency, idempotency key, ticket id or handoff id) → the case."""
        self._tokens: dict[str, float] = {}
        self._counter = itertools.count(1)
        self._lock = threading.Lock()

    def close(self) -> None:
        """Stop: release waiting requests and pushes, drop pushes not begun."""
        self.stopping.set()
        self._pushers.shutdown(wait=False, cancel_futures=True)

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

    def tickets(self, agency: str, reference: str | None = None) -> list[str]:
        """The distinct tickets an agency holds (for one national reference, if given), oldest first."""
        with self._lock:
            found = {id(t): t for (a, _), t in self._tickets.items() if a == agency}.values()
            return [t.ticket for t in found if reference is None or t.reference == reference]

    def follow_ons(self, agency: str | None = None) -> list[Request]:
        """Follow-on messages received (POSTs under a case: `/cases/{id}/…`), oldest first."""
        with self._lock:
            return [
                r
                for r in self._requests
                if (agency is None or r.agency == agency) and r.method == "POST" and "/cases/" in r.path
            ]

    def _ticket_for(
        self, agency: str, key: str, handoff: str, reference: str, *, idempotent: bool = True
    ) -> tuple[_Ticket, bool]:
        with self._lock:
            found = self._tickets.get((agency, key)) if idempotent else None
            if found is not None:
                return found, False
            p = self.profile(agency)
            prefix = p.prefix or "".join(w[0] for w in agency.split("-")).upper()
            t = _Ticket(agency, f"{prefix}-{next(self._counter):06d}", handoff, reference, [(time.time(), p.new, "")])
            for ref in (key, t.ticket, handoff):
                self._tickets[(agency, ref)] = t
            return t, True

    def _find(self, agency: str, ref: str) -> _Ticket | None:
        """A case by its ticket id, its handoff id or the Idempotency-Key it came with."""
        return self._tickets.get((agency, ref))

    def _status(self, agency: str, ref: str) -> tuple[str, str, int] | None:
        """The ticket's current status code, text and change id (its place in the journal)."""
        with self._lock:
            t = self._find(agency, ref)
            if t is None:
                return None
            current = [(code, text, n) for n, (at, code, text) in enumerate(t.timeline, 1) if at <= time.time()]
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
            self._pushers.submit(self._push, t, b)

    def _push(self, t: _Ticket, b: Behaviour) -> None:
        assert b.answer_after is not None
        for kind, text in (("acknowledged", "استلمنا طلبكم. Received."), ("answered", b.answer_text)):
            if self.stopping.wait(b.answer_after):
                return
            body = {"kind": kind, "text": text, "agency_reference": t.ticket}
            headers = {"X-API-Key": self.hub_keys.get(t.agency, ""), "Idempotency-Key": f"{t.ticket}-{kind}"}
            self._send(t, f"{self.hub_url}/agency/v1/handoffs/{t.handoff}/messages", body, headers)

    def _send(self, t: _Ticket, url: str, body: dict[str, Any], headers: dict[str, str], tries: int = 4) -> None:
        """POST one message as a careful agency would.

        The same Idempotency-Key goes again after a pause on a connection error (a kept-alive
        connection the hub closed meanwhile) or a 429/503 (its Retry-After, at most 5 s).
        """
        data = json.dumps(body, ensure_ascii=False).encode()
        headers = {**headers, "Content-Type": "application/json; charset=utf-8"}
        for attempt in range(tries):
            try:
                status, retry_after = self._post(url, data, headers)
            except OSError as exc:  # refused, reset, timed out, or an answer that is not HTTP
                self._connections.connection = None  # a fresh connection next time
                log.warning("simulator.push_failed", agency=t.agency, handoff=t.handoff, error=str(exc))
                pause = 0.2 * 2**attempt
            else:
                log.info("simulator.pushed", agency=t.agency, handoff=t.handoff, kind=body["kind"], status=status)
                if status not in (429, 503):
                    return
                pause = min(float(retry_after or 1), 5.0)
            if attempt + 1 == tries or self.stopping.wait(pause):
                return

    def _post(self, url: str, data: bytes, headers: dict[str, str]) -> tuple[int, str | None]:
        """One POST on this thread's kept-alive connection; the status and Retry-After.

        A kept-alive connection the hub closed while it sat idle fails before any answer: the POST
        goes at once on a new connection, as HTTP clients do, rather than counting as a failed push.

        The standard library's client, not requests: the benchmark plays hundreds of agencies' pushes
        a second beside the hub, and requests cost the simulator more CPU per push than the hub's API
        spent answering it.
        """
        parts = urlsplit(url)
        path = parts.path + (f"?{parts.query}" if parts.query else "")
        connection = getattr(self._connections, "connection", None)
        if connection is not None and (connection.host, connection.port) == (parts.hostname, parts.port):
            try:
                return self._exchange(connection, path, data, headers)
            except (BrokenPipeError, ConnectionResetError):  # http.client.RemoteDisconnected is one too
                pass  # the hub closed the idle connection (its keep-alive timeout): send at once on a new one
        kind = http.client.HTTPSConnection if parts.scheme == "https" else http.client.HTTPConnection
        connection = self._connections.connection = kind(parts.hostname or "", parts.port, timeout=10)
        try:
            return self._exchange(connection, path, data, headers)
        except (OSError, http.client.HTTPException) as exc:
            raise OSError(f"{type(exc).__name__}: {exc}") from exc

    @staticmethod
    def _exchange(
        connection: http.client.HTTPConnection, path: str, data: bytes, headers: dict[str, str]
    ) -> tuple[int, str | None]:
        try:
            connection.request("POST", path, body=data, headers=headers)
            response = connection.getresponse()
            response.read()
        except (OSError, http.client.HTTPException):
            connection.close()
            raise
        return response.status, response.getheader("Retry-After")


def profile_for(settings: RestSettings) -> Profile:
    """Play an agency as its config describes it: ticket, status and change where the hub looks, in its codes."""
    plain = re.compile(r"^[A-Za-z_][\w]*(\.[A-Za-z_][\w]*)*$")
    p = Profile()
    if settings.ticket and plain.match(settings.ticket):
        p = replace(p, ticket_key=settings.ticket)
    for target, rule in (settings.body.fields or {}).items():
        if (rule if isinstance(rule, str) else rule.path) == "case.reference":
            p = replace(p, reference_key=target)
    poll = settings.poll
    if poll is not None:
        codes = {kind.value: code for code, kind in reversed(list(poll.codes.items()))}
        p = replace(
            p,
            status_key=poll.status if plain.match(poll.status) else p.status_key,
            text_key=poll.text if poll.text and plain.match(poll.text) else p.text_key,
            change_key=poll.change_key if poll.change_key and plain.match(poll.change_key) else p.change_key,
            acknowledged=codes.get("acknowledged", p.acknowledged),
            answered=codes.get("answered", p.answered),
            needs_info=codes.get("needs_info", p.needs_info),
        )
    return p


def simulate_agencies(
    agencies: Iterable[AgencyConfig], controller: Controller, environ: MutableMapping[str, str] = os.environ
) -> list[str]:
    """Make the simulator play every REST agency among `agencies`; returns their ids.

    Secrets the agencies' settings name but the environment lacks are made up for this run (a
    demo convenience), and the simulator learns each signing secret so it checks the signatures.
    """
    played = []
    for agency in agencies:
        if agency.adapter.kind != "rest":
            continue
        settings = RestSettings.model_validate(agency.adapter.settings)
        for name in settings.secret_envs():
            environ.setdefault(name, secrets.token_urlsafe(24))
        controller.secrets[agency.id] = environ[settings.signing_secret_env]
        controller.profiles[agency.id] = profile_for(settings)
        played.append(agency.id)
    return played
