"""A console on a fresh SQLite hub: one account per role, and a client signed in as each."""

from __future__ import annotations

import re
from collections.abc import Callable

import pytest
from argon2 import PasswordHasher
from fastapi.testclient import TestClient

from broker.api import create_app
from broker.console import accounts
from broker.console.permissions import Role
from broker.hub import Hub

PASSWORD = "correct horse battery"
USERS = {"amina": Role.officer, "yusuf": Role.reviewer, "root": Role.admin}
CSRF = re.compile(r'name="csrf" value="([^"]+)"')


def csrf_of(html: str) -> str:
    """The CSRF token in a page's first form."""
    found = CSRF.search(html)
    assert found, "no CSRF token on the page"
    return found.group(1)


def sign_in(client: TestClient, username: str, password: str = PASSWORD) -> TestClient:
    page = client.get("/console/login")
    answer = client.post(
        "/console/login",
        data={"username": username, "password": password, "csrf": csrf_of(page.text)},
        follow_redirects=False,
    )
    assert answer.status_code == 303, answer.text
    return client


@pytest.fixture(autouse=True)
def quick_hashes(monkeypatch: pytest.MonkeyPatch) -> None:
    """Argon2 with the cheapest parameters: these tests check who gets in, not the hash's cost."""
    monkeypatch.setattr(accounts, "_hasher", PasswordHasher(time_cost=1, memory_cost=8, parallelism=1))


@pytest.fixture
def console_hub(sqlite_hub: Hub) -> Hub:
    for name, role in USERS.items():
        accounts.create_user(sqlite_hub.engine, name, role, PASSWORD, display_name=name.title(), actor="test")
    return sqlite_hub


@pytest.fixture
def client_for(console_hub: Hub) -> Callable[[str | None], TestClient]:
    """A client over HTTPS (the cookies are Secure), signed in as `username` (None: not signed in)."""
    app = create_app(console_hub)

    def make(username: str | None) -> TestClient:
        client = TestClient(app, base_url="https://testserver")
        return sign_in(client, username) if username else client

    return make
