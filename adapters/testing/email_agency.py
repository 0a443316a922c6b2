"""An e-mail agency simulator: a real SMTP server that receives the hub's mail, and staff who answer.

* `AgencyMailServer`: an aiosmtpd server (in its own thread, port 0 by default) that takes every
  mail the hub sends and keeps it; told to, it answers RCPT or DATA with a 4xx or 5xx code instead.
* `Staff`: answers each case mail the server received the way a person in an agency would from
  Outlook in Arabic (reply text above, an Arabic Outlook reply header and the quoted history
  below), sent to the case's Reply-To: by SMTP to the hub's listener, or appended by IMAP to the
  hub's mailbox (`deliver_to`).

The demo uses it with the hub's inbound SMTP listener, so it needs no server outside the project;
the tests use it with Dovecot for IMAP.
"""

from __future__ import annotations

import os
import smtplib
import socket
import threading
import time
from collections.abc import Callable, Iterator, MutableMapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime
from email import policy
from email.message import EmailMessage
from email.parser import BytesParser
from email.utils import format_datetime, make_msgid
from pathlib import Path
from typing import Any, Literal
from zoneinfo import ZoneInfo

from adapters.email.listener import SmtpController

BAHRAIN = ZoneInfo("Asia/Bahrain")
STAFF_ANSWER = "السلام عليكم،\nتمت معالجة البلاغ وإصلاح العطل، ويمكن للمواطن التواصل معنا عند الحاجة."
"""What the simulated staff write above the quoted case (the text the hub must extract)."""


@dataclass
class Received:
    """One mail the agency's server accepted."""

    sender: str
    recipients: list[str]
    data: bytes

    @property
    def message(self) -> EmailMessage:
        """The mail, parsed."""
        parsed = BytesParser(policy=policy.default).parsebytes(self.data)
        assert isinstance(parsed, EmailMessage)
        return parsed


@dataclass
class Behaviour:
    """How the agency's server answers: `ok`, or a code for RCPT or DATA (the next `times` mails, 0: always)."""

    mode: Literal["ok", "rcpt", "data"] = "ok"
    code: str = "250 OK"
    times: int = 0


@dataclass
class _Handler:
    received: list[Received] = field(default_factory=list)
    behaviour: Behaviour = field(default_factory=Behaviour)
    lock: threading.Lock = field(default_factory=threading.Lock)
    arrived: threading.Condition = field(default_factory=threading.Condition)
    listeners: list[Callable[[Received], None]] = field(default_factory=list)

    def _failing(self, stage: str) -> str | None:
        with self.lock:
            b = self.behaviour
            if b.mode != stage:
                return None
            if b.times:
                b.times -= 1
                if b.times == 0:
                    self.behaviour = Behaviour()
            return b.code

    async def handle_RCPT(self, server: Any, session: Any, envelope: Any, address: str, options: list[str]) -> str:  # noqa: N802
        failing = self._failing("rcpt")
        if failing:
            return failing
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:  # noqa: N802
        failing = self._failing("data")
        if failing:
            return failing
        data = envelope.original_content or envelope.content
        mail = Received(envelope.mail_from, list(envelope.rcpt_tos), bytes(data))
        with self.arrived:
            self.received.append(mail)
            self.arrived.notify_all()
        for listener in list(self.listeners):
            listener(mail)
        return "250 2.0.0 accepted"


class AgencyMailServer:
    """The agency's SMTP server: receives the hub's mail (no TLS, no authentication: a local test server)."""

    def __init__(self, host: str = "127.0.0.1", port: int = 0) -> None:
        self.handler = _Handler()
        self.controller = SmtpController(self.handler, hostname=host, port=port, decode_data=False, ready_timeout=10)

    @property
    def host(self) -> str:
        """Where it listens."""
        return str(self.controller.hostname)

    @property
    def port(self) -> int:
        """Its port (the system's choice when started on port 0)."""
        return int(self.controller.port)

    @property
    def received(self) -> list[Received]:
        """Every mail accepted so far."""
        with self.handler.arrived:
            return list(self.handler.received)

    def behave(self, mode: Literal["ok", "rcpt", "data"], code: str = "250 OK", times: int = 0) -> None:
        """Answer RCPT or DATA with `code` from now on (the next `times` mails only, when given)."""
        with self.handler.lock:
            self.handler.behaviour = Behaviour(mode, code, times)

    def wait_for(self, count: int, timeout: float = 10.0) -> list[Received]:
        """Wait until at least `count` mails arrived; return them all."""
        with self.handler.arrived:
            self.handler.arrived.wait_for(lambda: len(self.handler.received) >= count, timeout)
            return list(self.handler.received)

    def start(self) -> AgencyMailServer:
        """Listen."""
        self.controller.start()
        return self

    def stop(self) -> None:
        """Stop listening."""
        self.controller.stop()


@contextmanager
def running_mail_server() -> Iterator[AgencyMailServer]:
    """An agency mail server on a free port for the block."""
    server = AgencyMailServer().start()
    try:
        yield server
    finally:
        server.stop()


def staff_reply(case_mail: EmailMessage, answer: str = STAFF_ANSWER, *, sender: str = "") -> EmailMessage:
    """A reply as Outlook (Arabic interface) writes it: the answer, then the Arabic reply header and the quote."""
    reply = EmailMessage()
    to = str(case_mail.get("Reply-To") or case_mail["From"])
    frm = sender or next(iter(str(case_mail["To"]).split(",")), "staff@agency.example").strip()
    original = case_mail.get_body(("plain",))
    quoted = original.get_content() if original is not None else ""
    sent = format_datetime(datetime.now(BAHRAIN))
    header = (
        "________________________________\n"
        f"من: {case_mail['From']}\n"
        f"أرسل: {sent}\n"
        f"إلى: {case_mail['To']}\n"
        f"الموضوع: {case_mail['Subject']}\n"
    )
    reply["From"] = frm
    reply["To"] = to
    reply["Subject"] = f"رد: {case_mail['Subject']}"
    reply["Date"] = sent
    reply["Message-ID"] = make_msgid(domain=frm.rpartition("@")[2] or "agency.example")
    if case_mail["Message-ID"]:
        reply["In-Reply-To"] = str(case_mail["Message-ID"])
        refs = str(case_mail.get("References") or "").split()
        reply["References"] = " ".join([*refs, str(case_mail["Message-ID"])])
    reply["Thread-Topic"] = str(case_mail["Subject"])
    reply["Content-Language"] = "ar-BH"
    reply.set_content(f"{answer}\n\n{header}\n{quoted}", charset="utf-8")
    return reply


class Staff:
    """Answers every case mail the server receives, after `delay` seconds, with `answer`.

    `deliver_to(reply)` takes the reply on to the hub (SMTP to its listener, or IMAP APPEND).
    Follow-on messages (they carry In-Reply-To) are not answered.
    """

    def __init__(
        self,
        server: AgencyMailServer,
        deliver_to: Callable[[EmailMessage], None],
        *,
        answer: str = STAFF_ANSWER,
        delay: float = 0.0,
    ) -> None:
        self.deliver_to = deliver_to
        self.answer = answer
        self.delay = delay
        self.answered: list[str] = []
        server.handler.listeners.append(self._on_mail)

    def _on_mail(self, mail: Received) -> None:
        message = mail.message
        if message["In-Reply-To"]:
            return
        threading.Timer(self.delay, self._reply, args=(message,)).start()

    def _reply(self, message: EmailMessage) -> None:
        reply = staff_reply(message, self.answer)
        for _ in range(240):  # the hub's listener starts with its first read: wait for it a while
            try:
                self.deliver_to(reply)
                self.answered.append(str(message["Message-ID"]))
                return
            except (OSError, smtplib.SMTPException):
                time.sleep(0.5)


def by_smtp(host: str, port: int) -> Callable[[EmailMessage], None]:
    """Send replies by SMTP (to the hub's inbound listener)."""

    def send(reply: EmailMessage) -> None:
        with smtplib.SMTP(host, port, timeout=10) as client:
            client.send_message(reply)

    return send


ENV_SMTP_PORT = "HUB_EMAIL_SMTP_PORT"
ENV_LISTENER_PORT = "HUB_EMAIL_LISTENER_PORT"
ENV_SPOOL = "HUB_EMAIL_SPOOL"


@dataclass
class EmailAgency:
    """The demo's e-mail agency: its mail server, its staff, and where they send their answers."""

    server: AgencyMailServer
    staff: Staff
    listener_port: int

    def stop(self) -> None:
        """Stop the agency's mail server."""
        self.server.stop()


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def start_email_agency(
    spool: Path, *, answer_after: float = 2.0, environ: MutableMapping[str, str] = os.environ
) -> EmailAgency | None:
    """Play the e-mail agencies of the shipped config (for the demo); None when the environment points elsewhere.

    The agency's mail server listens on a free port, and the hub's inbound listener gets another;
    both go into the environment (`HUB_EMAIL_SMTP_PORT`, `HUB_EMAIL_LISTENER_PORT`, `HUB_EMAIL_SPOOL`)
    before the agency directory is read. Staff answer each case after `answer_after` seconds, by
    SMTP to the hub's listener: no mail server outside the project is needed.
    """
    if ENV_SMTP_PORT in environ:
        return None
    server = AgencyMailServer().start()
    listener_port = int(environ.get(ENV_LISTENER_PORT) or _free_port())
    environ[ENV_SMTP_PORT] = str(server.port)
    environ[ENV_LISTENER_PORT] = str(listener_port)
    environ.setdefault(ENV_SPOOL, str(spool))
    staff = Staff(server, by_smtp("127.0.0.1", listener_port), delay=answer_after)
    return EmailAgency(server, staff, listener_port)
