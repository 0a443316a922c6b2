"""Attachments the way each agency takes them: download links, or the bytes (base64 in JSON or multipart).

The hub holds only references (URL, size, type, sha256). For `base64` and `multipart` it fetches
each file, and only from the attachment stores it is told to trust (`HUB_ATTACHMENT_HOSTS`: https
origins; an IP-literal entry, such as a test's `http://127.0.0.1:8123`, is trusted as it stands).
No other scheme or host, no redirect, no private, loopback or link-local address, never with an
agency's client certificate; each file within the agency's size limit and the delivery's total,
its sha256 checked when given, and its first bytes checked against its declared type.

A store that fails is not the agency's fault: that is an AttachmentStoreError (retried, never
counted against the agency's circuit), and no error copies the store's answer into what the
national system can read.
"""

from __future__ import annotations

import base64
import fnmatch
import hashlib
import ipaddress
import os
import re
import unicodedata
from dataclasses import dataclass
from typing import Any, Literal
from urllib.parse import urlsplit

import filetype
from pydantic import BaseModel, ConfigDict, Field

from adapters.errors import AttachmentStoreError, DeliveryError, PermanentDeliveryError
from adapters.http import HttpClient, TooLarge, public_address
from schemas import Attachment

HOSTS_ENV = "HUB_ATTACHMENT_HOSTS"
"""Comma- or space-separated origins the hub may fetch attachments from."""

MAX_NAME = 150
_BIDI_AND_CONTROLS = re.compile(r"[\x00-\x1f\x7f-\x9f\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069/\\]")
_SAME_TYPE = {"image/jpg": "image/jpeg", "image/pjpeg": "image/jpeg", "application/x-pdf": "application/pdf"}


class AttachmentPolicy(BaseModel):
    """How attachments reach the agency, and which it accepts.

    `links`: the download URLs go in the body. `base64` and `multipart`: the hub fetches each file
    (within the limits, checking its sha256 and type) and sends the bytes, inline or as parts.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    mode: Literal["links", "base64", "multipart"] = "links"
    max_bytes: int = Field(default=10 * 1024 * 1024, gt=0)
    """The largest file the agency accepts."""
    max_total_bytes: int = Field(default=25 * 1024 * 1024, gt=0)
    """The most the hub fetches for one delivery, all files together."""
    allowed_types: list[str] = ["application/pdf", "image/*"]
    """Content types accepted; `image/*` covers every image type."""


@dataclass(frozen=True)
class Fetched:
    """One attachment's bytes, for a multipart part or a mail."""

    filename: str
    content_type: str
    data: bytes


@dataclass(frozen=True)
class Origin:
    """A trusted attachment store: scheme, host and port."""

    scheme: str
    host: str
    port: int

    @property
    def literal(self) -> bool:
        """An IP address written out: trusted as it stands, loopback or private included."""
        try:
            ipaddress.ip_address(self.host)
        except ValueError:
            return False
        return True


def trusted_origins(value: str | None = None) -> list[Origin]:
    """The origins named by `HUB_ATTACHMENT_HOSTS` (https unless the host is an IP literal)."""
    raw = os.environ.get(HOSTS_ENV, "") if value is None else value
    origins = []
    for entry in re.split(r"[\s,]+", raw.strip()):
        if not entry:
            continue
        parts = urlsplit(entry if "://" in entry else f"https://{entry}")
        origin = Origin(parts.scheme, (parts.hostname or "").lower(), parts.port or _default_port(parts.scheme))
        if origin.scheme == "https" or (origin.scheme == "http" and origin.literal):
            origins.append(origin)
    return origins


def _default_port(scheme: str) -> int:
    return 443 if scheme == "https" else 80


def safe_filename(name: str) -> str:
    """A file name safe to pass on: NFC, no path separators, control or bidi-override characters, capped."""
    cleaned = _BIDI_AND_CONTROLS.sub("_", unicodedata.normalize("NFC", name))
    cleaned = re.sub(r"\s+", " ", cleaned).strip(" .")
    if len(cleaned) > MAX_NAME:
        _stem, dot, ext = cleaned.rpartition(".")
        keep = ext[:10] if dot and len(ext) <= 10 else ""
        cleaned = cleaned[: MAX_NAME - len(keep) - 1].rstrip() + ("." + keep if keep else "")
    return cleaned or "attachment"


def allowed(policy: AttachmentPolicy, content_type: str) -> bool:
    """Whether the agency accepts this content type (`image/*` patterns allowed)."""
    return any(fnmatch.fnmatchcase(content_type.lower(), pattern.lower()) for pattern in policy.allowed_types)


def type_matches(declared: str, data: bytes) -> bool:
    """Whether the file's first bytes fit its declared type.

    A recognised signature must be the declared type; a file without one fits only a type that
    has no signature either (text, CSV), and text must not hold NUL bytes.
    """
    declared = _SAME_TYPE.get(declared.lower(), declared.lower())
    sniffed: str | None = filetype.guess_mime(data[:8192])
    if sniffed is not None:
        return _SAME_TYPE.get(sniffed, sniffed) == declared
    if filetype.get_type(mime=declared) is not None:
        return False  # a type with a known signature, and the bytes do not have it
    return not (declared.startswith("text/") and b"\x00" in data[:8192])


class AttachmentFetcher:
    """Fetches attachment files from trusted stores; one per adapter, thread-safe, no I/O when built."""

    def __init__(self, *, connect_timeout: float, read_timeout: float, total: float) -> None:
        self.client = HttpClient(
            connect_timeout=connect_timeout, read_timeout=read_timeout, total=total, guard=self._guard
        )

    def _guard(self, host: str, ip: str) -> None:
        if any(o.literal and o.host == ip for o in trusted_origins()):
            return
        public_address(host, ip)

    def fetch(self, a: Attachment, limit: int) -> bytes:
        """One file's bytes, at most `limit` of them; raises the error that says what happens next."""
        name = safe_filename(a.filename)
        if not a.url:
            raise PermanentDeliveryError(f"attachment '{name}' has no URL to fetch it from")
        parts = urlsplit(a.url)
        scheme = parts.scheme.lower()
        try:
            port = parts.port or _default_port(scheme)
        except ValueError:
            raise PermanentDeliveryError(f"attachment '{name}': its URL is malformed") from None
        origin = Origin(scheme, (parts.hostname or "").lower(), port)
        if origin not in trusted_origins():
            raise PermanentDeliveryError(
                f"attachment '{name}': {scheme}://{origin.host}:{port} is not a trusted attachment store"
            )
        try:
            answer = self.client.request("GET", a.url, limit=limit, what=f"the attachment store for '{name}'")
        except TooLarge:
            raise PermanentDeliveryError(
                f"attachment '{name}' is larger than the {limit} bytes the agency accepts"
            ) from None
        except DeliveryError as exc:
            if isinstance(exc, PermanentDeliveryError):
                raise
            raise AttachmentStoreError(f"attachment '{name}': the store did not answer ({exc})") from None
        if 300 <= answer.status < 400:
            raise PermanentDeliveryError(
                f"attachment '{name}': the store redirected ({answer.status}); the hub follows no redirect"
            )
        if answer.status == 429 or answer.status >= 500:
            raise AttachmentStoreError(
                f"attachment '{name}': the store answered {answer.status}", retry_after=answer.retry_after()
            )
        if answer.status != 200:
            raise PermanentDeliveryError(f"attachment '{name}': the store answered {answer.status}")
        data = answer.content
        if a.sha256 and hashlib.sha256(data).hexdigest() != a.sha256:
            raise PermanentDeliveryError(f"attachment '{name}' does not match its sha256")
        if not type_matches(a.content_type, data):
            raise PermanentDeliveryError(f"attachment '{name}': its bytes are not {a.content_type}")
        return data

    def prepare(
        self, attachments: list[Attachment], policy: AttachmentPolicy
    ) -> tuple[list[dict[str, Any]], list[Fetched]]:
        """The attachment entries for a body, and the files for multipart parts (or a mail).

        A file the agency does not accept (type, size) is permanent: the central office sends it another way.
        """
        entries: list[dict[str, Any]] = []
        files: list[Fetched] = []
        budget = policy.max_total_bytes
        for a in attachments:
            name = safe_filename(a.filename)
            if not allowed(policy, a.content_type):
                raise PermanentDeliveryError(f"attachment '{name}': the agency does not accept {a.content_type}")
            if a.size > policy.max_bytes:
                raise PermanentDeliveryError(
                    f"attachment '{name}' is {a.size} bytes; the agency accepts at most {policy.max_bytes}"
                )
            entry = {**a.model_dump(mode="json"), "filename": name}
            if policy.mode == "links":
                entries.append(entry)
                continue
            if a.size > budget:
                raise PermanentDeliveryError(
                    f"attachments together exceed the {policy.max_total_bytes} bytes sent in one delivery"
                )
            data = self.fetch(a, min(policy.max_bytes, budget))
            budget -= len(data)
            entry["size"] = len(data)
            entry.pop("url", None)
            if policy.mode == "base64":
                entry["content_base64"] = base64.b64encode(data).decode("ascii")
            else:
                files.append(Fetched(name, a.content_type, data))
            entries.append(entry)
        return entries, files

    def close(self) -> None:
        """Release pooled connections."""
        self.client.close()
