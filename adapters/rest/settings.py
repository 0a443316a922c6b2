"""What an agency's `adapter:` block may say for `kind: rest`; checked at start-up, unknown keys refused.

Secrets never appear here: each one is the *name* of an environment variable, read at call time.
"""

from __future__ import annotations

import re
import string
from typing import Annotated, Any, Literal

import jmespath
from jinja2 import TemplateSyntaxError
from jinja2.sandbox import ImmutableSandboxedEnvironment
from pydantic import BaseModel, ConfigDict, Field, FilePath, StringConstraints, field_validator, model_validator

from schemas import MessageKind

EnvName = Annotated[str, StringConstraints(pattern=r"^[A-Z][A-Z0-9_]*$")]
"""The name of an environment variable that holds a secret (never the secret itself)."""

HttpUrl = Annotated[str, StringConstraints(pattern=r"^https?://[^\s/]+(/\S*)?$")]


def _jmespath(expr: str) -> str:
    jmespath.compile(expr)  # raises a ParseError that pydantic reports with the field's path
    return expr


JmesPath = Annotated[str, StringConstraints(min_length=1)]


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


class Tls(_Strict):
    """Client certificate (mutual TLS) and the CA bundle that signs the agency's server certificate."""

    client_cert: FilePath | None = None
    client_key: FilePath | None = None
    ca_bundle: FilePath | None = None


class FieldRule(_Strict):
    """One target field: a JMESPath over the envelope, optionally through a code list or as a date."""

    path: JmesPath | None = None
    value: Any = None
    """A constant, when `path` is not given."""
    codes: str | None = None
    """The name of a code list under `body.codes` that translates the value."""
    date: bool = False
    """Format the value (an ISO date-time) with `body.date_format`."""

    @field_validator("path")
    @classmethod
    def _compiles(cls, v: str | None) -> str | None:
        return v if v is None else _jmespath(v)


class BodyMapping(_Strict):
    """How the request body is built: a sandboxed Jinja2 template rendering JSON, or a field map.

    With neither, the body is the hub's own shape: `{"handoff", "case", "attachments"}`.
    """

    template: str | None = None
    fields: dict[str, JmesPath | FieldRule] | None = None
    """Dotted target path (`ticket.details.text`) to a JMESPath or a FieldRule."""
    codes: dict[str, dict[str, str]] = {}
    """Code lists, e.g. `kind: {complaint: C, suggestion: S, inquiry: Q}`."""
    date_format: str = "%Y-%m-%dT%H:%M:%S%z"

    @field_validator("template")
    @classmethod
    def _compiles(cls, v: str | None) -> str | None:
        if v is not None:
            try:
                ImmutableSandboxedEnvironment().parse(v)
            except TemplateSyntaxError as exc:
                raise ValueError(f"template line {exc.lineno}: {exc.message}") from None
        return v

    @model_validator(mode="after")
    def _consistent(self) -> BodyMapping:
        if self.template is not None and self.fields is not None:
            raise ValueError("give `template` or `fields`, not both")
        for target, rule in (self.fields or {}).items():
            if isinstance(rule, str):
                _jmespath(rule)
            elif rule.codes is not None and rule.codes not in self.codes:
                raise ValueError(f"fields.{target}: no code list '{rule.codes}' under `codes`")
            elif rule.path is None and rule.value is None:
                raise ValueError(f"fields.{target}: give `path` or `value`")
        return self


class AttachmentPolicy(_Strict):
    """How attachments reach the agency, and which it accepts.

    `links`: the download URLs go in the body. `base64` and `multipart`: the hub fetches each file
    (within the limits, checking its sha256) and sends the bytes, inline or as multipart parts.
    """

    mode: Literal["links", "base64", "multipart"] = "links"
    max_bytes: int = Field(default=10 * 1024 * 1024, gt=0)
    allowed_types: list[str] = ["application/pdf", "image/*"]
    """Content types accepted; `image/*` covers every image type."""


_PLACEHOLDERS = {"agency_reference", "handoff_id"}


class PollSettings(_Strict):
    """Status polling for agencies that cannot call back."""

    path: str
    """Relative to base_url; `{agency_reference}` and/or `{handoff_id}` are filled in."""
    status: JmesPath
    """Where the response holds the agency's status code."""
    text: JmesPath | None = None
    reference: JmesPath | None = None
    """Where the response holds the agency's ticket id, when the poll is by handoff id."""
    codes: dict[str, MessageKind]
    """The agency's status codes that mean something to the hub; others are ignored."""
    every_seconds: float = Field(default=60.0, gt=0)

    @field_validator("status", "text", "reference")
    @classmethod
    def _compiles(cls, v: str | None) -> str | None:
        return v if v is None else _jmespath(v)

    @field_validator("path")
    @classmethod
    def _placeholders(cls, v: str) -> str:
        names = {name for _, name, _, _ in string.Formatter().parse(v) if name is not None}
        if not names or not names <= _PLACEHOLDERS:
            raise ValueError(f"use {{agency_reference}} or {{handoff_id}}; found {sorted(names) or 'none'}")
        return v


class RestSettings(_Strict):
    """One agency's REST integration, entirely by configuration."""

    base_url: HttpUrl
    deliver_path: str = "/cases"
    """Relative to base_url; may hold `{handoff_id}` or `{reference}` (for agencies that PUT by id)."""
    method: Literal["POST", "PUT"] = "POST"
    headers: dict[str, str] = {}
    """Fixed, non-secret headers the agency wants."""
    auth: Auth = NoAuth()
    signing_secret_env: EnvName
    """The variable holding the HMAC-SHA256 secret shared with the agency (every request is signed)."""
    tls: Tls | None = None
    body: BodyMapping = BodyMapping()
    ticket: JmesPath | None = None
    """Where the response holds the agency's ticket id; when set, a response without it is refused."""
    success_statuses: list[int] = [200, 201, 202]
    connect_timeout: float = Field(default=5.0, gt=0)
    read_timeout: float = Field(default=30.0, gt=0)
    attachments: AttachmentPolicy = AttachmentPolicy()
    poll: PollSettings | None = None
    remind_path: str | None = None
    """Where deadline reminders are POSTed (the Reminder as JSON, signed); may hold `{handoff_id}`,
    `{agency_reference}`. Without it the agency is reminded only through the follow-up queue."""

    def secret_envs(self) -> list[str]:
        """Every environment variable this agency's settings name (the signing secret first)."""
        auth = [getattr(self.auth, f, None) for f in ("key_env", "token_env", "client_secret_env", "password_env")]
        return [self.signing_secret_env, *(name for name in auth if isinstance(name, str))]

    @field_validator("deliver_path")
    @classmethod
    def _deliver_placeholders(cls, v: str) -> str:
        names = {name for _, name, _, _ in string.Formatter().parse(v) if name is not None}
        if not names <= {"handoff_id", "reference"}:
            raise ValueError(f"only {{handoff_id}} and {{reference}} may be filled in; found {sorted(names)}")
        return v

    @field_validator("ticket")
    @classmethod
    def _ticket_compiles(cls, v: str | None) -> str | None:
        return v if v is None else _jmespath(v)

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
