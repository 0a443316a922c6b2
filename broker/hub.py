"""The hub's runtime: settings, store and agency directory, built once per process."""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field
from functools import cached_property

from sqlalchemy import Engine

from broker import agency_adapters
from broker.config import Directory, load_directory
from broker.settings import Settings
from broker.store.engine import make_engine

REFRESH_SECONDS = 2.0
"""How often a process asks whether an agency's adapter was switched (one tiny query)."""


@dataclass
class _Live:
    """The directory in use: agencies.yaml, the run-time switches laid over it, and when it was checked."""

    base: Directory
    current: Directory
    version: int | None
    checked: float


@dataclass
class Hub:
    """Everything the core functions need; the faces (API, CLI, tasks) each hold one."""

    settings: Settings
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False, compare=False)

    @cached_property
    def engine(self) -> Engine:
        """The store's engine, made on first use."""
        return make_engine(self.settings)

    @property
    def directory(self) -> Directory:
        """The agency directory: agencies.yaml, checked on first use, with agencies switched at run time.

        Every REFRESH_SECONDS it asks the store whether an agency was onboarded, offboarded or put
        in shadow mode since (broker.agency_adapters), and rebuilds itself if so: no restart needed.
        Dropping the cached state (`hub.__dict__.pop("directory")`) reloads agencies.yaml too.
        """
        live = self.__dict__.get("directory")
        if live is None or time.monotonic() - live.checked >= REFRESH_SECONDS:
            live = self._refresh(live)
        return live.current

    def refresh_directory(self) -> Directory:
        """Look for run-time switches now rather than at the next check (the dispatcher, on a mismatch)."""
        return self._refresh(self.__dict__.get("directory")).current

    def _refresh(self, live: _Live | None) -> _Live:
        with self._lock:
            base = live.base if live is not None else load_directory(self.settings.config_dir)
            version = agency_adapters.version(self.engine)
            if live is not None and version == live.version:
                live.checked = time.monotonic()
                return live
            overrides = agency_adapters.read_all(self.engine) if version else {}
            adapters = {a: o.adapter for a, o in overrides.items()}
            shadows = {a: o.shadow["adapter"] for a, o in overrides.items() if o.shadow}
            current = base.overlaid(adapters, shadows) if overrides else base
            fresh = _Live(base, current, version, time.monotonic())
            self.__dict__["directory"] = fresh
            return fresh


_current: Hub | None = None
_lock = threading.Lock()


def get_hub() -> Hub:
    """This process's hub, from the environment on first use (no connection at import time)."""
    global _current
    with _lock:
        if _current is None:
            _current = Hub(Settings())
        return _current


def set_hub(hub: Hub | None) -> None:
    """Make `hub` this process's hub (the CLI and tests build theirs explicitly)."""
    global _current
    with _lock:
        _current = hub
