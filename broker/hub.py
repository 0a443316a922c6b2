"""The hub's runtime: settings, store and agency directory, built once per process."""

from __future__ import annotations

import threading
from dataclasses import dataclass
from functools import cached_property

from sqlalchemy import Engine

from broker.config import Directory, load_directory
from broker.settings import Settings
from broker.store.engine import make_engine


@dataclass
class Hub:
    """Everything the core functions need; the faces (API, CLI, tasks) each hold one."""

    settings: Settings

    @cached_property
    def engine(self) -> Engine:
        """The store's engine, made on first use."""
        return make_engine(self.settings)

    @cached_property
    def directory(self) -> Directory:
        """The agency directory, loaded and checked on first use."""
        return load_directory(self.settings.config_dir)


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
