"""Errors named by what happens next; adapters raise these, never return True/False."""

from __future__ import annotations

from typing import Any


class HubError(Exception):
    """Raised for anything the hub itself reports; the root of every error here."""

    def __init__(self, message: str, **context: Any) -> None:
        super().__init__(message)
        self.context = context


class ConfigError(HubError):
    """Raised when configuration is wrong; `problems` holds every error with its path."""

    def __init__(self, message: str, problems: list[str] | None = None) -> None:
        super().__init__(message)
        self.problems = problems or [message]

    def __str__(self) -> str:
        return "\n".join(self.problems)


class DeliveryError(HubError):
    """Raised when a delivery to an agency did not succeed."""

    def __init__(self, message: str, *, response_excerpt: str | None = None, **context: Any) -> None:
        super().__init__(message, **context)
        self.response_excerpt = response_excerpt


class RetriableDeliveryError(DeliveryError):
    """Raised on timeouts, resets, HTTP 429/5xx, SMTP 4xx: the hub tries again later."""

    def __init__(self, message: str, *, retry_after: float | None = None, **context: Any) -> None:
        super().__init__(message, **context)
        self.retry_after = retry_after


class PermanentDeliveryError(DeliveryError):
    """Raised on other 4xx, SOAP client faults, rejected payloads: the handoff goes to follow-up."""


class AttachmentStoreError(RetriableDeliveryError):
    """Raised when a file could not be fetched from the attachment store: tried again later.

    It is the store's failure, not the agency's: it never counts towards the agency's circuit.
    """


class UncertainDeliveryError(DeliveryError):
    """Raised when a request may have reached the agency (a timeout after sending, a reset).

    Sending again could make a second ticket: the hub asks the agency first (a lookup), retries
    only an agency that recognises the idempotency key, or else asks an officer to check.
    """


class InboundError(HubError):
    """Raised when reading what an agency said failed (poll or inbox); `retriable` says if later may work."""

    def __init__(self, message: str, *, retriable: bool = True, **context: Any) -> None:
        super().__init__(message, **context)
        self.retriable = retriable
