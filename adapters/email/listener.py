"""The inbound SMTP listener: for sites that pipe the agency's replies to the hub instead of a mailbox.

A mail is answered `250` only once it is on disk (fsynced in the spool), so a mail the sending
server was told "accepted" is never lost; the hub reads the spool like a mailbox. Only mail to the
hub's reply address (with or without a plus-part) is accepted, and no larger than the limit.
"""

from __future__ import annotations

import contextlib
import socket
import threading
from typing import Any

import structlog
from aiosmtpd.controller import Controller

from adapters.email.mailbox import SpoolMailbox

log = structlog.get_logger(__name__)


class SmtpController(Controller):
    """aiosmtpd's threaded controller, able to listen on port 0 (the system picks a free port)."""

    def _trigger_server(self) -> None:
        if self.port == 0 and self.server is not None:
            self.port = int(self.server.sockets[0].getsockname()[1])  # type: ignore[attr-defined]
        super()._trigger_server()  # type: ignore[no-untyped-call]


class _Handler:
    def __init__(self, spool: SpoolMailbox, reply_to: str, separator: str, max_bytes: int) -> None:
        self.spool = spool
        self.local, _, self.domain = reply_to.lower().partition("@")
        self.separator = separator
        self.max_bytes = max_bytes

    def _ours(self, address: str) -> bool:
        local, _, domain = address.lower().partition("@")
        return domain == self.domain and (local == self.local or local.startswith(self.local + self.separator))

    async def handle_RCPT(self, server: Any, session: Any, envelope: Any, address: str, options: list[str]) -> str:  # noqa: N802
        if not self._ours(address):
            return "550 5.1.1 no such mailbox here"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:  # noqa: N802
        data = envelope.original_content or envelope.content
        if isinstance(data, str):
            data = data.encode("utf-8", "surrogateescape")
        if len(data) > self.max_bytes:
            return "552 5.3.4 message too large"
        rcpt = "".join(f"X-Tawasul-Rcpt: {r}\r\n" for r in envelope.rcpt_tos).encode("ascii", "replace")
        try:
            self.spool.store(rcpt + data)
        except OSError as exc:
            log.error("email.spool_failed", error=str(exc))
            return "451 4.3.0 could not store the message, try again later"
        return "250 2.0.0 stored"


class Listener:
    """An aiosmtpd server in its own thread, spooling what it accepts."""

    def __init__(
        self, spool: SpoolMailbox, *, host: str, port: int, reply_to: str, separator: str, max_bytes: int
    ) -> None:
        handler = _Handler(spool, reply_to, separator, max_bytes)
        self.controller = SmtpController(
            handler, hostname=host, port=port, data_size_limit=max_bytes, decode_data=False, ready_timeout=30
        )
        self._lock = threading.Lock()
        self.running = False

    @property
    def port(self) -> int:
        """The port it listens on (the one the system chose, when started on port 0)."""
        return int(self.controller.port)

    def start(self) -> None:
        """Listen (once; a second call does nothing)."""
        with self._lock:
            if not self.running:
                if self.controller.port:  # a port in use fails here at once, not after aiosmtpd's start timeout
                    with socket.socket() as probe:
                        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
                        probe.bind((self.controller.hostname, int(self.controller.port)))
                self.controller.start()
                self.running = True
                log.info("email.listening", host=self.controller.hostname, port=self.port)

    def stop(self, *, force: bool = False) -> None:
        """Stop listening (`force`: also after a start that failed half-way)."""
        with self._lock:
            if self.running or force:
                with contextlib.suppress(Exception):
                    self.controller.stop(no_assert=True)
                self.running = False
