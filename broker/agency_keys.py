"""Agencies' API keys: issued once in plaintext, stored as argon2 hashes, revocable.

A key reads ``tw_<lookup>_<secret>``. The lookup part is not secret: it finds the one row whose
argon2 hash is then checked against the whole key, so a request costs one slow hash at most.
Keys that verified are remembered in this process for `CACHE_SECONDS` under their SHA-256, so an
agency's steady traffic costs a dictionary look-up. Revoking a key forgets it here at once; other
processes (several API workers, the CLI revoking while the API serves) stop admitting it within
`CACHE_SECONDS` at most.
"""

from __future__ import annotations

import hashlib
import secrets
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import structlog
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy import Engine, Row, insert, or_, select, update

from broker.config import Directory
from broker.errors import HubError, NotFound
from broker.ids import new_id
from broker.store.engine import now, transaction
from broker.store.tables import agency_keys

log = structlog.get_logger(__name__)

CACHE_SECONDS = 60.0
"""How long a verified key is trusted without the database: the bound on revocation elsewhere."""

PREFIX = "tw"
_hasher = PasswordHasher()  # argon2id, RFC 9106 low-memory profile; parameters travel in each hash


class KeyRefused(HubError):
    """Raised when an API key does not admit its caller; the message says why."""


@dataclass(frozen=True)
class IssuedKey:
    """A new key: `key` is the plaintext, shown once and stored nowhere."""

    id: str
    agency_id: str
    key: str


@dataclass(frozen=True)
class KeyInfo:
    """What is known about a key without its secret."""

    id: str
    agency_id: str
    lookup: str
    created_at: datetime
    created_by: str
    revoked_at: datetime | None


class VerifiedKeys:
    """Keys verified recently, by SHA-256 of the key: (key id, agency, expiry); thread-safe."""

    def __init__(
        self, ttl: float = CACHE_SECONDS, clock: Callable[[], float] = time.monotonic, size: int = 10_000
    ) -> None:
        self.ttl = ttl
        self.clock = clock
        self.size = size
        self._entries: dict[str, tuple[str, str, float]] = {}
        self._lock = threading.Lock()

    def get(self, key: str) -> str | None:
        """The agency of a key verified less than `ttl` ago, else None."""
        digest = _digest(key)
        with self._lock:
            entry = self._entries.get(digest)
            if entry is None:
                return None
            if entry[2] <= self.clock():
                del self._entries[digest]
                return None
            return entry[1]

    def put(self, key: str, key_id: str, agency_id: str) -> None:
        """Remember a key that just verified."""
        at = self.clock()
        with self._lock:
            if len(self._entries) >= self.size:
                self._entries = {d: e for d, e in self._entries.items() if e[2] > at}
                if len(self._entries) >= self.size:
                    del self._entries[next(iter(self._entries))]  # the oldest
            self._entries[_digest(key)] = (key_id, agency_id, at + self.ttl)

    def forget(self, key_id: str) -> None:
        """Drop a key at once (it was revoked in this process)."""
        with self._lock:
            self._entries = {d: e for d, e in self._entries.items() if e[0] != key_id}


CACHE = VerifiedKeys()
"""This process's cache of verified keys."""


def _digest(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


def _info(row: Row[Any]) -> KeyInfo:
    m = row._mapping
    return KeyInfo(m["id"], m["agency_id"], m["lookup"], m["created_at"], m["created_by"], m["revoked_at"])


def create(engine: Engine, directory: Directory, agency_id: str, created_by: str) -> IssuedKey:
    """Issue a key for an agency of the directory; its plaintext is returned here and never again."""
    if agency_id not in directory.agencies:
        raise NotFound(f"no agency '{agency_id}'")
    lookup = secrets.token_hex(6)
    key = f"{PREFIX}_{lookup}_{secrets.token_hex(24)}"
    key_id = new_id("k")
    with transaction(engine) as conn:
        conn.execute(
            insert(agency_keys).values(
                id=key_id,
                agency_id=agency_id,
                lookup=lookup,
                hash=_hasher.hash(key),
                created_at=now(),
                created_by=created_by,
            )
        )
    log.info("agency_key.created", key=key_id, agency=agency_id, by=created_by)
    return IssuedKey(key_id, agency_id, key)


def revoke(engine: Engine, key_id: str, cache: VerifiedKeys = CACHE) -> KeyInfo:
    """Revoke a key by its id or lookup part; revoking twice keeps the first time."""
    with transaction(engine) as conn:
        row = conn.execute(
            select(agency_keys).where(or_(agency_keys.c.id == key_id, agency_keys.c.lookup == key_id))
        ).first()
        if row is None:
            raise NotFound(f"no API key '{key_id}'")
        if row.revoked_at is None:
            conn.execute(update(agency_keys).where(agency_keys.c.id == row.id).values(revoked_at=now()))
            row = conn.execute(select(agency_keys).where(agency_keys.c.id == row.id)).one()
    cache.forget(row.id)
    log.info("agency_key.revoked", key=row.id, agency=row.agency_id)
    return _info(row)


def list_keys(engine: Engine, agency_id: str | None = None) -> list[KeyInfo]:
    """Every key (of one agency, if given), oldest first."""
    q = select(agency_keys).order_by(agency_keys.c.created_at, agency_keys.c.id)
    if agency_id is not None:
        q = q.where(agency_keys.c.agency_id == agency_id)
    with engine.connect() as conn:
        return [_info(r) for r in conn.execute(q)]


def authenticate(engine: Engine, directory: Directory, key: str, cache: VerifiedKeys = CACHE) -> str:
    """The agency a key belongs to; KeyRefused if it is malformed, wrong, revoked or its agency is gone."""
    try:
        agency_id = cache.get(key) or _verify(engine, key, cache)
        if agency_id not in directory.agencies:
            raise KeyRefused(f"agency '{agency_id}' is no longer in the directory")
    except KeyRefused as exc:
        log.warning("agency_key.refused", reason=str(exc))
        raise
    return agency_id


def _verify(engine: Engine, key: str, cache: VerifiedKeys) -> str:
    prefix, _, rest = key.partition("_")
    lookup, _, secret = rest.partition("_")
    if prefix != PREFIX or not lookup or not secret:
        raise KeyRefused("malformed API key: expected tw_<lookup>_<secret>")
    with engine.connect() as conn:
        row = conn.execute(select(agency_keys).where(agency_keys.c.lookup == lookup)).first()
    if row is None:
        raise KeyRefused("wrong API key")
    try:
        _hasher.verify(row.hash, key)
    except (VerificationError, InvalidHashError):
        raise KeyRefused("wrong API key") from None
    if row.revoked_at is not None:
        raise KeyRefused(f"API key {row.id} was revoked at {row.revoked_at:%Y-%m-%d %H:%M} UTC")
    cache.put(key, row.id, row.agency_id)
    return str(row.agency_id)
