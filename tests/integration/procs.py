"""Real hub processes for integration tests: a config of test agencies, workers and schedulers.

Every process gets its own queue prefix from the test, so parallel runs never share queues.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import yaml
from kombu import Connection

from broker.hub import Hub
from broker.settings import PROJECT_ROOT

HUB_COMMAND = PROJECT_ROOT / ".venv" / "bin" / "tawasul-hub"
if not HUB_COMMAND.exists():  # an installed hub rather than the project's venv
    HUB_COMMAND = Path(sys.executable).parent / "tawasul-hub"

STUB = "stub-agency"
"""An onboarded agency with the stub adapter; category `stubbed` routes to it."""
JOINING = "joining-agency"
"""A joining agency (manual adapter); category `manual-desk` routes to it."""


def write_config(directory: Path, record_file: Path, delay_seconds: float = 0.0, idempotent: bool = False) -> Path:
    """An agencies.yaml with an operator, a stub agency that records to `record_file`, and a joining one."""
    agencies: list[dict[str, Any]] = [
        {
            "id": "central-office",
            "name_ar": "المكتب المركزي",
            "name_en": "Central office",
            "status": "onboarded",
            "operator": True,
        },
        {
            "id": STUB,
            "name_ar": "جهة تجريبية",
            "name_en": "Stub agency",
            "status": "onboarded",
            "adapter": {
                "kind": "stub",
                "delay_seconds": delay_seconds,
                "record_file": str(record_file),
                "idempotent": idempotent,
            },
        },
        {"id": JOINING, "name_ar": "جهة منضمة", "name_en": "Joining agency", "status": "joining"},
    ]
    categories = [
        {"id": "stubbed", "name_ar": "تجريبي", "name_en": "Stubbed", "agencies": [STUB]},
        {"id": "manual-desk", "name_ar": "يدوي", "name_en": "Manual desk", "agencies": [JOINING]},
    ]
    directory.mkdir(parents=True, exist_ok=True)
    text = yaml.safe_dump({"agencies": agencies, "categories": categories}, allow_unicode=True, sort_keys=False)
    (directory / "agencies.yaml").write_text(text, encoding="utf-8")
    return directory


def hub_env(hub: Hub, **extra: str) -> dict[str, str]:
    """The environment that makes a `tawasul-hub` process the same hub as `hub`."""
    s = hub.settings
    env = {
        **os.environ,
        "HUB_DATABASE_URL": s.database_url,
        "HUB_BROKER_URL": s.broker_url,
        "HUB_QUEUE_PREFIX": s.queue_prefix,
        "HUB_CONFIG_DIR": str(s.config_dir),
        "HUB_LEASE_SECONDS": str(s.lease_seconds),
        "HUB_DELIVERY_TIMEOUT": str(s.delivery_timeout),
        "HUB_RELAY_INTERVAL": str(s.relay_interval),
        "HUB_BACKOFF_BASE": str(s.backoff_base),
        "HUB_BACKOFF_CAP": str(s.backoff_cap),
        "HUB_WORKER_CONCURRENCY": str(s.worker_concurrency),
        "HUB_LOG_FORMAT": "console",
        "HUB_LOG_LEVEL": "WARNING",
    }
    if s.national_api_key is not None:
        env["HUB_NATIONAL_API_KEY"] = s.national_api_key.get_secret_value()
    env.update(extra)
    return env


class HubProcess:
    """One `tawasul-hub` subcommand running as a child process; its output goes to a log file."""

    def __init__(self, hub: Hub, command: list[str], log_file: Path, **env: str) -> None:
        with log_file.open("ab") as out:
            self.proc = subprocess.Popen(
                [str(HUB_COMMAND), *command],
                env=hub_env(hub, **env),
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )

    def kill(self) -> None:
        """SIGKILL, as a crash or an OOM kill would: no shutdown code runs."""
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(10)

    def stop(self) -> None:
        """Ask politely (SIGTERM), then kill if it lingers."""
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.kill()


@contextmanager
def hub_processes() -> Iterator[list[HubProcess]]:
    """Collects started processes and stops every one of them at the end, whatever happened."""
    started: list[HubProcess] = []
    try:
        yield started
    finally:
        for p in started:
            p.stop()


def start(started: list[HubProcess], hub: Hub, tmp_path: Path, command: str, **env: str) -> HubProcess:
    """Start `tawasul-hub COMMAND` for `hub` and remember it for clean-up."""
    n = len(started)
    p = HubProcess(hub, [command], tmp_path / f"{command}-{n}.log", **env)
    started.append(p)
    return p


def delete_queues(broker_url: str, names: list[str]) -> None:
    """Remove a test's queues and their exchanges (durable, so they would outlive the test)."""
    with Connection(broker_url, connect_timeout=5) as conn:
        channel = conn.channel()
        for name in names:
            channel.queue_delete(name)
            channel.exchange_delete(name)
