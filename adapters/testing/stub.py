"""A stub adapter that records every delivery and fails when told to: for tests of the hub and plugins."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict
from typing_extensions import override

from adapters.base import Adapter, Capabilities
from adapters.errors import PermanentDeliveryError, RetriableDeliveryError, UncertainDeliveryError
from schemas import (
    AgencyConfig,
    Envelope,
    FollowOnEnvelope,
    FollowOnKind,
    Inbound,
    InboxBatch,
    Notice,
    Receipt,
    Unmatched,
)


class StubSettings(BaseModel):
    """How the stub behaves; `record_file` lets another process see what was delivered."""

    model_config = ConfigDict(extra="forbid")

    fail: Literal["never", "retriable", "permanent", "uncertain"] = "never"
    fail_times: int = 0
    """With fail='retriable' or 'uncertain': fail only the first n attempts, then succeed."""
    follow_ons: list[FollowOnKind] = list(FollowOnKind)
    """The follow-on kinds it takes (recorded like deliveries)."""
    idempotent: bool = False
    """Whether it says it recognises a repeated idempotency key (so resending after doubt is safe)."""
    inbox_dir: str | None = None
    """A directory read as the agency's stream: each `*.json` file one item (an `Inbound`, or a `Notice` or
    `Unmatched` with `"type"` set), read in name order; `confirm` renames what it read to `*.read`."""
    delay_seconds: float = 0.0
    record_file: str | None = None


class StubAdapter(Adapter):
    """Records every delivery (in memory and optionally as JSON lines) and fails when told to."""

    kind = "stub"
    settings_model = StubSettings
    settings: StubSettings

    def __init__(self, agency: AgencyConfig, settings: BaseModel) -> None:
        super().__init__(agency, settings)
        self.deliveries: list[Envelope] = []
        self.follow_ons: list[FollowOnEnvelope] = []
        self.capabilities = Capabilities(
            callbacks=True,
            follow_ons=frozenset(self.settings.follow_ons),
            idempotent=self.settings.idempotent,
            inbox=self.settings.inbox_dir is not None,
            poll_interval=0.05,
        )

    def _record(self, event: str, envelope: Envelope) -> None:
        if self.settings.record_file:
            line = {
                "event": event,
                "handoff": envelope.handoff_id,
                "key": envelope.idempotency_key,
                "attempt": envelope.attempt,
                "subject": envelope.case.subject,
                "follow_on": envelope.follow_on.kind.value if isinstance(envelope, FollowOnEnvelope) else None,
            }
            with Path(self.settings.record_file).open("a", encoding="utf-8") as fh:
                fh.write(json.dumps(line, ensure_ascii=False) + "\n")

    @override
    def deliver(self, envelope: Envelope) -> Receipt:
        self._record("start", envelope)
        if self.settings.delay_seconds:
            time.sleep(self.settings.delay_seconds)
        s = self.settings
        if s.fail == "permanent":
            raise PermanentDeliveryError("stub told to refuse", response_excerpt="400 refused")
        failing = s.fail_times == 0 or envelope.attempt <= s.fail_times
        if s.fail == "retriable" and failing:
            raise RetriableDeliveryError("stub told to fail for now", retry_after=None)
        if s.fail == "uncertain" and failing:
            raise UncertainDeliveryError("stub told to time out after sending")
        self.deliveries.append(envelope)
        self._record("done", envelope)
        return Receipt(agency_reference=f"STUB-{envelope.handoff_id[-6:]}")

    @override
    def follow_on(self, envelope: FollowOnEnvelope) -> Receipt:
        self._record("follow_on", envelope)
        self.follow_ons.append(envelope)
        return Receipt(agency_reference=envelope.agency_reference)

    @override
    def receive(self, cursor: str | None) -> InboxBatch:
        """Every file after `cursor`, in name order (the cursor is the last name read)."""
        assert self.settings.inbox_dir is not None
        batch = InboxBatch(cursor=cursor)
        for path in sorted(Path(self.settings.inbox_dir).glob("*.json")):
            if cursor is not None and path.name <= cursor:
                continue
            item = json.loads(path.read_text(encoding="utf-8"))
            kind = item.pop("type", "message")
            if kind == "notice":
                batch.notices.append(Notice.model_validate(item))
            elif kind == "unmatched":
                batch.unmatched.append(Unmatched.model_validate(item))
            else:
                batch.messages.append(Inbound.model_validate(item))
            batch.cursor = path.name
        return batch

    @override
    def confirm(self, batch: InboxBatch) -> None:
        """Mark what was read, as a mailbox flags its messages: only once the hub has committed them."""
        assert self.settings.inbox_dir is not None
        for path in sorted(Path(self.settings.inbox_dir).glob("*.json")):
            if batch.cursor is not None and path.name <= batch.cursor:
                path.rename(path.with_suffix(".read"))


def read_records(path: str | Path) -> list[dict[str, Any]]:
    """The JSON lines a stub with `record_file` wrote."""
    p = Path(path)
    if not p.exists():
        return []
    return [json.loads(line) for line in p.read_text(encoding="utf-8").splitlines() if line]
