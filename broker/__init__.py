"""The hub: store, outbox, dispatch, routing and follow-up at the core; APIs and CLI as faces."""

from broker.hub import Hub, get_hub
from broker.settings import Settings

__all__ = ["Hub", "Settings", "get_hub"]
