"""Request dependencies: the hub and the caller's identity."""

from __future__ import annotations

import hmac

from fastapi import Depends, HTTPException, Request, status
from fastapi.security import APIKeyHeader

from broker.hub import Hub

api_key_header = APIKeyHeader(name="X-API-Key", auto_error=False, description="The national system's key.")


def get_hub_dep(request: Request) -> Hub:
    """The hub this app serves."""
    hub: Hub = request.app.state.hub
    return hub


def national_system(key: str | None = Depends(api_key_header), hub: Hub = Depends(get_hub_dep)) -> str:
    """Admit the national system by its API key (from HUB_NATIONAL_API_KEY); returns the actor name."""
    expected = hub.settings.national_api_key
    if key is None:
        raise HTTPException(status.HTTP_401_UNAUTHORIZED, "missing X-API-Key header", {"WWW-Authenticate": "ApiKey"})
    if expected is None or not hmac.compare_digest(key.encode(), expected.get_secret_value().encode()):
        raise HTTPException(status.HTTP_401_UNAUTHORIZED, "wrong API key", {"WWW-Authenticate": "ApiKey"})
    return "national-system"
