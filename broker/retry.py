"""Retry delays, the same rule for deliveries, follow-on messages and the webhook."""

from __future__ import annotations

import random


def backoff(attempt: int, base: float, cap: float, retry_after: float | None = None) -> float:
    """Seconds before the next try: exponential, capped, with jitter; never sooner than Retry-After."""
    delay = min(cap, base * 2 ** max(attempt - 1, 0))
    delay = random.uniform(delay / 2, delay)
    if retry_after is not None:
        delay = max(delay, min(retry_after, cap))
    return delay
