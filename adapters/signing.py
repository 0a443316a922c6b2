"""HMAC-SHA256 request signatures, the same for webhooks to the national system and calls to agencies.

Scheme `v2` signs a canonical string, one item per line::

    v2
    POST                          (the method)
    /tawasul/cases?x=1            (the path and query, as sent)
    1764745200                    (X-Tawasul-Timestamp: Unix seconds)
    h_01JD7YQ4ZQ8K3M2N1P0R9S8T7V  (Idempotency-Key, or empty)
    9f86d081884c7d65…             (hex SHA-256 of the raw body; of b"" for none)

and the header reads ``X-Tawasul-Signature: v2=<hex HMAC-SHA256 of those bytes>``. A receiver
recomputes it with the shared secret, compares in constant time, refuses a timestamp more than
five minutes from its own clock, and may keep the signatures it saw within that window to refuse
a replay. The version tag lets receivers tell schemes apart when one is added.
"""

from __future__ import annotations

import hashlib
import hmac
import time
from urllib.parse import urlsplit

SIGNATURE_HEADER = "X-Tawasul-Signature"
TIMESTAMP_HEADER = "X-Tawasul-Timestamp"
IDEMPOTENCY_HEADER = "Idempotency-Key"
HANDOFF_HEADER = "X-Tawasul-Handoff"
SCHEME = "v2"
TOLERANCE_SECONDS = 300


def target(url: str) -> str:
    """The path and query of a URL, as they appear on the request line."""
    parts = urlsplit(url)
    return (parts.path or "/") + (f"?{parts.query}" if parts.query else "")


def canonical(method: str, path: str, timestamp: int, idempotency_key: str, body: bytes) -> bytes:
    """The bytes a signature covers."""
    digest = hashlib.sha256(body).hexdigest()
    return "\n".join((SCHEME, method.upper(), path, str(timestamp), idempotency_key, digest)).encode()


def sign(secret: str, method: str, path: str, timestamp: int, idempotency_key: str, body: bytes) -> str:
    """The signature header value."""
    mac = hmac.new(secret.encode(), canonical(method, path, timestamp, idempotency_key, body), hashlib.sha256)
    return f"{SCHEME}={mac.hexdigest()}"


def signed_headers(
    secret: str, method: str, url: str, body: bytes, *, idempotency_key: str = "", timestamp: int | None = None
) -> dict[str, str]:
    """The timestamp and signature headers for an outbound request."""
    ts = int(time.time()) if timestamp is None else timestamp
    return {
        TIMESTAMP_HEADER: str(ts),
        SIGNATURE_HEADER: sign(secret, method, target(url), ts, idempotency_key, body),
    }


def verify(
    secret: str,
    *,
    method: str,
    path: str,
    timestamp: str,
    signature: str,
    body: bytes,
    idempotency_key: str = "",
    at: float | None = None,
) -> bool:
    """True when `signature` is right for this request and its timestamp is fresh."""
    try:
        ts = int(timestamp)
    except ValueError:
        return False
    current = time.time() if at is None else at
    if abs(current - ts) > TOLERANCE_SECONDS:
        return False
    return hmac.compare_digest(sign(secret, method, path, ts, idempotency_key, body), signature)
