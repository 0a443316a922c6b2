"""Secrets come from the environment, read at call time; configuration holds only their names."""

from __future__ import annotations

import os
from typing import Annotated

from pydantic import SecretStr, StringConstraints

from adapters.errors import RetriableDeliveryError

EnvName = Annotated[str, StringConstraints(pattern=r"^(?!HUB_)[A-Z][A-Z0-9_]*$")]
"""The name of an environment variable that holds a secret (never the secret itself); the hub's own
`HUB_*` variables are not for agencies."""


def secret(env: str) -> SecretStr:
    """The secret held by environment variable `env`; a missing one is retriable (ops can set it)."""
    value = os.environ.get(env)
    if not value:
        raise RetriableDeliveryError(f"environment variable {env} is not set", env=env)
    return SecretStr(value)
