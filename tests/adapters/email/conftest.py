"""Fixtures for the e-mail adapter's tests: a real SMTP server (aiosmtpd) and a real IMAP server (Dovecot)."""

from __future__ import annotations

import shutil
import tempfile
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, ClassVar

import pytest
from pydantic import SecretStr

from adapters.email import EmailAdapter
from adapters.testing.email_agency import AgencyMailServer, running_mail_server
from broker.hub import Hub
from schemas import AgencyConfig
from tests.adapters.email.dovecot import PASSWORD, PASSWORD_ENV, Dovecot
from tests.broker.agency_setup import hub_with_agencies

REPLY_TO = "tawasul-replies@hub.example.bh"
SECRET = "reply-secret-for-the-email-tests-0123456789"
AGENCY = "ministry-of-works"


@pytest.fixture
def agency_server() -> Iterator[AgencyMailServer]:
    """The agency's SMTP server on a free port."""
    with running_mail_server() as server:
        yield server


def email_agency(server: AgencyMailServer | None = None, **settings: Any) -> AgencyConfig:
    """An agency reached by e-mail through `server` (replies read as `settings` say; default: not read)."""
    adapter: dict[str, Any] = {
        "kind": "email",
        "to": ["complaints@works.example.bh"],
        "from_address": "tawasul@hub.example.bh",
        "reply_to": REPLY_TO,
        "smtp": {
            "host": server.host if server else "127.0.0.1",
            "port": server.port if server else 25,
            "security": "plain",
        },
        "mode": "none",
        **settings,
    }
    return AgencyConfig.model_validate(
        {
            "id": "ministry-of-works",
            "name_ar": "وزارة الأشغال",
            "name_en": "Ministry of Works",
            "status": "onboarded",
            "adapter": adapter,
        }
    )


def email_adapter(server: AgencyMailServer | None = None, **settings: Any) -> EmailAdapter:
    """The adapter for `email_agency(...)`."""
    adapter = EmailAdapter.from_config(email_agency(server, **settings))
    assert isinstance(adapter, EmailAdapter)
    return adapter


class _Files(BaseHTTPRequestHandler):
    files: ClassVar[dict[str, tuple[str, bytes]]] = {}

    def log_message(self, *_args: Any) -> None:
        """Quiet."""

    def do_GET(self) -> None:
        """A stored file, or 404."""
        found = self.files.get(self.path.lstrip("/"))
        body = found[1] if found else b"no"
        self.send_response(200 if found else 404)
        self.send_header("Content-Type", found[0] if found else "text/plain")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


@pytest.fixture
def file_store(monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[str, dict[str, tuple[str, bytes]]]]:
    """A trusted attachment store on a free port: its URL and the files it serves (name -> (type, bytes))."""
    files: dict[str, tuple[str, bytes]] = {}
    handler = type("Files", (_Files,), {"files": files})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    url = f"http://127.0.0.1:{server.server_address[1]}"
    monkeypatch.setenv("HUB_ATTACHMENT_HOSTS", url)
    yield url, files
    server.shutdown()
    server.server_close()


@pytest.fixture
def dovecot(monkeypatch: pytest.MonkeyPatch) -> Iterator[Dovecot]:
    """A private Dovecot on a free port; its password in the environment variable the settings name.

    Its directory is outside pytest's (which only its owner may enter): Dovecot's own users read it.
    """
    monkeypatch.setenv(PASSWORD_ENV, PASSWORD)
    root = Path(tempfile.mkdtemp(prefix="tawasul-dovecot-"))
    server = Dovecot(root)
    try:
        server.start()
        yield server
    finally:
        server.stop()
        shutil.rmtree(root, ignore_errors=True)


def email_settings(server: AgencyMailServer, dovecot: Dovecot, **over: Any) -> dict[str, Any]:
    return {
        "kind": "email",
        "to": ["complaints@works.example.bh"],
        "from_address": "tawasul@hub.example.bh",
        "reply_to": REPLY_TO,
        "smtp": {"host": server.host, "port": server.port, "security": "plain"},
        "mode": "imap",
        "imap": dovecot.settings(idle_seconds=0),
        "attachments": {"mode": "multipart"},
        **over,
    }


@pytest.fixture
def hub(
    sqlite_hub: Hub,
    tmp_path: Path,
    agency_server: AgencyMailServer,
    dovecot: Dovecot,
    file_store: tuple[str, dict[str, tuple[str, bytes]]],
) -> Hub:
    agencies = {AGENCY: {"adapter": email_settings(agency_server, dovecot)}}
    return hub_with_agencies(sqlite_hub, tmp_path / "config", agencies, reply_secret=SecretStr(SECRET))
