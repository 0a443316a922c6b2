"""What an agency's `adapter:` block may say for `kind: rest`; checked at start-up, unknown keys refused.

Secrets never appear here: each one is the *name* of an environment variable, read at call time.
Paths are relative to `base_url` and may carry a query string; `{placeholders}` in them are
filled in percent-encoded, so a value can never add a path segment or a parameter.
"""

from __future__ import annotations

import re
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from adapters.attachments import AttachmentPolicy
from adapters.http import HttpUrl, Tls
from adapters.mapping import JmesPath, Mapping, StatusReading, compiles, placeholders
from adapters.secrets import EnvName
from schemas import FollowOnKind


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class NoAuth(_Strict):
    """The agency asks for no credentials (the signature still proves the sender)."""

    type: Literal["none"] = "none"


class ApiKeyAuth(_Strict):
    """A key sent in a header of the agency's choosing."""

    type: Literal["api_key"]
    header: str = "X-API-Key"
    key_env: EnvName


class BearerAuth(_Strict):
    """A long-lived bearer token the agency issued."""

    type: Literal["bearer"]
    token_env: EnvName


class OAuth2Auth(_Strict):
    """OAuth2 client credentials: the token is fetched, cached until shortly before expiry, refreshed on 401."""

    type: Literal["oauth2"]
    token_url: HttpUrl
    client_id: str
    client_secret_env: EnvName
    scope: str | None = None


class BasicAuth(_Strict):
    """HTTP basic authentication."""

    type: Literal["basic"]
    username: str
    password_env: EnvName


Auth = Annotated[NoAuth | ApiKeyAuth | BearerAuth | OAuth2Auth | BasicAuth, Field(discriminator="type")]


class Call(_Strict):
    """One request the hub makes for a follow-on message: where, how, and its body."""

    path: str
    method: Literal["POST", "PUT", "PATCH"] = "POST"
    body: Mapping = Mapping()
    """Without a mapping the body is the hub's own shape: `{"handoff", "agency_reference", "follow_on"}`."""

    @field_validator("path")
    @classmethod
    def _placeholders(cls, v: str) -> str:
        return placeholders(v, {"handoff_id", "agency_reference", "reference"})


class Lookup(_Strict):
    """How to ask the agency whether it already has a case (after a delivery that may have reached it)."""

    path: str
    """GET, relative to base_url; `{reference}`, `{handoff_id}` or `{idempotency_key}` are filled in."""
    ticket: JmesPath
    """Where the answer holds the ticket id; absent or empty (or a 404) means the agency has no such case."""

    @field_validator("path")
    @classmethod
    def _placeholders(cls, v: str) -> str:
        placeholders(v, {"reference", "handoff_id", "idempotency_key"})
        if "{" not in v:
            raise ValueError("name the case with {reference}, {handoff_id} or {idempotency_key}")
        return v

    @field_validator("ticket")
    @classmethod
    def _compiles(cls, v: str) -> str:
        return compiles(v)


class PollSettings(StatusReading):
    """Status polling for agencies that cannot call back."""

    path: str
    """GET, relative to base_url; `{agency_reference}` and/or `{handoff_id}` are filled in."""

    @field_validator("path")
    @classmethod
    def _placeholders(cls, v: str) -> str:
        placeholders(v, {"agency_reference", "handoff_id"})
        if "{" not in v:
            raise ValueError("name the case with {agency_reference} or {handoff_id}")
        return v


class RestSettings(_Strict):
    """One agency's REST integration, entirely by configuration."""

    base_url: HttpUrl
    plain_http: bool = False
    """Allow `http://` (for a simulator in tests and the demo); otherwise the base URL must be https."""
    deliver_path: str = "/cases"
    """Relative to base_url; may hold `{handoff_id}` or `{reference}` (for agencies that PUT by id)."""
    method: Literal["POST", "PUT"] = "POST"
    headers: dict[str, str] = {}
    """Fixed, non-secret headers the agency wants."""
    auth: Auth = NoAuth()
    signing_secret_env: EnvName
    """The variable holding the HMAC-SHA256 secret shared with the agency (every request is signed)."""
    tls: Tls | None = None
    body: Mapping = Mapping()
    """Without a mapping the body is the hub's own shape: `{"handoff", "case", "attachments"}`."""
    ticket: JmesPath | None = None
    """Where the response holds the agency's ticket id; when set, a response without it is refused."""
    success_statuses: list[int] = [200, 201, 202]
    connect_timeout: float = Field(default=5.0, gt=0)
    read_timeout: float = Field(default=30.0, gt=0)
    total_timeout: float | None = Field(default=None, gt=0)
    """The longest one call may take, however the agency drips its answer (default: connect + read)."""
    max_answer_bytes: int = Field(default=1024 * 1024, gt=0)
    """The most the hub reads of an agency's answer."""
    honours_idempotency_key: bool = False
    """The agency recognises a repeated `Idempotency-Key` and answers as the first time: resending
    after an uncertain delivery is then safe. Say so only when the agency confirmed it."""
    lookup: Lookup | None = None
    attachments: AttachmentPolicy = AttachmentPolicy()
    poll: PollSettings | None = None
    follow_ons: dict[FollowOnKind, Call] = {}
    """The follow-on messages this agency takes, each with its call; the others go to the follow-up
    queue for an officer to pass on."""

    @property
    def total(self) -> float:
        """The bound on one call."""
        return self.total_timeout or self.connect_timeout + self.read_timeout

    def secret_envs(self) -> list[str]:
        """Every environment variable this agency's settings name (the signing secret first)."""
        auth = [getattr(self.auth, f, None) for f in ("key_env", "token_env", "client_secret_env", "password_env")]
        return [self.signing_secret_env, *(name for name in auth if isinstance(name, str))]

    @field_validator("deliver_path")
    @classmethod
    def _deliver_placeholders(cls, v: str) -> str:
        return placeholders(v, {"handoff_id", "reference"})

    @field_validator("ticket")
    @classmethod
    def _ticket_compiles(cls, v: str | None) -> str | None:
        return v if v is None else compiles(v)

    @field_validator("success_statuses")
    @classmethod
    def _two_hundreds(cls, v: list[int]) -> list[int]:
        if not v or any(not 200 <= s < 300 for s in v):
            raise ValueError("success statuses must be 2xx")
        return v

    @field_validator("headers")
    @classmethod
    def _no_secret_headers(cls, v: dict[str, str]) -> dict[str, str]:
        for name in v:
            if re.search(r"auth|key|token|secret|signature|idempotency", name, re.IGNORECASE):
                raise ValueError(f"header '{name}' is set by the hub (auth, signature, key), not in YAML")
        return v

    @model_validator(mode="after")
    def _https(self) -> RestSettings:
        urls = [("base_url", self.base_url)]
        if isinstance(self.auth, OAuth2Auth):
            urls.append(("auth.token_url", self.auth.token_url))
        for name, url in urls:
            if url.startswith("http://") and not self.plain_http:
                raise ValueError(f"{name} must be https:// (set `plain_http: true` only for a test simulator)")
        return self
