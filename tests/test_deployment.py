"""What a newcomer and an operator run: the demo command, docker-compose.yml and the CI entry point."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import yaml
from typer.testing import CliRunner

from broker.cli import app
from broker.settings import PROJECT_ROOT
from tests.conftest import sample_cases
from tests.support import free_port

COMPOSE = yaml.safe_load((PROJECT_ROOT / "docker-compose.yml").read_text(encoding="utf-8"))


def test_compose_runs_postgres_rabbitmq_api_workers_and_the_scheduler() -> None:
    services = COMPOSE["services"]
    assert {"postgres", "rabbitmq", "migrate", "api", "worker", "scheduler"} <= set(services)
    for name in ("migrate", "api", "worker", "scheduler"):
        env = services[name]["environment"]
        assert env["HUB_DATABASE_URL"].startswith("postgresql+psycopg://")
        assert env["HUB_BROKER_URL"].startswith("amqp://")
        assert services[name]["command"][0] == "tawasul-hub"
    assert services["api"]["depends_on"]["migrate"]["condition"] == "service_completed_successfully"


def test_every_command_compose_runs_exists_in_the_cli() -> None:
    runner = CliRunner()
    for name in ("migrate", "api", "worker", "scheduler"):
        words = COMPOSE["services"][name]["command"][1:]
        command = [w for w in words if not w.startswith("--") and not w[0].isdigit() and w != "0.0.0.0"]
        result = runner.invoke(app, [*command, "--help"])
        assert result.exit_code == 0, (name, result.output)


def test_compose_holds_no_secret_values() -> None:
    text = (PROJECT_ROOT / "docker-compose.yml").read_text(encoding="utf-8")
    for var in ("POSTGRES_PASSWORD", "RABBITMQ_PASSWORD", "HUB_NATIONAL_API_KEY"):
        assert f"${{{var}:?" in text  # required from the environment, no default


def test_ci_runs_the_readme_test_command() -> None:
    readme = (PROJECT_ROOT / "README.md").read_text(encoding="utf-8")
    ci = (PROJECT_ROOT / ".ci" / "run").read_text(encoding="utf-8")
    assert "./run test" in readme and "./run demo" in readme
    assert "./run test" in ci


def test_the_demo_feeds_the_samples_through_and_shows_the_follow_up_queue(tmp_path: Path) -> None:
    env = {**os.environ, "HUB_DATABASE_URL": f"sqlite:///{tmp_path / 'demo.db'}", "HUB_LOG_FORMAT": "json"}
    exe = Path(sys.executable).with_name("tawasul-hub")
    done = subprocess.run(
        [str(exe), "demo", "--once", "--port", str(free_port())],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert "27 agencies, 40 categories loaded" in done.stdout
    assert "submitted 90 sample cases (72 Arabic, 18 English)" in done.stdout
    assert "Follow-up queue" in done.stdout
    _the_demo_administrator_can_sign_in(done.stdout, env["HUB_DATABASE_URL"])
    personal = [c["citizen"][k] for c in sample_cases() for k in ("cpr", "mobile", "email") if c["citizen"].get(k)]
    assert not [p for p in personal if p in done.stderr]  # logs stay free of personal data


def _the_demo_administrator_can_sign_in(stdout: str, database_url: str) -> None:
    """The demo prints how to sign in to the console, and those credentials work."""
    from broker.console import accounts
    from broker.hub import Hub
    from broker.settings import Settings

    found = re.search(r"/console\s+user: admin\s+password: (\S+)", stdout)
    assert found, stdout
    hub = Hub(Settings(database_url=database_url))
    session = accounts.sign_in(hub.engine, "admin", found.group(1), "127.0.0.1")
    assert session.user.role == "admin"
    hub.engine.dispose()
