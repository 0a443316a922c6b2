"""Which class speaks which adapter kind: built-ins by lazy import path, others by entry point."""

from __future__ import annotations

import difflib
import importlib
import os
from importlib.metadata import entry_points

from adapters.base import Adapter
from adapters.errors import ConfigError

ENTRY_POINT_GROUP = "tawasul_hub.adapters"

BUILTIN: dict[str, str] = {
    "email": "adapters.email:EmailAdapter",
    "manual": "adapters.manual:ManualAdapter",
    "rest": "adapters.rest:RestAdapter",
    "soap": "adapters.soap:SoapAdapter",
}
"""Built-in kinds; resolved on first use so a protocol's library loads only when an agency uses it."""

TEST_KINDS: dict[str, str] = {"stub": "adapters.testing:StubAdapter"}
"""Kinds for test runs only (L10): the stub keeps deliveries in memory, so production never offers it."""
TEST_SWITCH = "TAWASUL_TEST_ADAPTERS"
"""Set to 1 (the test suite's conftest does) to make TEST_KINDS loadable, in this process and its children."""


def _builtin() -> dict[str, str]:
    return {**BUILTIN, **TEST_KINDS} if os.environ.get(TEST_SWITCH) == "1" else BUILTIN


_cache: dict[str, type[Adapter]] = {}


def known_kinds() -> list[str]:
    """Every kind the hub can load: built-ins plus installed plugins."""
    return sorted(set(_builtin()) | {ep.name for ep in entry_points(group=ENTRY_POINT_GROUP)})


def adapter_class(kind: str) -> type[Adapter]:
    """The Adapter subclass for `kind`; an unknown kind suggests the nearest known one."""
    if kind in _cache and (kind not in TEST_KINDS or kind in _builtin()):
        return _cache[kind]
    target = _builtin().get(kind)
    if target is None and kind in TEST_KINDS:
        raise ConfigError(f"adapter kind '{kind}' is for tests only (a test run sets {TEST_SWITCH}=1)")
    if target is None:
        plugins = {ep.name: ep for ep in entry_points(group=ENTRY_POINT_GROUP)}
        if kind not in plugins:
            close = difflib.get_close_matches(kind, known_kinds(), n=1)
            hint = f"; did you mean '{close[0]}'?" if close else f"; known kinds: {', '.join(known_kinds())}"
            raise ConfigError(f"unknown adapter kind '{kind}'{hint}")
        cls = plugins[kind].load()
    else:
        module, _, name = target.partition(":")
        cls = getattr(importlib.import_module(module), name)
    if not (isinstance(cls, type) and issubclass(cls, Adapter)):
        raise ConfigError(f"adapter kind '{kind}' does not name an Adapter subclass")
    _cache[kind] = cls
    return cls
