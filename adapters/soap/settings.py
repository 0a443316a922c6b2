"""What an agency's `adapter:` block may say for `kind: soap`; checked at start-up, unknown keys refused.

Each operation the hub calls (submit, status, a follow-on, a lookup) is named as the WSDL names it,
with a mapping (adapters.mapping) from the hub's envelope to the operation's parameters: dotted
target paths for nested complex types, code lists for the agency's enumerations, dates in its
format. Answers are read with JMESPath over the operation's result (as plain dicts and lists).
Secrets are the names of environment variables, never the values.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from adapters.attachments import AttachmentPolicy
from adapters.http import HttpUrl, Tls
from adapters.mapping import JmesPath, Mapping, StatusReading, compiles
from adapters.secrets import EnvName
from schemas import FollowOnKind

CONFIG_DIR_ENV = "HUB_CONFIG_DIR"
"""Where the hub's configuration lives; a relative WSDL path is read from under it."""
REPO_CONFIG = Path(__file__).resolve().parents[2] / "config"


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class UsernameToken(_Strict):
    """WS-Security UsernameToken, with a nonce, its created time and a wsu:Timestamp."""

    username: str
    password_env: EnvName
    digest: bool = False
    """PasswordDigest (Base64(SHA-1(nonce + created + password))) instead of PasswordText."""
    timestamp: bool = True
    """Add a wsu:Timestamp (Created, Expires) to the Security header."""
    timestamp_seconds: int = Field(default=300, gt=0)


class BasicAuth(_Strict):
    """HTTP basic authentication on every call (and the WSDL fetch)."""

    username: str
    password_env: EnvName


class Submit(_Strict):
    """The operation that hands a case over."""

    operation: str
    parameters: Mapping = Mapping()
    """The operation's parameters from the envelope; without one the call has no parameters."""
    ticket: JmesPath | None = None
    """Where the result holds the agency's ticket id; when set, a result without it is refused."""

    @field_validator("ticket")
    @classmethod
    def _compiles(cls, v: str | None) -> str | None:
        return v if v is None else compiles(v)


class Status(StatusReading):
    """The operation that reads a case's status (polled every `every_seconds`)."""

    operation: str
    parameters: Mapping
    """Reads `agency_reference`, `handoff_id`, `round` and `state` (a poll knows no more of the case)."""
    needs_reference: bool = True
    """Poll only handoffs that have the agency's ticket id."""


class Call(_Strict):
    """A follow-on message sent through an operation."""

    operation: str
    parameters: Mapping


class Lookup(_Strict):
    """The operation that says whether the agency already has a case (after an uncertain delivery)."""

    operation: str
    parameters: Mapping
    ticket: JmesPath
    """Where the result holds the ticket id; absent or empty means the agency has no such case."""

    @field_validator("ticket")
    @classmethod
    def _compiles(cls, v: str) -> str:
        return compiles(v)


FaultAction = Literal["permanent", "retry", "auth", "adopt"]


class Faults(_Strict):
    """How the agency's fault detail codes read: what the hub does next for each."""

    code: str = "code"
    """The local name of the element in the fault detail that holds the agency's code."""
    ticket: str = "ticketId"
    """The local name of the element in the detail that holds the existing ticket (for `adopt`)."""
    codes: dict[str, FaultAction] = {}
    """Detail code → `permanent` (follow-up queue), `retry`, `auth` (credentials refused: permanent,
    says so) or `adopt` (a duplicate: the agency's existing ticket is this delivery's receipt)."""


class SoapSettings(_Strict):
    """One agency's SOAP integration, entirely by configuration."""

    wsdl: str
    """An http(s) URL, or a file path (relative paths under the hub's config directory, e.g. `wsdl/x.wsdl`)."""
    service: str | None = None
    port: str | None = None
    """Service and port as the WSDL names them; by default the only one (or the one of `soap_version`)."""
    soap_version: Literal["1.1", "1.2"] | None = None
    endpoint: HttpUrl | None = None
    """Call this address instead of the one the WSDL gives (a WSDL file for a test server, say)."""
    plain_http: bool = False
    """Allow `http://` (for a simulator in tests and the demo); otherwise the agency must be https."""
    strict: bool = True
    """zeep's strict parsing of answers (off only for agencies whose answers break their own WSDL)."""
    wsdl_imports: bool = False
    """Let the WSDL import schemas from other http(s) locations (refused by default)."""
    wsdl_cache_seconds: int = Field(default=86400, ge=0)
    """How long a fetched WSDL is kept (in a per-user SQLite cache shared by the hub's processes); 0: never cached."""
    wsse: UsernameToken | None = None
    basic_auth: BasicAuth | None = None
    tls: Tls | None = None
    submit: Submit
    status: Status | None = None
    lookup: Lookup | None = None
    follow_ons: dict[FollowOnKind, Call] = {}
    """The follow-on messages this agency takes, each through an operation; the others go to the
    follow-up queue for an officer to pass on."""
    detects_duplicates: bool = False
    """The submit operation recognises a case it already has by our reference (answering with the
    first ticket or an `adopt` fault): resending after an uncertain delivery is then safe."""
    faults: Faults = Faults()
    attachments: AttachmentPolicy = AttachmentPolicy()
    """`links` (the download URLs, in `attachments`) or `base64` (the bytes, fetched by the hub, as text)."""
    connect_timeout: float = Field(default=5.0, gt=0)
    read_timeout: float = Field(default=30.0, gt=0)
    total_timeout: float | None = Field(default=None, gt=0)
    """The longest one call may take, however the agency drips its answer (default: connect + read)."""
    max_answer_bytes: int = Field(default=1024 * 1024, gt=0)
    """The most the hub reads of an answer (and of the WSDL and its schemas)."""

    @property
    def total(self) -> float:
        """The bound on one call."""
        return self.total_timeout or self.connect_timeout + self.read_timeout

    @property
    def remote(self) -> bool:
        """Whether the WSDL is fetched over HTTP (rather than read from a file)."""
        return self.wsdl.startswith(("http://", "https://"))

    def wsdl_location(self) -> str:
        """The WSDL's URL, or its absolute file path."""
        if self.remote:
            return self.wsdl
        path = Path(self.wsdl.removeprefix("file://")).expanduser()
        if not path.is_absolute():
            path = Path(os.environ.get(CONFIG_DIR_ENV) or REPO_CONFIG) / path
        return str(path)

    def operations(self) -> dict[str, str]:
        """Each configured use (`submit`, `status`, `lookup`, `follow_ons.<kind>`) → its operation."""
        used = {"submit": self.submit.operation}
        if self.status is not None:
            used["status"] = self.status.operation
        if self.lookup is not None:
            used["lookup"] = self.lookup.operation
        used.update({f"follow_ons.{kind.value}": call.operation for kind, call in self.follow_ons.items()})
        return used

    def mappings(self) -> dict[str, Mapping]:
        """Each configured use → the mapping that builds its parameters."""
        found = {"submit": self.submit.parameters}
        if self.status is not None:
            found["status"] = self.status.parameters
        if self.lookup is not None:
            found["lookup"] = self.lookup.parameters
        found.update({f"follow_ons.{kind.value}": call.parameters for kind, call in self.follow_ons.items()})
        return found

    def secret_envs(self) -> list[str]:
        """Every environment variable the settings name."""
        return [a.password_env for a in (self.wsse, self.basic_auth) if a is not None]

    @field_validator("wsdl")
    @classmethod
    def _wsdl(cls, v: str) -> str:
        if v.startswith(("http://", "https://")):
            if any(c.isspace() for c in v):
                raise ValueError("a WSDL URL has no spaces")
        elif "://" in v and not v.startswith("file://"):
            raise ValueError("give an http(s) URL or a file path")
        return v

    @model_validator(mode="after")
    def _https(self) -> SoapSettings:
        for name, url in (("wsdl", self.wsdl if self.remote else None), ("endpoint", self.endpoint)):
            if url is not None and url.startswith("http://") and not self.plain_http:
                raise ValueError(f"{name} must be https:// (set `plain_http: true` only for a test simulator)")
        if self.attachments.mode == "multipart":
            raise ValueError("attachments.mode: a SOAP call has no multipart body; use `links` or `base64`")
        return self
