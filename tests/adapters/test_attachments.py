"""Fetching attachment files: only from trusted stores, within limits, checked, and named safely."""

from __future__ import annotations

import hashlib
import re
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from adapters.attachments import AttachmentFetcher, AttachmentPolicy, safe_filename, trusted_origins, type_matches
from adapters.errors import AttachmentStoreError, PermanentDeliveryError
from schemas import Attachment

PDF = b"%PDF-1.4\n" + "تقرير".encode() * 50
PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 64
SECRET_PAGE = b"<html>internal admin console - db_password=hunter2</html>"


class _Store(BaseHTTPRequestHandler):
    """An attachment store: serves /report.pdf, redirects /moved, refuses /secret with an internal page."""

    def log_message(self, *args: Any) -> None:
        """Quiet."""

    def _send(self, status: int, body: bytes, **headers: str) -> None:
        self.send_response(status)
        self.send_header("Content-Length", str(len(body)))
        for k, v in headers.items():
            self.send_header(k.replace("_", "-"), v)
        self.end_headers()
        self.wfile.write(body)

    def do_GET(self) -> None:
        """One behaviour per path."""
        if self.path == "/report.pdf":
            self._send(200, PDF, Content_Type="application/pdf")
        elif self.path == "/text-as.pdf":
            self._send(200, b"INTERNAL-ONLY AccessKeyId=AKIAEXAMPLE", Content_Type="application/pdf")
        elif self.path == "/moved":
            self._send(302, b"", Location="http://169.254.169.254/latest/meta-data/")
        elif self.path == "/busy":
            self._send(503, b"try later", Retry_After="3")
        else:
            self._send(403, SECRET_PAGE)


@pytest.fixture
def store(monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Store)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    url = f"http://127.0.0.1:{server.server_address[1]}"
    monkeypatch.setenv("HUB_ATTACHMENT_HOSTS", url)  # a test may trust a loopback store, by its literal address
    yield url
    server.shutdown()
    server.server_close()


def attachment(url: str, **over: Any) -> Attachment:
    body = {"filename": "تقرير.pdf", "content_type": "application/pdf", "size": len(PDF), "url": url, **over}
    return Attachment.model_validate(body)


def fetcher() -> AttachmentFetcher:
    return AttachmentFetcher(connect_timeout=2, read_timeout=2, total=5)


def test_a_file_from_a_trusted_store_is_fetched_and_its_sha256_checked(store: str) -> None:
    data = fetcher().fetch(attachment(f"{store}/report.pdf", sha256=hashlib.sha256(PDF).hexdigest()), 10_000)
    assert data == PDF


REFUSED = [
    # (url, why) — H1: nothing outside the trusted stores, no redirect, no file://, no metadata address
    ("https://evil.example/report.pdf", "is not a trusted attachment store"),
    ("file:///etc/passwd", "is not a trusted attachment store"),
    ("http://169.254.169.254/latest/meta-data/", "is not a trusted attachment store"),
    ("{store}/moved", "redirected (302); the hub follows no redirect"),
    ("{store}/secret", "the store answered 403"),
    ("{store}/text-as.pdf", "its bytes are not application/pdf"),
]


@pytest.mark.parametrize(("url", "why"), REFUSED)
def test_a_file_from_anywhere_else_is_refused_for_that_handoff_only(store: str, url: str, why: str) -> None:
    """H1, L7: refused as permanent for the handoff, and the store's own page is never copied into the reason."""
    with pytest.raises(PermanentDeliveryError, match=re.escape(why)) as caught:
        fetcher().fetch(attachment(url.format(store=store)), 10_000)
    assert "hunter2" not in str(caught.value) and caught.value.response_excerpt is None
    assert "AKIAEXAMPLE" not in str(caught.value)


def test_a_trusted_name_that_resolves_to_a_private_address_is_refused(
    store: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """H1: `localhost` is trusted by name here, but it resolves to loopback: refused before anything is sent."""
    port = store.rsplit(":", 1)[1]
    monkeypatch.setenv("HUB_ATTACHMENT_HOSTS", f"https://localhost:{port}")
    with pytest.raises(PermanentDeliveryError, match="is not a public address"):
        fetcher().fetch(attachment(f"https://localhost:{port}/report.pdf"), 10_000)


def test_a_store_that_fails_is_retried_and_is_not_the_agencys_fault(store: str) -> None:
    """H3: an AttachmentStoreError, which the circuit breaker never counts against the agency."""
    with pytest.raises(AttachmentStoreError, match="answered 503") as caught:
        fetcher().fetch(attachment(f"{store}/busy"), 10_000)
    assert caught.value.retry_after == 3.0


def test_a_file_larger_than_the_agency_takes_is_not_read_into_memory(store: str) -> None:
    with pytest.raises(PermanentDeliveryError, match="larger than the 100 bytes"):
        fetcher().fetch(attachment(f"{store}/report.pdf"), 100)


def test_attachment_fetches_never_carry_the_agencys_client_certificate() -> None:
    """H1: the fetcher's own client has no certificate whatever the agency's TLS settings are."""
    assert fetcher().client.session.cert is None


def test_the_files_of_one_delivery_share_a_total_budget(store: str) -> None:
    policy = AttachmentPolicy(mode="base64", max_total_bytes=len(PDF) + 10)
    files = [attachment(f"{store}/report.pdf"), attachment(f"{store}/report.pdf")]
    with pytest.raises(PermanentDeliveryError, match="exceed the"):
        fetcher().prepare(files, policy)


NAMES = [
    # (as sent, as passed on) — L7
    ("تقرير.pdf", "تقرير.pdf"),
    ("..\\..\\windows\\x.pdf", "_.._windows_x.pdf"),
    ("../../etc/passwd", "_.._etc_passwd"),
    ("صورة\u202egpj.exe", "صورة_gpj.exe"),
    ("a\u2066b\u2069.png", "a_b_.png"),
    ("line\nbreak\r.pdf", "line_break_.pdf"),
    ("  .hidden.pdf  ", "hidden.pdf"),
    ("...", "attachment"),
    ("ا" * 300 + ".pdf", "ا" * 146 + ".pdf"),  # 150 characters at most, the extension kept
    ("كشف\u0627\u0653.pdf", "كشف\u0622.pdf"),  # NFC: alef + madda becomes one letter
]


@pytest.mark.parametrize(("sent", "passed_on"), NAMES)
def test_file_names_are_passed_on_without_separators_controls_or_bidi_overrides(sent: str, passed_on: str) -> None:
    """L7: path separators, control and bidi-override characters are replaced; NFC; capped in length."""
    assert safe_filename(sent) == passed_on


TYPES = [
    ("application/pdf", PDF, True),
    ("application/pdf", PNG, False),
    ("image/png", PNG, True),
    ("image/jpeg", b"\xff\xd8\xff\xe0" + b"\x00" * 20, True),
    ("image/jpg", b"\xff\xd8\xff\xe0" + b"\x00" * 20, True),
    ("application/pdf", b"just some text", False),
    ("text/plain", "نص عادي".encode(), True),
    ("text/plain", b"MZ\x90\x00\x03\x00\x00\x00binary", False),
    ("text/csv", b"a,b\n1,2\n", True),
]


@pytest.mark.parametrize(("declared", "data", "fits"), TYPES)
def test_the_declared_type_is_checked_against_the_first_bytes(declared: str, data: bytes, fits: bool) -> None:
    """L7: a file must be what it says it is."""
    assert type_matches(declared, data) is fits


def test_trusted_stores_are_https_origins_or_literal_addresses() -> None:
    origins = trusted_origins("files.gov.bh, https://cdn.gov.bh:8443 http://127.0.0.1:8123 http://plain.example")
    assert [(o.scheme, o.host, o.port) for o in origins] == [
        ("https", "files.gov.bh", 443),
        ("https", "cdn.gov.bh", 8443),
        ("http", "127.0.0.1", 8123),
    ]
