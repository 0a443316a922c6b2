"""Dependencies: floors above the versions with known advisories, and lock files that installs use (M7)."""

from __future__ import annotations

import tomllib

from packaging.requirements import Requirement
from packaging.version import Version

from broker.settings import PROJECT_ROOT

PYPROJECT = tomllib.loads((PROJECT_ROOT / "pyproject.toml").read_text(encoding="utf-8"))
DEPENDENCIES = {Requirement(r).name.lower(): Requirement(r) for r in PYPROJECT["project"]["dependencies"]}

FLOORS = {
    "jinja2": "3.1.6",  # sandbox escapes CVE-2024-56326, CVE-2024-56201, CVE-2025-27516
    "urllib3": "2.6.3",  # decompression CVE-2025-66471, CVE-2025-66418, CVE-2026-21441
    "requests": "2.32.4",  # .netrc credential leak CVE-2024-47081
    "h11": "0.16",  # request smuggling CVE-2025-43859
    "starlette": "0.49.1",  # multipart and Range DoS
}


def _lock(name: str) -> dict[str, Version]:
    pins = {}
    for line in (PROJECT_ROOT / name).read_text(encoding="utf-8").splitlines():
        if line and not line.startswith("#"):
            package, _, version = line.partition("==")
            pins[package.lower()] = Version(version)
    return pins


def test_every_floor_is_above_the_versions_with_known_advisories() -> None:
    """M7: no resolver or old mirror can pick a version the review lists as vulnerable."""
    for name, fixed in FLOORS.items():
        assert name in DEPENDENCIES, name
        assert not DEPENDENCIES[name].specifier.contains(_below(fixed)), name
        assert DEPENDENCIES[name].specifier.contains(fixed), name


def _below(version: str) -> str:
    """A version just under `version` (3.1.6 → 3.1.5, 0.16 → 0.15)."""
    parts = [int(p) for p in version.split(".")]
    for i in range(len(parts) - 1, -1, -1):
        if parts[i] > 0:
            parts[i] -= 1
            break
    return ".".join(str(p) for p in parts)


def test_zeep_is_only_an_extra() -> None:
    """M7: the SOAP library is installed only with `tawasul-hub[soap]`."""
    assert "zeep" not in DEPENDENCIES
    assert any(r.startswith("zeep") for r in PYPROJECT["project"]["optional-dependencies"]["soap"])


def test_the_lock_files_pin_every_dependency_within_its_floor() -> None:
    """M7: requirements.lock (Docker) and requirements-dev.lock (./run) pin every dependency, floors held."""
    for lock in ("requirements.lock", "requirements-dev.lock"):
        pins = _lock(lock)
        for name, requirement in DEPENDENCIES.items():
            assert name in pins, (lock, name)
            assert requirement.specifier.contains(pins[name]), (lock, name, pins[name])
        for name, fixed in FLOORS.items():
            assert pins[name] >= Version(fixed), (lock, name)


def test_run_and_the_dockerfile_install_from_the_lock_files() -> None:
    """M7: ./run (and so CI) installs from requirements-dev.lock; the image from requirements.lock."""
    run = (PROJECT_ROOT / "run").read_text(encoding="utf-8")
    assert "pip install --quiet -r requirements-dev.lock" in run
    dockerfile = (PROJECT_ROOT / "Dockerfile").read_text(encoding="utf-8")
    assert "pip install --no-cache-dir -r requirements.lock" in dockerfile
    assert "--no-deps" in dockerfile
