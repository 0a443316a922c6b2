"""The recurring-complaints page: groups with their trend, filters, CSV, a group's page, marking it (audited),
and HUB_RECURRING=false turning grouping off."""

from __future__ import annotations

import csv
import io
import re
import threading
from collections.abc import Callable

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select

from broker import scheduler
from broker.hub import Hub
from broker.intake import submit_cases
from broker.recurring.report import CSV_FIELDS
from broker.recurring.store import attach_pending
from broker.store.tables import queue_samples, recurring_cases, recurring_marks, staff_audit
from schemas import CaseIn
from tests.broker.console.conftest import csrf_of
from tests.conftest import sample_cases
from tests.support import local_publish, wait_until

LIGHTS = ("TW-2026-000144", "TW-2026-000147", "TW-2026-000153")
"""Three sample reports of the street lights out in Muharraq block 112, in October."""
OTHERS = ("TW-2026-000101", "TW-2026-000102")


def _submit(hub: Hub, refs: tuple[str, ...]) -> None:
    raws = [CaseIn.model_validate(r) for r in sample_cases() if r["reference"] in refs]
    assert len(raws) == len(refs)
    submit_cases(hub.engine, hub.directory, raws, actor="national")


@pytest.fixture
def lights(console_hub: Hub) -> str:
    """The lights group, attached; its id."""
    _submit(console_hub, LIGHTS + OTHERS)
    attached = {a.case_id: a.group_id for a in attach_pending(console_hub.engine)}
    with console_hub.engine.connect() as conn:
        (group,) = conn.execute(
            select(recurring_cases.c.group_id).group_by(recurring_cases.c.group_id).having(func.count() == 3)
        ).scalars()
    assert group in attached.values()
    return str(group)


def _rows(html: str) -> list[str]:
    return re.findall(r'<tr data-group="([^"]+)"', html)


def test_the_page_lists_each_group_with_its_trend_and_the_chart(
    lights: str, client_for: Callable[[str | None], TestClient]
) -> None:
    page = client_for("amina").get("/console/recurring")
    assert page.status_code == 200
    assert _rows(page.text) == [lights]  # the single cases are not recurring
    assert 'id="chart-recurring"' in page.text
    drawn = re.findall(rf'data-series="{lights}" data-value="(\d+)"', page.text)
    assert sum(int(v) for v in drawn) == 3
    assert f'id="spark-{lights}"' in page.text
    assert "الشكاوى المتكررة" in page.text
    assert f'href="/console/recurring/{lights}"' in page.text
    assert 'id="recurring-off"' not in page.text


@pytest.mark.parametrize(
    ("query", "listed"),
    [
        ("from=2026-10-01&to=2026-10-31", True),
        ("from=2026-11-01", False),  # the lights were reported in October
        ("to=2026-09-30", False),
        ("least=3", True),
        ("least=4", False),
        ("agency=ministry-of-health", False),
        ("known=not_known", True),
        ("known=known", False),
        ("from=not-a-day&least=x&agency=nobody&known=maybe", True),  # malformed filters are ignored
    ],
)
def test_the_filters(lights: str, client_for: Callable[[str | None], TestClient], query: str, listed: bool) -> None:
    page = client_for("amina").get(f"/console/recurring?{query}")
    assert page.status_code == 200
    assert _rows(page.text) == ([lights] if listed else [])
    csv_rows = list(csv.DictReader(io.StringIO(client_for("amina").get(f"/console/recurring.csv?{query}").text)))
    assert [r["group"] for r in csv_rows] == ([lights] if listed else [])


def test_the_csv_has_the_report_columns(lights: str, client_for: Callable[[str | None], TestClient]) -> None:
    answer = client_for("yusuf").get("/console/recurring.csv")
    assert answer.status_code == 200
    assert answer.headers["content-type"].startswith("text/csv")
    assert "tawasul-recurring.csv" in answer.headers["content-disposition"]
    (row,) = list(csv.DictReader(io.StringIO(answer.text)))
    assert list(row) == CSV_FIELDS
    assert set(row["references"].split()) == set(LIGHTS)
    assert row["cases"] == "3" and row["block"] == "112" and row["known"] == "False"


def test_a_group_page_shows_its_cases_place_and_trend(
    lights: str, client_for: Callable[[str | None], TestClient]
) -> None:
    page = client_for("amina").get(f"/console/recurring/{lights}")
    assert page.status_code == 200
    for ref in LIGHTS:
        assert f'href="/console/cases/{ref}"' in page.text
    assert "إنارة" in page.text  # the cases' subjects
    assert sum(int(v) for v in re.findall(r'data-series="cases" data-value="(\d+)"', page.text)) == 3
    assert "محافظة المحرق" in page.text and "مجمع ١١٢" in page.text
    assert 'id="mark-form"' not in page.text  # an officer may not mark
    assert client_for("amina").get("/console/recurring/g_nothing").status_code == 404


def test_a_reviewer_marks_a_group_and_the_audit_trail_says_who(
    console_hub: Hub, lights: str, client_for: Callable[[str | None], TestClient]
) -> None:
    client = client_for("yusuf")
    page = client.get(f"/console/recurring/{lights}")
    assert 'id="mark-form"' in page.text
    answer = client.post(
        f"/console/recurring/{lights}/mark",
        data={"csrf": csrf_of(page.text), "owner": "ministry-of-works", "note": "كابل الإنارة مقطوع، يُستبدل"},
        follow_redirects=False,
    )
    assert answer.status_code == 303
    assert answer.headers["location"] == f"/console/recurring/{lights}"
    after = client.get(f"/console/recurring/{lights}")
    assert "عُلِّمت المجموعة" in after.text  # the flash
    assert "كابل الإنارة مقطوع، يُستبدل" in after.text
    with console_hub.engine.connect() as conn:
        (mark,) = conn.execute(select(recurring_marks)).all()
        (line,) = conn.execute(select(staff_audit).where(staff_audit.c.action == "recurring.marked")).all()
    assert (mark.group_id, mark.owner_agency, mark.marked_by) == (lights, "ministry-of-works", "central-office:yusuf")
    assert (line.actor, line.target, line.data["owner_agency"]) == ("central-office:yusuf", lights, "ministry-of-works")
    assert _rows(client.get("/console/recurring?known=known").text) == [lights]


@pytest.mark.parametrize(
    ("group", "owner", "said"),
    [
        (None, "no-such-agency", "owner: unknown agency"),
        (None, "", "owner: unknown agency"),
        ("g_nothing", "ministry-of-works", "غير موجود"),  # 404, no such group
    ],
)
def test_a_mark_that_cannot_be_made_says_why_and_writes_nothing(
    console_hub: Hub,
    lights: str,
    client_for: Callable[[str | None], TestClient],
    group: str | None,
    owner: str,
    said: str,
) -> None:
    client = client_for("root")
    csrf = csrf_of(client.get("/console/recurring").text)
    answer = client.post(f"/console/recurring/{group or lights}/mark", data={"csrf": csrf, "owner": owner})
    assert answer.status_code == (404 if group else 200)  # 200: the redirect back, followed
    assert said in answer.text
    with console_hub.engine.connect() as conn:
        assert conn.execute(select(func.count()).select_from(recurring_marks)).scalar_one() == 0
        assert not conn.execute(select(staff_audit).where(staff_audit.c.action == "recurring.marked")).all()


def test_the_navigation_links_the_page(console_hub: Hub, client_for: Callable[[str | None], TestClient]) -> None:
    assert 'href="/console/recurring"' in client_for("amina").get("/console/queue").text


def test_the_page_in_english(lights: str, client_for: Callable[[str | None], TestClient]) -> None:
    client = client_for("amina")
    csrf = csrf_of(client.get("/console/recurring").text)
    client.post("/console/preferences", data={"csrf": csrf, "language": "en", "back": "/console/recurring"})
    page = client.get(f"/console/recurring/{lights}")
    assert "Recurring complaints group" in page.text and "Muharraq, block 112" in page.text


def test_with_grouping_off_the_scheduler_groups_nothing_and_the_page_says_so(
    console_hub: Hub, client_for: Callable[[str | None], TestClient]
) -> None:
    console_hub.settings = console_hub.settings.model_copy(update={"recurring": False})
    assert "recurring.attach" not in {j.name for j in scheduler.default_jobs(recurring=False)}
    assert "recurring.attach" in {j.name for j in scheduler.default_jobs()}
    _submit(console_hub, LIGHTS)
    stop = threading.Event()
    loop = threading.Thread(target=scheduler.run, args=(console_hub, local_publish(console_hub), stop))
    loop.start()
    try:

        def sampled() -> bool:  # the jobs' first pass ran (recurring.attach comes before it in the list)
            with console_hub.engine.connect() as conn:
                return bool(conn.execute(select(func.count()).select_from(queue_samples)).scalar_one())

        wait_until(sampled, "the scheduler's jobs to run once")
    finally:
        stop.set()
        loop.join(30)
    with console_hub.engine.connect() as conn:
        assert conn.execute(select(func.count()).select_from(recurring_cases)).scalar_one() == 0
    assert 'id="recurring-off"' in client_for("amina").get("/console/recurring").text
    assert len(attach_pending(console_hub.engine)) == len(LIGHTS)  # `recurring attach` catches up later


def test_hub_recurring_false_is_read_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    from broker.settings import Settings

    assert Settings().recurring is True
    monkeypatch.setenv("HUB_RECURRING", "false")
    assert Settings().recurring is False


def test_the_list_comes_a_page_at_a_time_with_the_filters_kept(
    console_hub: Hub, client_for: Callable[[str | None], TestClient], monkeypatch: pytest.MonkeyPatch
) -> None:
    from broker.console.routes import recurring as page

    submit_cases(console_hub.engine, console_hub.directory, [CaseIn.model_validate(r) for r in sample_cases()], "n")
    while attach_pending(console_hub.engine):
        pass
    client = client_for("amina")
    every = _rows(client.get("/console/recurring").text)
    assert len(every) >= 3  # the samples hold several recurring problems
    monkeypatch.setattr(page, "PAGE", 2)
    first = client.get("/console/recurring?known=not_known").text
    assert _rows(first) == every[:2]
    assert 'id="previous-page"' not in first
    assert 'href="/console/recurring?known=not_known&amp;least=2&amp;page=2" id="next-page"' in first
    last_page = (len(every) + 1) // 2
    last = client.get(f"/console/recurring?known=not_known&page={last_page}").text
    assert _rows(last) == every[(last_page - 1) * 2 :]
    assert 'id="next-page"' not in last and 'id="previous-page"' in last
    latin = str.maketrans("٠١٢٣٤٥٦٧٨٩", "0123456789")
    assert f"({len(every)})" in client.get("/console/recurring?page=2").text.translate(latin)  # the total, every page
    assert len(list(csv.DictReader(io.StringIO(client.get("/console/recurring.csv?page=2").text)))) == len(every)
