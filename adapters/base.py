"""The Adapter contract: what every agency protocol implements (it never touches the store)."""

from __future__ import annotations

from abc import ABC, abstractmethod
from typing import Any, ClassVar

import structlog
from pydantic import BaseModel, ConfigDict

from schemas import AgencyConfig, AgencyMessage, Envelope, Receipt, Reminder


class NoSettings(BaseModel):
    """For adapters that take no settings: any key given is an error."""

    model_config = ConfigDict(extra="forbid")


class Capabilities(BaseModel):
    """What an adapter can do beyond delivering."""

    model_config = ConfigDict(frozen=True)

    polling: bool = False
    """The hub calls `poll` on a schedule to fetch agency messages."""
    callbacks: bool = False
    """The agency calls the hub's agency API itself."""
    attachments: bool = False
    """Attachments reach the agency (otherwise only their descriptions do)."""


class PollItem(BaseModel):
    """A handoff the hub asks an adapter to poll for news about."""

    handoff_id: str
    agency_reference: str | None
    state: str


class Adapter(ABC):
    """Speaks one agency's protocol. Subclasses set `kind` and `settings_model`.

    `deliver` returns a Receipt or raises RetriableDeliveryError / PermanentDeliveryError; it must
    be safe to call again with the same envelope (the idempotency key tells the agency it is a retry).
    """

    kind: ClassVar[str]
    settings_model: ClassVar[type[BaseModel]] = NoSettings
    capabilities: Capabilities = Capabilities()
    """What this adapter can do; an instance may narrow it from its agency's settings."""
    poll_interval: float = 60.0
    """Seconds between two polls of the agency (when `capabilities.polling`)."""
    remote: ClassVar[bool] = True
    """Delivery crosses the network: limited per agency, time-bounded and watched by a circuit breaker."""

    def __init__(self, agency: AgencyConfig, settings: BaseModel) -> None:
        self.agency = agency
        self.settings = settings
        self.log = structlog.get_logger(f"adapters.{self.kind}").bind(agency=agency.id, kind=self.kind)

    @classmethod
    def from_config(cls, agency: AgencyConfig) -> Adapter:
        """Validate the agency's adapter settings and build the adapter (raises pydantic errors)."""
        return cls(agency, cls.settings_model.model_validate(agency.adapter.settings))

    @abstractmethod
    def deliver(self, envelope: Envelope) -> Receipt:
        """Hand one case over to the agency."""

    def poll(self, items: list[PollItem]) -> list[AgencyMessage]:
        """Fetch what the agency said about these handoffs (only for `capabilities.polling`)."""
        return []

    def remind(self, reminder: Reminder) -> None:  # noqa: B027 - optional hook with a harmless default
        """Tell the agency a handoff's answer time is running out or has run out; default: nothing.

        The hub has already recorded the warning or escalation and, once overdue, put the handoff on
        the follow-up queue; raising here is logged and not retried.
        """

    def check(self) -> None:  # noqa: B027 - optional hook with a harmless default
        """Raise if the agency's endpoint is unusable (reachability, credentials); default: nothing."""

    def close(self) -> None:  # noqa: B027 - optional hook with a harmless default
        """Release connections; default: nothing to release."""

    def describe(self) -> dict[str, Any]:
        """Non-secret facts for `config check` and the console."""
        return {"kind": self.kind, "capabilities": self.capabilities.model_dump()}
