"""The e-mail adapter (`kind: email`): SMTP out, IMAP (with IDLE) or an SMTP listener in."""

from adapters.email.adapter import EmailAdapter
from adapters.email.settings import EmailSettings

__all__ = ["EmailAdapter", "EmailSettings"]
