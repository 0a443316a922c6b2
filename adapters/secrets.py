"""Secrets come from the environment, read at call time; configuration holds only their names."""

from __future__ import annotations

import os
from typing import Annotated

from pydantic import AfterValidator, SecretStr, StringConstraints

from adapters.errors import RetriableDeliveryError


def _not_the_hubs(name: str) -> str:
    if name.startswith("HUB_"):
        raise ValueError("the hub's own HUB_* variables are not for agencies")
    return name


EnvName = Annotated[str, StringConstraints(pattern=r"^[A-Z][A-Z0-9_]*$"), AfterValidator(_not_the_hubs)]
"""The name of an environment variable that holds a secret (never the secret itself)."""


def secret(env: str) -> SecretStr:
    """The secret held by environment variable `env`; a missing one is retriable (ops can set it)."""
    value = os.environ.get(env)
    if not value:
        raise RetriableDeliveryError(f"environment variable {env} is not set", env=env)
    return SecretStr(value)
