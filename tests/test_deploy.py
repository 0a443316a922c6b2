"""deploy/: alert rules and their unit tests, Prometheus' config and the Grafana dashboard use real metrics."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml
from prometheus_client import REGISTRY
from prometheus_client.parser import text_string_to_metric_families

from broker import metrics  # noqa: F401 - defines the hub's counters and histograms in REGISTRY
from broker.gauges import store_registry
from broker.hub import Hub
from broker.settings import PROJECT_ROOT

DEPLOY = PROJECT_ROOT / "deploy"
ALERTS = DEPLOY / "prometheus" / "alerts.yml"
DASHBOARD = json.loads((DEPLOY / "grafana" / "tawasul-hub.json").read_text(encoding="utf-8"))
COMPOSE = yaml.safe_load((PROJECT_ROOT / "docker-compose.yml").read_text(encoding="utf-8"))
SUFFIXES = {"counter": ("_total",), "histogram": ("_bucket", "_count", "_sum"), "gauge": ("",)}


def exposed(hub: Hub) -> set[str]:
    """Every sample name the hub's processes and its store gauges can expose."""
    from prometheus_client import generate_latest

    names = set()
    for family in REGISTRY.collect():
        if family.name.startswith("hub_"):
            names |= {family.name + s for s in SUFFIXES[family.type]}
    hub.settings.webhook_url = "http://127.0.0.1:9/events"
    for family in text_string_to_metric_families(generate_latest(store_registry(hub)).decode()):
        names.add(family.name)
    return names


def used_in(expressions: list[str]) -> set[str]:
    return {name for e in expressions for name in re.findall(r"\bhub_[a-z_]+", e)}


def alert_expressions() -> list[str]:
    rules = yaml.safe_load(ALERTS.read_text(encoding="utf-8"))["groups"][0]["rules"]
    return [r["expr"] for r in rules]


def dashboard_expressions() -> list[str]:
    return [t["expr"] for p in DASHBOARD["panels"] for t in p.get("targets", [])]


def test_alerts_and_dashboard_use_only_metrics_the_hub_exposes(sqlite_hub: Hub) -> None:
    names = exposed(sqlite_hub)
    assert used_in(alert_expressions()) - names == set()
    assert used_in(dashboard_expressions()) - names == set()
    assert {"hub_outbox_lag_seconds", "hub_agency_circuit_open_seconds", "hub_handoffs_overdue"} <= used_in(
        alert_expressions()
    )


def test_the_alerts_cover_what_an_operator_must_act_on() -> None:
    rules = yaml.safe_load(ALERTS.read_text(encoding="utf-8"))["groups"][0]["rules"]
    assert {"HubOutboxLagging", "HubAgencyCircuitOpen", "HubOverdueGrowing", "HubWebhookFailing"} <= {
        r["alert"] for r in rules
    }
    for rule in rules:
        assert rule["labels"]["severity"] in ("warning", "critical")
        assert rule["annotations"]["summary"] and rule["annotations"]["description"]


def test_the_dashboard_is_well_formed() -> None:
    panels = DASHBOARD["panels"]
    assert DASHBOARD["uid"] == "tawasul-hub" and DASHBOARD["title"]
    assert len({p["id"] for p in panels}) == len(panels)
    for p in panels:
        box = p["gridPos"]
        assert box["x"] + box["w"] <= 24
        if p["type"] != "row":
            assert p["targets"] and all(t["expr"] and t["refId"] for t in p["targets"])
            assert p["datasource"] == {"type": "prometheus", "uid": "${datasource}"}


def promtool() -> str:
    found = shutil.which("promtool") or shutil.which("promtool", path=str(PROJECT_ROOT / ".venv" / "bin"))
    if found is None:
        message = "promtool is not installed (./run test extracts it from Debian's prometheus package)"
        if os.environ.get("CI") == "true":
            pytest.fail(message)
        pytest.skip(message)
    return found


@pytest.mark.parametrize(
    "args",
    [
        ["check", "rules", "alerts.yml"],
        ["test", "rules", "alerts.test.yml"],
        ["check", "config", "prometheus.yml"],
    ],
    ids=["rules", "rule-tests", "config"],
)
def test_promtool_accepts_the_rules_their_tests_and_the_config(args: list[str]) -> None:
    done = subprocess.run(
        [promtool(), *args], cwd=DEPLOY / "prometheus", capture_output=True, text=True, timeout=120, check=False
    )
    assert done.returncode == 0, done.stdout + done.stderr


def test_compose_checks_each_process_on_the_port_it_answers_and_monitoring_mounts_existing_files() -> None:
    services = COMPOSE["services"]
    assert services["api"]["healthcheck"]["test"] == ["CMD", "tawasul-hub", "health", "--port", "8700"]
    for name in ("worker", "scheduler"):
        port = services[name]["environment"]["HUB_METRICS_PORT"]
        assert services[name]["healthcheck"]["test"] == ["CMD", "tawasul-hub", "health", "--port", port]
    scrapes = yaml.safe_load((DEPLOY / "prometheus" / "prometheus.yml").read_text(encoding="utf-8"))["scrape_configs"]
    ports = {c["job_name"]: c["dns_sd_configs"][0]["port"] for c in scrapes}
    assert ports == {"tawasul-hub-api": 8700, "tawasul-hub-worker": 9100, "tawasul-hub-scheduler": 9100}
    for name in ("prometheus", "grafana"):
        assert services[name]["profiles"] == ["monitoring"]
        for volume in services[name]["volumes"]:
            source = volume.split(":")[0]
            if source.startswith("./"):
                assert (PROJECT_ROOT / Path(source)).exists(), volume
