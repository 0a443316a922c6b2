"""SMTP with STARTTLS or implicit TLS and authentication, against a real aiosmtpd server with its own CA."""

from __future__ import annotations

import datetime as dt
import ipaddress
import ssl
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from aiosmtpd.smtp import AuthResult, LoginPassword

from adapters.email import EmailAdapter
from adapters.email.listener import SmtpController
from adapters.errors import ConfigError, PermanentDeliveryError
from adapters.testing import envelope_for
from adapters.testing.email_agency import _Handler
from tests.adapters.email.conftest import email_adapter

USER, PASSWORD, ENV = "tawasul", "smtp-password-for-tests", "TEST_SMTP_PASSWORD"


def issue(folder: Path) -> tuple[Path, Path, Path]:
    """A CA, and a server certificate for 127.0.0.1 it signs: (ca.pem, server.pem, server.key)."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    now = dt.datetime.now(dt.UTC)

    def cert(name: str, key: Any, signer: tuple[Any, Any] | None, server: bool) -> Any:
        subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
        issuer_cert, issuer_key = signer or (None, key)
        builder = (
            x509.CertificateBuilder()
            .subject_name(subject)
            .issuer_name(issuer_cert.subject if issuer_cert else subject)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - dt.timedelta(minutes=5))
            .not_valid_after(now + dt.timedelta(hours=1))
            .add_extension(x509.BasicConstraints(ca=signer is None, path_length=None), critical=True)
        )
        if server:
            san = [x509.IPAddress(ipaddress.ip_address("127.0.0.1")), x509.DNSName("localhost")]
            builder = builder.add_extension(x509.SubjectAlternativeName(san), critical=False)
        return builder.sign(issuer_key, hashes.SHA256())

    ca_key, server_key = ec.generate_private_key(ec.SECP256R1()), ec.generate_private_key(ec.SECP256R1())
    ca = cert("Test mail CA", ca_key, None, server=False)
    server = cert("127.0.0.1", server_key, (ca, ca_key), server=True)
    paths = folder / "ca.pem", folder / "server.pem", folder / "server.key"
    paths[0].write_bytes(ca.public_bytes(serialization.Encoding.PEM))
    paths[1].write_bytes(server.public_bytes(serialization.Encoding.PEM))
    key = server_key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    paths[2].write_bytes(key)
    return paths


def authenticate(server: Any, session: Any, envelope: Any, mechanism: str, data: Any) -> AuthResult:
    ok = isinstance(data, LoginPassword) and (data.login, data.password) == (USER.encode(), PASSWORD.encode())
    return AuthResult(success=ok, handled=False)


@pytest.fixture
def certs(tmp_path: Path) -> tuple[Path, Path, Path]:
    return issue(tmp_path)


def server_context(certs: tuple[Path, Path, Path]) -> ssl.SSLContext:
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(str(certs[1]), str(certs[2]))
    return context


@pytest.fixture
def starttls_server(certs: tuple[Path, Path, Path]) -> Iterator[tuple[SmtpController, _Handler]]:
    handler = _Handler()
    controller = SmtpController(
        handler,
        hostname="127.0.0.1",
        port=0,
        tls_context=server_context(certs),
        require_starttls=True,
        authenticator=authenticate,
        auth_require_tls=True,
    )
    controller.start()
    yield controller, handler
    controller.stop()


@pytest.fixture
def tls_server(certs: tuple[Path, Path, Path]) -> Iterator[tuple[SmtpController, _Handler]]:
    handler = _Handler()
    controller = SmtpController(
        handler,
        hostname="127.0.0.1",
        port=0,
        ssl_context=server_context(certs),
        authenticator=authenticate,
        auth_require_tls=False,
    )
    controller.start()
    yield controller, handler
    controller.stop()


def adapter_for(controller: SmtpController, security: str, ca: Path | None) -> EmailAdapter:
    smtp: dict[str, Any] = {"host": "127.0.0.1", "port": controller.port, "security": security}
    smtp.update(user=USER, password_env=ENV)
    if ca is not None:
        smtp["ca_bundle"] = str(ca)
    return email_adapter(None, smtp=smtp)


@pytest.mark.parametrize("security", ["starttls", "tls"])
def test_a_case_goes_out_encrypted_and_authenticated(
    request: pytest.FixtureRequest, certs: tuple[Path, Path, Path], monkeypatch: pytest.MonkeyPatch, security: str
) -> None:
    monkeypatch.setenv(ENV, PASSWORD)
    controller, handler = request.getfixturevalue(f"{security}_server")
    adapter = adapter_for(controller, security, certs[0])
    adapter.check()  # connects, encrypts and logs in
    receipt = adapter.deliver(envelope_for(adapter.agency))
    [mail] = handler.received
    assert receipt.message_id == str(mail.message["Message-ID"])


def test_a_wrong_password_is_permanent_with_the_servers_words(
    starttls_server: tuple[SmtpController, _Handler], certs: tuple[Path, Path, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(ENV, "wrong")
    adapter = adapter_for(starttls_server[0], "starttls", certs[0])
    with pytest.raises(Exception) as raised:
        adapter.deliver(envelope_for(adapter.agency))
    error = adapter.classify(raised.value)
    assert isinstance(error, PermanentDeliveryError) and "535" in str(error)
    with pytest.raises(ConfigError, match="535"):
        adapter.check()


def test_a_certificate_from_an_unknown_ca_is_refused_not_retried(
    starttls_server: tuple[SmtpController, _Handler], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(ENV, PASSWORD)
    adapter = adapter_for(starttls_server[0], "starttls", None)  # the test CA is not trusted
    with pytest.raises(ssl.SSLCertVerificationError) as raised:
        adapter.deliver(envelope_for(adapter.agency))
    error = adapter.classify(raised.value)
    assert isinstance(error, PermanentDeliveryError) and "does not verify" in str(error)
    assert starttls_server[1].received == []


def test_a_password_goes_unencrypted_only_to_a_server_on_this_machine() -> None:
    from pydantic import ValidationError

    with pytest.raises(ValidationError, match="only for a server on this machine"):
        email_adapter(None, smtp={"host": "smtp.example.bh", "security": "plain", "user": USER, "password_env": ENV})


def test_replies_are_read_from_imap_over_tls_with_a_private_ca(
    certs: tuple[Path, Path, Path], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    import shutil
    import tempfile

    from tests.adapters.email.dovecot import PASSWORD as IMAP_PASSWORD
    from tests.adapters.email.dovecot import PASSWORD_ENV, Dovecot

    monkeypatch.setenv(PASSWORD_ENV, IMAP_PASSWORD)
    root = Path(tempfile.mkdtemp(prefix="tawasul-dovecot-"))
    server = Dovecot(root, tls=(certs[1], certs[2]))
    try:
        server.start()
        reply = "From: a@works\r\nMessage-ID: <t1@works>\r\nIn-Reply-To: <x@hub>\r\n"
        server.append((reply + "Content-Type: text/plain; charset=utf-8\r\n\r\nتم.\r\n").encode())
        imap = server.settings(port=server.tls_port, security="tls", ca_bundle=str(certs[0]), idle_seconds=0)
        adapter = email_adapter(None, mode="imap", imap=imap)
        [message] = adapter.receive(None).messages
        assert message.references == ["<x@hub>"] and message.text == "تم."
        adapter.close()
        untrusted = email_adapter(None, mode="imap", imap={**imap, "ca_bundle": None})
        from adapters.errors import InboundError

        with pytest.raises(InboundError):
            untrusted.receive(None)
    finally:
        server.stop()
        shutil.rmtree(root, ignore_errors=True)
