"""Adapters: the code that speaks each agency's protocol (they import `schemas` only)."""

from adapters.base import Adapter, Capabilities, NoSettings
from adapters.errors import ConfigError, DeliveryError, HubError, PermanentDeliveryError, RetriableDeliveryError
from adapters.registry import ENTRY_POINT_GROUP, adapter_class, known_kinds

__all__ = [
    "ENTRY_POINT_GROUP",
    "Adapter",
    "Capabilities",
    "ConfigError",
    "DeliveryError",
    "HubError",
    "NoSettings",
    "PermanentDeliveryError",
    "RetriableDeliveryError",
    "adapter_class",
    "known_kinds",
]
