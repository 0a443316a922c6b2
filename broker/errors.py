"""The hub's own errors beyond those adapters raise (all share the HubError root)."""

from __future__ import annotations

from adapters.errors import ConfigError, HubError, PermanentDeliveryError, RetriableDeliveryError

__all__ = [
    "ConfigError",
    "Conflict",
    "HubError",
    "InvalidTransition",
    "NotFound",
    "PermanentDeliveryError",
    "RetriableDeliveryError",
    "Throttled",
    "Unprocessable",
]


class InvalidTransition(HubError):
    """Raised when a case or handoff is asked to move where its state does not allow."""

    def __init__(self, what: str, state: str, action: str) -> None:
        super().__init__(f"{what} is {state}; cannot {action}", state=state, action=action)
        self.state = state
        self.action = action


class Conflict(HubError):
    """Raised when a row moved on while the caller acted on it: another actor got there first."""

    def __init__(self, message: str, state: str) -> None:
        super().__init__(message, state=state)
        self.state = state


class Throttled(HubError):
    """Raised when a caller sends more than its share; `retry_after` says when to try again."""

    def __init__(self, message: str, retry_after: float) -> None:
        super().__init__(message, retry_after=retry_after)
        self.retry_after = retry_after


class NotFound(HubError):
    """Raised when a case, handoff or agency named by the caller does not exist (or is not theirs)."""


class Unprocessable(HubError):
    """Raised when input is well-formed but names something the hub does not know."""

    def __init__(self, message: str, field: str) -> None:
        super().__init__(message, field=field)
        self.field = field
