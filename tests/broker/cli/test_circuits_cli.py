"""`tawasul-hub agencies status` shows which agencies are parked and how much each has in flight."""

from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path

from typer.testing import CliRunner

from broker import circuit
from broker.circuit import Circuit, CircuitState
from broker.cli import app
from broker.hub import Hub
from broker.relay import Relay
from broker.store.engine import now, transaction
from tests.broker.agency_setup import hub_with_agencies, submit

runner = CliRunner()
DOWN, UP = "down-agency", "up-agency"


def test_circuits_lists_each_agencys_breaker_and_deliveries_in_flight(sqlite_hub: Hub, tmp_path: Path) -> None:
    agencies = {DOWN: {"adapter": {"kind": "stub"}}, UP: {"adapter": {"kind": "stub"}, "max_in_flight": 5}}
    hub = hub_with_agencies(sqlite_hub, tmp_path / "config", agencies)
    submit(hub, UP, 3)
    Relay(hub, lambda _topic, _claims: None).run_once()  # published, not yet delivered: in flight
    opened = now()
    with transaction(hub.engine) as conn:
        down = Circuit(DOWN, CircuitState.open, 5, 0, opened, opened + timedelta(seconds=30), None, "HTTP 503")
        circuit.save(conn, down)
    env = {
        "HUB_DATABASE_URL": hub.settings.database_url,
        "HUB_CONFIG_DIR": str(hub.settings.config_dir),
        "COLUMNS": "200",  # a wide terminal: rich folds long cells otherwise
    }

    listed = runner.invoke(app, ["agencies", "status", "--json"], env=env)
    parked = runner.invoke(app, ["agencies", "status", "--open"], env=env)

    assert listed.exit_code == 0, listed.output
    rows = {r["agency"]: r for r in json.loads(listed.output)}
    assert (rows[DOWN]["state"], rows[DOWN]["consecutive_failures"], rows[DOWN]["last_error"]) == (
        "open",
        5,
        "HTTP 503",
    )
    up = rows[UP]
    # three handoffs in one broker message: the limit counts messages (deliveries under way at once)
    assert (up["state"], up["in_flight"], up["max_in_flight"], up["handoffs_in_flight"]) == ("closed", 1, 5, 3)
    assert parked.exit_code == 0, parked.output
    assert DOWN in parked.output and "مفتوحة" in parked.output and UP not in parked.output
