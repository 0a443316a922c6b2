"""Grouping the sample cases: the same problem at the same place joins, anything else stays apart."""

from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path
from typing import Any

from broker.recurring import Params, group_all, signature

SAMPLES = Path(__file__).parents[3] / "config" / "samples" / "cases.jsonl"

KNOWN = [
    {"110", "113", "115"},  # e-payment taken without the service done (Arabic and English)
    {"117", "134", "158", "170"},  # bus route 41 always late
    {"131", "136", "140", "156"},  # no appointments at Isa Town health centre
    {"144", "147", "153"},  # street lights out in block 112, Hidd
    {"175", "177", "178", "189"},  # Road 2707 in Saar flooded after rain (two categories)
]


def _cases() -> list[dict[str, Any]]:
    return [json.loads(line) for line in SAMPLES.read_text(encoding="utf-8").splitlines()]


def _groups(cases: list[dict[str, Any]], params: Params = Params()) -> list[set[str]]:
    sigs = [signature(f"c_{c['reference']}", c) for c in cases]
    return [{m[-3:] for m in members} for members in group_all(sigs, params).values()]


def test_the_samples_group_as_labelled() -> None:
    groups = _groups(_cases())
    for known in KNOWN:
        assert known in groups
    assert all(len(g) == 1 for g in groups if g not in KNOWN)


def test_the_same_problem_in_another_block_is_another_group() -> None:
    cases = _cases()
    lights = [c for c in cases if c["reference"][-3:] in {"144", "147"}]
    moved = json.loads(json.dumps(lights[1]))
    moved["reference"] = "TW-2026-000999"
    moved["location"]["block"] = "113"
    groups = _groups([*lights, moved])
    assert {"144", "147"} in groups
    assert {"999"} in groups


def test_a_report_after_the_window_starts_a_new_group() -> None:
    cases = [c for c in _cases() if c["reference"][-3:] in {"144", "147", "153"}]
    groups = _groups(cases, Params(window=timedelta(days=3)))  # 144 on 20 Oct, 147 on 22 Oct, 153 on 26 Oct
    assert {"144", "147"} in groups
    assert {"153"} in groups


def test_grouping_depends_only_on_the_cases_and_their_order() -> None:
    cases = _cases()
    assert _groups(cases) == _groups(cases)
