"""`tawasul-hub serve` on embedded defaults: API, in-process worker and scheduler in one process."""

from __future__ import annotations

import subprocess
from pathlib import Path

import requests

from broker.hub import Hub
from tests.conftest import API_KEY, hub_settings, make_case
from tests.integration.procs import HUB_COMMAND, JOINING, HubProcess, hub_env, write_config
from tests.support import free_port, wait_until


def test_a_case_sent_to_serve_reaches_the_follow_up_queue_and_an_answer_recorded_by_the_cli_flows_back(
    procs: list[HubProcess], tmp_path: Path
) -> None:
    config_dir = write_config(tmp_path / "config", tmp_path / "stub.jsonl")
    hub = Hub(hub_settings(f"sqlite:///{tmp_path / 'hub.db'}", tmp_path, config_dir=config_dir))
    port = free_port()
    server = HubProcess(hub, ["serve", "--port", str(port)], tmp_path / "serve.log")
    procs.append(server)
    base = f"http://127.0.0.1:{port}"
    headers = {"X-API-Key": API_KEY}

    def up() -> bool:
        try:
            return requests.get(f"{base}/healthz", timeout=1).ok
        except requests.RequestException:
            return False

    wait_until(up, "serve to answer", timeout=60)
    case = make_case(category="manual-desk")
    created = requests.post(f"{base}/v1/cases", json=case.model_dump(mode="json"), headers=headers, timeout=10)
    assert created.status_code == 201, created.text
    case_id = created.json()["id"]

    def handoff() -> dict[str, object]:
        read = requests.get(f"{base}/v1/cases/{case_id}", headers=headers, timeout=10).json()
        return dict(read["handoffs"][0])

    wait_until(lambda: handoff()["state"] == "delivered", "the in-process worker to deliver the handoff")
    assert handoff()["agency"] == JOINING

    answer = "تم الرد على المواطن هاتفياً."
    recorded = subprocess.run(
        [str(HUB_COMMAND), "followup", "record", str(handoff()["id"]), "answered", "--text", answer, "--by", "amina"],
        env=hub_env(hub),
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert recorded.returncode == 0, recorded.stdout + recorded.stderr

    trail = requests.get(f"{base}/v1/cases/{case_id}/events", headers=headers, timeout=10).json()
    assert [e["type"] for e in trail] == [
        "case.received",
        "case.routed",
        "handoff.delivered",
        "message.answered",
        "case.answered",
    ]
    assert trail[3]["data"]["text"] == answer
    assert trail[3]["actor"] == "central-office:amina"
