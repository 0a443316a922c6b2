"""The out-of-tree example under examples/open311, installed with pip and run against our Open311 server."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

from broker.settings import PROJECT_ROOT


def test_the_open311_example_installs_with_pip_is_listed_and_passes_the_contract_kit(tmp_path: Path) -> None:
    package, site = tmp_path / "open311", tmp_path / "site"
    shutil.copytree(PROJECT_ROOT / "examples" / "open311", package)  # the build leaves nothing in the repo
    subprocess.run(
        [sys.executable, "-m", "pip", "install", "-q", "--no-deps", "--target", str(site), str(package)],
        check=True,
        capture_output=True,
        timeout=300,
    )
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(site), str(PROJECT_ROOT)]), "COLUMNS": "200"}
    listed = subprocess.run(
        [sys.executable, "-c", "from broker.cli import app; app()", "adapters", "list", "--json"],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert listed.returncode == 0, listed.stderr
    open311 = {e["kind"]: e for e in json.loads(listed.stdout)}["open311"]
    assert open311["source"].startswith("tawasul-adapter-open311")
    assert open311["capabilities"]["status_poll"] is True
    assert {"base_url", "api_key_env", "service_codes"} <= set(open311["settings"]["properties"])
    shutil.rmtree(package / "tawasul_open311")  # its tests must use the installed package, not the copy
    result = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-o", "timeout=60", str(package / "tests")],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "15 passed" in result.stdout
