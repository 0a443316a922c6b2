"""Where the agency's replies are read from: an IMAP folder (with IDLE), or the listener's spool.

Both read from a cursor the hub stores and touch nothing until `done` is called with what the hub
committed: IMAP mail is then flagged (or moved), spooled files moved to `cur/`.
The IMAP cursor is `<UIDVALIDITY>:<last UID>`; a folder whose UIDVALIDITY changed is read again
from its first unflagged mail (the hub's de-duplication by Message-ID takes nothing twice).
"""

from __future__ import annotations

import contextlib
import os
import socket
import ssl
import threading
import time
from dataclasses import dataclass
from pathlib import Path

import imapclient
import structlog
from imapclient.exceptions import IMAPClientError

from adapters.email.settings import Imap, Limits, Listener
from adapters.errors import InboundError
from adapters.secrets import secret

log = structlog.get_logger(__name__)
TAKEN = "$Tawasul"
"""The keyword the hub sets on mail it committed (with \\Seen), when no processed folder is set."""
RETRIABLE_IMAP: tuple[type[BaseException], ...] = (OSError, socket.timeout, IMAPClientError, ssl.SSLError)


@dataclass(frozen=True)
class RawMail:
    """One mail as read: where it is (UID or file name) and its bytes (None when too large to fetch)."""

    key: str
    data: bytes | None
    size: int


def _cursor(value: str | None) -> tuple[int | None, int]:
    if not value or ":" not in value:
        return None, 0
    validity, _, last = value.partition(":")
    try:
        return int(validity), int(last)
    except ValueError:
        return None, 0


class ImapMailbox:
    """One agency's IMAP folder; a single connection kept open between reads, one read at a time."""

    def __init__(self, settings: Imap, limits: Limits) -> None:
        self.settings = settings
        self.limits = limits
        self._client: imapclient.IMAPClient | None = None
        self._lock = threading.Lock()

    def _connect(self) -> imapclient.IMAPClient:
        s = self.settings
        if self._client is not None:
            try:
                self._client.noop()
                return self._client
            except RETRIABLE_IMAP:
                self._drop()
        context = ssl.create_default_context(cafile=str(s.ca_bundle) if s.ca_bundle else None)
        try:
            client = imapclient.IMAPClient(
                s.host, port=s.port, ssl=s.security == "tls", ssl_context=context, timeout=s.timeout
            )
            if s.security == "starttls":
                client.starttls(context)
            client.login(s.user, secret(s.password_env).get_secret_value())
            client.select_folder(s.folder)
        except imapclient.exceptions.LoginError as exc:
            raise InboundError(f"IMAP login refused for {s.user}: {exc}", retriable=False) from None
        except RETRIABLE_IMAP as exc:
            raise InboundError(f"IMAP {s.host}:{s.port} unreachable: {type(exc).__name__}: {exc}") from None
        self._client = client
        return client

    def _drop(self) -> None:
        client, self._client = self._client, None
        if client is not None:
            try:
                client.logout()
            except Exception:  # a dead connection: close the socket, nothing else to release
                with contextlib.suppress(Exception):
                    client.shutdown()

    def read(self, cursor: str | None, *, idle: bool = True) -> tuple[list[RawMail], str]:
        """Mail after `cursor` (at most `batch`), waiting in IDLE for new mail when there is none."""
        with self._lock:
            try:
                return self._read(cursor, idle=idle)
            except InboundError:
                self._drop()
                raise
            except RETRIABLE_IMAP as exc:
                self._drop()
                raise InboundError(f"IMAP read failed: {type(exc).__name__}: {exc}") from None

    def _read(self, cursor: str | None, *, idle: bool) -> tuple[list[RawMail], str]:
        client = self._connect()
        status = client.folder_status(self.settings.folder, ["UIDVALIDITY"])
        validity = int(status[b"UIDVALIDITY"])
        known, last = _cursor(cursor)
        uids = self._new(client, validity, known, last)
        if not uids and idle and self.settings.idle_seconds > 0 and b"IDLE" in client.capabilities():
            client.idle()
            try:
                client.idle_check(timeout=self.settings.idle_seconds)
            finally:
                client.idle_done()
            uids = self._new(client, validity, known, last)
        uids = sorted(uids)[: self.settings.batch]
        if not uids:
            return [], f"{validity}:{last if known == validity else 0}"
        sizes = client.fetch(uids, ["RFC822.SIZE"])
        small = [u for u in uids if int(sizes[u][b"RFC822.SIZE"]) <= self.limits.max_message_bytes]
        bodies = client.fetch(small, ["BODY.PEEK[]"]) if small else {}
        mails = [
            RawMail(str(u), bytes(bodies[u][b"BODY[]"]) if u in bodies else None, int(sizes[u][b"RFC822.SIZE"]))
            for u in uids
        ]
        return mails, f"{validity}:{uids[-1]}"

    def _new(self, client: imapclient.IMAPClient, validity: int, known: int | None, last: int) -> list[int]:
        if known == validity:
            found = client.search(["UID", f"{last + 1}:*"])
            return [u for u in found if u > last]
        if known is not None:
            log.warning("email.uidvalidity_changed", folder=self.settings.folder, was=known, now=validity)
        return list(client.search(["NOT", "KEYWORD", TAKEN]))

    def done(self, keys: list[str]) -> None:
        """The hub committed these mails: flag them (or move them to the processed folder)."""
        uids = [int(k) for k in keys]
        if not uids:
            return
        with self._lock:
            try:
                client = self._connect()
                client.add_flags(uids, [imapclient.SEEN, TAKEN.encode()])
                target = self.settings.processed_folder
                if target:
                    if b"MOVE" in client.capabilities():
                        client.move(uids, target)
                    else:
                        client.copy(uids, target)
                        client.delete_messages(uids)
                        client.expunge(uids) if b"UIDPLUS" in client.capabilities() else client.expunge()
            except RETRIABLE_IMAP as exc:
                self._drop()
                log.warning("email.flag_failed", error=f"{type(exc).__name__}: {exc}", mails=len(uids))

    def check(self) -> None:
        """Log in and select the folder (raises InboundError)."""
        with self._lock:
            self._connect()

    def close(self) -> None:
        """Log out."""
        with self._lock:
            self._drop()


_counter_lock = threading.Lock()
_counter = 0


class SpoolMailbox:
    """The listener's spool: `new/` holds accepted mail until the hub committed it, then `cur/`."""

    def __init__(self, settings: Listener, limits: Limits) -> None:
        self.root = Path(settings.spool)
        self.limits = limits

    def _dirs(self) -> tuple[Path, Path]:
        new, cur = self.root / "new", self.root / "cur"
        new.mkdir(parents=True, exist_ok=True)
        cur.mkdir(parents=True, exist_ok=True)
        return new, cur

    def read(self, cursor: str | None, *, batch: int = 100) -> tuple[list[RawMail], str | None]:
        """Every spooled mail not yet committed, in arrival order (the cursor only says where the last read ended).

        Reading all of `new/` rather than after the cursor misses nothing, even a file whose name sorts
        early; a mail read twice (committed, then the process died before `done`) is taken once by the hub.
        """
        new, _ = self._dirs()
        names = sorted(p.name for p in new.iterdir() if not p.name.startswith("."))[:batch]
        mails = []
        for name in names:
            path = new / name
            size = path.stat().st_size
            mails.append(RawMail(name, path.read_bytes() if size <= self.limits.max_message_bytes else None, size))
        return mails, names[-1] if names else cursor

    def done(self, keys: list[str]) -> None:
        """Move committed mail to `cur/`."""
        new, cur = self._dirs()
        for key in keys:
            if (new / key).exists():
                (new / key).replace(cur / key)

    def store(self, data: bytes) -> str:
        """Write one accepted mail durably (fsync, then rename into `new/`); its name sorts by arrival."""
        new, _ = self._dirs()
        tmp = self.root / "tmp"
        tmp.mkdir(exist_ok=True)
        with _counter_lock:
            global _counter
            _counter += 1
            name = f"{time.time_ns():020d}.{os.getpid()}.{_counter:08d}.eml"
        part = tmp / name
        with part.open("wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        part.replace(new / name)
        fd = os.open(new, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)
        return name
