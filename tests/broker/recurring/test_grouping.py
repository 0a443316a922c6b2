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


SPELLINGS = [
    ("no hamza", lambda t: t.translate(str.maketrans("أإآؤئ", "اااوي"))),
    ("ha for ta marbuta", lambda t: t.replace("ة", "ه")),
    ("ya for alef maqsura", lambda t: t.replace("ى", "ي")),
    ("diacritics", lambda t: t.replace("الإنارة", "الإِنارَةُ").replace("مجمع", "مُجَمَّع")),
    ("tatweel", lambda t: t.replace("الإنارة", "الإنـــارة").replace("الشارع", "الشـارع")),
    ("western digits for Arabic-Indic ones", lambda t: t.translate(str.maketrans("٠١٢٣٤٥٦٧٨٩", "0123456789"))),
    ("all at once", lambda t: t.translate(str.maketrans("أإآة٠١٢٣٤٥٦٧٨٩", "اااه0123456789")).replace("ى", "ي")),
]


def test_no_spelling_habit_splits_a_group() -> None:
    cases = [c for c in _cases() if c["reference"][-3:] in {"144", "147"}]
    for name, respell in SPELLINGS:
        variant = json.loads(json.dumps(cases[1]))
        variant["reference"] = "TW-2026-000999"
        variant["subject"] = respell(variant["subject"])
        variant["description"] = respell(variant["description"])
        assert variant["description"] != cases[1]["description"] or name == "ya for alef maqsura", name
        assert {"144", "147", "999"} in _groups([*cases, variant]), name


def test_an_english_report_joins_its_arabic_group_and_another_fault_in_the_block_does_not() -> None:
    cases = [c for c in _cases() if c["reference"][-3:] in {"144", "147"}]
    english = {
        **cases[1],
        "reference": "TW-2026-000998",
        "language": "en",
        "subject": "Street lights off in Hidd",
        "description": "The street lights on Road 1219, Block 112 in Hidd have been off for ten days; dark at night.",
    }
    dogs = {
        **cases[1],
        "reference": "TW-2026-000997",
        "category": "other",
        "subject": "كلاب ضالة في الحد",
        "description": "في كلاب ضالة تتجمع كل ليلة في مجمع 112 بالحد قرب الممشى، والناس خايفة تمشي.",
    }
    groups = _groups([*cases, english, dogs])
    assert {"144", "147", "998"} in groups
    assert {"997"} in groups
