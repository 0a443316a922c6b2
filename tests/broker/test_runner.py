"""Process start-up: the heap built at start-up is frozen out of the garbage collector's full passes."""

from __future__ import annotations

import json
import subprocess
import sys

_PROBE = """
import gc, json
from broker.api import create_app
from broker.hub import Hub
from broker.runner import freeze_startup_heap
from broker.settings import Settings

app = create_app(Hub(Settings(database_url="sqlite:///:memory:")))
before = len(gc.get_objects())
freeze_startup_heap()
print(json.dumps({"before": before, "after": len(gc.get_objects()), "frozen": gc.get_freeze_count()}))
"""


def test_freezing_the_start_up_heap_leaves_a_full_collection_little_to_walk() -> None:
    # in a process of its own: freezing is for the life of the process
    out = subprocess.run([sys.executable, "-c", _PROBE], capture_output=True, text=True, check=True, timeout=120)
    seen = json.loads(out.stdout.strip().splitlines()[-1])
    assert seen["frozen"] >= seen["before"] * 0.9, seen
    assert seen["after"] < seen["before"] / 20, seen
