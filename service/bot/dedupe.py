"""Remembers recently seen keys so Slack retries and repeated deliveries are answered once."""

from __future__ import annotations

import time
from collections import OrderedDict
from collections.abc import Callable


class RecentKeys:
    """A bounded, time-limited set.

    Slack retries an event up to three times over about an hour, so keys are kept for an hour
    by default; the size bound keeps memory flat under a flood. `seen_or_add` has no await inside,
    so on one event loop the check-and-mark is atomic even for concurrent deliveries.
    """

    def __init__(
        self, ttl_seconds: float = 3600.0, max_size: int = 50_000, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self._ttl = ttl_seconds
        self._max = max_size
        self._clock = clock
        self._keys: OrderedDict[str, float] = OrderedDict()

    def _expire(self, now: float) -> None:
        while self._keys:
            added = next(iter(self._keys.values()))
            if now - added < self._ttl and len(self._keys) < self._max:
                break
            self._keys.popitem(last=False)

    def seen_or_add(self, key: str) -> bool:
        """True when `key` was already seen (a duplicate); otherwise remember it and return False."""
        now = self._clock()
        self._expire(now)
        if key in self._keys:
            return True
        self._keys[key] = now
        return False

    def __len__(self) -> int:
        return len(self._keys)
