"""Signing in to the console: one answer for any mistake, throttled, cookies that scripts cannot read."""

from __future__ import annotations

from collections.abc import Callable

from fastapi.testclient import TestClient

from broker.console import accounts
from broker.hub import Hub
from tests.broker.console.conftest import PASSWORD, csrf_of, sign_in


def _try(client: TestClient, username: str, password: str) -> int:
    page = client.get("/console/login")
    answer = client.post(
        "/console/login",
        data={"username": username, "password": password, "csrf": csrf_of(page.text)},
        follow_redirects=False,
    )
    return answer.status_code


def test_a_page_without_a_session_sends_to_the_sign_in_form(client_for: Callable[[str | None], TestClient]) -> None:
    answer = client_for(None).get("/console/queue", follow_redirects=False)
    assert answer.status_code == 303
    assert answer.headers["location"] == "/console/login"


def test_signing_in_sets_an_httponly_secure_samesite_cookie_and_opens_the_queue(
    client_for: Callable[[str | None], TestClient],
) -> None:
    client = client_for(None)
    page = client.get("/console/login")
    answer = client.post(
        "/console/login",
        data={"username": "amina", "password": PASSWORD, "csrf": csrf_of(page.text)},
        follow_redirects=False,
    )
    assert answer.status_code == 303
    cookie = next(c for c in answer.headers.get_list("set-cookie") if c.startswith("tawasul_console="))
    assert "HttpOnly" in cookie
    assert "Secure" in cookie
    assert "SameSite=lax" in cookie
    queue = client.get("/console/queue")
    assert queue.status_code == 200
    assert queue.headers["x-frame-options"] == "DENY"
    assert "frame-ancestors 'none'" in queue.headers["content-security-policy"]
    assert queue.headers["cache-control"] == "no-store"
    assert 'dir="rtl"' in queue.text
    assert "قائمة المتابعة" in queue.text


def test_a_wrong_password_and_an_unknown_user_get_the_same_answer(
    client_for: Callable[[str | None], TestClient],
) -> None:
    client = client_for(None)
    pages = []
    for username, password in (("amina", "wrong password!"), ("nobody", PASSWORD)):
        page = client.get("/console/login")
        answer = client.post(
            "/console/login", data={"username": username, "password": password, "csrf": csrf_of(page.text)}
        )
        assert answer.status_code == 401
        pages.append(answer.text.replace(csrf_of(answer.text), ""))
    assert pages[0] == pages[1]
    assert "اسم المستخدم أو كلمة المرور غير صحيحة" in pages[0]


def test_sign_in_is_refused_without_its_csrf_token(client_for: Callable[[str | None], TestClient]) -> None:
    client = client_for(None)
    client.get("/console/login")
    answer = client.post("/console/login", data={"username": "amina", "password": PASSWORD})
    assert answer.status_code == 403


def test_after_five_failures_even_the_right_password_waits(
    client_for: Callable[[str | None], TestClient],
) -> None:
    client = client_for(None)
    for _ in range(accounts.THROTTLE_FAILURES):
        assert _try(client, "amina", "not the password") == 401
    assert _try(client, "amina", PASSWORD) == 429
    assert _try(client, "yusuf", PASSWORD) == 303  # another account is not held up


def test_a_disabled_account_cannot_sign_in_and_its_sessions_end(
    console_hub: Hub, client_for: Callable[[str | None], TestClient]
) -> None:
    client = client_for("amina")
    assert client.get("/console/queue").status_code == 200
    accounts.disable_user(console_hub.engine, "amina", actor="test")
    assert client.get("/console/queue", follow_redirects=False).status_code == 303
    assert _try(client_for(None), "amina", PASSWORD) == 401
    accounts.reset_password(console_hub.engine, "amina", "another good password", actor="test")
    sign_in(client_for(None), "amina", "another good password")
