"""Browser tests: Debian's chromium driven by Playwright, against a hub served on a real socket.

Each module gets one browser; each test a fresh context (its own cookies). Screenshots go to
test-artifacts/browser/ (or HUB_TEST_ARTIFACTS), printed at the end of the session.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
import requests
from sqlalchemy import select

from broker import sweep
from broker.console import accounts
from broker.console.permissions import Role
from broker.hub import Hub, set_hub
from broker.settings import PROJECT_ROOT
from broker.store.migrate import upgrade
from broker.store.tables import handoffs
from tests.conftest import API_KEY, hub_settings, make_case
from tests.integration.procs import write_config
from tests.support import live_api, pump

CHROMIUM = Path(os.environ.get("HUB_CHROMIUM", "/usr/bin/chromium"))
ARTIFACTS = Path(os.environ.get("HUB_TEST_ARTIFACTS", PROJECT_ROOT / "test-artifacts")) / "browser"
PASSWORD = "correct horse battery"
STAFF = {"amina": Role.officer, "yusuf": Role.reviewer, "root": Role.admin}


def _browser_or_fail() -> None:
    if CHROMIUM.exists():
        return
    message = f"{CHROMIUM} is missing: ./run test installs Debian's chromium (apt-get install chromium)"
    if os.environ.get("CI") == "true":
        pytest.fail(message)
    pytest.skip(message)


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    """One headless Chromium for the module."""
    _browser_or_fail()
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        b = p.chromium.launch(
            executable_path=str(CHROMIUM),
            headless=True,
            args=["--no-sandbox", "--disable-gpu", "--disable-background-networking"],
        )
        yield b
        b.close()


class Console:
    """The hub under test: its base URL, and helpers to make real cases through the national API."""

    def __init__(self, hub: Hub, base: str) -> None:
        self.hub = hub
        self.base = base
        self.http = requests.Session()
        self.http.headers["X-API-Key"] = API_KEY

    def submit(self, **overrides: Any) -> dict[str, Any]:
        """A case sent by the national system, delivered (the joining agency: on the follow-up queue)."""
        case = make_case(category="manual-desk", **overrides).model_dump(mode="json")
        created = self.http.post(f"{self.base}/v1/cases", json=case, timeout=10)
        assert created.status_code == 201, created.text
        pump(self.hub)
        return dict(created.json())

    def person(self, role: Role, language: str = "ar") -> str:
        """A new staff account with this role; its username."""
        self.people = getattr(self, "people", 0) + 1
        username = f"{role.value}{self.people}"
        accounts.create_user(self.hub.engine, username, role, PASSWORD, language=language, actor="test")
        return username

    def make_overdue(self, handoff_id: str) -> None:
        """Run the deadline sweep as if the answer-by time had passed."""
        with self.hub.engine.connect() as conn:
            due = conn.execute(select(handoffs.c.answer_due_at).where(handoffs.c.id == handoff_id)).scalar_one()
        sweep.sweep(self.hub, at=due + timedelta(minutes=1))


@pytest.fixture(scope="module")
def console(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Console]:
    """A hub on SQLite with the console's staff, serving on a free port."""
    tmp = tmp_path_factory.mktemp("console")
    config = write_config(tmp / "config", tmp / "stub.jsonl")
    hub = Hub(hub_settings(f"sqlite:///{tmp / 'hub.db'}", tmp, config_dir=config, console_secure_cookies=False))
    upgrade(hub.engine)
    set_hub(hub)
    for name, role in STAFF.items():
        accounts.create_user(hub.engine, name, role, PASSWORD, display_name=name.title(), actor="test")
    with live_api(hub) as base:
        yield Console(hub, base)
    set_hub(None)
    hub.engine.dispose()


@pytest.fixture
def page(browser: Any, console: Console, request: pytest.FixtureRequest) -> Iterator[Any]:
    """A fresh browser context and page; a screenshot of where it ended is kept."""
    context = browser.new_context(base_url=console.base, locale="ar-BH")
    p = context.new_page()
    yield p
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    p.screenshot(path=str(ARTIFACTS / f"{request.node.name}-end.png"), full_page=True)
    context.close()


def shot(page: Any, name: str) -> None:
    """Keep a screenshot of the page as it is now."""
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / f"{name}.png"), full_page=True)


def sign_in(page: Any, username: str, password: str = PASSWORD, lang: str = "ar") -> None:
    """Fill in the sign-in form."""
    page.goto(f"/console/login?lang={lang}")
    page.fill("input[name=username]", username)
    page.fill("input[name=password]", password)
    page.click("#sign-in")


def sign_out(page: Any) -> None:
    """Press the sign-out button."""
    page.click("#sign-out")


def pytest_terminal_summary(terminalreporter: Any) -> None:
    """Say where the screenshots are."""
    if ARTIFACTS.exists():
        terminalreporter.write_line(f"browser screenshots: {ARTIFACTS}")
