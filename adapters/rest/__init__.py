"""The generic REST adapter (`kind: rest`): agencies with an HTTP API, integrated by YAML alone."""

from adapters.rest.adapter import IDEMPOTENCY_HEADER, PolledMessage, RestAdapter
from adapters.rest.classify import RETRIABLE, classify
from adapters.rest.settings import RestSettings

__all__ = ["IDEMPOTENCY_HEADER", "RETRIABLE", "PolledMessage", "RestAdapter", "RestSettings", "classify"]
