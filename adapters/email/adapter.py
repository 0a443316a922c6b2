"""The e-mail adapter: cases go to an agency's mailbox by SMTP, its replies come back by IMAP or a listener."""

from __future__ import annotations

import smtplib
import socket
import ssl
import threading
from typing import Any

import structlog
from pydantic import BaseModel
from typing_extensions import override

from adapters.attachments import AttachmentFetcher, Fetched
from adapters.base import Adapter, Capabilities
from adapters.email import compose
from adapters.email.inbound import read
from adapters.email.listener import Listener
from adapters.email.mailbox import ImapMailbox, RawMail, SpoolMailbox
from adapters.email.settings import EmailSettings
from adapters.errors import ConfigError, DeliveryError, InboundError, PermanentDeliveryError, RetriableDeliveryError
from adapters.secrets import secret
from schemas import AgencyConfig, Envelope, FollowOnEnvelope, InboxBatch, Notice, Receipt, Unmatched

log = structlog.get_logger(__name__)

RETRIABLE: tuple[type[BaseException], ...] = (
    smtplib.SMTPServerDisconnected,
    ConnectionError,
    TimeoutError,
    socket.gaierror,
    ssl.SSLError,
)
"""Library exceptions after which sending again later may work (SMTP 4xx codes are classified apart)."""


def _text(value: bytes | str) -> str:
    return value.decode("utf-8", "replace") if isinstance(value, bytes) else str(value)


def _by_code(codes: list[int], said: str, what: str) -> DeliveryError:
    """5xx from the server (every one of them) is permanent; 4xx or anything else is tried again."""
    if codes and all(500 <= code < 600 for code in codes):
        return PermanentDeliveryError(f"the mail server refused {what}: {said}", response_excerpt=said)
    return RetriableDeliveryError(f"the mail server deferred {what}: {said}", retry_after=None)


class EmailAdapter(Adapter):
    """One agency's mailbox: each case a bilingual mail, each follow-on a mail in its thread, replies read back.

    Nothing connects when built. SMTP opens a connection per mail (agencies send few); IMAP keeps one
    connection open between reads; the listener starts with the first read.
    """

    kind = "email"
    settings_model = EmailSettings
    retriable_errors = RETRIABLE
    settings: EmailSettings

    def __init__(self, agency: AgencyConfig, settings: BaseModel) -> None:
        super().__init__(agency, settings)
        s = self.settings
        self.fetcher = AttachmentFetcher(connect_timeout=10.0, read_timeout=s.smtp.timeout, total=2 * s.smtp.timeout)
        self.imap = ImapMailbox(s.imap, s.limits) if s.mode == "imap" and s.imap else None
        self.spool = SpoolMailbox(s.listener, s.limits) if s.mode == "listener" and s.listener else None
        self.listener: Listener | None = None
        self._listener_lock = threading.Lock()
        self._keys: dict[str, list[str]] = {}
        self.capabilities = Capabilities(
            follow_ons=frozenset(s.follow_ons),
            inbox=s.mode != "none",
            poll_interval=s.poll_seconds,
            attachments=s.attachments.mode != "links",
        )

    # --- sending ---------------------------------------------------------------------------------

    def _files(self, envelope: Envelope, attachments: list[Any]) -> list[Fetched]:
        if self.settings.attachments.mode == "links":
            return []
        policy = self.settings.attachments.model_copy(update={"mode": "multipart"})
        _, files = self.fetcher.prepare(attachments, policy)
        return files

    def _open(self) -> smtplib.SMTP:
        """A connection to the SMTP server, encrypted and logged in as the settings say."""
        s = self.settings.smtp
        context = ssl.create_default_context(cafile=str(s.ca_bundle) if s.ca_bundle else None)
        client: smtplib.SMTP
        if s.security == "tls":
            client = smtplib.SMTP_SSL(s.host, s.port, timeout=s.timeout, context=context)
        else:
            client = smtplib.SMTP(s.host, s.port, timeout=s.timeout)
        try:
            client.ehlo()
            if s.security == "starttls":
                client.starttls(context=context)
                client.ehlo()
            if s.user and s.password_env:
                client.login(s.user, secret(s.password_env).get_secret_value())
        except BaseException:
            client.close()
            raise
        return client

    def send(self, out: compose.Outgoing) -> None:
        """Hand one mail to the SMTP server (library exceptions go up for `classify`)."""
        with self._open() as client:
            refused = client.send_message(out.message, from_addr=out.sender, to_addrs=out.recipients)
        if refused:
            log.warning("email.some_recipients_refused", agency=self.agency.id, refused=sorted(refused))

    @override
    def deliver(self, envelope: Envelope) -> Receipt:
        files = self._files(envelope, envelope.case.attachments)
        out = compose.case_mail(self.settings, envelope, files)
        self.send(out)
        return Receipt(agency_reference=envelope.agency_reference, message_id=out.message_id)

    @override
    def follow_on(self, envelope: FollowOnEnvelope) -> Receipt:
        files = self._files(envelope, envelope.follow_on.attachments)
        out = compose.follow_on_mail(self.settings, envelope, files)
        self.send(out)
        return Receipt(agency_reference=envelope.agency_reference, message_id=out.message_id)

    @override
    def classify(self, exc: BaseException) -> DeliveryError | None:
        """SMTP 4xx and lost connections are retried; 5xx are permanent, with the server's own words."""
        if isinstance(exc, smtplib.SMTPRecipientsRefused):
            said = "; ".join(f"{rcpt}: {code} {_text(msg)}" for rcpt, (code, msg) in exc.recipients.items())
            codes = [code for code, _ in exc.recipients.values()]
            return _by_code(codes, said, "the agency's address")
        if isinstance(exc, smtplib.SMTPResponseException):
            return _by_code([exc.smtp_code], f"{exc.smtp_code} {_text(exc.smtp_error)}", "the mail")
        if isinstance(exc, ssl.SSLCertVerificationError):
            return PermanentDeliveryError(f"the mail server's certificate does not verify: {exc.verify_message}")
        if isinstance(exc, smtplib.SMTPNotSupportedError):
            return PermanentDeliveryError(f"the mail server cannot do what the settings ask: {exc}")
        return super().classify(exc)

    # --- reading ---------------------------------------------------------------------------------

    def _start_listener(self) -> None:
        s = self.settings
        with self._listener_lock:
            if self.listener is None and s.listener is not None and self.spool is not None:
                listener = Listener(
                    self.spool,
                    host=s.listener.host,
                    port=s.listener.port,
                    reply_to=s.reply_to,
                    separator=s.plus_separator,
                    max_bytes=s.limits.max_message_bytes,
                )
                try:
                    listener.start()
                except Exception as exc:  # a port in use, or a start too slow on a loaded machine
                    listener.stop(force=True)  # release the port, so the next read can try again
                    raise InboundError(f"the SMTP listener cannot listen on {s.listener.port}: {exc}") from None
                self.listener = listener

    @override
    def receive(self, cursor: str | None) -> InboxBatch:
        """Read new mail from the cursor; each becomes a message, a notice or an item for review."""
        next_cursor: str | None
        if self.imap is not None:
            mails, next_cursor = self.imap.read(cursor)
        elif self.spool is not None:
            self._start_listener()
            mails, next_cursor = self.spool.read(cursor)
        else:
            return InboxBatch(cursor=cursor)
        batch = InboxBatch(cursor=next_cursor)
        for mail in mails:
            self._take(batch, mail)
        self._keys[next_cursor or ""] = [m.key for m in mails]
        return batch

    def _take(self, batch: InboxBatch, mail: RawMail) -> None:
        if mail.data is None:
            limit = self.settings.limits.max_message_bytes
            reason = f"refused: the mail is {mail.size} bytes, more than the {limit} accepted"
            log.warning("email.refused", agency=self.agency.id, mail=mail.key, reason=reason)
            batch.unmatched.append(Unmatched(dedup_key=f"mail-too-large:{mail.key}:{mail.size}", reason=reason))
            return
        item = read(mail.data, self.settings)
        if isinstance(item, Unmatched):
            if item.reason.startswith("refused"):
                log.warning("email.refused", agency=self.agency.id, mail=mail.key, reason=item.reason)
            batch.unmatched.append(item)
        elif isinstance(item, Notice):
            batch.notices.append(item)
        else:
            batch.messages.append(item)

    @override
    def confirm(self, batch: InboxBatch) -> None:
        """Flag (or move) the mail of a committed batch."""
        keys = self._keys.pop(batch.cursor or "", [])
        if self.imap is not None:
            self.imap.done(keys)
        elif self.spool is not None:
            self.spool.done(keys)

    @override
    def check(self) -> None:
        s = self.settings
        try:
            with self._open() as client:
                client.noop()
        except (OSError, smtplib.SMTPException, DeliveryError) as exc:
            raise ConfigError(f"{self.agency.id}: SMTP {s.smtp.host}:{s.smtp.port} unusable: {exc}") from None
        if self.imap is not None:
            try:
                self.imap.check()
            except InboundError as exc:
                raise ConfigError(f"{self.agency.id}: {exc}") from None

    @override
    def close(self) -> None:
        if self.imap is not None:
            self.imap.close()
        if self.listener is not None:
            self.listener.stop()
            self.listener = None
        self.fetcher.close()

    @override
    def describe(self) -> dict[str, Any]:
        s = self.settings
        facts = super().describe()
        facts.update(
            to=list(s.to),
            reply_to=s.reply_to,
            smtp=f"{s.smtp.host}:{s.smtp.port} ({s.smtp.security})",
            mode=s.mode,
        )
        if s.imap is not None:
            facts["imap"] = f"{s.imap.host}:{s.imap.port}/{s.imap.folder} ({s.imap.security})"
        if s.listener is not None:
            facts["listener"] = f"{s.listener.host}:{s.listener.port}"
        return facts
