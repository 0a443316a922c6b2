"""The generic REST adapter (`kind: rest`): agencies with an HTTP API, integrated by YAML alone."""

from adapters.rest.adapter import RestAdapter
from adapters.rest.settings import RestSettings

__all__ = ["RestAdapter", "RestSettings"]
