"""A console on a fresh SQLite hub: one account per role, and a client signed in as each."""

from __future__ import annotations

import re
import shutil
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from argon2 import PasswordHasher
from fastapi.testclient import TestClient

from broker.api import create_app
from broker.console import accounts
from broker.console.permissions import Role
from broker.hub import Hub, set_hub
from broker.store.migrate import upgrade
from tests.conftest import hub_settings

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


QUICK = PasswordHasher(time_cost=1, memory_cost=8, parallelism=1)


@pytest.fixture(autouse=True)
def quick_hashes(monkeypatch: pytest.MonkeyPatch) -> None:
    """Argon2 with the cheapest parameters: these tests check who gets in, not the hash's cost."""
    monkeypatch.setattr(accounts, "_hasher", QUICK)


@pytest.fixture(scope="session")
def console_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A migrated SQLite store with the three accounts, made once and copied for each test."""
    path = tmp_path_factory.mktemp("console-template") / "hub.db"
    hub = Hub(hub_settings(f"sqlite:///{path}", path.parent))
    upgrade(hub.engine)
    original = accounts._hasher
    accounts._hasher = QUICK
    try:
        for name, role in USERS.items():
            accounts.create_user(hub.engine, name, role, PASSWORD, display_name=name.title(), actor="test")
    finally:
        accounts._hasher = original
    hub.engine.dispose()
    return path


@pytest.fixture
def console_hub(console_template: Path, tmp_path: Path) -> Iterator[Hub]:
    """A fresh copy of the template store, as this test's hub."""
    shutil.copyfile(console_template, tmp_path / "hub.db")
    hub = Hub(hub_settings(f"sqlite:///{tmp_path / 'hub.db'}", tmp_path))
    set_hub(hub)
    yield hub
    set_hub(None)
    hub.engine.dispose()


@pytest.fixture
def client_for(console_hub: Hub) -> Callable[[str | None], TestClient]:
    """A client over HTTPS (the cookies are Secure), signed in as `username` (None: not signed in)."""
    app = create_app(console_hub)

    def make(username: str | None) -> TestClient:
        client = TestClient(app, base_url="https://testserver")
        return sign_in(client, username) if username else client

    return make
