"""What an agency's `adapter:` block may say for `kind: email`; checked at start-up, unknown keys refused.

Passwords never appear here: `password_env` names the environment variable that holds one.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, EmailStr, Field, FilePath, model_validator

from adapters.attachments import AttachmentPolicy
from adapters.secrets import EnvName
from schemas import FollowOnKind, MessageKind


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Smtp(_Strict):
    """The server the hub sends through."""

    host: str
    port: int = Field(default=587, gt=0, lt=65536)
    security: Literal["starttls", "tls", "plain"] = "starttls"
    """`starttls` (587) or implicit `tls` (465); `plain` only for a server on this machine (tests, demo)."""
    user: str | None = None
    password_env: EnvName | None = None
    ca_bundle: FilePath | None = None
    """The CA that signs the server's certificate, when it is not a public one."""
    timeout: float = Field(default=30.0, gt=0)

    @model_validator(mode="after")
    def _plain_is_local(self) -> Smtp:
        if self.security == "plain" and self.host not in ("127.0.0.1", "localhost", "::1"):
            raise ValueError("security 'plain' is only for a server on this machine; use starttls or tls")
        if self.user and not self.password_env:
            raise ValueError("a user needs password_env (the variable holding the password)")
        return self


class Imap(_Strict):
    """The mailbox the agency's replies arrive in, read by the hub."""

    host: str
    port: int = Field(default=993, gt=0, lt=65536)
    security: Literal["tls", "starttls", "plain"] = "tls"
    user: str
    password_env: EnvName
    ca_bundle: FilePath | None = None
    """The CA that signs the server's certificate, when it is not a public one."""
    folder: str = "INBOX"
    processed_folder: str | None = None
    """Where a mail goes once the hub committed it; without one it is flagged `\\Seen` and `$Tawasul` in place."""
    idle_seconds: float = Field(default=25.0, ge=0)
    """How long one read waits in IMAP IDLE for new mail when the server offers it (0: no IDLE)."""
    batch: int = Field(default=50, gt=0, le=1000)
    timeout: float = Field(default=30.0, gt=0)

    @model_validator(mode="after")
    def _plain_is_local(self) -> Imap:
        if self.security == "plain" and self.host not in ("127.0.0.1", "localhost", "::1"):
            raise ValueError("security 'plain' is only for a server on this machine; use tls or starttls")
        return self


class Listener(_Strict):
    """An SMTP listener for sites that pipe the agency's replies to the hub; mail is spooled before 250."""

    host: str = "127.0.0.1"
    port: int = Field(default=2525, ge=0, lt=65536)
    spool: str
    """A directory of this hub's own: each accepted mail is a file there until the hub committed it."""


class Limits(_Strict):
    """What an inbound mail may be; one beyond them is refused with its reason (review list) and the read goes on."""

    max_message_bytes: int = Field(default=25 * 1024 * 1024, gt=0)
    max_parts: int = Field(default=100, gt=0)
    max_depth: int = Field(default=8, gt=0)
    max_attachment_bytes: int = Field(default=10 * 1024 * 1024, gt=0)
    attachment_types: list[str] = ["application/pdf", "image/*", "text/plain"]
    """Attachment types kept; others are left out (and said so in the message's text)."""


class Markers(_Strict):
    """What makes a reply other than an answer, in Arabic and English.

    A keyword opening the reply's text (after a greeting line), or one in square brackets in its subject
    (`[تم الاستلام]`, `[transfer request]`).
    """

    acknowledged: list[str] = ["تم الاستلام", "تم استلام", "acknowledged", "received with thanks"]
    needs_info: list[str] = ["يرجى تزويدنا", "نرجو تزويدنا", "مطلوب معلومات", "need more information", "please provide"]
    transfer_requested: list[str] = [
        "ليس من اختصاص",
        "ليست من اختصاص",
        "طلب تحويل",
        "not within our remit",
        "transfer request",
    ]
    progress: list[str] = ["قيد المعالجة", "قيد الإجراء", "in progress"]

    def table(self) -> list[tuple[MessageKind, list[str]]]:
        """The markers by kind, most specific first."""
        return [
            (MessageKind.transfer_requested, self.transfer_requested),
            (MessageKind.needs_info, self.needs_info),
            (MessageKind.acknowledged, self.acknowledged),
            (MessageKind.progress, self.progress),
        ]


class EmailSettings(_Strict):
    """One agency's mailbox: where cases go by SMTP, and how its replies come back (IMAP or a listener)."""

    to: list[EmailStr] = Field(min_length=1)
    """The agency's shared mailbox (and anyone else who gets every case)."""
    from_address: EmailStr
    from_name: str = "تواصل - Tawasul"
    reply_to: EmailStr
    """The hub's mailbox for replies; each mail's Reply-To is this address plus `+<signed token>`."""
    plus_separator: str = Field(default="+", pattern=r"^[+\-=]$")
    token_in_subject: bool = False
    """Also put the token in the subject, for agencies whose mail system strips plus-addresses."""
    smtp: Smtp
    mode: Literal["imap", "listener", "none"] = "imap"
    imap: Imap | None = None
    listener: Listener | None = None
    poll_seconds: float = Field(default=30.0, gt=0)
    attachments: AttachmentPolicy = AttachmentPolicy(mode="links")
    """`links`: download links in the mail; `multipart`: the files themselves, fetched from the trusted store."""
    limits: Limits = Limits()
    markers: Markers = Markers()
    follow_ons: list[FollowOnKind] = list(FollowOnKind)
    """Follow-on kinds mailed in the case's thread; the others go to an officer."""

    @model_validator(mode="after")
    def _mode_has_its_block(self) -> EmailSettings:
        if self.mode == "imap" and self.imap is None:
            raise ValueError("mode 'imap' needs an imap block")
        if self.mode == "listener" and self.listener is None:
            raise ValueError("mode 'listener' needs a listener block")
        return self

    def secret_envs(self) -> list[str]:
        """Every environment variable these settings name."""
        names = [self.smtp.password_env, self.imap.password_env if self.imap else None]
        return [n for n in names if n]
