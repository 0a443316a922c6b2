"""A private Dovecot IMAP server for a test: its own config, users and maildirs in a temporary directory.

Debian's `dovecot-imapd` is installed by `./run test` when missing; here a test without it fails in
CI and skips elsewhere. Mail arrives by IMAP APPEND, as a mail server would deliver it.
"""

from __future__ import annotations

import imaplib
import os
import pwd
import shutil
import signal
import socket
import subprocess
import time
from pathlib import Path

import pytest

USER, PASSWORD = "hub", "imap-password-for-tests"
PASSWORD_ENV = "TEST_IMAP_PASSWORD"


def dovecot_binary() -> str:
    """The dovecot binary, or fail (CI) / skip (elsewhere)."""
    found = shutil.which("dovecot") or next((p for p in ("/usr/sbin/dovecot",) if Path(p).exists()), None)
    if found:
        return found
    message = "dovecot is not installed (./run test installs Debian's dovecot-imapd)"
    if os.environ.get("CI") == "true":
        pytest.fail(message)
    pytest.skip(message)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Dovecot:
    """One running Dovecot, listening on 127.0.0.1 (plain IMAP: a server on this machine only)."""

    def __init__(self, root: Path, tls: tuple[Path, Path] | None = None) -> None:
        self.root = root
        self.port = _free_port()
        self.tls_port = _free_port() if tls else 0
        self.tls = tls
        self.process: subprocess.Popen[bytes] | None = None

    def _config(self) -> str:
        if os.geteuid() == 0:  # as root: mail owned by nobody, Dovecot's own users for its processes
            nobody = pwd.getpwnam("nobody")
            uid, gid, login, internal = nobody.pw_uid, nobody.pw_gid, "dovenull", "dovecot"
        else:
            me = pwd.getpwuid(os.getuid())
            uid, gid, login, internal = me.pw_uid, me.pw_gid, me.pw_name, me.pw_name
        for sub in ("mail", "home"):
            (self.root / sub).mkdir(parents=True, exist_ok=True)
            os.chown(self.root / sub, uid, gid)
        (self.root / "run").mkdir(exist_ok=True)
        (self.root / "state").mkdir(exist_ok=True)
        (self.root / "passwd").write_text(f"{USER}:{{PLAIN}}{PASSWORD}\n")
        os.chmod(self.root, 0o755)
        return f"""
base_dir = {self.root}/run
state_dir = {self.root}/state
log_path = {self.root}/dovecot.log
listen = 127.0.0.1
protocols = imap
{self._ssl()}
disable_plaintext_auth = no
auth_mechanisms = plain login
first_valid_uid = 1
default_login_user = {login}
default_internal_user = {internal}
passdb {{
  driver = passwd-file
  args = scheme=PLAIN username_format=%u {self.root}/passwd
}}
userdb {{
  driver = static
  args = uid={uid} gid={gid} home={self.root}/home/%u
}}
mail_location = maildir:{self.root}/mail/%u
namespace inbox {{
  inbox = yes
  mailbox Processed {{
    auto = create
  }}
}}
service imap-login {{
  inet_listener imap {{
    address = 127.0.0.1
    port = {self.port}
  }}
  inet_listener imaps {{
    address = 127.0.0.1
    port = {self.tls_port}
  }}
}}
service stats {{
  unix_listener stats-reader {{
    mode = 0666
  }}
  unix_listener stats-writer {{
    mode = 0666
  }}
}}
"""

    def _ssl(self) -> str:
        if self.tls is None:
            return "ssl = no"
        cert, key = self.tls
        for path in (cert, key):
            shutil.copy(path, self.root / path.name)
        return f"ssl = yes\nssl_cert = <{self.root / cert.name}\nssl_key = <{self.root / key.name}"

    def start(self) -> Dovecot:
        """Start it in the foreground of its own process and wait until it answers."""
        conf = self.root / "dovecot.conf"
        conf.write_text(self._config())
        self.process = subprocess.Popen(
            [dovecot_binary(), "-F", "-c", str(conf)],
            stdout=subprocess.DEVNULL,
            stderr=(self.root / "stderr.log").open("wb"),
        )
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=1) as s:
                    if s.recv(100).startswith(b"* OK"):
                        return self
            except OSError:
                if self.process.poll() is not None:
                    raise RuntimeError(
                        f"dovecot exited: {self.process.stderr.read().decode() if self.process.stderr else ''}"
                    ) from None
                time.sleep(0.1)
        raise RuntimeError("dovecot did not answer within 20 s")

    def stop(self) -> None:
        """Stop it (SIGTERM to its master, which stops its children)."""
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(5)

    def client(self) -> imaplib.IMAP4:
        """A logged-in IMAP client for the test's own checks."""
        c = imaplib.IMAP4("127.0.0.1", self.port)
        c.login(USER, PASSWORD)
        return c

    def append(self, raw: bytes, folder: str = "INBOX") -> None:
        """Deliver one mail into a folder."""
        c = self.client()
        try:
            status, _ = c.append(folder, None, None, raw)
            assert status == "OK"
        finally:
            c.logout()

    def flags(self, folder: str = "INBOX") -> dict[int, str]:
        """The flags of every mail in a folder, by UID."""
        c = self.client()
        try:
            c.select(folder, readonly=True)
            _, data = c.uid("fetch", "1:*", "(FLAGS)")
            found = {}
            for line in data:
                if isinstance(line, bytes) and b"UID" in line:
                    text = line.decode()
                    uid = int(text.split("UID ")[1].split()[0].rstrip(")"))
                    found[uid] = text.split("FLAGS (")[1].split(")")[0]
            return found
        finally:
            c.logout()

    def settings(self, **over: object) -> dict[str, object]:
        """The e-mail adapter's `imap` block for this server."""
        return {
            "host": "127.0.0.1",
            "port": self.port,
            "security": "plain",
            "user": USER,
            "password_env": PASSWORD_ENV,
            **over,
        }
