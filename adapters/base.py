"""The Adapter contract: what every agency protocol implements (it never touches the store).

An adapter is built from its agency's configuration with no I/O; the hub calls:

* `deliver(envelope)` once per attempt to hand a case over, and `follow_on(envelope)` for each
  follow-on message it declares in `capabilities.follow_ons`; both return a Receipt or raise a
  DeliveryError subclass (never a bool). Library exceptions are turned into those by `classify`.
* `lookup(envelope)` before sending again after an uncertain delivery, when `capabilities.lookup`.
* `poll(items)` on a schedule when `capabilities.status_poll`, and `receive(cursor)` then
  `confirm(batch)` when `capabilities.inbox`; what they return carries a de-duplication key.
* `check()` from `tawasul-hub config check`, `describe()` for people, `close()` at shutdown.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from typing import Any, ClassVar

import structlog
from pydantic import BaseModel, ConfigDict, Field

from adapters.errors import DeliveryError, RetriableDeliveryError
from schemas import (
    AgencyConfig,
    Envelope,
    FollowOnEnvelope,
    FollowOnKind,
    Inbound,
    InboxBatch,
    PollItem,
    Receipt,
)


class NoSettings(BaseModel):
    """For adapters that take no settings: any key given is an error."""

    model_config = ConfigDict(extra="forbid")


class Capabilities(BaseModel):
    """What an adapter does beyond delivering; the hub reads these, never the adapter's kind."""

    model_config = ConfigDict(frozen=True)

    manual: bool = False
    """Delivery means a place on the central office's follow-up queue: no network, nothing to limit,
    and every follow-on message becomes work for an officer."""
    follow_ons: frozenset[FollowOnKind] = frozenset()
    """Follow-on kinds that reach the agency; any other goes to the follow-up queue instead."""
    status_poll: bool = False
    """The hub calls `poll` every `poll_interval` seconds for the agency's open handoffs."""
    inbox: bool = False
    """The hub calls `receive` every `poll_interval` seconds to read the agency's stream."""
    poll_interval: float = Field(default=60.0, gt=0)
    lookup: bool = False
    """`lookup` can tell whether the agency already has a case (after an uncertain delivery)."""
    idempotent: bool = False
    """The agency recognises a repeated delivery by its idempotency key, so resending is safe."""
    callbacks: bool = False
    """The agency calls the hub's agency API itself."""
    attachments: bool = False
    """Attachments reach the agency (otherwise only their descriptions do)."""

    @property
    def reminders(self) -> bool:
        """Whether deadline reminders reach the agency itself (not only the follow-up queue)."""
        return FollowOnKind.reminder in self.follow_ons


class Adapter(ABC):
    """Speaks one agency's protocol. Subclasses set `kind`, `settings_model` and `capabilities`.

    The constructor does no I/O (no connection, no file fetched): a bad endpoint shows in
    `check()`, not at start-up. `deliver` must be safe to call again with the same envelope.
    """

    kind: ClassVar[str]
    settings_model: ClassVar[type[BaseModel]] = NoSettings
    capabilities: Capabilities = Capabilities()
    """What this adapter can do; an instance may narrow or widen it from its agency's settings."""
    retriable_errors: ClassVar[tuple[type[BaseException], ...]] = ()
    """Library exceptions after which the same call may well succeed later (timeouts, resets)."""

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

    def follow_on(self, envelope: FollowOnEnvelope) -> Receipt:
        """Send one follow-on message (only kinds in `capabilities.follow_ons` are given)."""
        raise NotImplementedError(f"{self.kind} adapters send no follow-on messages")

    def lookup(self, envelope: Envelope) -> Receipt | None:
        """Whether the agency already has this case: its receipt, or None (only with `capabilities.lookup`)."""
        raise NotImplementedError(f"{self.kind} adapters cannot look a case up")

    def poll(self, items: list[PollItem]) -> list[Inbound]:
        """What the agency says now about these handoffs (only with `capabilities.status_poll`).

        Each message names its handoff and carries the key of the agency's change; raise
        InboundError when the agency cannot be read at all.
        """
        raise NotImplementedError(f"{self.kind} adapters do not poll")

    def receive(self, cursor: str | None) -> InboxBatch:
        """Read the agency's stream from `cursor` (only with `capabilities.inbox`); never mark anything read.

        Return the messages, what names no handoff (`unmatched`), and the cursor to start from next.
        """
        raise NotImplementedError(f"{self.kind} adapters have no inbox")

    def confirm(self, batch: InboxBatch) -> None:  # noqa: B027 - optional hook with a harmless default
        """The hub committed `batch`: now flag or move what it read; default: nothing to do."""

    def classify(self, exc: BaseException) -> DeliveryError | None:
        """The delivery error a library exception means, or None for a bug in the adapter.

        The default knows the hub's own errors and `retriable_errors`; adapters add their own rules.
        """
        if isinstance(exc, DeliveryError):
            return exc
        if isinstance(exc, self.retriable_errors):
            return RetriableDeliveryError(f"{type(exc).__name__}: {exc}")
        return None

    def check(self) -> None:  # noqa: B027 - optional hook with a harmless default
        """Raise ConfigError if the agency's endpoint is unusable (reachability, credentials); default: nothing."""

    def close(self) -> None:  # noqa: B027 - optional hook with a harmless default
        """Release connections; default: nothing to release."""

    def describe(self) -> dict[str, Any]:
        """Non-secret facts for `config check` and the console."""
        caps = self.capabilities.model_dump(mode="json")
        caps["follow_ons"] = sorted(caps["follow_ons"])
        return {"kind": self.kind, "capabilities": caps}
