"""The conformance kit against the REST agency simulator on a real socket: it passes a conforming
endpoint, and each simulator mode that breaks one rule fails the check named for that rule."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests
import yaml
from typer.testing import Result

from adapters.rest import RestAdapter
from adapters.soap import SoapAdapter
from adapters.testing.rest_agency import Controller, running_simulator
from adapters.testing.soap_agency import running_simulator as soap_simulator
from broker import conformance, onboarding
from broker.conformance_listener import CallbackListener
from broker.hub import Hub
from tests.rest_agencies import SECRET, SECRET_ENV, hub_on_simulator, rest_agency
from tests.soap_agencies import PASSWORD, PASSWORD_ENV, WORKS, cases_agency
from tests.support import agencies_cli, free_port

AGENCY = "ministry-of-housing"
POLL = {
    "path": "/cases/{agency_reference}",
    "status": "status",
    "text": "note",
    "change_key": "change_id",
    "codes": {"ACK": "acknowledged", "DONE": "answered"},
}
Sim = tuple[str, Controller]


@pytest.fixture
def sim(monkeypatch: pytest.MonkeyPatch) -> Iterator[Sim]:
    monkeypatch.setenv(SECRET_ENV, SECRET)
    with running_simulator() as started:
        started[1].secrets[AGENCY] = SECRET
        yield started


def run(sim: Sim, mode: str = "ok", **options: Any) -> dict[str, conformance.CheckResult]:
    url, controller = sim
    controller.set_mode(AGENCY, mode, **{"answer_after": 0.1, **options})
    adapter = RestAdapter.from_config(rest_agency(url, AGENCY, poll=POLL))
    received = conformance.received_from(f"{url}/_sim/requests?agency={AGENCY}")
    try:
        return {r.name: r for r in conformance.run_checks(adapter, received=received, wait=3)}
    finally:
        adapter.close()


def test_a_conforming_endpoint_passes_every_check(sim: Sim) -> None:
    results = run(sim)
    assert list(results) == ["ticket", "idempotency", "signature", "callbacks", "arabic", "errors"]
    assert {name: r.status for name, r in results.items()} == dict.fromkeys(results, "pass")
    assert conformance.passed(list(results.values()))


def test_reruns_against_the_same_endpoint_use_new_handoffs_and_still_pass(sim: Sim) -> None:
    run(sim)
    handoffs = {r.headers.get("X-Tawasul-Handoff") for r in sim[1].requests(AGENCY)}
    assert all(r.status == "pass" for r in run(sim).values())
    again = {r.headers.get("X-Tawasul-Handoff") for r in sim[1].requests(AGENCY)} - handoffs
    assert len(again) >= 5


@pytest.mark.parametrize(
    ("mode", "options", "failing", "words"),
    [
        ("no-ticket", {"times": 1}, "ticket", "ticket id"),
        ("ok", {"idempotency": False}, "idempotency", "second ticket"),
        ("ignore-signature", {}, "signature", "wrong X-Tawasul-Signature"),
        ("ok", {"answer_after": None}, "callbacks", "no acknowledgement"),
        ("mangle-arabic", {}, "arabic", "did not arrive unchanged"),
        ("500-on-invalid", {}, "errors", "retriable"),
    ],
)
def test_a_mode_that_breaks_one_rule_fails_that_check_only(
    sim: Sim, mode: str, options: dict[str, Any], failing: str, words: str
) -> None:
    results = run(sim, mode, **options)
    assert results[failing].status == "FAIL"
    assert words in results[failing].reason
    assert [n for n, r in results.items() if r.status == "FAIL"] == [failing]
    assert not conformance.passed(list(results.values()))


def test_an_endpoint_that_is_down_fails_each_check_and_every_check_still_runs() -> None:
    adapter = RestAdapter.from_config(rest_agency("http://127.0.0.1:9", AGENCY, poll=POLL, connect_timeout=0.5))
    results = conformance.run_checks(adapter, wait=0)
    assert [r.name for r in results] == list(conformance.TITLES)
    assert {r.status for r in results if r.name not in ("arabic",)} == {"FAIL"}


def test_the_soap_simulator_passes_and_signature_is_not_applicable(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv(PASSWORD_ENV, PASSWORD)
    monkeypatch.setenv("HUB_WSDL_CACHE", str(tmp_path / "wsdl-cache.sqlite"))
    with soap_simulator() as sim:
        sim.controller.set_mode(WORKS, "ok", answer_after=0.1)
        adapter = SoapAdapter.from_config(cases_agency(sim))

        def received(handoff: str) -> list[str]:
            reference = f"TW-C-{handoff.removeprefix('h_')}"
            return [t for r in sim.controller.requests(WORKS) if reference in r.texts() for t in r.texts()]

        results = {r.name: r for r in conformance.run_checks(adapter, received=received, wait=3)}
    assert {n: r.status for n, r in results.items()} == {**dict.fromkeys(results, "pass"), "signature": "n/a"}


def test_without_a_view_of_what_was_stored_arabic_is_not_applicable(sim: Sim) -> None:
    adapter = RestAdapter.from_config(rest_agency(sim[0], AGENCY))
    result = conformance.check_arabic(adapter, None)
    assert result.status == "n/a" and "«" in result.reason


def test_a_manual_agency_has_nothing_to_check() -> None:
    from adapters.manual import ManualAdapter
    from adapters.testing.contract import envelope_for

    agency = envelope_for(rest_agency("http://x", AGENCY)).agency.model_copy(update={"adapter": {"kind": "manual"}})
    results = conformance.run_checks(ManualAdapter(agency, ManualAdapter.settings_model()))
    assert {r.status for r in results} == {"n/a"}
    assert conformance.passed(results)


# --- the CLI ----------------------------------------------------------------------------------------

LABOUR = "ministry-of-labour"
MUHARRAQ = "muharraq-municipality"


@pytest.fixture
def hub(sqlite_hub: Hub, sim: Sim, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Hub:
    hub = hub_on_simulator(sqlite_hub, sim, tmp_path, monkeypatch)
    sim[1].set_mode(LABOUR, "ok", answer_after=0.1)
    sim[1].set_mode(MUHARRAQ, "ok", answer_after=0.1)
    return hub


def cli(hub: Hub, *args: str) -> Result:
    return agencies_cli(hub, "conformance", *args)


def test_the_cli_passes_a_configured_agency_and_prints_each_check(hub: Hub, sim: Sim) -> None:
    result = cli(hub, LABOUR, "--received", f"{sim[0]}/_sim/requests?agency={LABOUR}", "--wait", "3")
    assert result.exit_code == 0, result.output
    for name in conformance.TITLES:
        assert name in result.output
    assert "FAIL" not in result.output and "اجتازت جميع الفحوص" in result.output


def test_the_cli_exits_1_naming_the_failing_check_in_json(hub: Hub, sim: Sim) -> None:
    sim[1].set_mode(LABOUR, "500-on-invalid", answer_after=0.1)
    result = cli(hub, LABOUR, "--json", "--wait", "3")
    assert result.exit_code == 1, result.output
    document = json.loads(result.stdout)
    assert document["agency"] == LABOUR and document["adapter"] == "rest" and document["passed"] is False
    statuses = {c["name"]: c["status"] for c in document["checks"]}
    assert statuses == {**dict.fromkeys(conformance.TITLES, "pass"), "arabic": "n/a", "errors": "FAIL"}
    assert set(document["checks"][0]) == {"name", "status", "reason", "title_en", "title_ar"}


def settings_file(tmp_path: Path, sim: Sim, **changes: Any) -> Path:
    settings = {
        "base_url": f"{sim[0]}/{MUHARRAQ}",
        "plain_http": True,
        "signing_secret_env": SECRET_ENV,
        "ticket": "ticket_id",
        "poll": POLL,
        **changes,
    }
    path = tmp_path / "muharraq.yaml"
    path.write_text(yaml.safe_dump(settings), encoding="utf-8")
    return path


def test_the_cli_tests_an_agency_before_onboarding_from_a_settings_file(hub: Hub, sim: Sim, tmp_path: Path) -> None:
    sim[1].secrets[MUHARRAQ] = SECRET
    result = cli(hub, MUHARRAQ, "--adapter", "rest", "--settings", str(settings_file(tmp_path, sim)), "--wait", "3")
    assert result.exit_code == 0, result.output
    assert "(rest)" in result.output


def test_bad_input_exits_2_naming_the_field(hub: Hub, sim: Sim, tmp_path: Path) -> None:
    bad = cli(hub, MUHARRAQ, "--adapter", "rest", "--settings", str(settings_file(tmp_path, sim, read_timeout=-1)))
    assert bad.exit_code == 2 and "read_timeout" in bad.output
    assert cli(hub, "no-such-agency").exit_code == 2
    half = cli(hub, MUHARRAQ, "--adapter", "rest")
    assert half.exit_code == 2 and "--settings" in half.output


def test_the_cli_reports_a_manual_agency_as_not_applicable(hub: Hub) -> None:
    result = cli(hub, MUHARRAQ, "--json")
    assert result.exit_code == 0, result.output
    assert {c["status"] for c in json.loads(result.stdout)["checks"]} == {"n/a"}


def test_a_push_agency_without_a_listener_is_not_applicable_and_an_unreadable_view_fails_arabic(sim: Sim) -> None:
    adapter = RestAdapter.from_config(rest_agency(sim[0], AGENCY))
    callbacks = conformance.check_callbacks(adapter, wait=0)
    assert callbacks.status == "n/a" and "--listen" in callbacks.reason
    [arabic] = [
        r
        for r in conformance.run_checks(adapter, received=conformance.received_from("http://127.0.0.1:9/x"))
        if r.name == "arabic"
    ]
    assert arabic.status == "FAIL" and "ConnectionError" in arabic.reason


@pytest.mark.parametrize(
    ("key", "push", "status", "said"),
    [
        ("agency-key", True, "pass", "heard acknowledged"),
        ("", True, "FAIL", "no X-API-Key header"),  # the agency's system sends no key
        ("agency-key", False, "FAIL", "no acknowledgement"),  # it never calls back
    ],
)
def test_a_push_agency_is_heard_on_the_listener_standing_in_for_the_agency_api(
    sim: Sim, key: str, push: bool, status: str, said: str
) -> None:
    url, controller = sim
    adapter = RestAdapter.from_config(rest_agency(url, AGENCY))
    with CallbackListener() as listener:
        controller.hub_url, controller.hub_keys[AGENCY] = listener.url, key
        controller.set_mode(AGENCY, "ok", answer_after=0.05, push=push)
        try:
            result = conformance.check_callbacks(adapter, wait=2, listener=listener)
        finally:
            adapter.close()
    assert (result.status, result.name) == (status, "callbacks"), result.reason
    assert said in result.reason


def test_the_listener_answers_as_the_agency_api_would() -> None:
    with CallbackListener() as listener:
        path = f"{listener.url}/agency/v1/handoffs/h_01JLISTEN/messages"
        key = {"X-API-Key": "k"}
        ack = requests.post(path, json={"kind": "acknowledged", "text": "تم الاستلام"}, headers=key, timeout=5)
        bad = requests.post(path, json={"kind": "done"}, headers=key, timeout=5)
        done = requests.post(path, json={"kind": "answered", "text": "تم الإصلاح"}, headers=key, timeout=5)
        late = requests.post(path, json={"kind": "progress", "text": "ما زلنا نعمل"}, headers=key, timeout=5)
        lost = requests.post(f"{listener.url}/v1/cases", json={}, headers=key, timeout=5)
        heard = listener.heard("h_01JLISTEN")
    assert (ack.status_code, ack.json()["handoff_state"]) == (201, "acknowledged")
    assert bad.status_code == 422 and bad.json()["detail"].startswith("kind:")
    assert (done.status_code, done.json()["handoff_state"]) == (201, "answered")
    assert late.status_code == 409 and late.json()["state"] == "answered"  # nothing after the answer but another
    assert lost.status_code == 404
    assert [h.kind for h in heard] == ["acknowledged", None, "answered", None]
    assert heard[1].problem is not None and heard[1].problem.startswith("kind:")


def test_the_cli_listens_for_a_push_agency(hub: Hub, sim: Sim) -> None:
    _, controller = sim
    port = free_port()
    controller.hub_url, controller.hub_keys[LABOUR] = f"http://127.0.0.1:{port}", "agency-key"
    controller.set_mode(LABOUR, "ok", answer_after=0.1, push=True)
    result = cli(hub, LABOUR, "--json", "--wait", "3", "--listen", f"127.0.0.1:{port}")
    assert result.exit_code == 0, result.output
    [callbacks] = [c for c in json.loads(result.stdout)["checks"] if c["name"] == "callbacks"]
    assert callbacks["status"] == "pass", callbacks
    bad = cli(hub, LABOUR, "--listen", "nowhere")
    assert bad.exit_code == 2 and "--listen" in bad.output


def test_the_cli_tests_the_shadow_adapter_of_an_agency_in_shadow_mode(hub: Hub, sim: Sim, tmp_path: Path) -> None:
    sim[1].secrets[MUHARRAQ] = SECRET
    plan = onboarding.prepare(hub, MUHARRAQ, "rest", settings_file(tmp_path, sim))
    onboarding.start_shadow(hub, plan, "integrator:test", include_open=False)
    result = cli(hub, MUHARRAQ, "--json", "--wait", "3")
    assert result.exit_code == 0, result.output
    document = json.loads(result.stdout)
    assert document["adapter"] == "rest"
    assert [c["status"] for c in document["checks"]] == ["pass", "pass", "pass", "pass", "n/a", "pass"]
