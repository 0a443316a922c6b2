"""zeep's transport and WS-Security, over the hub's bounded HTTP client.

Every call, the WSDL fetch included, goes through `adapters.http.HttpClient`: a total-time watchdog,
a cap on the bytes read, no redirect, no proxy from the environment. What the hub was doing when a
call failed (a submit that may have reached the agency, or a read that is safe to repeat) is set
per thread by the adapter around each operation, so zeep's own call path stays untouched.
"""

from __future__ import annotations

import base64
import hashlib
import os
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from typing import Any

import requests
from lxml import etree
from requests.structures import CaseInsensitiveDict
from zeep import Transport, ns
from zeep.cache import Base as CacheBase
from zeep.wsse import utils as wsse_utils

from adapters.http import Answer, HttpClient
from adapters.secrets import secret
from adapters.soap.settings import BasicAuth, UsernameToken

TOKEN_PROFILE = "http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-username-token-profile-1.0"  # noqa: S105 - a namespace
MESSAGE_SECURITY = "http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-soap-message-security-1.0"
BASE64 = f"{MESSAGE_SECURITY}#Base64Binary"


class _Current(threading.local):
    safe: bool = True
    what: str = "agency"
    last: Answer | None = None


class BoundedTransport(Transport):
    """A zeep Transport whose every request is one bounded HttpClient call."""

    def __init__(self, client: HttpClient, *, limit: int, cache: CacheBase | None, basic: BasicAuth | None) -> None:
        super().__init__(cache=cache, session=client.session)
        self.http = client
        self.limit = limit
        self.basic = basic
        self._current = _Current()

    @contextmanager
    def call(self, *, safe: bool, what: str) -> Iterator[None]:
        """Mark the calls made in the block: repeatable (`safe`) or not, and what people call the peer."""
        saved = self._current.safe, self._current.what
        self._current.safe, self._current.what, self._current.last = safe, what, None
        try:
            yield
        finally:
            self._current.safe, self._current.what = saved

    @property
    def last(self) -> Answer | None:
        """The last answer this thread read (for excerpts in errors)."""
        return self._current.last

    def _auth(self) -> tuple[str, str] | None:
        if self.basic is None:
            return None
        return self.basic.username, secret(self.basic.password_env).get_secret_value()

    def post(self, address: str, message: bytes | str, headers: dict[str, str]) -> requests.Response:
        """One operation call (zeep's entry point), bounded in time and bytes."""
        body = message.encode("utf-8") if isinstance(message, str) else message
        answer = self.http.request(
            "POST",
            address,
            body=body,
            headers=headers,
            limit=self.limit,
            safe=self._current.safe,
            what=self._current.what,
            auth=self._auth(),
        )
        self._current.last = answer
        return _response(answer, address)

    def get(self, address: str, params: dict[str, Any], headers: dict[str, str]) -> requests.Response:
        """An HTTP GET binding's call, bounded like the others (and always safe to repeat)."""
        url = requests.Request("GET", address, params=params).prepare().url or address
        answer = self.http.request(
            "GET", url, headers=headers, limit=self.limit, safe=True, what=self._current.what, auth=self._auth()
        )
        return _response(answer, url)

    def _load_remote_data(self, url: str) -> bytes:
        answer = self.http.request("GET", url, limit=self.limit, safe=True, what="agency WSDL", auth=self._auth())
        if answer.status != 200:
            from adapters.http import classify

            classify(answer, frozenset({200}), what="agency WSDL")
        return answer.content


def _response(answer: Answer, url: str) -> requests.Response:
    """The bounded answer dressed as the requests.Response zeep reads."""
    r = requests.Response()
    r.status_code = answer.status
    r.reason = answer.reason
    r.headers = CaseInsensitiveDict(answer.headers)
    r._content = answer.content
    r.encoding = answer.encoding
    r.url = url
    return r


class WsSecurity:
    """A WS-Security header per call: UsernameToken (text or digest, nonce, created) and a Timestamp.

    The password is read from the environment at each call, so a rotated secret applies at once.
    """

    def __init__(self, token: UsernameToken) -> None:
        self.token = token

    def apply(self, envelope: etree._Element, headers: dict[str, str]) -> tuple[etree._Element, dict[str, str]]:
        """Add the Security header to one outgoing envelope (zeep's plugin hook)."""
        t = self.token
        password = secret(t.password_env).get_secret_value()
        now = datetime.now(UTC).replace(microsecond=0)
        created = now.strftime("%Y-%m-%dT%H:%M:%SZ")
        nonce = os.urandom(16)
        security = wsse_utils.get_security_header(envelope)
        if t.timestamp:
            expires = (now + timedelta(seconds=t.timestamp_seconds)).strftime("%Y-%m-%dT%H:%M:%SZ")
            stamp = wsse_utils.WSU.Timestamp(wsse_utils.WSU.Created(created), wsse_utils.WSU.Expires(expires))
            stamp.set(f"{{{ns.WSU}}}Id", wsse_utils.get_unique_id())
            security.append(stamp)
        if t.digest:
            # the UsernameToken profile's digest is SHA-1 by definition
            digest = hashlib.sha1(nonce + created.encode() + password.encode(), usedforsecurity=False).digest()
            value = base64.b64encode(digest).decode()
            kind = "PasswordDigest"
        else:
            value, kind = password, "PasswordText"
        security.append(
            wsse_utils.WSSE.UsernameToken(
                wsse_utils.WSSE.Username(t.username),
                wsse_utils.WSSE.Password(value, Type=f"{TOKEN_PROFILE}#{kind}"),
                wsse_utils.WSSE.Nonce(base64.b64encode(nonce).decode(), EncodingType=BASE64),
                wsse_utils.WSU.Created(created),
            )
        )
        return envelope, headers

    def verify(self, envelope: etree._Element) -> etree._Element:
        """Answers are not signed: nothing to verify."""
        return envelope
