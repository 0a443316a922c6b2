"""Write the evaluation set: the 90 sample cases and reports drawn from `problems.PROBLEMS`.

    .venv/bin/python bench/recurring/make_set.py   # rewrites cases.jsonl and labels.csv here

Deterministic (a fixed seed). Each drawn report takes one of its problem's phrasings and a few
of the spellings people really use: no hamza, ه for ة, ي for ى, diacritics, tatweel,
Arabic-Indic digits, an English word in Arabic text; sometimes no road or no block. Labels: a
problem's reports form one group, with the sample cases it continues; a sample case not in a
labelled sample group is a group of its own.
"""

from __future__ import annotations

import csv
import json
import random
import re
import sys
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

HERE = Path(__file__).parent
ROOT = HERE.parents[1]
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(ROOT))

from problems import PROBLEMS  # noqa: E402

from schemas import CaseIn  # noqa: E402

SAMPLE_GROUPS = [
    ["110", "113", "115"],
    ["117", "134", "158", "170"],
    ["131", "136", "140", "156"],
    ["144", "147", "153"],
    ["175", "177", "178", "189"],
]
"""Reports of one problem among the samples, labelled by hand (see tests/broker/recurring)."""

PER_PROBLEM = (6, 10)
LATER = {"saar-527-lights", "sitra-609-sewage", "riffa-907-power"}
"""Problems reported again four months on: a new group (the window is 30 days)."""

NAMES = ["أحمد", "فاطمة", "علي", "مريم", "حسن", "زينب", "محمد", "نورة", "يوسف", "خديجة", "Sara", "John", "Ravi"]
FAMILIES = ["البحراني", "الدوسري", "المؤمن", "السيد", "العلوي", "الكعبي", "الحايكي", "Thomas", "Kumar"]
OPENINGS = ["", "", "السلام عليكم، ", "مساء الخير، ", "تحية طيبة وبعد، "]
CLOSINGS = ["", "", " نرجو الحل بأسرع وقت.", " وشكراً.", " أرجو المتابعة."]
EN_OPENINGS = ["", "", "Hello, ", "Dear Sir/Madam, "]
EN_CLOSINGS = ["", "", " Please fix this soon.", " Thank you.", " This keeps happening."]
MIXED = {"الإنارة": "lights", "الباص": "the bus", "المجاري": "sewage", "موعد": "appointment", "التطبيق": "app"}
DIACRITICS = "\u064e\u064f\u0650\u0652"


def _arabic(text: str) -> bool:
    return bool(re.search("[\u0600-\u06ff]", text))


def spell(text: str, rng: random.Random) -> str:
    """One citizen's spelling of an Arabic text: each habit taken or not."""
    if rng.random() < 0.5:
        text = text.translate(str.maketrans("أإآ", "ااا"))
    if rng.random() < 0.4:
        text = re.sub("ة(?=\\s|$|[،.])", "ه", text)
    if rng.random() < 0.4:
        text = re.sub("ى(?=\\s|$|[،.])", "ي", text)
    if rng.random() < 0.3:
        text = text.translate(str.maketrans("0123456789", "٠١٢٣٤٥٦٧٨٩"))
    words = text.split(" ")
    if rng.random() < 0.3:
        i = rng.randrange(len(words))
        if len(words[i]) > 3 and _arabic(words[i]):
            words[i] = words[i][:2] + "ـــ" + words[i][2:]
    if rng.random() < 0.3:
        for i in rng.sample(range(len(words)), min(3, len(words))):
            if _arabic(words[i]) and len(words[i]) > 2:
                words[i] = words[i][0] + rng.choice(DIACRITICS) + words[i][1:]
    text = " ".join(words)
    if rng.random() < 0.15:
        for ar, en in MIXED.items():
            text = text.replace(ar, en)
    return text


def draw(
    problem: dict[str, Any], n: int, start: datetime, rng: random.Random, serial: list[int], group: str, kind: str
) -> list[tuple[dict[str, Any], str]]:
    """`n` reports of `problem` from `start` over three weeks."""
    out = []
    governorate, block, road = problem["place"]
    for _ in range(n):
        subject, description = rng.choice(problem["texts"])
        if _arabic(description):
            description = rng.choice(OPENINGS) + description + rng.choice(CLOSINGS)
            subject, description = spell(subject, rng), spell(description, rng)
            language = "ar"
        else:
            description = rng.choice(EN_OPENINGS) + description + rng.choice(EN_CLOSINGS)
            language = "en"
        location = None
        if governorate:
            location = {"governorate": governorate, "block": block, "road": road}
            if rng.random() < 0.25:
                location["road"] = None
            if rng.random() < 0.1:
                location["block"] = None
        at = start + timedelta(days=rng.uniform(0, 21), minutes=rng.randrange(600))
        serial[0] += 1
        first, family = rng.choice(NAMES), rng.choice(FAMILIES)
        case = {
            "reference": f"TW-2026-{serial[0]:06d}",
            "kind": kind,
            "category": problem["category"],
            "agency": rng.choice([*problem["agencies"], None]),
            "subject": subject,
            "description": description,
            "language": language,
            "channel": rng.choice(["portal", "app", "call-centre"]),
            "submitted_at": at.isoformat(),
            "citizen": {
                "name": f"{first} {family}",
                "cpr": f"{rng.randrange(10**8, 10**9)}",
                "mobile": f"+9733{rng.randrange(1000000, 9999999)}",
                "preferred_language": language,
            },
            "location": location,
            "attachments": [],
        }
        CaseIn.model_validate(case)
        out.append((case, group))
    return out


def main() -> None:
    """Write cases.jsonl and labels.csv."""
    rng = random.Random(12)
    samples = [json.loads(line) for line in (ROOT / "config/samples/cases.jsonl").read_text("utf-8").splitlines()]
    label = {c["reference"]: c["reference"] for c in samples}
    for group in SAMPLE_GROUPS:
        for x in group:
            label[f"TW-2026-000{x}"] = f"TW-2026-000{group[0]}"
    kinds = {c["reference"]: c["kind"] for c in samples}
    rows: list[tuple[dict[str, Any], str]] = [(c, label[c["reference"]]) for c in samples]
    serial = [5000]
    for problem in PROBLEMS:
        group = label[problem["joins"]] if "joins" in problem else problem["id"]
        start = datetime.fromisoformat(problem["day"] + "T08:00:00+03:00")
        kind = kinds.get(problem.get("joins", ""), "complaint")
        rows += draw(problem, rng.randint(*PER_PROBLEM), start, rng, serial, group, kind)
        if problem["id"] in LATER:
            rows += draw(problem, 3, start + timedelta(days=125), rng, serial, problem["id"] + "-later", kind)
    rows.sort(key=lambda r: (r[0]["submitted_at"], r[0]["reference"]))
    with (HERE / "cases.jsonl").open("w", encoding="utf-8") as f:
        for case, _ in rows:
            f.write(json.dumps(case, ensure_ascii=False) + "\n")
    with (HERE / "labels.csv").open("w", encoding="utf-8", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(["reference", "group"])
        writer.writerows((case["reference"], group) for case, group in rows)
    print(f"{len(rows)} cases, {len({g for _, g in rows})} groups")


if __name__ == "__main__":
    main()
