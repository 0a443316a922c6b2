"""Token buckets: each caller gets a burst and a steady rate, and is told when to come back.

Buckets live in this process (several API processes each allow their share: the limits are per
process, documented as such); old buckets are forgotten so memory stays bounded.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Hashable

MAX_BUCKETS = 50_000


class TokenBuckets:
    """`rate` tokens a second up to `burst`, per key; thread-safe."""

    def __init__(self, rate: float, burst: int, clock: Callable[[], float] = time.monotonic) -> None:
        self.rate = rate
        self.burst = burst
        self.clock = clock
        self._buckets: dict[Hashable, tuple[float, float]] = {}
        self._lock = threading.Lock()

    def take(self, key: Hashable) -> float:
        """Spend one token for `key`: 0.0 when allowed, else the seconds until one is free."""
        at = self.clock()
        with self._lock:
            tokens, since = self._buckets.get(key, (float(self.burst), at))
            tokens = min(float(self.burst), tokens + (at - since) * self.rate)
            if tokens < 1.0:
                self._buckets[key] = (tokens, at)
                return (1.0 - tokens) / self.rate
            if len(self._buckets) >= MAX_BUCKETS and key not in self._buckets:
                self._forget_full(at)
            self._buckets[key] = (tokens - 1.0, at)
            return 0.0

    def _forget_full(self, at: float) -> None:
        """Drop buckets that have refilled (they hold no information), or else the oldest half."""
        full = [k for k, (t, since) in self._buckets.items() if t + (at - since) * self.rate >= self.burst]
        for key in full or list(self._buckets)[: len(self._buckets) // 2]:
            del self._buckets[key]

    def wait(self, key: Hashable) -> float:
        """Seconds until `key` has a token, without spending one (0.0: it has one now)."""
        at = self.clock()
        with self._lock:
            tokens, since = self._buckets.get(key, (float(self.burst), at))
        tokens = min(float(self.burst), tokens + (at - since) * self.rate)
        return 0.0 if tokens >= 1.0 else (1.0 - tokens) / self.rate
