"""Onboarding Muharraq Municipality from the manual queue onto a REST system, and back.

Real PostgreSQL, the shipped agencies.yaml, the REST agency simulator on a real socket; the CLI
runs in this process, and the test's own hub plays a worker that was running all along (it is never
told about the switch). Relay and deliveries run in this thread (tests.support.pump).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from sqlalchemy import func, select
from typer.testing import Result

from adapters.signing import HANDOFF_HEADER
from adapters.testing.rest_agency import Controller, running_simulator
from broker import onboarding
from broker.hub import Hub
from broker.intake import submit_cases
from broker.messages import Sender, record_message
from broker.store.tables import agency_adapters, events, handoffs, outbox, staff_audit
from schemas import AgencyMessage, MessageKind
from tests.conftest import make_case
from tests.rest_agencies import SECRET, SECRET_ENV, hub_on_simulator
from tests.support import agencies_cli, pump

MUHARRAQ = "muharraq-municipality"
DEADLINES = ("ack_due_at", "answer_due_at", "answer_allowed", "warn_at", "review_due_at", "acknowledged_at")
Sim = tuple[str, Controller]


@pytest.fixture
def sim() -> Iterator[Sim]:
    with running_simulator() as started:
        started[1].secrets[MUHARRAQ] = SECRET
        yield started


@pytest.fixture
def hub(pg_hub: Hub, sim: Sim, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Hub:
    monkeypatch.setenv(SECRET_ENV, SECRET)
    return hub_on_simulator(pg_hub, sim, tmp_path, monkeypatch)


def settings_file(tmp_path: Path, sim: Sim, **changes: Any) -> Path:
    """Muharraq's REST settings, as an integrator writes them."""
    settings: dict[str, Any] = {
        "base_url": f"{sim[0]}/{MUHARRAQ}",
        "plain_http": True,
        "signing_secret_env": SECRET_ENV,
        "ticket": "ticket_id",
        "read_timeout": 5,
        **changes,
    }
    path = tmp_path / "muharraq.yaml"
    path.write_text(yaml.safe_dump({k: v for k, v in settings.items() if v is not None}), encoding="utf-8")
    return path


def cli(hub: Hub, *args: str) -> Result:
    return agencies_cli(hub, *args)


def onboard(hub: Hub, settings: Path, *more: str) -> Result:
    return cli(hub, "onboard", MUHARRAQ, "--adapter", "rest", "--settings", str(settings), "--by", "salman", *more)


def muharraq_cases(hub: Hub, count: int) -> list[str]:
    """Submit `count` street-cleaning complaints from Muharraq, delivered to its manual queue; their handoff ids."""
    cases = [make_case(category="street-cleaning", location={"governorate": "muharraq"}) for _ in range(count)]
    accepted = submit_cases(hub.engine, hub.directory, cases, actor="national-system")
    pump(hub)
    ids = {a.case_id for a in accepted}
    with hub.engine.connect() as conn:
        query = select(handoffs.c.id).where(handoffs.c.case_id.in_(ids)).order_by(handoffs.c.created_at, handoffs.c.id)
        return list(conn.execute(query).scalars())


def rows(hub: Hub, ids: list[str]) -> dict[str, dict[str, Any]]:
    with hub.engine.connect() as conn:
        return {r.id: dict(r._mapping) for r in conn.execute(select(handoffs).where(handoffs.c.id.in_(ids)))}


def officer(hub: Hub, handoff_id: str, kind: MessageKind, text: str = "") -> None:
    """An officer records what the municipality said by phone."""
    message = AgencyMessage(kind=kind, text=text)
    record_message(hub.engine, hub.directory, handoff_id, message, Sender("central-office:amina", "manual"))


def deliveries(controller: Controller) -> Counter[str]:
    """How many times the municipality's system received each handoff."""
    return Counter(r.headers.get(HANDOFF_HEADER, "") for r in controller.requests(MUHARRAQ))


def snapshot(hub: Hub) -> dict[str, Any]:
    """Everything onboarding could change."""
    with hub.engine.connect() as conn:
        return {
            "handoffs": sorted(tuple(r) for r in conn.execute(select(handoffs))),
            "outbox": conn.execute(select(func.count()).select_from(outbox)).scalar_one(),
            "events": conn.execute(select(func.count()).select_from(events)).scalar_one(),
            "overrides": conn.execute(select(func.count()).select_from(agency_adapters)).scalar_one(),
            "audit": conn.execute(select(func.count()).select_from(staff_audit)).scalar_one(),
        }


def redispatched(hub: Hub) -> Counter[str]:
    with hub.engine.connect() as conn:
        query = select(events.c.handoff_id).where(events.c.type == "handoff.redispatched")
        return Counter(conn.execute(query).scalars())


def test_onboarding_moves_each_open_manual_handoff_onto_the_new_adapter_once_with_deadlines_unchanged(
    hub: Hub, sim: Sim, tmp_path: Path
) -> None:
    ids = muharraq_cases(hub, 5)
    acknowledged, answered = ids[3], ids[4]
    officer(hub, acknowledged, MessageKind.acknowledged)
    officer(hub, answered, MessageKind.answered, "تمت إزالة المخلفات من الموقع.")
    before = rows(hub, ids)
    assert {r["followup_reason"] for r in before.values() if r["id"] != answered} == {"manual"}

    result = onboard(hub, settings_file(tmp_path, sim))
    assert result.exit_code == 0, result.output
    assert "endpoint check passed" in result.stdout
    assert "moved now" in result.stdout
    pump(hub)  # the test's hub was loaded before the switch, like a worker that keeps running

    moved = ids[:4]
    assert deliveries(sim[1]) == Counter(dict.fromkeys(moved, 1))
    assert redispatched(hub) == Counter(dict.fromkeys(moved, 1))
    after = rows(hub, ids)
    for handoff_id in moved:
        h = after[handoff_id]
        assert (h["state"], h["adapter"], h["manual"], h["followup_reason"]) == ("delivered", "rest", False, None)
        assert h["agency_reference"], "the municipality's ticket is recorded"
        assert {k: h[k] for k in DEADLINES} == {k: before[handoff_id][k] for k in DEADLINES}
    assert after[answered] == before[answered]
    with hub.engine.connect() as conn:
        audit = [(r.action, r.actor) for r in conn.execute(select(staff_audit).order_by(staff_audit.c.id))]
    assert audit == [("agency.switched", "integrator:salman"), ("agency.onboarded", "integrator:salman")]

    # run again: nothing left to move, nothing sent twice; a new case goes straight to the new system
    again = onboard(hub, settings_file(tmp_path, sim))
    assert again.exit_code == 0, again.output
    [new] = muharraq_cases(hub, 1)
    pump(hub)
    assert deliveries(sim[1]) == Counter({**dict.fromkeys(moved, 1), new: 1})
    assert rows(hub, [new])[new]["adapter"] == "rest"


def test_a_dry_run_checks_and_counts_but_changes_nothing(hub: Hub, sim: Sim, tmp_path: Path) -> None:
    muharraq_cases(hub, 2)
    before = snapshot(hub)
    result = onboard(hub, settings_file(tmp_path, sim), "--dry-run")
    assert result.exit_code == 0, result.output
    assert "re-dispatch 2 open handoff(s)" in result.stdout
    assert snapshot(hub) == before
    assert deliveries(sim[1]) == Counter()


@pytest.mark.parametrize(
    ("changes", "named"),
    [
        ({"base_url": None}, "muharraq.yaml: base_url: Field required"),
        ({"retries": 3}, "muharraq.yaml: retries: Extra inputs are not permitted"),
        ({"kind": "soap"}, "muharraq.yaml: kind: the file says 'soap' but --adapter says 'rest'"),
        ({"signing_secret_env": "lowercase"}, "muharraq.yaml: signing_secret_env"),
    ],
)
def test_settings_that_do_not_fit_the_kind_are_refused_naming_the_field_and_nothing_changes(
    hub: Hub, sim: Sim, tmp_path: Path, changes: dict[str, Any], named: str
) -> None:
    muharraq_cases(hub, 2)
    before = snapshot(hub)
    result = onboard(hub, settings_file(tmp_path, sim, **changes))
    assert result.exit_code == 2
    assert named in result.stderr
    assert "nothing changed" in result.stderr
    assert snapshot(hub) == before


def test_a_settings_file_that_is_not_yaml_is_refused(hub: Hub, tmp_path: Path) -> None:
    broken = tmp_path / "broken.yaml"
    broken.write_text("base_url: [unclosed\n", encoding="utf-8")
    before = snapshot(hub)
    result = onboard(hub, broken)
    assert result.exit_code == 2
    assert "broken.yaml: not valid YAML" in result.stderr
    assert snapshot(hub) == before


@pytest.mark.parametrize("failure", ["simulator down", "secret missing"])
def test_a_failing_check_leaves_everything_as_it_was(
    hub: Hub, sim: Sim, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, failure: str
) -> None:
    ids = muharraq_cases(hub, 3)
    before = snapshot(hub)
    if failure == "simulator down":
        settings = settings_file(tmp_path, sim, base_url=f"http://127.0.0.1:9/{MUHARRAQ}")
    else:
        monkeypatch.delenv(SECRET_ENV)
        settings = settings_file(tmp_path, sim)
    result = onboard(hub, settings)
    assert result.exit_code == 2
    assert "failed the check; nothing changed" in result.stderr
    assert snapshot(hub) == before
    pump(hub)
    assert deliveries(sim[1]) == Counter()
    assert {r["followup_reason"] for r in rows(hub, ids).values()} == {"manual"}


def test_an_onboarding_stopped_half_way_finishes_when_run_again_without_doubling_a_handoff(
    hub: Hub, sim: Sim, tmp_path: Path
) -> None:
    ids = muharraq_cases(hub, 6)
    before = rows(hub, ids)
    settings = settings_file(tmp_path, sim)
    plan = onboarding.prepare(hub, MUHARRAQ, "rest", settings)
    seen: list[str] = []

    def crash_after_two(handoff_id: str, _moved: bool) -> None:
        seen.append(handoff_id)
        if len(seen) == 2:
            raise KeyboardInterrupt  # the integrator's terminal closed, say

    with pytest.raises(KeyboardInterrupt):
        onboarding.onboard(hub, plan, "integrator:salman", crash_after_two)
    pump(hub)  # the workers carry on meanwhile: the two moved handoffs reach the municipality
    assert deliveries(sim[1]) == Counter(dict.fromkeys(ids[:2], 1))
    half = rows(hub, ids)
    assert [half[i]["manual"] for i in ids] == [False, False, True, True, True, True]
    assert {half[i]["followup_reason"] for i in ids[2:]} == {"manual"}, "the rest stay on the queue meanwhile"

    result = onboard(hub, settings)
    assert result.exit_code == 0, result.output
    pump(hub)
    assert deliveries(sim[1]) == Counter(dict.fromkeys(ids, 1))
    assert redispatched(hub) == Counter(dict.fromkeys(ids, 1))
    after = rows(hub, ids)
    for handoff_id in ids:
        assert after[handoff_id]["state"] == "delivered"
        assert {k: after[handoff_id][k] for k in DEADLINES} == {k: before[handoff_id][k] for k in DEADLINES}


def test_a_handoff_made_the_old_way_by_a_process_that_had_not_noticed_the_switch_is_moved_too(
    hub: Hub, sim: Sim, tmp_path: Path
) -> None:
    ids = muharraq_cases(hub, 2)
    stale = Hub(hub.settings)  # an API process started before the switch
    assert stale.directory.agency(MUHARRAQ).adapter.kind == "manual"
    made: list[str] = []

    def meanwhile(_handoff_id: str, _moved: bool) -> None:
        if not made:
            case = make_case(category="street-cleaning", location={"governorate": "muharraq"})
            [accepted] = submit_cases(stale.engine, stale.directory, [case], actor="national-system")
            with stale.engine.connect() as conn:
                made.extend(conn.execute(select(handoffs.c.id).where(handoffs.c.case_id == accepted.case_id)).scalars())

    plan = onboarding.prepare(hub, MUHARRAQ, "rest", settings_file(tmp_path, sim))
    summary = onboarding.onboard(hub, plan, "integrator:salman", meanwhile)
    stale.engine.dispose()
    assert rows(hub, made)[made[0]]["adapter"] == "rest"
    assert sorted(summary.moved) == sorted([*ids, *made])
    pump(hub)
    assert deliveries(sim[1]) == Counter(dict.fromkeys([*ids, *made], 1))


def test_offboarding_puts_every_open_handoff_on_the_follow_up_queue_and_loses_none(
    hub: Hub, sim: Sim, tmp_path: Path
) -> None:
    assert onboard(hub, settings_file(tmp_path, sim)).exit_code == 0
    hub.refresh_directory()  # as every running process has within REFRESH_SECONDS
    ids = muharraq_cases(hub, 4)
    sim[1].set_mode(MUHARRAQ, "503", times=10)
    [waiting] = muharraq_cases(hub, 1)  # its delivery is being retried when the agency is disconnected
    answered = ids[3]
    record_message(
        hub.engine,
        hub.directory,
        answered,
        AgencyMessage(kind=MessageKind.answered, text="تم التنظيف"),
        Sender(f"agency:{MUHARRAQ}", "agency-api", MUHARRAQ),
    )
    sent = deliveries(sim[1])

    result = cli(hub, "offboard", MUHARRAQ, "--by", "salman")
    assert result.exit_code == 0, result.output
    sim[1].set_mode(MUHARRAQ, "ok")
    pump(hub)

    after = rows(hub, [*ids, waiting])
    for handoff_id in [*ids[:3], waiting]:
        h = after[handoff_id]
        assert (h["manual"], h["adapter"], h["followup_reason"]) == (True, "manual", "manual"), handoff_id
    assert after[waiting]["state"] == "delivered", "delivered onto the follow-up queue, not to the system"
    assert after[answered]["state"] == "answered"
    assert deliveries(sim[1]) == sent, "nothing more goes to the disconnected system"
    [new] = muharraq_cases(hub, 1)
    assert rows(hub, [new])[new]["followup_reason"] == "manual"
    with hub.engine.connect() as conn:
        moved = conn.execute(select(func.count()).where(events.c.type == "handoff.to_manual")).scalar_one()
    assert moved == 4


def test_an_unknown_agency_is_refused(hub: Hub, sim: Sim, tmp_path: Path) -> None:
    result = cli(hub, "onboard", "muharraq", "--adapter", "rest", "--settings", str(settings_file(tmp_path, sim)))
    assert result.exit_code == 2
    assert "AGENCY: unknown agency 'muharraq'" in result.stderr
    assert cli(hub, "offboard", "muharraq").exit_code == 2
