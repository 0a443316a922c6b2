"""`tawasul-hub api` and `tawasul-hub serve` serve the console: an account made with the CLI signs in."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import pytest
import requests

from broker.hub import Hub
from tests.conftest import hub_settings
from tests.integration.procs import HUB_COMMAND, HubProcess, hub_env, write_config
from tests.support import free_port, wait_until


@pytest.mark.parametrize("command", ["api", "serve"])
def test_the_console_is_served_with_its_assets_and_an_account_made_by_the_cli_signs_in(
    procs: list[HubProcess], tmp_path: Path, command: str
) -> None:
    config_dir = write_config(tmp_path / "config", tmp_path / "stub.jsonl")
    hub = Hub(hub_settings(f"sqlite:///{tmp_path / 'hub.db'}", tmp_path, config_dir=config_dir))
    env = hub_env(hub, HUB_CONSOLE_SECURE_COOKIES="false")  # plain http on localhost, as in the demo
    subprocess.run([str(HUB_COMMAND), "db", "upgrade"], env=env, check=True, capture_output=True, timeout=60)
    made = subprocess.run(
        [str(HUB_COMMAND), "users", "create", "noor", "--role", "reviewer", "--generate"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    password = re.search(r"password: (\S+)", made.stdout).group(1)  # type: ignore[union-attr]
    port = free_port()
    procs.append(
        HubProcess(hub, [command, "--port", str(port)], tmp_path / f"{command}.log", HUB_CONSOLE_SECURE_COOKIES="false")
    )
    base = f"http://127.0.0.1:{port}"

    def up() -> bool:
        try:
            return requests.get(f"{base}/healthz", timeout=1).ok
        except requests.RequestException:
            return False

    wait_until(up, f"{command} to answer", timeout=60)
    http = requests.Session()
    login = http.get(f"{base}/console/login", timeout=10)
    assert login.status_code == 200 and 'dir="rtl"' in login.text
    for asset in ("console.css", "console.js"):
        assert http.get(f"{base}/console/static/{asset}", timeout=10).status_code == 200
    csrf = re.search(r'name="csrf" value="([^"]+)"', login.text).group(1)  # type: ignore[union-attr]
    signed = http.post(
        f"{base}/console/login", data={"username": "noor", "password": password, "csrf": csrf}, timeout=10
    )
    assert signed.status_code == 200 and signed.url.endswith("/console/queue")
    assert "قائمة المتابعة" in signed.text
