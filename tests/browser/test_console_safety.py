"""What the console refuses, and what it hides, in a real browser; and charts drawn from real cases."""

from __future__ import annotations

from typing import Any

from broker import review
from broker.console.permissions import Role
from broker.messages import Sender, record_message
from broker.statistics import Period, label, periods
from broker.store.engine import now
from schemas import AgencyMessage, MessageKind
from tests.browser.conftest import Console, shot, sign_in

CPR = "850412345"
WRONG_LOGIN_AR = "اسم المستخدم أو كلمة المرور غير صحيحة."


def _answered(console: Console, kind: str = "complaint") -> dict[str, Any]:
    created = console.submit(kind=kind)
    handoff = created["handoffs"][0]["id"]
    record_message(
        console.hub.engine,
        console.hub.directory,
        handoff,
        AgencyMessage(kind=MessageKind.answered, text="تمت المعالجة."),
        Sender(actor="central-office:test", source="manual:call"),
    )
    return {**created, "handoff": handoff}


def _submit_form(page: Any, action: str, fields: dict[str, str]) -> Any:
    """Post a form the page does not show, as a curious person with the developer tools would."""
    with page.expect_response(lambda r: r.url.endswith(action)) as answer:
        page.evaluate(
            """([action, fields]) => {
                const form = document.createElement('form');
                form.method = 'post';
                form.action = action;
                for (const [name, value] of Object.entries(fields)) {
                    const input = document.createElement('input');
                    input.type = 'hidden'; input.name = name; input.value = value;
                    form.appendChild(input);
                }
                document.body.appendChild(form);
                form.submit();
            }""",
            [action, fields],
        )
    return answer.value


def test_a_follow_up_officer_cannot_review_an_answer(page: Any, console: Console) -> None:
    case = _answered(console)
    sign_in(page, console.person(Role.officer))
    page.goto(f"/console/handoffs/{case['handoff']}")
    assert page.locator("#accept").count() == 0  # not offered
    csrf = page.locator("input[name=csrf]").first.input_value()
    answer = _submit_form(page, f"/console/handoffs/{case['handoff']}/accept", {"csrf": csrf, "reply": "x"})
    assert answer.status == 403
    page.wait_for_load_state()
    assert page.locator(".error").text_content() == "ليست لديك صلاحية لهذا الإجراء."
    shot(page, "officer-cannot-review")
    page.goto(f"/console/handoffs/{case['handoff']}")
    assert page.locator("#handoff-state").get_attribute("data-state") == "answered"  # nothing changed


def test_a_form_without_its_csrf_token_is_refused(page: Any, console: Console) -> None:
    created = console.submit()
    handoff = created["handoffs"][0]["id"]
    sign_in(page, console.person(Role.officer))
    page.goto(f"/console/handoffs/{handoff}")
    page.evaluate("document.querySelector('#contact-form input[name=csrf]').remove()")
    page.select_option("#contact-kind", "acknowledged")
    with page.expect_response(lambda r: r.url.endswith("/contact")) as answer:
        page.click("#record")
    assert answer.value.status == 403
    assert "انتهت صلاحية النموذج" in page.locator(".error").text_content()
    shot(page, "csrf-refused")
    page.goto(f"/console/handoffs/{handoff}")
    assert page.locator("#messages li").count() == 0


def test_a_wrong_password_is_refused_without_saying_which_part_was_wrong(page: Any, console: Console) -> None:
    officer = console.person(Role.officer)
    shown = []
    for username, password in ((officer, "not the password"), ("no-such-person", "correct horse battery")):
        sign_in(page, username, password)
        assert page.url.endswith("/console/login?lang=ar")
        shown.append(page.locator("#login-error").text_content())
    assert shown == [WRONG_LOGIN_AR, WRONG_LOGIN_AR]
    shot(page, "wrong-password")


def test_the_cpr_is_masked_for_a_reviewer_and_shown_to_an_officer(page: Any, console: Console) -> None:
    case = _answered(console)
    sign_in(page, console.person(Role.reviewer))
    page.goto(f"/console/handoffs/{case['handoff']}")
    assert page.locator("#citizen-cpr").text_content() == "••••••345"
    assert CPR not in page.content()
    page.goto(f"/console/cases/{case['id']}")
    assert CPR not in page.content()
    shot(page, "cpr-masked-for-reviewer")
    page.click("#sign-out")
    sign_in(page, console.person(Role.officer))
    page.goto(f"/console/handoffs/{case['handoff']}")
    assert page.locator("#citizen-cpr").text_content() == CPR


def test_the_charts_show_the_real_cases_and_surveys(page: Any, console: Console) -> None:
    for kind, score in (("complaint", 2), ("suggestion", 4), ("inquiry", 5)):
        case = _answered(console, kind)
        review.accept(console.hub.engine, case["handoff"], "central-office:test")
        review.close(console.hub.engine, console.hub.directory, case["id"], "central-office:test")
        sent = console.http.post(f"{console.base}/v1/cases/{case['id']}/survey", json={"score": score})
        assert sent.status_code == 201, sent.text
    with console.hub.engine.connect() as conn:
        from broker import statistics

        by_kind = statistics.cases_by_kind(conn, Period.month, 6)
        quality = {q.agency: q for q in statistics.agency_quality(conn, console.hub.directory.sla)}
    this_month = label(periods(now(), Period.month, 1)[0], Period.month)
    sign_in(page, console.person(Role.reviewer, "en"))
    page.goto("/console/stats")
    shot(page, "statistics")
    for kind in ("complaint", "suggestion", "inquiry"):
        bars = page.locator(f"#chart-kind rect.bar[data-series={kind}]")
        assert bars.last.get_attribute("data-value") == str(by_kind.values[kind][-1])
        assert int(bars.last.get_attribute("data-value")) >= 1
        assert this_month in bars.last.locator("title").text_content()
    satisfaction = page.locator("#chart-satisfaction rect.bar")
    assert satisfaction.count() == 1
    assert float(satisfaction.first.get_attribute("data-value")) == quality["joining-agency"].satisfaction
    assert page.locator("#chart-queue circle.point").count() >= 1
    csv = page.request.get("/console/stats/cases-by-kind.csv")
    assert csv.status == 200
    lines = csv.text().splitlines()
    assert lines[0] == "period,complaint,suggestion,inquiry,total"
    assert lines[-1].startswith(f"{this_month},{by_kind.values['complaint'][-1]},")
