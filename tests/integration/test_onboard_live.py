"""Onboarding and offboarding reach a running `tawasul-hub serve` without a restart.

The hub runs as a child process (API, worker and scheduler in one); `agencies onboard`/`offboard`
run as separate commands, as an integrator would run them. The joining agency is switched onto the
stub adapter, which writes each delivery to a file this test reads.
"""

from __future__ import annotations

import subprocess
from collections import Counter
from pathlib import Path
from typing import Any

import requests
import yaml
from sqlalchemy import func, select

from adapters.testing.stub import read_records
from broker.hub import Hub
from broker.intake import submit_cases
from broker.store.tables import events, handoffs
from tests.conftest import API_KEY, hub_settings, make_case
from tests.integration.procs import HUB_COMMAND, JOINING, HubProcess, hub_env, write_config
from tests.support import free_port, pump, wait_until

HEADERS = {"X-API-Key": API_KEY}


def command(hub: Hub, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(HUB_COMMAND), *args], env=hub_env(hub), capture_output=True, text=True, timeout=120, check=False
    )


def test_a_running_hub_delivers_through_the_new_adapter_after_onboard_and_to_the_queue_after_offboard(
    procs: list[HubProcess], tmp_path: Path
) -> None:
    config_dir = write_config(tmp_path / "config", tmp_path / "stub.jsonl")
    hub = Hub(hub_settings(f"sqlite:///{tmp_path / 'hub.db'}", tmp_path, config_dir=config_dir))
    port = free_port()
    procs.append(HubProcess(hub, ["serve", "--port", str(port)], tmp_path / "serve.log"))
    base = f"http://127.0.0.1:{port}"

    def up() -> bool:
        try:
            return requests.get(f"{base}/healthz", timeout=1).ok
        except requests.RequestException:
            return False

    def submit() -> str:
        case = make_case(category="manual-desk")
        created = requests.post(f"{base}/v1/cases", json=case.model_dump(mode="json"), headers=HEADERS, timeout=10)
        assert created.status_code == 201, created.text
        return str(created.json()["id"])

    def handoff(case_id: str) -> dict[str, Any]:
        read = requests.get(f"{base}/v1/cases/{case_id}", headers=HEADERS, timeout=10).json()
        return dict(read["handoffs"][0])

    connected = tmp_path / "connected.jsonl"

    def delivered() -> Counter[str]:
        return Counter(r["handoff"] for r in read_records(connected) if r["event"] == "done")

    wait_until(up, "serve to answer", timeout=60)
    before = submit()
    wait_until(lambda: handoff(before)["state"] == "delivered", "the manual delivery")

    settings = tmp_path / "stub.yaml"
    settings.write_text(yaml.safe_dump({"record_file": str(connected)}), encoding="utf-8")
    onboarded = command(hub, "agencies", "onboard", JOINING, "--adapter", "stub", "--settings", str(settings))
    assert onboarded.returncode == 0, onboarded.stdout + onboarded.stderr
    after = submit()
    ids = [handoff(before)["id"], handoff(after)["id"]]
    wait_until(lambda: set(delivered()) == set(ids), "serve to deliver both through the stub, unrestarted")
    assert delivered() == Counter(dict.fromkeys(ids, 1))

    offboarded = command(hub, "agencies", "offboard", JOINING)
    assert offboarded.returncode == 0, offboarded.stdout + offboarded.stderr
    manual = submit()
    wait_until(lambda: handoff(manual)["state"] == "delivered", "the manual delivery after offboarding")
    assert handoff(manual)["id"] not in delivered()
    queue = command(hub, "followup", "list", "--agency", JOINING, "--json")
    assert queue.returncode == 0, queue.stderr
    assert {handoff(manual)["id"], *ids} <= {item["handoff"] for item in yaml.safe_load(queue.stdout)}


def test_an_onboarding_killed_half_way_finishes_when_run_again_and_sends_no_handoff_twice(
    pg_hub: Hub, tmp_path: Path
) -> None:
    config_dir = write_config(tmp_path / "config", tmp_path / "stub.jsonl")
    hub = Hub(pg_hub.settings.model_copy(update={"config_dir": config_dir}))
    cases = [make_case(category="manual-desk") for _ in range(300)]
    submit_cases(hub.engine, hub.directory, cases, actor="national-system")
    pump(hub, rounds=100)
    with hub.engine.connect() as conn:
        ids = set(conn.execute(select(handoffs.c.id).where(handoffs.c.manual.is_(True))).scalars())
    assert len(ids) == 300
    connected = tmp_path / "connected.jsonl"
    settings = tmp_path / "stub.yaml"
    settings.write_text(yaml.safe_dump({"record_file": str(connected)}), encoding="utf-8")
    args = ["agencies", "onboard", JOINING, "--adapter", "stub", "--settings", str(settings)]

    def moved() -> int:
        with hub.engine.connect() as conn:
            return int(conn.execute(select(func.count()).where(handoffs.c.manual.is_(False))).scalar_one())

    first = HubProcess(hub, args, tmp_path / "onboard-1.log")
    wait_until(lambda: moved() > 0 or first.proc.poll() is not None, "the onboarding to start moving handoffs")
    first.kill()  # SIGKILL: no clean-up of any kind
    half = moved()
    again = command(hub, *args)
    assert again.returncode == 0, again.stdout + again.stderr
    assert moved() == 300

    def delivered() -> Counter[str]:
        return Counter(r["handoff"] for r in read_records(connected) if r["event"] == "done")

    # deliveries beyond the agency's in-flight limit wait for a short retry: relay until all are in
    wait_until(lambda: pump(hub) >= 0 and len(delivered()) == 300, "every moved handoff to be delivered")
    assert delivered() == Counter(dict.fromkeys(ids, 1)), f"killed after {half} of 300"
    with hub.engine.connect() as conn:
        events_per_handoff = Counter(
            conn.execute(select(events.c.handoff_id).where(events.c.type == "handoff.redispatched")).scalars()
        )
    assert events_per_handoff == Counter(dict.fromkeys(ids, 1))
