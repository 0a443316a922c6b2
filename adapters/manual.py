"""The manual adapter: for agencies not yet connected, delivery is a place on the follow-up queue."""

from __future__ import annotations

from typing_extensions import override

from adapters.base import Adapter
from schemas import Envelope, Receipt, Reminder


class ManualAdapter(Adapter):
    """Puts the handoff on the central office's follow-up queue; they phone or write to the agency."""

    kind = "manual"
    remote = False  # a place on the follow-up queue: nothing to wait for, nothing to limit

    @override
    def deliver(self, envelope: Envelope) -> Receipt:
        self.log.info("handoff.manual", handoff=envelope.handoff_id)
        return Receipt(followup="manual: agency not yet connected; follow up by phone or letter")

    @override
    def remind(self, reminder: Reminder) -> None:
        # The handoff already sits on the follow-up queue (manual), and the sweep rewrites its reason
        # once it is overdue: the central office passes the reminder on by phone or letter.
        self.log.info("handoff.reminder_queued", handoff=reminder.handoff_id, reminder=reminder.kind.value)
