"""ASGI middleware: a body-size limit and strict UTF-8, checked before any route sees the body; request timing."""

from __future__ import annotations

import json
import time

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from broker.agency_keys import KeyGuard
from broker.metrics import HTTP_SECONDS


async def _reply(send: Send, status: int, detail: str, headers: list[tuple[bytes, bytes]] | None = None) -> None:
    body = json.dumps({"detail": detail}, ensure_ascii=False).encode()
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [
                (b"content-type", b"application/json; charset=utf-8"),
                (b"content-length", str(len(body)).encode()),
                *(headers or []),
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})


class BodyGuard:
    """Refuses bodies over `max_bytes` (413) and bodies that are not valid UTF-8 (400)."""

    def __init__(self, app: ASGIApp, max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Check the body, then hand the request on with the body replayed."""
        if scope["type"] != "http" or scope["method"] in ("GET", "HEAD", "DELETE", "OPTIONS"):
            await self.app(scope, receive, send)
            return
        headers = dict(scope["headers"])
        declared = headers.get(b"content-length")
        if declared is not None and declared.isdigit() and int(declared) > self.max_bytes:
            await _reply(send, 413, f"request body is larger than {self.max_bytes} bytes")
            return
        chunks: list[bytes] = []
        size = 0
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                return
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > self.max_bytes:
                await _reply(send, 413, f"request body is larger than {self.max_bytes} bytes")
                return
            chunks.append(chunk)
            if not message.get("more_body", False):
                break
        body = b"".join(chunks)
        if b"json" in headers.get(b"content-type", b"") or body[:1] in (b"{", b"["):
            try:
                body.decode("utf-8")
            except UnicodeDecodeError as exc:
                await _reply(send, 400, f"request body is not valid UTF-8 (byte {exc.start})")
                return
        replayed = False

        async def replay() -> Message:
            nonlocal replayed
            if not replayed:
                replayed = True
                return {"type": "http.request", "body": body, "more_body": False}
            return await receive()

        await self.app(scope, replay, send)


class RequestTimer:
    """ASGI middleware timing every request under its route template (never the raw path: ids stay out)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Time the request and record it once the response has started."""
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = 500

        async def sending(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, sending)
        finally:
            route = getattr(scope.get("route"), "path", "unmatched")
            HTTP_SECONDS.labels(route, scope["method"], str(status)).observe(time.perf_counter() - started)


class KeyThrottle:
    """Answers 429 to an address that sent too many wrong agency keys, before routing (H4).

    The check is a dictionary look-up on the event loop: a flood of refused keys takes no thread
    from the pool that national intake runs on, and no database read.
    """

    def __init__(self, app: ASGIApp, guard: KeyGuard, prefix: str = "/agency/") -> None:
        self.app = app
        self.guard = guard
        self.prefix = prefix

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Refuse a throttled address on the agency API; pass everything else on."""
        if scope["type"] == "http" and scope["path"].startswith(self.prefix):
            client = scope.get("client")
            address = client[0] if client else None
            wait = self.guard.address_wait(address)
            if wait > 0:
                self.guard.refusals.refused("throttled: too many wrong keys from this address", address=address)
                retry = str(max(1, round(wait))).encode()
                await _reply(
                    send, 429, "too many wrong API keys from this address; try again later", [(b"retry-after", retry)]
                )
                return
        await self.app(scope, receive, send)
