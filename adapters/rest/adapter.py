"""The generic REST adapter: one class, every REST agency described by its YAML block."""

from __future__ import annotations

import json
import uuid
from typing import Any
from urllib.parse import quote

import jmespath
from pydantic import BaseModel
from typing_extensions import override
from urllib3.filepost import encode_multipart_formdata

from adapters.attachments import AttachmentFetcher, Fetched
from adapters.base import Adapter, Capabilities
from adapters.errors import ConfigError, DeliveryError, PermanentDeliveryError, RetriableDeliveryError
from adapters.http import RETRIABLE, Answer, agency_client, classify
from adapters.mapping import MappingBuilder, context
from adapters.rest.auth import Credentials
from adapters.rest.settings import RestSettings
from adapters.secrets import secret
from adapters.signing import HANDOFF_HEADER, IDEMPOTENCY_HEADER, signed_headers
from schemas import AgencyConfig, Envelope, FollowOnEnvelope, Inbound, PollItem, Receipt

JSON = "application/json; charset=utf-8"


def fill(template: str, **values: str | None) -> str:
    """A path template with each value percent-encoded (no value can add a segment or a parameter)."""
    return template.format(**{name: quote(value or "", safe="") for name, value in values.items()})


class RestAdapter(Adapter):
    """Delivers cases to an agency's REST API, sends its follow-on messages, looks cases up and polls.

    One bounded HTTP client per agency, shared by the worker's threads and never mutated after
    construction (credentials and signatures go in per-request headers). Attachments are fetched
    by a client of their own, without the agency's client certificate.
    """

    kind = "rest"
    settings_model = RestSettings
    retriable_errors = RETRIABLE
    settings: RestSettings

    def __init__(self, agency: AgencyConfig, settings: BaseModel) -> None:
        super().__init__(agency, settings)
        s = self.settings
        self.client = agency_client(
            s.tls, connect_timeout=s.connect_timeout, read_timeout=s.read_timeout, total=s.total
        )
        self.fetcher = AttachmentFetcher(connect_timeout=s.connect_timeout, read_timeout=s.read_timeout, total=s.total)
        self.credentials = Credentials(s.auth, self.client)
        self.body = MappingBuilder(s.body)
        self.follow_on_bodies = {kind: MappingBuilder(call.body) for kind, call in s.follow_ons.items()}
        self._success = frozenset(s.success_statuses)
        self._ticket = jmespath.compile(s.ticket) if s.ticket else None
        self.capabilities = Capabilities(
            callbacks=True,
            attachments=True,
            follow_ons=frozenset(s.follow_ons),
            status_poll=s.poll is not None,
            poll_interval=s.poll.every_seconds if s.poll is not None else 60.0,
            lookup=s.lookup is not None,
            idempotent=s.honours_idempotency_key,
        )

    @override
    def deliver(self, envelope: Envelope) -> Receipt:
        s = self.settings
        entries, files = self.fetcher.prepare(envelope.case.attachments, s.attachments)
        ctx = context(envelope, entries)
        payload = self.body.build(ctx, {"handoff": envelope.handoff_id, "case": ctx["case"], "attachments": entries})
        body, content_type = _encode(payload, files)
        headers = {**s.headers, "Content-Type": content_type, HANDOFF_HEADER: envelope.handoff_id}
        path = fill(s.deliver_path, handoff_id=envelope.handoff_id, reference=envelope.case.reference)
        answer = self._send(s.method, path, body, headers, key=envelope.idempotency_key)
        classify(answer, self._success)
        return Receipt(agency_reference=self._ticket_in(answer))

    @override
    def follow_on(self, envelope: FollowOnEnvelope) -> Receipt:
        f = envelope.follow_on
        call = self.settings.follow_ons[f.kind]
        default = {
            "handoff": envelope.handoff_id,
            "agency_reference": envelope.agency_reference,
            "follow_on": f.model_dump(mode="json"),
        }
        payload = self.follow_on_bodies[f.kind].build(context(envelope), default)
        body = json.dumps(payload, ensure_ascii=False).encode("utf-8")
        path = fill(
            call.path,
            handoff_id=envelope.handoff_id,
            agency_reference=envelope.agency_reference,
            reference=envelope.case.reference,
        )
        headers = {**self.settings.headers, "Content-Type": JSON, HANDOFF_HEADER: envelope.handoff_id}
        classify(self._send(call.method, path, body, headers, key=envelope.idempotency_key), self._success)
        return Receipt(agency_reference=envelope.agency_reference)

    @override
    def lookup(self, envelope: Envelope) -> Receipt | None:
        spec = self.settings.lookup
        if spec is None:
            raise NotImplementedError("no lookup configured")
        path = fill(
            spec.path,
            reference=envelope.case.reference,
            handoff_id=envelope.handoff_id,
            idempotency_key=envelope.idempotency_key,
        )
        answer = self._send("GET", path, b"", {}, limit=self.settings.max_answer_bytes)
        if answer.status in (404, 410):
            return None
        classify(answer, frozenset({200}), what="agency lookup")
        found = jmespath.search(spec.ticket, answer.json(what="agency lookup"))
        return None if found in (None, "", []) else Receipt(agency_reference=str(found))

    @override
    def poll(self, items: list[PollItem]) -> list[Inbound]:
        """One status request per handoff; a refused one is skipped, an unreachable agency ends the pass."""
        p = self.settings.poll
        if p is None:
            return []
        messages: list[Inbound] = []
        for item in items:
            if "{agency_reference}" in p.path and not item.agency_reference:
                continue
            path = fill(p.path, agency_reference=item.agency_reference, handoff_id=item.handoff_id)
            try:
                answer = self._send("GET", path, b"", {}, limit=self.settings.max_answer_bytes)
                classify(answer, frozenset({200}), what="agency status")
                data = answer.json(what="agency status")
            except RetriableDeliveryError as exc:  # unreachable or overloaded: one timeout per pass is enough
                self.log.warning("poll.stopped", handoff=item.handoff_id, error=str(exc))
                break
            except DeliveryError as exc:  # this ticket only (unknown to the agency, say)
                self.log.warning("poll.failed", handoff=item.handoff_id, error=str(exc))
                continue
            message = p.message(item, data)
            if message is not None:
                messages.append(message)
        return messages

    @override
    def check(self) -> None:
        """Every environment variable the settings name is set, and the agency's server answers."""
        for name in self.settings.secret_envs():
            try:
                secret(name)
            except DeliveryError as exc:
                raise ConfigError(str(exc)) from None
        try:
            self.client.request("GET", self.settings.base_url, what="agency")
        except DeliveryError as exc:
            raise ConfigError(f"{self.settings.base_url}: {exc}") from None

    @override
    def close(self) -> None:
        self.client.close()
        self.fetcher.close()

    @override
    def describe(self) -> dict[str, Any]:
        s = self.settings
        return {
            **super().describe(),
            "base_url": s.base_url,
            "auth": s.auth.type,
            "attachments": s.attachments.mode,
            "polls": s.poll.path if s.poll else None,
            "follow_ons": {kind.value: f"{call.method} {call.path}" for kind, call in s.follow_ons.items()},
        }

    def _ticket_in(self, answer: Answer) -> str | None:
        if self._ticket is None:
            return None
        found = self._ticket.search(answer.json())
        if found is None or found == "":
            raise PermanentDeliveryError(
                f"agency answered {answer.status} without a ticket id at `{self.settings.ticket}`; "
                "it may have taken the case: check with the agency before delivering again",
                response_excerpt=answer.excerpt(),
            )
        return str(found)

    def _send(
        self, method: str, path: str, body: bytes, headers: dict[str, str], *, key: str = "", limit: int | None = None
    ) -> Answer:
        """One signed, bounded request; with OAuth2, a 401 is retried once with a fresh token."""
        url = self.settings.base_url.rstrip("/") + "/" + path.lstrip("/")
        if key:
            headers = {**headers, IDEMPOTENCY_HEADER: key}
        answer = self._request(method, url, body, headers, key, limit)
        if answer.status == 401 and self.credentials.refreshable:
            self.credentials.forget()
            answer = self._request(method, url, body, headers, key, limit)
        return answer

    def _request(
        self, method: str, url: str, body: bytes, headers: dict[str, str], key: str, limit: int | None
    ) -> Answer:
        signing = secret(self.settings.signing_secret_env).get_secret_value()
        all_headers = {
            "Accept": "application/json",
            **headers,
            **self.credentials.headers(),
            **signed_headers(signing, method, url, body, idempotency_key=key),
        }
        return self.client.request(
            method, url, body=body, headers=all_headers, limit=limit or self.settings.max_answer_bytes
        )


def _encode(payload: Any, files: list[Fetched]) -> tuple[bytes, str]:
    """UTF-8 JSON (Arabic stays as it is, never escaped), or multipart with the JSON as part `case`."""
    data = json.dumps(payload, ensure_ascii=False).encode("utf-8")
    if not files:
        return data, JSON
    fields: list[tuple[str, Any]] = [("case", ("case.json", data, JSON))]
    fields += [("files", (f.filename, f.data, f.content_type)) for f in files]
    return encode_multipart_formdata(fields, boundary=uuid.uuid4().hex)
