"""The central office's day in a real browser: an overdue handoff found, its answer recorded by phone,
reviewed and accepted, the case closed, the citizen's survey arriving; in English and in Arabic."""

from __future__ import annotations

from typing import Any

from broker.console.permissions import Role
from tests.browser.conftest import Console, shot, sign_in, sign_out

SUBJECT_AR = "انقطاع المياه عن المنزل منذ ثلاثة أيام"
ANSWER_AR = "تم إصلاح الخط وإعادة ضخ المياه، ونعتذر عن التأخير. ١٢٣"
REPLY_AR = "تم إصلاح الخط وإعادة ضخ المياه. نشكر لكم صبركم."
COMMENT_AR = "شكرًا على المتابعة، الخدمة ممتازة."


def _case_with_overdue_handoff(console: Console, subject: str) -> tuple[str, str, str]:
    created = console.submit(subject=subject)
    handoff = created["handoffs"][0]["id"]
    console.make_overdue(handoff)
    return created["id"], created["reference"], handoff


def _day(page: Any, console: Console, lang: str, subject: str, answer: str, reply: str, comment: str) -> str:
    case_id, reference, handoff = _case_with_overdue_handoff(console, subject)
    officer = console.person(Role.officer, lang)
    reviewer = console.person(Role.reviewer, lang)

    sign_in(page, officer, lang=lang)
    page.select_option("select[name=reason]", "overdue")
    page.fill("input[name=search]", reference)
    page.click("#filter")
    row = page.locator(f"tr[data-handoff='{handoff}']")
    assert row.count() == 1
    shot(page, f"{lang}-1-queue-overdue")
    row.locator("a").click()
    assert page.locator("#case-subject").text_content() == subject
    page.select_option("#contact-kind", "answered")
    page.fill("#contact-text", answer)
    page.click("#record")
    assert page.locator("#handoff-state").get_attribute("data-state") == "answered"
    assert page.locator("#messages .text").last.text_content() == answer
    shot(page, f"{lang}-2-answer-recorded")
    sign_out(page)

    sign_in(page, reviewer, lang=lang)
    page.goto("/console/review")
    page.locator(f"tr[data-handoff='{handoff}'] a").click()
    assert page.locator("#reply").input_value() == answer
    page.fill("#reply", reply)
    shot(page, f"{lang}-3-review")
    page.click("#accept")
    assert page.locator("#handoff-state").get_attribute("data-state") == "accepted"
    page.click("#case-link")
    assert page.locator("#case-state").get_attribute("data-state") == "replied"
    page.click("#close-case")
    assert page.locator("#case-state").get_attribute("data-state") == "closed"
    assert page.locator("#case-state").text_content() == {"ar": "مغلقة", "en": "closed"}[lang]
    assert page.locator("#no-survey").count() == 1

    sent = console.http.post(f"{console.base}/v1/cases/{case_id}/survey", json={"score": 4, "comment": comment})
    assert sent.status_code == 201, sent.text
    page.reload()
    assert page.locator("#survey-comment").text_content() == comment
    shot(page, f"{lang}-4-closed-with-survey")

    trail = console.http.get(f"{console.base}/v1/cases/{case_id}/events").json()
    by_type = {e["type"]: e for e in trail}
    assert by_type["message.answered"]["actor"] == f"central-office:{officer}"
    assert by_type["message.answered"]["data"]["text"] == answer
    assert by_type["answer.edited"]["data"] == {"original": answer, "reply": reply}
    assert by_type["handoff.accepted"]["data"]["reply"] == reply
    assert by_type["case.closed"]["actor"] == f"central-office:{reviewer}"
    assert by_type["case.surveyed"]["data"]["score"] == 4
    return case_id


def test_the_day_in_english(page: Any, console: Console) -> None:
    sign_in(page, "amina", lang="en")
    page.click("#switch-language")
    assert page.evaluate("document.documentElement.dir") == "ltr"
    assert page.locator("h1").first.text_content() == "Follow-up queue"
    sign_out(page)
    _day(
        page,
        console,
        "en",
        "Street light out on road 4407",
        "The lamp was replaced on Sunday.",
        "The street light on road 4407 was replaced on Sunday.",
        "Quick and polite, thank you.",
    )
    assert page.evaluate("document.documentElement.dir") == "ltr"


def test_the_day_in_arabic_right_to_left_with_arabic_text_unchanged(page: Any, console: Console) -> None:
    case_id = _day(page, console, "ar", SUBJECT_AR, ANSWER_AR, REPLY_AR, COMMENT_AR)
    assert page.evaluate("document.documentElement.dir") == "rtl"
    assert page.evaluate("document.documentElement.lang") == "ar"
    assert page.locator("#survey h2").text_content() == "استبيان الرضا"
    # byte for byte: what the page shows is what was sent, in UTF-8
    shown = page.locator("#survey-comment").text_content()
    assert shown.encode() == COMMENT_AR.encode()
    page.goto(f"/console/cases/{case_id}")
    assert page.locator("h1").text_content().endswith(SUBJECT_AR)


def test_new_work_appears_on_the_queue_without_a_reload_in_the_digits_chosen(page: Any, console: Console) -> None:
    sign_in(page, console.person(Role.officer))
    page.goto("/console/queue?reason=manual")
    page.evaluate("window.notReloaded = true")
    created = console.submit(subject=SUBJECT_AR)
    row = page.wait_for_selector(f"tr[data-handoff='{created['handoffs'][0]['id']}']", timeout=30_000)
    assert page.evaluate("window.notReloaded") is True  # the script swapped the rows in
    due = row.query_selector("td:nth-child(4)").text_content()
    assert due[:4] == "٢٠٢٦" or due[0] in "٠١٢٣٤٥٦٧٨٩"
    shot(page, "ar-live-queue")
    page.click("#switch-digits")
    due = page.locator(f"tr[data-handoff='{created['handoffs'][0]['id']}'] td:nth-child(4)").text_content()
    assert due[0] in "0123456789" and not any(c in due for c in "٠١٢٣٤٥٦٧٨٩")
