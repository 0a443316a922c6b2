"""Shadow mode for Muharraq Municipality: its new REST endpoint gets copies while the manual queue decides.

Real PostgreSQL, the shipped agencies.yaml, the REST agency simulator on a real socket, the agency
API on a real socket; shadow passes run in this thread (broker.shadow.run_pass).
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
import requests
import yaml
from sqlalchemy import select, update
from typer.testing import Result

from adapters.signing import HANDOFF_HEADER
from adapters.testing.rest_agency import Controller, running_simulator
from broker import agency_keys, shadow
from broker.hub import Hub
from broker.intake import submit_cases
from broker.messages import Sender, record_message
from broker.store.engine import now
from broker.store.tables import agency_messages, events, handoffs, outbox, shadow_copies
from schemas import AgencyMessage, MessageKind
from tests.conftest import make_case
from tests.rest_agencies import SECRET, SECRET_ENV, hub_on_simulator
from tests.support import agencies_cli, live_api, pump

MUHARRAQ = "muharraq-municipality"
Sim = tuple[str, Controller]
ANSWER = "تم رفع المخلفات وتنظيف الموقع. The waste was removed."


@pytest.fixture
def sim() -> Iterator[Sim]:
    with running_simulator() as started:
        started[1].secrets[MUHARRAQ] = SECRET
        yield started


@pytest.fixture
def hub(pg_hub: Hub, sim: Sim, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Hub:
    monkeypatch.setenv(SECRET_ENV, SECRET)
    return hub_on_simulator(pg_hub, sim, tmp_path, monkeypatch)


def settings_file(tmp_path: Path, sim: Sim) -> Path:
    """The endpoint's REST settings, polled by handoff id in the simulator's own status codes."""
    settings = {
        "base_url": f"{sim[0]}/{MUHARRAQ}",
        "plain_http": True,
        "signing_secret_env": SECRET_ENV,
        "ticket": "ticket_id",
        "read_timeout": 5,
        "poll": {
            "path": "/cases/{handoff_id}",
            "status": "status",
            "text": "note",
            "change_key": "change_id",
            "codes": {"ACK": "acknowledged", "DONE": "answered"},
            "every_seconds": 1,
        },
    }
    path = tmp_path / "muharraq.yaml"
    path.write_text(yaml.safe_dump(settings, allow_unicode=True), encoding="utf-8")
    return path


def cli(hub: Hub, *args: str) -> Result:
    return agencies_cli(hub, *args)


def start_shadow(hub: Hub, tmp_path: Path, sim: Sim, *more: str) -> None:
    settings = str(settings_file(tmp_path, sim))
    result = cli(hub, "onboard", MUHARRAQ, "--adapter", "rest", "--settings", settings, "--shadow", *more)
    assert result.exit_code == 0, result.output
    assert "shadow mode" in result.stdout
    hub.refresh_directory()  # as every running process does within REFRESH_SECONDS


def new_case(hub: Hub) -> str:
    """A Muharraq complaint, delivered onto the manual queue; its handoff id."""
    case = make_case(category="street-cleaning", location={"governorate": "muharraq"})
    [accepted] = submit_cases(hub.engine, hub.directory, [case], actor="national-system")
    pump(hub)
    with hub.engine.connect() as conn:
        return str(conn.execute(select(handoffs.c.id).where(handoffs.c.case_id == accepted.case_id)).scalar_one())


def officer_answers(hub: Hub, handoff_id: str, text: str) -> None:
    message = AgencyMessage(kind=MessageKind.answered, text=text)
    record_message(hub.engine, hub.directory, handoff_id, message, Sender("central-office:amina", "manual"))


def authoritative(hub: Hub) -> dict[str, Any]:
    """What the manual queue and the national system see."""
    with hub.engine.connect() as conn:
        return {
            "handoffs": sorted(tuple(r) for r in conn.execute(select(handoffs))),
            "messages": sorted(tuple(r) for r in conn.execute(select(agency_messages))),
            "events": sorted((r.id, r.type) for r in conn.execute(select(events))),
            "outbox": sorted((r.topic, r.ref) for r in conn.execute(select(outbox))),
        }


def copies_received(controller: Controller) -> Counter[str]:
    return Counter(r.headers.get(HANDOFF_HEADER, "") for r in controller.requests(MUHARRAQ))


def test_copies_reach_the_endpoint_and_what_it_says_never_changes_the_authoritative_state(
    hub: Hub, sim: Sim, tmp_path: Path
) -> None:
    controller = sim[1]
    already_open = new_case(hub)
    start_shadow(hub, tmp_path, sim, "--open")
    assert hub.directory.adapter(MUHARRAQ).kind == "manual", "the manual queue stays authoritative"
    fresh = [new_case(hub) for _ in range(2)]
    before = authoritative(hub)

    shadow.run_pass(hub, MUHARRAQ)
    assert copies_received(controller) == Counter(dict.fromkeys([already_open, *fresh], 1))
    # the endpoint answers one by its status (polled) and one through the agency API
    controller.set_status(MUHARRAQ, fresh[0], "DONE", ANSWER)
    key = agency_keys.create(hub.engine, hub.directory, MUHARRAQ, created_by="test").key
    with live_api(hub) as base:
        url = f"{base}/agency/v1/handoffs/{fresh[1]}/messages"
        headers = {"X-API-Key": key, "Idempotency-Key": "ack-1"}
        said = requests.post(url, json={"kind": "acknowledged", "text": "استلمنا"}, headers=headers, timeout=10)
        again = requests.post(url, json={"kind": "acknowledged", "text": "استلمنا"}, headers=headers, timeout=10)
    assert (said.status_code, said.json()["handoff_state"]) == (201, "delivered")
    assert (again.status_code, again.json()["duplicate"]) == (200, True)
    shadow.run_pass(hub, MUHARRAQ)
    shadow.run_pass(hub, MUHARRAQ)

    assert authoritative(hub) == before
    assert copies_received(controller) == Counter(dict.fromkeys([already_open, *fresh], 1)), "each copy once"
    result = cli(hub, "shadow-report", MUHARRAQ, "--json")
    assert result.exit_code == 0, result.output
    lines = {line["handoff"]: line for line in json.loads(result.stdout)["handoffs"]}
    assert lines[fresh[0]]["endpoint_answer"] == ANSWER, "Arabic intact"
    assert lines[fresh[1]]["endpoint_acknowledged_at"] is not None
    assert lines[already_open]["endpoint_acknowledged_at"] is None


def test_the_scheduler_job_copies_in_a_thread_per_agency_in_shadow_mode(hub: Hub, sim: Sim, tmp_path: Path) -> None:
    assert shadow.run_scheduled(hub) == []
    start_shadow(hub, tmp_path, sim)
    fresh = new_case(hub)
    threads = shadow.run_scheduled(hub)
    assert [t.name for t in threads] == [f"shadow-{MUHARRAQ}"]
    for thread in threads:
        thread.join(30)
    assert copies_received(sim[1]) == Counter({fresh: 1})


def test_an_api_process_that_has_not_refreshed_yet_still_keeps_the_endpoint_s_word_on_the_side(
    hub: Hub, sim: Sim, tmp_path: Path
) -> None:
    handoff_id = new_case(hub)
    api_hub = Hub(hub.settings)  # an API process running since before shadow mode began
    assert not shadow.in_shadow(api_hub, MUHARRAQ)
    key = agency_keys.create(hub.engine, hub.directory, MUHARRAQ, created_by="test").key
    start_shadow(hub, tmp_path, sim, "--open")
    before = authoritative(hub)
    with live_api(api_hub) as base:
        said = requests.post(
            f"{base}/agency/v1/handoffs/{handoff_id}/messages",
            json={"kind": "answered", "text": ANSWER},
            headers={"X-API-Key": key},
            timeout=10,
        )
    api_hub.engine.dispose()
    assert (said.status_code, said.json()["handoff_state"]) == (201, "delivered")
    assert authoritative(hub) == before


def test_without_open_only_new_handoffs_are_copied(hub: Hub, sim: Sim, tmp_path: Path) -> None:
    old = new_case(hub)
    start_shadow(hub, tmp_path, sim)
    fresh = new_case(hub)
    shadow.run_pass(hub, MUHARRAQ)
    assert copies_received(sim[1]) == Counter({fresh: 1})
    assert old not in copies_received(sim[1])


SCENARIOS: list[tuple[str, dict[str, Any], tuple[str, ...]]] = [
    ("delivered, endpoint silent", {}, ("delivered",)),
    ("endpoint refuses the copy", {"mode": "400"}, ("refused",)),
    ("endpoint unreachable for now", {"mode": "503"}, ("undelivered",)),
    ("same answer, other spacing", {"endpoint": ANSWER, "officer": f"  {ANSWER}\r\n"}, ("delivered", "answer_matches")),
    ("different answer", {"endpoint": ANSWER, "officer": "لم يتم التنظيف بعد"}, ("delivered", "answer_mismatch")),
    ("officers answered, endpoint silent", {"officer": ANSWER}, ("delivered", "answer_missing")),
    ("endpoint answered, officers did not", {"endpoint": ANSWER}, ("delivered", "answer_unrecorded")),
    ("endpoint silent past the acknowledgement deadline", {"ack_overdue": True}, ("delivered", "late")),
    (
        "endpoint answered after the deadline",
        {"endpoint": ANSWER, "officer": ANSWER, "overdue": True},
        ("delivered", "late", "answer_matches"),
    ),
]


def test_the_shadow_report_counts_each_difference_on_a_table_of_scenarios(hub: Hub, sim: Sim, tmp_path: Path) -> None:
    controller = sim[1]
    start_shadow(hub, tmp_path, sim)
    made: dict[str, str] = {}
    for name, scenario, _ in SCENARIOS:
        handoff_id = made[name] = new_case(hub)
        if "mode" in scenario:
            controller.set_mode(MUHARRAQ, scenario["mode"], times=1)
        shadow.run_pass(hub, MUHARRAQ)
        controller.set_mode(MUHARRAQ, "ok")
        with hub.engine.begin() as conn:  # an unreachable copy waits for its retry: not due during this test
            later = now() + timedelta(hours=1)
            conn.execute(update(shadow_copies).where(shadow_copies.c.state == "pending").values(next_attempt_at=later))
        if "endpoint" in scenario:
            controller.set_status(MUHARRAQ, handoff_id, "DONE", scenario["endpoint"])
        if scenario.get("overdue"):
            with hub.engine.begin() as conn:
                past = now() - timedelta(hours=1)
                conn.execute(update(handoffs).where(handoffs.c.id == handoff_id).values(answer_due_at=past))
        if scenario.get("ack_overdue"):
            with hub.engine.begin() as conn:
                past = now() - timedelta(hours=1)
                conn.execute(update(handoffs).where(handoffs.c.id == handoff_id).values(ack_due_at=past))
        if "officer" in scenario:
            officer_answers(hub, handoff_id, scenario["officer"])
    shadow.run_pass(hub, MUHARRAQ)  # polls every delivered copy

    result = cli(hub, "shadow-report", MUHARRAQ, "--json")
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    found = {line["handoff"]: tuple(line["findings"]) for line in report["handoffs"]}
    assert {name: found[made[name]] for name, _, _ in SCENARIOS} == {name: want for name, _, want in SCENARIOS}
    expected = Counter(finding for _, _, want in SCENARIOS for finding in want)
    assert {k: v for k, v in report["counts"].items() if v} == dict(expected)
    assert report["copies"] == len(SCENARIOS)

    table = cli(hub, "shadow-report", MUHARRAQ)
    assert table.exit_code == 0, table.output
    assert "answer differs from the officers' record" in table.stdout
    assert "رد النظام يختلف عمّا سجّله الموظفون" in table.stdout


def test_a_real_onboarding_ends_shadow_mode_and_the_endpoint_keeps_one_ticket_per_handoff(
    hub: Hub, sim: Sim, tmp_path: Path
) -> None:
    start_shadow(hub, tmp_path, sim)
    ids = [new_case(hub) for _ in range(2)]
    shadow.run_pass(hub, MUHARRAQ)
    settings = str(settings_file(tmp_path, sim))
    result = cli(hub, "onboard", MUHARRAQ, "--adapter", "rest", "--settings", settings)
    assert result.exit_code == 0, result.output
    pump(hub)
    assert not shadow.in_shadow(hub, MUHARRAQ)
    assert hub.directory.shadow(MUHARRAQ) is None
    assert len(sim[1].tickets(MUHARRAQ)) == 2, "the copy and the real delivery carry one idempotency key"
    for handoff_id in ids:
        with hub.engine.connect() as conn:
            row = conn.execute(select(handoffs).where(handoffs.c.id == handoff_id)).one()
        assert (row.state, row.adapter) == ("delivered", "rest")


def test_shadow_mode_is_refused_for_an_agency_already_connected(hub: Hub, sim: Sim, tmp_path: Path) -> None:
    settings = str(settings_file(tmp_path, sim))
    assert cli(hub, "onboard", MUHARRAQ, "--adapter", "rest", "--settings", settings).exit_code == 0
    result = cli(hub, "onboard", MUHARRAQ, "--adapter", "rest", "--settings", settings, "--shadow")
    assert result.exit_code == 2
    assert "shadow mode is for an agency on the manual queue" in result.stderr
