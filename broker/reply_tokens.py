"""Reply tokens: what the hub signs and puts in what it sends, so that an answer names its handoff.

A token reads ``h01jd7yq4zq8k3m2n1p0r9s8t7v-k7f3m2q9x4c8v1b6``: the handoff id in lower case (it
survives mail systems that fold the case of an address) and an HMAC of it, so a token cannot be
guessed from an id nor forged for another handoff. Adapters carry it (a plus-address, a subject
tag, a header); only the hub makes and checks it.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import re

_TOKEN = re.compile(r"^h([0-9a-z]{26})-([a-z2-7]{16})$")
MAC_CHARS = 16
"""80 bits of HMAC-SHA256, base32."""


def _mac(secret: str, handoff_id: str) -> str:
    digest = hmac.new(secret.encode(), handoff_id.encode(), hashlib.sha256).digest()
    return base64.b32encode(digest).decode("ascii").lower()[:MAC_CHARS]


def make(secret: str | None, handoff_id: str) -> str:
    """The token for a handoff (`h_…`); empty when the hub has no reply secret (no inbox is read)."""
    if not secret:
        return ""
    return f"h{handoff_id.removeprefix('h_').lower()}-{_mac(secret, handoff_id)}"


def verify(secret: str | None, token: str) -> str | None:
    """The handoff id a token names, or None when it is malformed or its signature is wrong."""
    found = _TOKEN.match(token.strip().lower()) if secret else None
    if found is None or secret is None:
        return None
    handoff_id = f"h_{found.group(1).upper()}"
    return handoff_id if hmac.compare_digest(_mac(secret, handoff_id), found.group(2)) else None
