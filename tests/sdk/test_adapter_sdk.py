"""The adapter SDK: `adapters list`, `adapters new`, and a scaffolded package installed with pip."""

from __future__ import annotations

import importlib
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
from typer.testing import CliRunner

from adapters.scaffold import TRANSPORT_MARK, Names, scaffold
from adapters.testing.contract import envelope_for
from broker.cli import app
from broker.settings import PROJECT_ROOT
from schemas import AgencyConfig

runner = CliRunner()
WALKTHROUGH = PROJECT_ROOT / "docs" / "writing-an-adapter.md"


def doc_block(tag: str) -> str:
    """The code block of docs/writing-an-adapter.md opened with ```python TAG (the test runs what the doc shows)."""
    text = WALKTHROUGH.read_text(encoding="utf-8")
    start = text.index(f"```python {tag}\n") + len(f"```python {tag}\n")
    return text[start : text.index("```", start)]


HTTP_TRANSPORT = doc_block("transport")


def fill_transport(package: Path, module: str, code: str = HTTP_TRANSPORT) -> None:
    """Replace the scaffold's one `raise NotImplementedError` statement with `code`: all an integrator writes."""
    path = package / module / "adapter.py"
    lines = path.read_text(encoding="utf-8").splitlines(keepends=True)
    at = next(i for i, line in enumerate(lines) if TRANSPORT_MARK in line)
    assert "raise NotImplementedError" in lines[at + 1]
    path.write_text("".join([*lines[:at], code, *lines[at + 2 :]]), encoding="utf-8")


def pip_install(package: Path, site: Path) -> None:
    """`pip install` the package into its own directory (never into .venv): its entry point becomes visible."""
    subprocess.run(
        [sys.executable, "-m", "pip", "install", "-q", "--no-deps", "--target", str(site), str(package)],
        check=True,
        capture_output=True,
        timeout=300,
    )


def env_with(site: Path) -> dict[str, str]:
    return {**os.environ, "PYTHONPATH": os.pathsep.join([str(site), str(PROJECT_ROOT)]), "COLUMNS": "200"}


def test_adapters_list_shows_the_built_in_kinds_with_capabilities_and_settings() -> None:
    result = runner.invoke(app, ["adapters", "list", "--json"])
    assert result.exit_code == 0, result.output
    kinds = {e["kind"]: e for e in json.loads(result.output)}
    assert {"manual", "rest"} <= set(kinds)
    rest = kinds["rest"]
    assert rest["source"] == "built-in"
    assert rest["class"] == "adapters.rest.adapter.RestAdapter"
    assert rest["settings"]["properties"] and rest["settings"]["additionalProperties"] is False
    assert set(rest["capabilities"]) >= {"follow_ons", "status_poll", "inbox", "idempotent"}
    assert kinds["manual"]["capabilities"]["manual"] is True
    table = runner.invoke(app, ["adapters", "list"], env={"COLUMNS": "200"})
    assert table.exit_code == 0 and "rest" in table.output and "built-in" in table.output


def test_adapters_new_writes_the_package_and_refuses_a_bad_name_or_an_existing_directory(tmp_path: Path) -> None:
    target = tmp_path / "pkg"
    result = runner.invoke(app, ["adapters", "new", "acme-tickets", "--directory", str(target)])
    assert result.exit_code == 0, result.output
    names = Names.of("acme-tickets")
    assert (names.kind, names.module, names.cls) == (
        "acme_tickets",
        "tawasul_adapter_acme_tickets",
        "AcmeTicketsAdapter",
    )
    for part in ("pyproject.toml", "README.md", f"{names.module}/adapter.py", f"{names.module}/settings.py"):
        assert (target / part).is_file(), part
    pyproject = (target / "pyproject.toml").read_text(encoding="utf-8")
    assert '[project.entry-points."tawasul_hub.adapters"]' in pyproject
    assert 'acme_tickets = "tawasul_adapter_acme_tickets:AcmeTicketsAdapter"' in pyproject
    assert "AdapterContract" in (target / "tests" / "test_contract.py").read_text(encoding="utf-8")
    before = sorted(p.name for p in target.rglob("*"))
    again = runner.invoke(app, ["adapters", "new", "acme-tickets", "--directory", str(target)])
    assert again.exit_code == 2 and "already" in again.output
    assert sorted(p.name for p in target.rglob("*")) == before
    bad = runner.invoke(app, ["adapters", "new", "Acme Tickets!", "--directory", str(tmp_path / "bad")])
    assert bad.exit_code == 2 and "NAME" in bad.output
    assert not (tmp_path / "bad").exists()


def test_an_unfilled_scaffold_says_which_method_to_fill_in(tmp_path: Path) -> None:
    names = Names.of("half-done")
    scaffold("half-done", tmp_path / "pkg")
    sys.path.insert(0, str(tmp_path / "pkg"))
    try:
        module = importlib.import_module(names.module)
        cls = getattr(module, names.cls)
        agency = AgencyConfig.model_validate(
            {
                "id": "test-agency",
                "name_ar": "جهة",
                "name_en": "Agency",
                "status": "onboarded",
                "adapter": {"kind": names.kind, "url": "http://127.0.0.1:9/cases"},
            }
        )
        adapter = cls.from_config(agency)
        with pytest.raises(NotImplementedError, match=r"fill in send\(\) in tawasul_adapter_half_done/adapter.py"):
            adapter.deliver(envelope_for(agency))
    finally:
        sys.path.remove(str(tmp_path / "pkg"))
        for name in [m for m in sys.modules if m.startswith(names.module)]:
            del sys.modules[name]


def test_a_scaffolded_adapter_with_only_its_transport_filled_in_installs_lists_and_passes_the_contract_kit(
    tmp_path: Path,
) -> None:
    package, site = tmp_path / "tawasul-adapter-acme-tickets", tmp_path / "site"
    scaffold("acme-tickets", package)
    fill_transport(package, "tawasul_adapter_acme_tickets")
    started = time.monotonic()
    pip_install(package, site)
    installed = time.monotonic()
    listed = subprocess.run(
        [sys.executable, "-c", "from broker.cli import app; app()", "adapters", "list", "--json"],
        env=env_with(site),
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert listed.returncode == 0, listed.stderr
    kinds = {e["kind"]: e for e in json.loads(listed.stdout)}
    acme = kinds["acme_tickets"]
    assert acme["source"].startswith("tawasul-adapter-acme-tickets")
    assert acme["capabilities"]["idempotent"] is True
    assert acme["settings"]["required"] == ["url"]
    # the package's own test file, run where the package is installed: the hub's contract kit, from outside
    contract = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", str(package / "tests")],
        cwd=tmp_path,
        env=env_with(site),
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert contract.returncode == 0, contract.stdout + contract.stderr
    assert " passed" in contract.stdout and "failed" not in contract.stdout
    print(f"pip install {installed - started:.1f}s, list + contract kit {time.monotonic() - installed:.1f}s")
