"""The agencies, statistics and users pages, read as the server renders them."""

from __future__ import annotations

import re
from collections.abc import Callable
from urllib.parse import unquote

import pytest
from fastapi.testclient import TestClient

from broker.console import accounts
from broker.hub import Hub
from broker.intake import submit_cases
from tests.broker.console.conftest import csrf_of
from tests.conftest import make_case
from tests.support import pump

Client = Callable[[str | None], TestClient]


@pytest.fixture
def cases(console_hub: Hub) -> Hub:
    sent = [make_case(category="social-insurance-pensions", kind=k) for k in ("complaint", "complaint", "inquiry")]
    submit_cases(console_hub.engine, console_hub.directory, sent, actor="test")
    pump(console_hub)
    return console_hub


def test_the_agencies_page_shows_each_agency_with_its_open_handoffs(cases: Hub, client_for: Client) -> None:
    page = client_for("yusuf").get("/console/agencies").text
    row = re.search(r'<tr data-agency="social-insurance-organisation">(.*?)</tr>', page, re.S)
    assert row is not None
    assert "قيد الربط" in row.group(1)  # joining
    assert '<td class="open">٣</td>' in row.group(1)
    assert 'data-agency="central-office"' not in page  # the operator is not an agency to chase


@pytest.mark.parametrize(
    ("name", "header"),
    [
        ("cases-by-kind", "period,complaint,suggestion,inquiry,total"),
        ("cases-by-agency", "period,agency,name_ar,name_en,cases"),
        ("growth", "period,cases,growth_percent"),
        ("agencies", "agency,handoffs,answered_on_time,surveys,mean_satisfaction"),
        ("queue-size", "at,queue_size"),
    ],
)
def test_each_chart_downloads_as_csv(cases: Hub, client_for: Client, name: str, header: str) -> None:
    answer = client_for("amina").get(f"/console/stats/{name}.csv?period=quarter&count=4")
    assert answer.status_code == 200
    assert answer.headers["content-type"] == "text/csv; charset=utf-8"
    assert f'filename="tawasul-{name}.csv"' in answer.headers["content-disposition"]
    lines = answer.text.splitlines()
    assert lines[0] == header
    if name == "cases-by-kind":
        assert len(lines) == 5 and lines[-1].endswith(",2,0,1,3")
    if name == "cases-by-agency":
        agency = cases.directory.agency("social-insurance-organisation")
        assert f"social-insurance-organisation,{agency.name_ar},{agency.name_en},3" in answer.text


def test_an_unknown_csv_is_not_found(client_for: Client) -> None:
    assert client_for("amina").get("/console/stats/everything.csv").status_code == 404


def test_the_statistics_page_draws_every_chart(cases: Hub, client_for: Client) -> None:
    page = client_for("amina").get("/console/stats?period=week").text
    for chart in ("chart-kind", "chart-agency", "chart-growth", "chart-on-time", "chart-satisfaction", "chart-queue"):
        assert f'id="{chart}"' in page
    assert page.count('data-series="complaint"') == 6  # six weeks by default


def test_an_administrator_creates_and_disables_an_account_on_the_users_page(
    console_hub: Hub, client_for: Client
) -> None:
    admin = client_for("root")
    csrf = csrf_of(admin.get("/console/users").text)
    made = admin.post(
        "/console/users",
        data={"csrf": csrf, "username": "Huda", "name": "هدى", "role": "reviewer", "language": "en"},
        follow_redirects=False,
    )
    shown = unquote(made.cookies["tawasul_console_flash"])
    password = shown.rsplit(": ", 1)[1]
    assert shown.startswith("تم. huda: ")
    assert accounts.sign_in(console_hub.engine, "huda", password, "127.0.0.1").user.language == "en"
    taken = admin.post("/console/users", data={"csrf": csrf, "username": "huda"}, follow_redirects=False)
    assert "taken" in unquote(taken.cookies["tawasul_console_flash"])
    admin.post("/console/users/huda/disable", data={"csrf": csrf})
    with pytest.raises(accounts.SignInRefused):
        accounts.sign_in(console_hub.engine, "huda", password, "127.0.0.1")
    assert "معطَّل" in admin.get("/console/users").text
