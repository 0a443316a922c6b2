"""Open311 GeoReport v2 (https://wiki.open311.org/GeoReport_v2): a case becomes a service request.

* `POST {base_url}/requests.json` (form-encoded: `api_key`, `jurisdiction_id`, `service_code`,
  `description`, `address_string`, `first_name`) answers `[{"service_request_id": ...}]`, or
  `[{"token": ...}]` when the server assigns the id later (`GET tokens/{token}.json`).
* `GET {base_url}/requests/{id}.json` is polled: `status` open/closed, `status_notes`,
  `expected_datetime`, `updated_datetime`.
* `GET {base_url}/services.json` lists the service codes; `check()` verifies the configured ones.
* Errors are `[{"code": ..., "description": ...}]` with a 4xx status: the agency's refusal.
"""

from __future__ import annotations

import hashlib
from datetime import datetime
from typing import Annotated, Any

import requests
from pydantic import BaseModel, ConfigDict, Field, StringConstraints

from adapters.base import Adapter, Capabilities
from adapters.errors import ConfigError, DeliveryError, InboundError, PermanentDeliveryError, RetriableDeliveryError
from adapters.secrets import EnvName, secret
from schemas import Envelope, Inbound, MessageKind, PollItem, Receipt

TOKEN = "token:"  # noqa: S105 - a prefix, not a secret
"""An agency reference that is still a token (the server has not given the request its id yet)."""


class Open311Settings(BaseModel):
    """The `open311` adapter's settings under `adapter:` in agencies.yaml."""

    model_config = ConfigDict(extra="forbid")

    base_url: Annotated[str, StringConstraints(pattern=r"^https?://")]
    """The endpoint's root, e.g. https://311.muharraq.example.bh/open311/v2 (no trailing slash)."""
    api_key_env: EnvName | None = None
    """The environment variable holding the `api_key` the server issued (never the key itself)."""
    jurisdiction_id: str | None = None
    service_codes: dict[str, str] = {}
    """The hub's category to the server's `service_code`."""
    default_service_code: str | None = None
    """For a category not in `service_codes`; without one, such a case is refused."""
    poll_interval: float = Field(default=300.0, gt=0)
    timeout: float = Field(default=10.0, gt=0)


class Open311Adapter(Adapter):
    """Creates an Open311 service request per case and polls its status."""

    kind = "open311"
    settings_model = Open311Settings
    settings: Open311Settings
    capabilities = Capabilities(status_poll=True, poll_interval=300.0)
    retriable_errors = (requests.ConnectionError, requests.Timeout, ConnectionError, TimeoutError)

    def __init__(self, agency: Any, settings: BaseModel) -> None:
        super().__init__(agency, settings)
        self.capabilities = Capabilities(status_poll=True, poll_interval=self.settings.poll_interval)

    def _url(self, path: str) -> str:
        return f"{self.settings.base_url.rstrip('/')}/{path}"

    def _common(self) -> dict[str, str]:
        params: dict[str, str] = {}
        if self.settings.jurisdiction_id:
            params["jurisdiction_id"] = self.settings.jurisdiction_id
        return params

    def _api_key(self) -> dict[str, str]:
        if self.settings.api_key_env is None:
            return {}
        return {"api_key": secret(self.settings.api_key_env).get_secret_value()}

    def _answer(self, response: requests.Response) -> Any:
        """The decoded answer; an Open311 error list becomes the right DeliveryError."""
        if response.status_code >= 400:
            try:
                errors = response.json()
                text = "; ".join(f"{e.get('code')}: {e.get('description')}" for e in errors)
            except (ValueError, AttributeError, TypeError):
                text = response.reason
            if response.status_code >= 500 or response.status_code == 429:
                raise RetriableDeliveryError(f"HTTP {response.status_code}: {text}")
            raise PermanentDeliveryError(f"HTTP {response.status_code}: {text}")
        return response.json()

    def service_code(self, category: str) -> str:
        """The server's service code for a hub category."""
        code = self.settings.service_codes.get(category, self.settings.default_service_code)
        if code is None:
            raise PermanentDeliveryError(f"no Open311 service_code for category '{category}'")
        return code

    def deliver(self, envelope: Envelope) -> Receipt:
        """POST requests.json; the answer's service_request_id (or token) becomes the agency reference."""
        case = envelope.case
        location = case.location.model_dump(exclude_none=True) if case.location else {}
        form = {
            **self._common(),
            **self._api_key(),
            "service_code": self.service_code(case.category),
            "description": f"{case.subject}\n\n{case.description}\n\n[Tawasul {case.reference}]",
            "address_string": ", ".join(str(v) for k, v in location.items() if k in ("block", "road", "governorate")),
        }
        if case.citizen is not None and case.citizen.name:
            form["first_name"] = case.citizen.name
        answer = self._answer(requests.post(self._url("requests.json"), data=form, timeout=self.settings.timeout))
        first = answer[0] if isinstance(answer, list) and answer else {}
        if first.get("service_request_id"):
            return Receipt(agency_reference=str(first["service_request_id"]))
        if first.get("token"):
            return Receipt(agency_reference=self.resolve(f"{TOKEN}{first['token']}"))
        raise RetriableDeliveryError("the server answered neither service_request_id nor token")

    def resolve(self, reference: str) -> str:
        """A token's service_request_id once the server has one; otherwise the token reference itself."""
        if not reference.startswith(TOKEN):
            return reference
        token = reference.removeprefix(TOKEN)
        answer = self._answer(
            requests.get(self._url(f"tokens/{token}.json"), params=self._common(), timeout=self.settings.timeout)
        )
        first = answer[0] if isinstance(answer, list) and answer else {}
        return str(first["service_request_id"]) if first.get("service_request_id") else reference

    def poll(self, items: list[PollItem]) -> list[Inbound]:
        """GET requests/{id}.json for each handoff: closed is an answer, notes are progress, open is an ack."""
        messages: list[Inbound] = []
        try:
            for item in items:
                if not item.agency_reference:
                    continue
                ref = self.resolve(item.agency_reference)
                if ref.startswith(TOKEN):
                    continue
                answer = self._answer(
                    requests.get(
                        self._url(f"requests/{ref}.json"), params=self._common(), timeout=self.settings.timeout
                    )
                )
                if answer:
                    messages.append(self.message(item, answer[0]))
        except (DeliveryError, requests.RequestException) as exc:
            raise InboundError(f"Open311 status poll failed: {exc}") from exc
        return messages

    @staticmethod
    def message(item: PollItem, record: dict[str, Any]) -> Inbound:
        """One request record as an agency message (the change key: status, update time, notes)."""
        status = str(record.get("status", "open"))
        notes = str(record.get("status_notes") or "")
        expected = record.get("expected_datetime")
        if status == "closed":
            kind = MessageKind.answered
        elif notes:
            kind = MessageKind.progress
        else:
            kind = MessageKind.acknowledged
        text = notes
        if expected and status != "closed":
            text = f"{notes}\nالموعد المتوقع / expected: {expected}".strip()
        changed = record.get("updated_datetime") or hashlib.sha256(notes.encode()).hexdigest()[:16]
        updated = record.get("updated_datetime")
        return Inbound(
            handoff=item.handoff_id,
            kind=kind,
            text=text,
            agency_reference=str(record["service_request_id"]),
            sent_at=datetime.fromisoformat(updated) if updated else None,
            dedup_key=f"open311:{record['service_request_id']}:{status}:{changed}",
        )

    def check(self) -> None:
        """GET services.json: the endpoint answers and every configured service code exists there."""
        try:
            answer = self._answer(
                requests.get(self._url("services.json"), params=self._common(), timeout=self.settings.timeout)
            )
        except (DeliveryError, requests.RequestException, ValueError) as exc:
            raise ConfigError(f"{self._url('services.json')}: {exc}") from None
        offered = {str(s.get("service_code")) for s in answer}
        wanted = set(self.settings.service_codes.values()) | (
            {self.settings.default_service_code} if self.settings.default_service_code else set()
        )
        missing = sorted(wanted - offered)
        if missing:
            raise ConfigError(f"service_code(s) not offered by the server: {', '.join(missing)}")

    def classify(self, exc: BaseException) -> DeliveryError | None:
        """Connection trouble is retriable; the rest is handled where the answer is read."""
        return super().classify(exc)

    def describe(self) -> dict[str, Any]:
        """Kind, capabilities, endpoint and service codes (never the api_key)."""
        return {**super().describe(), "base_url": self.settings.base_url, "service_codes": self.settings.service_codes}
