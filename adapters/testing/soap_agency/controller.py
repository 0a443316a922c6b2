"""The SOAP agency simulator's state: each agency's WSDL profile, credentials, behaviour, tickets and requests."""

from __future__ import annotations

import itertools
import os
import secrets
import threading
import time
from collections.abc import Iterable, MutableMapping
from dataclasses import dataclass, field, fields, replace
from typing import Any

from lxml import etree

from schemas import AgencyConfig

MODES = (
    "ok",
    "slow",
    "hang",
    "drop",
    "client-fault",
    "server-fault",
    "auth-fault",
    "http-500",
    "http-500-html",
    "http-503",
    "malformed",
    "not-soap",
    "dtd",
    "billion-laughs",
    "external-entity",
    "oversized",
    "deep",
    "timeout-after-create",
)
"""How an agency answers the calls its behaviour applies to (see `Behaviour`)."""


@dataclass(frozen=True)
class Profile:
    """One WSDL the simulator serves: where it keeps the values it reads, and its status codes."""

    name: str
    wsdl: str
    namespace: str
    operations: dict[str, str]
    """The WSDL's operation name → what it does: `submit`, `status`, `note` or `find`."""
    reference: str
    """Where a submit holds our reference (local names, `/`-separated)."""
    ticket: str
    """Where a status or note call names the ticket."""
    note_text: str
    note_id: str
    fault: str
    fault_code: str
    fault_ticket: str
    duplicates: str
    """`fault`: a second submit with the same reference is a client fault naming the first ticket;
    `same`: it answers with the first ticket again."""
    new: str
    acknowledged: str
    needs_info: str
    answered: str
    prefix: str


CASES = Profile(
    name="cases",
    wsdl="cases.wsdl",
    namespace="urn:tawasul:sim:cases:1",
    operations={"SubmitCase": "submit", "GetCaseStatus": "status", "AddNote": "note", "FindCase": "find"},
    reference="reference",
    ticket="ticketId",
    note_text="text",
    note_id="noteId",
    fault="CaseFault",
    fault_code="code",
    fault_ticket="ticketId",
    duplicates="fault",
    new="NEW",
    acknowledged="ACK",
    needs_info="INFO",
    answered="DONE",
    prefix="CASE",
)
TICKETS = Profile(
    name="tickets",
    wsdl="tickets.wsdl",
    namespace="http://ticketing.example.bh/v2",
    operations={"CreateTicket": "submit", "QueryTicket": "status", "AppendComment": "note"},
    reference="Request/Header/ExternalRef",
    ticket="TicketNumber",
    note_text="Comment/Body",
    note_id="Comment/ExternalId",
    fault="TicketingFault",
    fault_code="ErrorCode",
    fault_ticket="ExistingTicket",
    duplicates="same",
    new="OPEN",
    acknowledged="ASSIGNED",
    needs_info="WAITING_CUSTOMER",
    answered="RESOLVED",
    prefix="TKT",
)
PROFILES = {p.name: p for p in (CASES, TICKETS)}


@dataclass(frozen=True)
class Credentials:
    """The WS-Security UsernameToken an agency requires, and the password types it accepts."""

    username: str
    password: str
    accept: frozenset[str] = frozenset({"PasswordText", "PasswordDigest"})
    timestamp: bool = True
    """Require a wsu:Timestamp."""
    max_age: float = 300.0
    """The oldest `Created` time accepted, in seconds."""


@dataclass(frozen=True)
class Behaviour:
    """How one agency answers.

    `on` names the calls the mode applies to (`submit`, `status`, `note`, `find`, `wsdl` (hostile
    modes only), or `any`); `times`
    limits a failing mode to the next n such calls. `answer_after` acknowledges each new case after
    that many seconds and answers it after twice that (its status changes; nothing is pushed).
    """

    mode: str = "ok"
    on: str = "submit"
    delay: float = 0.0
    times: int | None = None
    detail_code: str | None = None
    fault_text: str = "الطلب مرفوض: Request refused"
    size: int = 2 * 1024 * 1024
    """The body size of `oversized` answers, in bytes."""
    hang_seconds: float = 60.0
    answer_after: float | None = None
    answer_text: str = "تمت معالجة الطلب وإغلاقه. The request was handled and closed."


@dataclass
class Request:
    """One call the simulator received."""

    agency: str
    operation: str
    action: str
    version: str
    headers: dict[str, str]
    body: bytes
    at: float = field(default_factory=time.time)

    def texts(self) -> list[str]:
        """Every text node of the SOAP body, as the agency decoded it."""
        root = etree.fromstring(self.body, etree.XMLParser(resolve_entities=False, no_network=True))
        body = next((e for e in root if isinstance(e.tag, str) and etree.QName(e).localname == "Body"), root)
        return [t for t in body.itertext() if t.strip()]

    def value(self, path: str) -> str | None:
        """The text at a `/`-separated path of local names under the operation's element."""
        root = etree.fromstring(self.body, etree.XMLParser(resolve_entities=False, no_network=True))
        body = next(e for e in root if etree.QName(e).localname == "Body")
        return find_text(body[0], path)


def find_text(node: etree._Element, path: str) -> str | None:
    """The text of the element at `path` (local names, any namespace) under `node`."""
    for part in path.split("/"):
        found = next((c for c in node if isinstance(c.tag, str) and etree.QName(c).localname == part), None)
        if found is None:
            return None
        node = found
    return node.text or ""


@dataclass
class Ticket:
    """One case at the agency: its id, our reference, its journal of statuses and the notes it received."""

    agency: str
    ticket: str
    reference: str
    timeline: list[tuple[float, str, str]]
    notes: list[tuple[str, str]] = field(default_factory=list)
    """(note id, text), in order."""


class Controller:
    """The simulator's state and its Python API (thread-safe)."""

    def __init__(self) -> None:
        self.profiles: dict[str, Profile] = {}
        """Each agency's WSDL profile (by default `cases`)."""
        self.credentials: dict[str, Credentials] = {}
        """The UsernameToken each agency requires; none: any call is accepted."""
        self.basic: dict[str, tuple[str, str]] = {}
        """HTTP basic credentials an agency requires on its calls (not on the WSDL)."""
        self.stopping = threading.Event()
        self.nonces: set[str] = set()
        self.wsdl_fetches = 0
        self.unknown_tickets_take_notes = False
        """Accept a note for a ticket the agency does not have (the contract kit's made-up ticket ids)."""
        """How many times a WSDL was served."""
        self._behaviour: dict[str, Behaviour] = {}
        self._requests: list[Request] = []
        self._tickets: dict[tuple[str, str], Ticket] = {}
        """(agency, reference or ticket id) → the case."""
        self._counter = itertools.count(1)
        self._lock = threading.Lock()

    def profile(self, agency: str) -> Profile:
        """The WSDL profile `agency` is played with."""
        return self.profiles.get(agency, CASES)

    def set_mode(self, agency: str, mode: str = "ok", **options: Any) -> None:
        """Make `agency` behave this way from now on (options are `Behaviour` fields)."""
        if mode not in MODES:
            raise ValueError(f"unknown mode '{mode}'; modes: {', '.join(MODES)}")
        if unknown := set(options) - {f.name for f in fields(Behaviour)}:
            raise ValueError(f"unknown options {sorted(unknown)}")
        with self._lock:
            self._behaviour[agency] = Behaviour(mode=mode, **options)

    def behaviour(self, agency: str) -> Behaviour:
        """How `agency` behaves now."""
        with self._lock:
            return self._behaviour.get(agency, Behaviour())

    def take_behaviour(self, agency: str, action: str) -> Behaviour:
        """The behaviour for this call; a mode limited to n times counts down on the calls it applies to."""
        with self._lock:
            b = self._behaviour.get(agency, Behaviour())
            if b.on not in (action, "any"):
                return replace(b, mode="ok")
            if b.times is not None:
                left = b.times - 1
                self._behaviour[agency] = replace(b, times=left) if left > 0 else replace(b, mode="ok", times=None)
            return b

    def requests(self, agency: str | None = None, action: str | None = "submit") -> list[Request]:
        """Calls received, oldest first: by default the submissions."""
        with self._lock:
            return [
                r
                for r in self._requests
                if (agency is None or r.agency == agency) and (action is None or r.action == action)
            ]

    def record(self, request: Request) -> None:
        """Keep one call."""
        with self._lock:
            self._requests.append(request)

    def tickets(self, agency: str, reference: str | None = None) -> list[str]:
        """The distinct tickets an agency holds (for one reference, if given), oldest first."""
        with self._lock:
            found = {id(t): t for (a, _), t in self._tickets.items() if a == agency}.values()
            return [t.ticket for t in found if reference is None or t.reference == reference]

    def notes(self, agency: str, ticket: str) -> list[tuple[str, str]]:
        """The notes a ticket received, as (note id, text)."""
        with self._lock:
            t = self._tickets.get((agency, ticket))
            return list(t.notes) if t else []

    def set_status(self, agency: str, ticket: str, code: str, text: str = "") -> None:
        """Change a case's status at once, as the agency's staff would (a new revision)."""
        with self._lock:
            t = self._tickets.get((agency, ticket))
            if t is None:
                raise KeyError(ticket)
            t.timeline.append((time.time(), code, text))

    def create(self, agency: str, reference: str, b: Behaviour) -> tuple[Ticket, bool]:
        """The ticket for `reference`: a new one, or (True) the one the agency already has."""
        p = self.profile(agency)
        with self._lock:
            found = self._tickets.get((agency, f"ref:{reference}"))
            if found is not None:
                return found, True
            now = time.time()
            t = Ticket(agency, f"{p.prefix}-{next(self._counter):06d}", reference, [(now, p.new, "")])
            if b.answer_after is not None:
                t.timeline.append((now + b.answer_after, p.acknowledged, "استلمنا طلبكم. Received."))
                t.timeline.append((now + 2 * b.answer_after, p.answered, b.answer_text))
            self._tickets[(agency, f"ref:{reference}")] = t
            self._tickets[(agency, t.ticket)] = t
            return t, False

    def find(self, agency: str, reference: str) -> str | None:
        """The ticket the agency holds for our reference, if any."""
        with self._lock:
            t = self._tickets.get((agency, f"ref:{reference}"))
            return t.ticket if t else None

    def status(self, agency: str, ticket: str) -> tuple[Ticket, str, str, int] | None:
        """A ticket's current status code, text and revision (its place in the journal)."""
        with self._lock:
            t = self._tickets.get((agency, ticket))
            if t is None:
                return None
            now = time.time()
            current = [(code, text, n) for n, (at, code, text) in enumerate(t.timeline, 1) if at <= now]
            code, text, revision = current[-1]
            return t, code, text, revision

    def use_nonce(self, nonce: str) -> bool:
        """Remember a WS-Security nonce; False when it was used before (a replay)."""
        with self._lock:
            if nonce in self.nonces:
                return False
            self.nonces.add(nonce)
            return True

    def add_note(self, agency: str, ticket: str, note_id: str, text: str) -> bool:
        """Record a note (the same note id twice is kept once); False for an unknown ticket."""
        with self._lock:
            t = self._tickets.get((agency, ticket))
            if t is None and self.unknown_tickets_take_notes:
                t = self._tickets[(agency, ticket)] = Ticket(agency, ticket, "", [(time.time(), "", "")])
            if t is None:
                return False
            if all(n != note_id for n, _ in t.notes):
                t.notes.append((note_id, text))
            return True


def simulate_agencies(
    agencies: Iterable[AgencyConfig], controller: Controller, environ: MutableMapping[str, str] = os.environ
) -> list[str]:
    """Make the simulator play every SOAP agency among `agencies` as its config describes it; returns their ids.

    The WSDL profile is the one whose operations the config calls; secrets the settings name but the
    environment lacks are made up for this run (a demo convenience), and the simulator learns them.
    """
    from adapters.soap.settings import SoapSettings  # loads zeep: only where SOAP agencies are played

    played = []
    for agency in agencies:
        if agency.adapter.kind != "soap":
            continue
        s = SoapSettings.model_validate(agency.adapter.settings)
        for name in s.secret_envs():
            environ.setdefault(name, secrets.token_urlsafe(24))
        if s.wsse is not None:
            accept = frozenset({"PasswordDigest" if s.wsse.digest else "PasswordText"})
            password = environ[s.wsse.password_env]
            controller.credentials[agency.id] = Credentials(s.wsse.username, password, accept, s.wsse.timestamp)
        if s.basic_auth is not None:
            controller.basic[agency.id] = (s.basic_auth.username, environ[s.basic_auth.password_env])
        controller.profiles[agency.id] = TICKETS if s.submit.operation in TICKETS.operations else CASES
        played.append(agency.id)
    return played
