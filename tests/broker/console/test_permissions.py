"""Every console route against every role, as a table: who gets the page, who is refused (403)."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from fastapi.routing import APIRoute
from fastapi.testclient import TestClient
from sqlalchemy import select

from broker import console
from broker.console.permissions import GRANTS, Permission, Role, allowed, mask_cpr
from broker.hub import Hub
from broker.intake import submit_cases
from broker.recurring.store import attach_pending
from broker.store.tables import handoffs
from tests.broker.console.conftest import USERS, csrf_of
from tests.conftest import make_case
from tests.support import pump

H = "{handoff}"
C = "{case}"
# (method, path, permission needed); {handoff} and {case} are filled with a real one
ROUTES: list[tuple[str, str, Permission]] = [
    ("GET", "/console/queue", Permission.view),
    ("GET", "/console/queue/live", Permission.view),
    ("GET", f"/console/handoffs/{H}", Permission.view),
    ("GET", "/console/review", Permission.view),
    ("GET", f"/console/cases/{C}", Permission.view),
    ("GET", "/console/agencies", Permission.view),
    ("GET", "/console/inbound", Permission.view),
    ("POST", "/console/inbound/{item}/attach", Permission.follow_up),
    ("POST", "/console/inbound/{item}/dismiss", Permission.follow_up),
    ("GET", "/console/stats", Permission.view),
    ("GET", "/console/stats/{name}.csv", Permission.view),
    ("GET", "/console/recurring", Permission.view),
    ("GET", "/console/recurring.csv", Permission.view),
    ("GET", "/console/recurring/{group}", Permission.view),
    ("POST", "/console/recurring/{group}/mark", Permission.mark_recurring),
    ("GET", "/console/users", Permission.manage_users),
    ("POST", "/console/preferences", Permission.view),
    ("POST", "/console/logout", Permission.view),
    ("POST", f"/console/handoffs/{H}/contact", Permission.follow_up),
    ("POST", f"/console/handoffs/{H}/resend", Permission.follow_up),
    ("POST", f"/console/handoffs/{H}/confirm", Permission.follow_up),
    ("POST", f"/console/handoffs/{H}/transfer", Permission.follow_up),
    ("POST", f"/console/handoffs/{H}/extension", Permission.follow_up),
    ("POST", f"/console/handoffs/{H}/assign", Permission.follow_up),
    ("POST", f"/console/handoffs/{H}/accept", Permission.review),
    ("POST", f"/console/handoffs/{H}/return", Permission.review),
    ("POST", f"/console/cases/{C}/close", Permission.close),
    ("POST", "/console/users", Permission.manage_users),
    ("POST", "/console/users/{username}/disable", Permission.manage_users),
]
OPEN = {("GET", "/console/login"), ("POST", "/console/login"), ("GET", "/console/")}
CASES = [(method, path, permission, user) for method, path, permission in ROUTES for user in USERS]


def test_the_table_names_every_console_route() -> None:
    served = {
        (method, f"/console{route.path}")
        for router in console.ROUTERS
        for route in router.routes
        if isinstance(route, APIRoute)
        for method in route.methods
    }
    tabled = {
        (m, p.replace(H, "{handoff_id}").replace(C, "{case_id}").replace("{group}", "{group_id}")) for m, p, _ in ROUTES
    }
    assert served - OPEN == tabled


@pytest.mark.parametrize(("method", "path", "permission", "user"), CASES)
def test_a_route_answers_each_role_as_the_permission_table_says(
    console_hub: Hub,
    client_for: Callable[[str | None], TestClient],
    method: str,
    path: str,
    permission: Permission,
    user: str,
) -> None:
    case_id = submit_cases(console_hub.engine, console_hub.directory, [make_case()], actor="test")[0].case_id
    pump(console_hub)
    with console_hub.engine.connect() as conn:
        handoff = conn.execute(select(handoffs.c.id).where(handoffs.c.case_id == case_id)).scalar_one()
    (attached,) = attach_pending(console_hub.engine)
    client = client_for(user)
    url = (
        path.replace(H, handoff)
        .replace(C, case_id)
        .replace("{username}", "amina")
        .replace("{name}", "cases-by-kind")
        .replace("{item}", "i_x")
        .replace("{group}", attached.group_id)
    )
    if method == "GET":
        answer = client.get(url, follow_redirects=False)
    else:
        csrf = csrf_of(client.get("/console/queue").text)
        answer = client.post(url, data={"csrf": csrf}, follow_redirects=False)
    if allowed(USERS[user], permission):
        assert answer.status_code in (200, 303), answer.text
    else:
        assert answer.status_code == 403, answer.text


@pytest.mark.parametrize("path", [p for m, p, _ in ROUTES if m == "POST"])
def test_a_form_without_its_csrf_token_is_refused(
    console_hub: Hub, client_for: Callable[[str | None], TestClient], path: str
) -> None:
    client = client_for("root")
    answer = client.post(
        path.replace(H, "h_x")
        .replace(C, "c_x")
        .replace("{username}", "amina")
        .replace("{name}", "growth")
        .replace("{item}", "i_x")
        .replace("{group}", "g_x"),
        data={},
    )
    assert answer.status_code == 403
    assert "انتهت صلاحية النموذج" in answer.text


def test_the_roles_are_those_of_the_issue_and_only_the_officer_and_admin_see_the_cpr() -> None:
    assert set(GRANTS) == {Role.officer, Role.reviewer, Role.admin}
    assert [r for r in Role if allowed(r, Permission.see_cpr)] == [Role.officer, Role.admin]
    assert not allowed("intruder", Permission.view)
    assert mask_cpr("850412345") == "••••••345"
    assert [r for r in Role if allowed(r, Permission.mark_recurring)] == [Role.reviewer, Role.admin]
