"""HMAC-SHA256 request signatures, the same for webhooks to the national system and calls to agencies.

The signed bytes are ``f"{timestamp}.".encode() + body``; the header value is ``sha256=<hex>``.
A receiver recomputes it with the shared secret, compares in constant time and refuses a
timestamp more than five minutes from its own clock (so a captured request cannot be replayed).
"""

from __future__ import annotations

import hashlib
import hmac
import time

SIGNATURE_HEADER = "X-Tawasul-Signature"
TIMESTAMP_HEADER = "X-Tawasul-Timestamp"
TOLERANCE_SECONDS = 300


def sign(secret: str, timestamp: int, body: bytes) -> str:
    """The signature header value for `body` sent at `timestamp` (Unix seconds)."""
    mac = hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256)
    return f"sha256={mac.hexdigest()}"


def signed_headers(secret: str, body: bytes, timestamp: int | None = None) -> dict[str, str]:
    """Both headers for an outbound request."""
    ts = int(time.time()) if timestamp is None else timestamp
    return {TIMESTAMP_HEADER: str(ts), SIGNATURE_HEADER: sign(secret, ts, body)}


def verify(secret: str, timestamp: str, signature: str, body: bytes, *, at: float | None = None) -> bool:
    """True when `signature` is right for `body` and the timestamp is fresh."""
    try:
        ts = int(timestamp)
    except ValueError:
        return False
    current = time.time() if at is None else at
    if abs(current - ts) > TOLERANCE_SECONDS:
        return False
    return hmac.compare_digest(sign(secret, ts, body), signature)
