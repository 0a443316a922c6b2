"""Sortable ids with a prefix that says what they name (c_ case, h_ handoff, m_ message)."""

from __future__ import annotations

from ulid import ULID


def new_id(prefix: str) -> str:
    """A new ULID-based id such as `h_01JD7YQ4ZQ…`; sortable by creation time."""
    return f"{prefix}_{ULID()}"
