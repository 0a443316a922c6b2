"""The scheduler's periodic jobs: when each is due."""

from __future__ import annotations

from typing import cast

import pytest

from broker import scheduler
from broker.hub import Hub


def test_every_job_runs_on_the_first_pass_however_soon_after_boot(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """time.monotonic() starts near 0 at boot: a job of 15 minutes must not wait out the machine's first 15."""
    clock = [5.0]  # five seconds after boot
    monkeypatch.setattr(scheduler.time, "monotonic", lambda: clock[0])
    ran: list[str] = []
    jobs = [
        scheduler.Periodic("quarter-hourly", 900.0, lambda _hub: ran.append("quarter-hourly")),
        scheduler.Periodic("tick", 0.5, lambda _hub: ran.append("tick")),
    ]
    hub = cast(Hub, None)  # these jobs never look at it

    scheduler._due(jobs, hub)
    scheduler._due(jobs, hub)
    clock[0] += 1.0
    scheduler._due(jobs, hub)
    clock[0] += 900.0
    scheduler._due(jobs, hub)

    assert ran == ["quarter-hourly", "tick", "tick", "quarter-hourly", "tick"]
