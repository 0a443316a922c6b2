"""The one place where requests' exceptions and agency responses become the hub's delivery errors."""

from __future__ import annotations

import email.utils
import json
import time
from typing import Any

import requests
from requests.exceptions import ChunkedEncodingError, ContentDecodingError

from adapters.errors import PermanentDeliveryError, RetriableDeliveryError

RETRIABLE: tuple[type[Exception], ...] = (
    requests.ConnectionError,  # refused, reset, dropped, DNS, TLS handshake
    requests.Timeout,  # connect and read timeouts
    ChunkedEncodingError,  # the agency closed the connection mid-body
    ContentDecodingError,
)
"""requests' exceptions after which the same request may well succeed later."""

EXCERPT_CHARS = 500


def excerpt(response: requests.Response) -> str:
    """The start of a response, for the follow-up queue: status line plus body."""
    text = response.content[: EXCERPT_CHARS * 4].decode(response.encoding or "utf-8", errors="replace")
    return f"{response.status_code} {response.reason}: {text[:EXCERPT_CHARS]}"


def retry_after(response: requests.Response) -> float | None:
    """Seconds the agency asked us to wait (Retry-After as seconds or an HTTP date), if it said."""
    value = response.headers.get("Retry-After", "").strip()
    if not value:
        return None
    if value.isdigit():
        return float(value)
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, when.timestamp() - time.time())


def classify(response: requests.Response, success: frozenset[int], *, what: str = "agency") -> None:
    """Return quietly for a success status; otherwise raise the error that says what happens next.

    429 and 5xx are retriable (429 and 503 carry Retry-After); any other status is permanent.
    """
    status = response.status_code
    if status in success:
        return
    if status == 429 or status >= 500:
        raise RetriableDeliveryError(
            f"{what} answered {status}", retry_after=retry_after(response), response_excerpt=excerpt(response)
        )
    raise PermanentDeliveryError(f"{what} refused the request ({status})", response_excerpt=excerpt(response))


def read_json(response: requests.Response, *, what: str = "agency") -> Any:
    """The JSON body of a successful response; anything else is permanent (it may have taken the case)."""
    try:
        return json.loads(response.content)
    except ValueError:
        raise PermanentDeliveryError(
            f"{what} answered {response.status_code} but its body is not JSON; "
            "it may have taken the case: check with the agency before delivering again",
            response_excerpt=excerpt(response),
        ) from None
