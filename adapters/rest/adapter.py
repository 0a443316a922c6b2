"""The generic REST adapter: one class, every REST agency described by its YAML block."""

from __future__ import annotations

import json
import uuid
from typing import Any

import jmespath
import requests
from pydantic import BaseModel
from requests.adapters import HTTPAdapter
from typing_extensions import override
from urllib3.filepost import encode_multipart_formdata

from adapters.base import Adapter, Capabilities, PollItem
from adapters.errors import PermanentDeliveryError, RetriableDeliveryError
from adapters.rest.attachments import Fetched, prepare
from adapters.rest.auth import Credentials, secret
from adapters.rest.body import BodyBuilder, context
from adapters.rest.classify import RETRIABLE, classify, excerpt, read_json
from adapters.rest.settings import RestSettings
from adapters.signing import signed_headers
from schemas import AgencyConfig, AgencyMessage, Envelope, Receipt, Reminder

IDEMPOTENCY_HEADER = "Idempotency-Key"
HANDOFF_HEADER = "X-Tawasul-Handoff"
POOL_SIZE = 16
"""Connections kept per agency host: at least the worker's thread count."""


class PolledMessage(AgencyMessage):
    """A message read from an agency's status endpoint, with the agency's own status code.

    The code, with the agency's reference, makes the de-duplication key: each change is taken once.
    """

    status_code: str


class RestAdapter(Adapter):
    """Delivers cases to an agency's REST API and, when configured, polls its status endpoint.

    One `requests.Session` per agency, shared by the worker's threads: it is never mutated after
    construction (credentials and signatures go in per-request headers), so only its thread-safe
    connection pool is shared.
    """

    kind = "rest"
    settings_model = RestSettings
    capabilities = Capabilities(callbacks=True, attachments=True)
    settings: RestSettings

    def __init__(self, agency: AgencyConfig, settings: BaseModel) -> None:
        super().__init__(agency, settings)
        s = self.settings
        self.timeout = (s.connect_timeout, s.read_timeout)
        self.session = requests.Session()
        self.session.trust_env = False  # proxies and .netrc from the environment must not reroute agency calls
        pool = HTTPAdapter(pool_connections=4, pool_maxsize=POOL_SIZE, max_retries=0)
        self.session.mount("https://", pool)
        self.session.mount("http://", pool)
        if s.tls is not None and s.tls.client_cert is not None:
            cert = str(s.tls.client_cert)
            self.session.cert = (cert, str(s.tls.client_key)) if s.tls.client_key else cert
        if s.tls is not None and s.tls.ca_bundle is not None:
            self.session.verify = str(s.tls.ca_bundle)
        self.credentials = Credentials(s.auth, self.session, self.timeout)
        self.body = BodyBuilder(s.body)
        self._success = frozenset(s.success_statuses)
        self._ticket = jmespath.compile(s.ticket) if s.ticket else None
        if s.poll is not None:  # polling depends on this agency's block
            self.capabilities = Capabilities(polling=True, callbacks=True, attachments=True)
            self.poll_interval = s.poll.every_seconds

    @override
    def deliver(self, envelope: Envelope) -> Receipt:
        s = self.settings
        entries, files = prepare(envelope.case.attachments, s.attachments, self.session, self.timeout)
        payload = self.body.build(context(envelope, entries))
        body, content_type = _encode(payload, files)
        headers = {
            **s.headers,
            "Content-Type": content_type,
            "Accept": "application/json",
            IDEMPOTENCY_HEADER: envelope.idempotency_key,
            HANDOFF_HEADER: envelope.handoff_id,
        }
        path = s.deliver_path.format(handoff_id=envelope.handoff_id, reference=envelope.case.reference)
        response = self._send(s.method, path, body, headers)
        classify(response, self._success)
        if self._ticket is None:
            return Receipt()
        found = self._ticket.search(read_json(response))
        if found is None or found == "":
            raise PermanentDeliveryError(
                f"agency answered {response.status_code} without a ticket id at `{s.ticket}`; "
                "it may have taken the case: check with the agency before delivering again",
                response_excerpt=excerpt(response),
            )
        return Receipt(agency_reference=str(found))

    @override
    def remind(self, reminder: Reminder) -> None:
        path = self.settings.remind_path
        if path is None:
            return
        target = path.format(handoff_id=reminder.handoff_id, agency_reference=reminder.agency_reference or "")
        body = reminder.model_dump_json().encode("utf-8")
        headers = {"Content-Type": "application/json; charset=utf-8", HANDOFF_HEADER: reminder.handoff_id}
        classify(self._send("POST", target, body, headers), self._success)

    @override
    def poll(self, items: list[PollItem]) -> list[AgencyMessage]:  # PolledMessage, each with its status code
        """One status request per handoff; a refused one is skipped, an unreachable agency ends the pass."""
        p = self.settings.poll
        if p is None:
            return []
        messages: list[AgencyMessage] = []
        for item in items:
            if "{agency_reference}" in p.path and not item.agency_reference:
                continue
            path = p.path.format(agency_reference=item.agency_reference, handoff_id=item.handoff_id)
            try:
                response = self._send("GET", path, b"", {"Accept": "application/json"})
                classify(response, frozenset({200}))
                data = read_json(response)
            except RetriableDeliveryError as exc:  # unreachable or overloaded: one timeout per pass is enough
                self.log.warning("poll.stopped", handoff=item.handoff_id, error=str(exc))
                break
            except PermanentDeliveryError as exc:  # this ticket only (unknown to the agency, say)
                self.log.warning("poll.failed", handoff=item.handoff_id, error=str(exc))
                continue
            code = jmespath.search(p.status, data)
            kind = p.codes.get(str(code)) if code is not None else None
            if kind is None:
                continue
            text = jmespath.search(p.text, data) if p.text else None
            reference = jmespath.search(p.reference, data) if p.reference else None
            messages.append(
                PolledMessage(
                    handoff=item.handoff_id,
                    kind=kind,
                    text=str(text or ""),
                    agency_reference=str(reference or item.agency_reference or "") or None,
                    status_code=str(code),
                )
            )
        return messages

    @override
    def check(self) -> None:
        """Every environment variable the agency's settings name is set."""
        for name in self.settings.secret_envs():
            secret(name)

    @override
    def close(self) -> None:
        self.session.close()

    @override
    def describe(self) -> dict[str, Any]:
        s = self.settings
        return {
            **super().describe(),
            "base_url": s.base_url,
            "auth": s.auth.type,
            "attachments": s.attachments.mode,
        }

    def _send(self, method: str, path: str, body: bytes, headers: dict[str, str]) -> requests.Response:
        """One signed request; with OAuth2, a 401 is retried once with a fresh token."""
        url = self.settings.base_url.rstrip("/") + "/" + path.lstrip("/")
        key = secret(self.settings.signing_secret_env).get_secret_value()
        response = self._request(method, url, body, headers, key)
        if response.status_code == 401 and self.credentials.refreshable:
            self.credentials.forget()
            response = self._request(method, url, body, headers, key)
        return response

    def _request(self, method: str, url: str, body: bytes, headers: dict[str, str], key: str) -> requests.Response:
        all_headers = {**headers, **self.credentials.headers(), **signed_headers(key, body)}
        try:
            return self.session.request(
                method, url, data=body or None, headers=all_headers, timeout=self.timeout, allow_redirects=False
            )
        except RETRIABLE as exc:
            raise RetriableDeliveryError(f"agency unreachable: {type(exc).__name__}: {exc}") from exc


def _encode(payload: Any, files: list[Fetched]) -> tuple[bytes, str]:
    """UTF-8 JSON (Arabic stays as it is, never escaped), or multipart with the JSON as part `case`."""
    data = json.dumps(payload, ensure_ascii=False).encode("utf-8")
    if not files:
        return data, "application/json; charset=utf-8"
    fields: list[tuple[str, Any]] = [("case", ("case.json", data, "application/json; charset=utf-8"))]
    fields += [("files", (f.filename, f.data, f.content_type)) for f in files]
    return encode_multipart_formdata(fields, boundary=uuid.uuid4().hex)
