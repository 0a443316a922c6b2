"""HTTP for every adapter: one client that bounds each call in total time and in bytes read.

`requests` alone bounds each socket read, not a whole call: a server that drips one byte a second
keeps a request alive for ever, and `response.content` reads an endless body into memory. Here
every request runs under a watchdog that shuts the connection down once `total` seconds have
passed (headers or body), and every body is read through one counter that stops at a limit.

Errors say what happens next, and whether the agency may have seen the request: a failure to
connect is retriable; a failure after the request went out is *uncertain* (the agency may have
acted on it), unless the call is safe to repeat (a GET, a lookup).
"""

from __future__ import annotations

import contextlib
import email.utils
import ipaddress
import json
import socket
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Annotated, Any

import requests
from pydantic import BaseModel, ConfigDict, FilePath, StringConstraints, model_validator
from requests.adapters import HTTPAdapter
from requests.exceptions import ChunkedEncodingError, ContentDecodingError
from urllib3.connection import HTTPConnection, HTTPSConnection
from urllib3.connectionpool import HTTPConnectionPool, HTTPSConnectionPool

from adapters.errors import DeliveryError, PermanentDeliveryError, RetriableDeliveryError, UncertainDeliveryError
from adapters.watchdog import watchdog

HttpUrl = Annotated[str, StringConstraints(pattern=r"^https?://[^\s/?#]+(/[^\s?#]*)?$")]
"""An absolute http(s) URL without query or fragment (adapters refuse http:// unless told otherwise)."""

RETRIABLE: tuple[type[Exception], ...] = (
    requests.ConnectionError,  # refused, reset, dropped, DNS, TLS handshake
    requests.Timeout,  # connect and read timeouts
    ChunkedEncodingError,  # the agency closed the connection mid-body
    ContentDecodingError,
)
"""requests' exceptions after which the same request may well succeed later."""

ERROR_BODY_BYTES = 64 * 1024
"""What is read of an answer the hub does not use beyond an excerpt (errors, token endpoints)."""
EXCERPT_CHARS = 500
CHUNK = 16 * 1024
POOL_SIZE = 16
"""Connections kept per host: at least a worker's thread count."""

Guard = Callable[[str, str], None]
"""Called with (host, peer IP) once a connection is made, before anything is sent; raises to refuse."""


@dataclass(frozen=True)
class Answer:
    """A response read within its limits: status, headers and at most the limit's bytes of body."""

    status: int
    reason: str
    headers: Mapping[str, str]
    content: bytes
    encoding: str | None = None

    def text(self) -> str:
        """The body as text (replacement characters where it is not valid in its charset)."""
        return self.content.decode(self.encoding or "utf-8", errors="replace")

    def excerpt(self) -> str:
        """The start of the answer, for the follow-up queue: status line plus body."""
        return f"{self.status} {self.reason}: {self.text()[:EXCERPT_CHARS]}"

    def json(self, *, what: str = "agency") -> Any:
        """The JSON body of a successful answer; anything else is permanent (it may have taken the case)."""
        try:
            return json.loads(self.content)
        except ValueError:
            raise PermanentDeliveryError(
                f"{what} answered {self.status} but its body is not JSON; "
                "it may have taken the case: check with the agency before delivering again",
                response_excerpt=self.excerpt(),
            ) from None

    def retry_after(self) -> float | None:
        """Seconds the server asked us to wait (Retry-After as seconds or an HTTP date), if it said."""
        value = (self.headers.get("Retry-After") or "").strip()
        if not value:
            return None
        if value.isdigit():
            return float(value)
        try:
            when = email.utils.parsedate_to_datetime(value)
        except (TypeError, ValueError):
            return None
        return max(0.0, when.timestamp() - time.time())


def classify(answer: Answer, success: frozenset[int], *, what: str = "agency") -> None:
    """Return quietly for a success status; otherwise raise the error that says what happens next.

    429 and 5xx are retriable (Retry-After honoured), and so is 409 "a request with this
    idempotency key is in progress"; any other status is permanent.
    """
    status = answer.status
    if status in success:
        return
    if status == 429 or status >= 500 or (status == 409 and "progress" in answer.text().lower()):
        raise RetriableDeliveryError(
            f"{what} answered {status}", retry_after=answer.retry_after(), response_excerpt=answer.excerpt()
        )
    raise PermanentDeliveryError(f"{what} refused the request ({status})", response_excerpt=answer.excerpt())


class TooLarge(PermanentDeliveryError):
    """Raised when an answer's body is longer than the hub reads."""


class _Call(threading.local):
    """The request the current thread is making: the connection in use and how far it got."""

    holder: list[HTTPConnection | None] | None = None
    """Shared with the watchdog (adapters.watchdog), which shuts the connection down when time is up."""
    guard: Guard | None = None
    connected: bool = False
    requested: bool = False

    def reset(self, guard: Guard | None, holder: list[HTTPConnection | None] | None) -> None:
        self.holder, self.guard, self.connected, self.requested = holder, guard, False, False


_call = _Call()


class _Tracked(HTTPConnection):
    """A urllib3 connection that tells the current call which socket it uses, and checks the peer first."""

    def _new_conn(self) -> socket.socket:
        sock = super()._new_conn()
        if _call.guard is not None:
            try:
                _call.guard(self.host, sock.getpeername()[0])
            except BaseException:
                sock.close()
                raise
        _call.connected = True
        return sock

    def request(self, *args: Any, **kwargs: Any) -> None:
        if _call.holder is not None:
            _call.holder[0] = self
        if getattr(self, "sock", None) is not None:  # kept alive from an earlier call: connected all the same
            _call.connected = True
        _call.requested = True
        super().request(*args, **kwargs)


class _TrackedHTTPS(_Tracked, HTTPSConnection):
    pass


class _HTTPPool(HTTPConnectionPool):
    ConnectionCls = _Tracked


class _HTTPSPool(HTTPSConnectionPool):
    ConnectionCls = _TrackedHTTPS


class _Transport(HTTPAdapter):
    def init_poolmanager(self, *args: Any, **kwargs: Any) -> None:
        super().init_poolmanager(*args, **kwargs)
        self.poolmanager.pool_classes_by_scheme = {"http": _HTTPPool, "https": _HTTPSPool}


def _abort(call_conn: list[HTTPConnection | None], flag: threading.Event) -> None:
    """Shut the connection's socket down so a blocked read returns at once."""
    flag.set()
    conn = call_conn[0]
    sock = getattr(conn, "sock", None)
    if sock is not None:
        with contextlib.suppress(OSError):
            sock.shutdown(socket.SHUT_RDWR)


class HttpClient:
    """One agency's (or the attachment store's) HTTP client; thread-safe, never mutated after construction.

    Redirects are never followed and proxies or .netrc from the environment never apply: a call
    goes where the configuration says, or nowhere.
    """

    def __init__(
        self,
        *,
        connect_timeout: float,
        read_timeout: float,
        total: float,
        cert: str | tuple[str, str] | None = None,
        verify: str | bool = True,
        guard: Guard | None = None,
    ) -> None:
        self.timeout = (connect_timeout, read_timeout)
        self.total = total
        self.guard = guard
        self.session = requests.Session()
        self.session.trust_env = False
        transport = _Transport(pool_connections=4, pool_maxsize=POOL_SIZE, max_retries=0)
        self.session.mount("https://", transport)
        self.session.mount("http://", transport)
        if cert is not None:
            self.session.cert = cert
        self.session.verify = verify

    def request(
        self,
        method: str,
        url: str,
        *,
        body: bytes = b"",
        headers: Mapping[str, str] | None = None,
        limit: int = ERROR_BODY_BYTES,
        safe: bool | None = None,
        what: str = "agency",
        auth: tuple[str, str] | None = None,
        form: Mapping[str, str] | None = None,
    ) -> Answer:
        """One call, bounded by `total` seconds and `limit` bytes of body.

        Raises RetriableDeliveryError when nothing reached the server (or the call is `safe` to
        repeat: GET and HEAD by default), UncertainDeliveryError when the request may have reached
        it, TooLarge when the body exceeds `limit`.
        """
        safe = method in ("GET", "HEAD") if safe is None else safe
        holder: list[HTTPConnection | None] = [None]
        _call.reset(self.guard, holder)
        aborted = threading.Event()
        alarm = watchdog.arm(self.total, lambda: _abort(holder, aborted))
        try:
            try:
                response = self.session.request(
                    method,
                    url,
                    data=form if form is not None else (body or None),
                    headers=dict(headers or {}),
                    timeout=self.timeout,
                    stream=True,
                    allow_redirects=False,
                    auth=auth,
                )
                with response:
                    content = _read(response, limit, what)
            except RETRIABLE as exc:
                raise self._failed(exc, aborted.is_set(), safe, what) from exc
        finally:
            alarm.cancel()
            _call.reset(None, None)
        return Answer(response.status_code, response.reason or "", dict(response.headers), content, response.encoding)

    def _failed(self, exc: Exception, aborted: bool, safe: bool, what: str) -> DeliveryError:
        if aborted:
            reason = f"{what} gave no complete answer within {self.total:g} s"
        else:
            reason = f"{what} unreachable: {type(exc).__name__}: {exc}"
        may_have_sent = _call.connected and _call.requested and not isinstance(exc, requests.ConnectTimeout)
        if may_have_sent and not safe:
            return UncertainDeliveryError(f"{reason}; the request may have reached it")
        return RetriableDeliveryError(reason)

    def close(self) -> None:
        """Release pooled connections."""
        self.session.close()


def _read(response: requests.Response, limit: int, what: str) -> bytes:
    """At most `limit` bytes of (decoded) body; more is TooLarge, never read into memory."""
    declared = response.headers.get("Content-Length", "")
    if declared.isdigit() and int(declared) > limit:
        raise TooLarge(f"{what} answered {response.status_code} with {declared} bytes; the hub reads at most {limit}")
    data = bytearray()
    for chunk in response.iter_content(CHUNK):
        data += chunk
        if len(data) > limit:
            raise TooLarge(f"{what} answered {response.status_code} with more than the {limit} bytes the hub reads")
    return bytes(data)


def public_address(host: str, ip: str) -> None:
    """Guard: refuse loopback, private, link-local, multicast and reserved addresses."""
    address = ipaddress.ip_address(ip.split("%", 1)[0])
    if not address.is_global:
        raise PermanentDeliveryError(f"{host} resolves to {ip}, which is not a public address")


class Tls(BaseModel):
    """Client certificate (mutual TLS) and the CA bundle that signs the agency's server certificate."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    client_cert: FilePath | None = None
    client_key: FilePath | None = None
    ca_bundle: FilePath | None = None

    @model_validator(mode="after")
    def _key_with_cert(self) -> Tls:
        if self.client_key is not None and self.client_cert is None:
            raise ValueError("tls.client_key without tls.client_cert")
        return self


def agency_client(tls: Tls | None, *, connect_timeout: float, read_timeout: float, total: float) -> HttpClient:
    """The client for one agency's endpoint, with its client certificate and CA bundle when it has them."""
    cert: str | tuple[str, str] | None = None
    verify: str | bool = True
    if tls is not None and tls.client_cert is not None:
        cert = (str(tls.client_cert), str(tls.client_key)) if tls.client_key else str(tls.client_cert)
    if tls is not None and tls.ca_bundle is not None:
        verify = str(tls.ca_bundle)
    return HttpClient(connect_timeout=connect_timeout, read_timeout=read_timeout, total=total, cert=cert, verify=verify)
