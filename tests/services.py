"""Reaching the real services tests need; in CI a missing service fails, locally it skips."""

from __future__ import annotations

import os
import socket

import pytest

PG_ADMIN_URL = os.environ.get("TEST_PG_ADMIN_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test")
RABBIT_URL = os.environ.get("TEST_RABBIT_URL", "amqp://guest:guest@127.0.0.1:5672//")


def reachable(host: str, port: int) -> bool:
    """True when something listens on host:port."""
    try:
        with socket.create_connection((host, port), timeout=1):
            return True
    except OSError:
        return False


def require(host: str, port: int, what: str) -> None:
    """Fail in CI, skip elsewhere, when a service is not there."""
    if reachable(host, port):
        return
    message = f"{what} is not reachable on {host}:{port}"
    if os.environ.get("CI") == "true":
        pytest.fail(f"{message} (CI must start it: see .ci/run)")
    pytest.skip(message)
