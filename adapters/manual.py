"""The manual adapter: for agencies not yet connected, delivery is a place on the follow-up queue."""

from __future__ import annotations

from typing_extensions import override

from adapters.base import Adapter, Capabilities
from schemas import Envelope, Receipt


class ManualAdapter(Adapter):
    """The central office phones or writes to the agency; every follow-on message is work for an officer."""

    kind = "manual"
    capabilities = Capabilities(manual=True)

    @override
    def deliver(self, envelope: Envelope) -> Receipt:
        self.log.info("handoff.manual", handoff=envelope.handoff_id)
        return Receipt()
