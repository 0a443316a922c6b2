"""Request dependencies: the hub and the caller's identity."""

from __future__ import annotations

from fastapi import Depends, HTTPException, Request, status
from fastapi.security import APIKeyHeader

from broker.hub import Hub

api_key_header = APIKeyHeader(name="X-API-Key", auto_error=False, description="The national system's key.")


# Both are `async def` though they never await: FastAPI runs a plain `def` dependency in its thread
# pool, a hop (and a GIL hand-over) per dependency per request that cost more than the check itself.


async def get_hub_dep(request: Request) -> Hub:
    """The hub this app serves."""
    hub: Hub = request.app.state.hub
    return hub


async def national_system(key: str | None = Depends(api_key_header), hub: Hub = Depends(get_hub_dep)) -> str:
    """Admit the national system by its API key (HUB_NATIONAL_API_KEY, or the previous one during a rotation)."""
    if key is None:
        raise HTTPException(status.HTTP_401_UNAUTHORIZED, "missing X-API-Key header", {"WWW-Authenticate": "ApiKey"})
    if not hub.settings.is_national_key(key):
        raise HTTPException(status.HTTP_401_UNAUTHORIZED, "wrong API key", {"WWW-Authenticate": "ApiKey"})
    return "national-system"
