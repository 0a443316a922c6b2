"""Attachments the way each agency takes them: download links, or the bytes (base64 in JSON or multipart).

The hub holds only references (URL, size, type, sha256). For `base64` and `multipart` it fetches
each file within the agency's size limit, stopping early when the stream exceeds it, and checks
the sha256 when the national system gave one.
"""

from __future__ import annotations

import base64
import fnmatch
import hashlib
from dataclasses import dataclass
from typing import Any

import requests

from adapters.errors import PermanentDeliveryError, RetriableDeliveryError
from adapters.rest.classify import RETRIABLE, classify
from adapters.rest.settings import AttachmentPolicy
from schemas import Attachment

CHUNK = 64 * 1024


@dataclass(frozen=True)
class Fetched:
    """One attachment's bytes, for a multipart part."""

    filename: str
    content_type: str
    data: bytes


def allowed(policy: AttachmentPolicy, content_type: str) -> bool:
    """Whether the agency accepts this content type (`image/*` patterns allowed)."""
    return any(fnmatch.fnmatchcase(content_type.lower(), pattern.lower()) for pattern in policy.allowed_types)


def prepare(
    attachments: list[Attachment], policy: AttachmentPolicy, session: requests.Session, timeout: tuple[float, float]
) -> tuple[list[dict[str, Any]], list[Fetched]]:
    """The attachment entries for the body, and the files for multipart parts.

    A file the agency does not accept (type, size) is permanent: the central office sends it another way.
    """
    entries: list[dict[str, Any]] = []
    files: list[Fetched] = []
    for a in attachments:
        if not allowed(policy, a.content_type):
            raise PermanentDeliveryError(f"attachment '{a.filename}': the agency does not accept {a.content_type}")
        if a.size > policy.max_bytes:
            raise PermanentDeliveryError(
                f"attachment '{a.filename}' is {a.size} bytes; the agency accepts at most {policy.max_bytes}"
            )
        entry = a.model_dump(mode="json")
        if policy.mode == "links":
            entries.append(entry)
            continue
        data = _fetch(a, policy, session, timeout)
        entry["size"] = len(data)
        if policy.mode == "base64":
            entry["content_base64"] = base64.b64encode(data).decode("ascii")
        else:
            files.append(Fetched(a.filename, a.content_type, data))
        entry.pop("url", None)
        entries.append(entry)
    return entries, files


def _fetch(a: Attachment, policy: AttachmentPolicy, session: requests.Session, timeout: tuple[float, float]) -> bytes:
    if not a.url:
        raise PermanentDeliveryError(f"attachment '{a.filename}' has no URL to fetch it from")
    try:
        with session.get(a.url, stream=True, timeout=timeout, allow_redirects=True) as response:
            classify(response, frozenset({200}), what=f"attachment '{a.filename}' download")
            data = bytearray()
            for chunk in response.iter_content(CHUNK):
                data += chunk
                if len(data) > policy.max_bytes:
                    raise PermanentDeliveryError(
                        f"attachment '{a.filename}' is larger than the {policy.max_bytes} bytes the agency accepts"
                    )
    except RETRIABLE as exc:
        raise RetriableDeliveryError(f"attachment '{a.filename}' download failed: {type(exc).__name__}") from exc
    if a.sha256 and hashlib.sha256(data).hexdigest() != a.sha256:
        raise PermanentDeliveryError(f"attachment '{a.filename}' does not match its sha256")
    return bytes(data)
