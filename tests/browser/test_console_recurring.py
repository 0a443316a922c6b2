"""Recurring complaints in a real browser: a reviewer finds the group of street-light reports from the
menu, opens it, and marks it as a known problem owned by an agency."""

from __future__ import annotations

from typing import Any

from broker.console.permissions import Role
from broker.recurring.store import attach_pending
from tests.browser.conftest import Console, shot, sign_in

REPORTS = (
    "إنارة الشارع مطفأة في مجمع 112 طريق 1219",
    "الاضاءة مطفيه في الشارع، مجمع ١١٢ طريق ١٢١٩",
    "أعمدة الإنارة لا تعمل منذ أسبوع - مجمع 112 طريق 1219",
)
PLACE = {"governorate": "muharraq", "block": "112", "road": "1219"}
NOTE = "كابل الإنارة مقطوع، تستبدله الوزارة خلال شهر"


def test_a_reviewer_marks_a_recurring_group_from_the_console(page: Any, console: Console) -> None:
    refs = [console.submit(subject=s, description=s, location=PLACE)["reference"] for s in REPORTS]
    attach_pending(console.hub.engine)
    reviewer = console.person(Role.reviewer)
    sign_in(page, reviewer)
    page.click("header nav a[href='/console/recurring']")
    row = page.locator("#recurring-groups tr[data-group]").filter(has_text="١١٢")
    assert row.count() == 1
    assert page.locator("#chart-recurring rect.bar").count() >= 1
    shot(page, "ar-recurring-list")
    row.locator("a").click()
    assert sorted(page.locator("#group-cases a").all_text_contents()) == sorted(refs)
    page.select_option("#mark-owner", "central-office")
    page.fill("#mark-note", NOTE)
    page.click("#mark-submit")
    assert page.locator("p.flash").text_content() == "عُلِّمت المجموعة مشكلة متكررة معروفة."
    assert NOTE in page.locator("#group-mark").text_content()
    shot(page, "ar-recurring-group-marked")
