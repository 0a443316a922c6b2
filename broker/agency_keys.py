"""Agencies' API keys: issued once in plaintext, stored as HMAC-SHA256 under a pepper, revocable.

A key reads ``tw_<lookup>_<secret>``: 192 random bits, not a password, so a slow hash buys
nothing (H4). The lookup part is not secret: it finds the one row whose ``hash`` is
``hmac-sha256$<pepper id>$<hex>`` of the whole key under `HUB_KEY_PEPPER`, compared in constant
time. Every request reads the row, so a revoked key is refused by every process at once (L1); an
unknown lookup is checked against a dummy digest, so it costs what a wrong secret costs.

Keys issued before (argon2 hashes) keep working: the first time one verifies, its row is
re-hashed with HMAC. Until then, checking one runs argon2 on a single dedicated slot, and failed
attempts per lookup are throttled before any hashing (`KeyGuard`).
"""

from __future__ import annotations

import hashlib
import hmac
import os
import secrets
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import structlog
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy import Engine, Row, bindparam, insert, or_, select, update

from broker.config import Directory
from broker.errors import HubError, NotFound, Throttled
from broker.ids import new_id
from broker.store.engine import now, single_read, transaction
from broker.store.tables import agency_keys
from broker.throttle import TokenBuckets

log = structlog.get_logger(__name__)

PREFIX = "tw"
SCHEME = "hmac-sha256"
PEPPER_ENV = "HUB_KEY_PEPPER"
_NO_PEPPER = b"tawasul-hub agency keys: no pepper set"
"""Used when HUB_KEY_PEPPER is unset (the embedded demo); `serve` warns about it."""

_legacy = PasswordHasher()  # keys issued before HMAC: verified once, then re-hashed
_legacy_slot = threading.BoundedSemaphore(1)
"""Only one argon2 check at a time in a process, so a flood cannot take intake's threads."""


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


class RefusalLog:
    """Logs refusals sampled: the first of each reason in a window, then a count of the rest."""

    def __init__(self, window: float = 10.0, clock: Callable[[], float] = time.monotonic) -> None:
        self.window = window
        self.clock = clock
        self._last: dict[str, tuple[float, int]] = {}
        self._lock = threading.Lock()

    def refused(self, reason: str, **fields: Any) -> None:
        """Log this refusal if its reason was not logged in the last `window` seconds."""
        kind = reason.split(":", maxsplit=1)[0][:40]
        at = self.clock()
        with self._lock:
            since, suppressed = self._last.get(kind, (float("-inf"), 0))
            if at - since < self.window:
                self._last[kind] = (since, suppressed + 1)
                return
            self._last[kind] = (at, 0)
        log.warning("agency_key.refused", reason=reason, suppressed=suppressed, **fields)


@dataclass
class KeyGuard:
    """Failed key checks throttled per client address and per lookup (one guard per API process).

    Each failure spends a token; once a bucket is empty its caller gets 429 with Retry-After,
    without a database read (address) or any hashing (lookup of a key not re-hashed yet).
    A lookup's bucket never locks its agency out: a right key is admitted whatever it holds.
    """

    per_minute: float = 10.0
    burst: int = 20
    clock: Callable[[], float] = time.monotonic
    refusals: RefusalLog = field(default_factory=RefusalLog)

    def __post_init__(self) -> None:
        self.addresses = TokenBuckets(self.per_minute / 60.0, self.burst, self.clock)
        self.lookups = TokenBuckets(self.per_minute / 60.0, self.burst, self.clock)

    def address_wait(self, address: str | None) -> float:
        """Seconds until `address` may try again (0.0: now)."""
        return 0.0 if address is None else self.addresses.wait(address)

    def lookup_wait(self, lookup: str) -> float:
        """Seconds until a wrong key for `lookup` is checked again (0.0: now)."""
        return self.lookups.wait(lookup)

    def failed(self, address: str | None, lookup: str | None) -> None:
        """Count one failed attempt against the address and the lookup."""
        if address is not None:
            self.addresses.take(address)
        if lookup:
            self.lookups.take(lookup)


def _pepper() -> bytes:
    value = os.environ.get(PEPPER_ENV)
    return value.encode() if value else _NO_PEPPER


def pepper_set() -> bool:
    """True when HUB_KEY_PEPPER is set (start-up warns when it is not)."""
    return bool(os.environ.get(PEPPER_ENV))


def _pepper_id(pepper: bytes) -> str:
    return hmac.new(pepper, b"pepper-id", hashlib.sha256).hexdigest()[:8]


def hashed(key: str) -> str:
    """What is stored for `key`: ``hmac-sha256$<pepper id>$<hex digest>``."""
    pepper = _pepper()
    digest = hmac.new(pepper, key.encode(), hashlib.sha256).hexdigest()
    return f"{SCHEME}${_pepper_id(pepper)}${digest}"


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
                hash=hashed(key),
                created_at=now(),
                created_by=created_by,
            )
        )
    log.info("agency_key.created", key=key_id, agency=agency_id, by=created_by)
    return IssuedKey(key_id, agency_id, key)


def revoke(engine: Engine, key_id: str) -> KeyInfo:
    """Revoke a key by its id or lookup part; every process refuses it from its next request on."""
    with transaction(engine) as conn:
        row = conn.execute(
            select(agency_keys).where(or_(agency_keys.c.id == key_id, agency_keys.c.lookup == key_id))
        ).first()
        if row is None:
            raise NotFound(f"no API key '{key_id}'")
        if row.revoked_at is None:
            conn.execute(update(agency_keys).where(agency_keys.c.id == row.id).values(revoked_at=now()))
            row = conn.execute(select(agency_keys).where(agency_keys.c.id == row.id)).one()
    log.info("agency_key.revoked", key=row.id, agency=row.agency_id)
    return _info(row)


def list_keys(engine: Engine, agency_id: str | None = None) -> list[KeyInfo]:
    """Every key (of one agency, if given), oldest first."""
    q = select(agency_keys).order_by(agency_keys.c.created_at, agency_keys.c.id)
    if agency_id is not None:
        q = q.where(agency_keys.c.agency_id == agency_id)
    with engine.connect() as conn:
        return [_info(r) for r in conn.execute(q)]


def authenticate(
    engine: Engine,
    directory: Directory,
    key: str,
    *,
    guard: KeyGuard | None = None,
    address: str | None = None,
) -> str:
    """The agency a key belongs to.

    Raises KeyRefused if it is malformed, wrong, revoked or its agency is gone, and Throttled
    (with `retry_after`) when `guard` says this address or lookup failed too often.
    """
    lookup = _lookup(key)
    refusals = guard.refusals if guard is not None else RefusalLog(window=0.0)
    if guard is not None:
        wait = guard.address_wait(address)
        if wait > 0:
            refusals.refused("throttled: too many wrong keys from this address", address=address)
            raise Throttled("too many wrong API keys from this address; try again later", wait)
    try:
        agency_id = _verify(engine, key, lookup, guard)
        if agency_id not in directory.agencies:
            raise KeyRefused(f"agency '{agency_id}' is no longer in the directory")
    except (KeyRefused, Throttled) as exc:
        if guard is not None and isinstance(exc, KeyRefused):
            guard.failed(address, lookup)
        refusals.refused(str(exc), lookup=lookup, address=address)
        raise
    return agency_id


def _lookup(key: str) -> str | None:
    prefix, _, rest = key.partition("_")
    lookup, _, secret = rest.partition("_")
    if prefix != PREFIX or not lookup or not secret or len(lookup) > 32:
        return None
    return lookup


_DUMMY_ROW_HASH = f"{SCHEME}$00000000${'0' * 64}"
_BY_LOOKUP = select(agency_keys.c.id, agency_keys.c.agency_id, agency_keys.c.hash, agency_keys.c.revoked_at).where(
    agency_keys.c.lookup == bindparam("lookup")
)
"""Built once: a statement built per call costs more CPU than PostgreSQL takes to run it."""


def _verify(engine: Engine, key: str, lookup: str | None, guard: KeyGuard | None) -> str:
    if lookup is None:
        raise KeyRefused("malformed API key: expected tw_<lookup>_<secret>")
    with single_read(engine) as conn:
        row = conn.execute(_BY_LOOKUP, {"lookup": lookup}).first()
    stored = row.hash if row is not None else _DUMMY_ROW_HASH
    if stored.startswith(f"{SCHEME}$"):
        # unknown lookup or wrong secret: the same one HMAC and one constant-time comparison
        good = hmac.compare_digest(hashed(key).encode(), stored.encode()) and row is not None
        if not good and guard is not None and guard.lookup_wait(lookup) > 0:
            raise Throttled("too many wrong API keys for this lookup; try again later", guard.lookup_wait(lookup))
        if not good:
            raise KeyRefused("wrong API key")
    else:
        assert row is not None
        _verify_legacy(engine, row, key, lookup, guard)
    assert row is not None
    if row.revoked_at is not None:
        raise KeyRefused(f"API key {row.id} was revoked at {row.revoked_at:%Y-%m-%d %H:%M} UTC")
    return str(row.agency_id)


def _verify_legacy(engine: Engine, row: Row[Any, Any, Any, Any], key: str, lookup: str, guard: KeyGuard | None) -> None:
    """Check a key issued with argon2, then store its HMAC instead: once per key, bounded meanwhile."""
    if row.revoked_at is not None:
        raise KeyRefused(f"API key {row.id} was revoked at {row.revoked_at:%Y-%m-%d %H:%M} UTC")
    if guard is not None and (wait := guard.lookup_wait(lookup)) > 0:
        raise Throttled("too many wrong API keys for this lookup; try again later", wait)
    if not _legacy_slot.acquire(timeout=1.0):
        raise Throttled("API keys are being checked; try again in a second", 1.0)
    try:
        _legacy.verify(row.hash, key)
    except (VerificationError, InvalidHashError):
        raise KeyRefused("wrong API key") from None
    finally:
        _legacy_slot.release()
    with transaction(engine) as conn:
        conn.execute(
            update(agency_keys)
            .where(agency_keys.c.id == row.id, agency_keys.c.hash == row.hash)
            .values(hash=hashed(key))
        )
    log.info("agency_key.rehashed", key=row.id, agency=row.agency_id)
