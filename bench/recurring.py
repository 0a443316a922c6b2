"""Recurring complaints: grouping quality on the labelled set, and the time to attach one case at 100,000.

    .venv/bin/python bench/recurring.py            # quality (seconds) and speed (about two minutes)
    .venv/bin/python bench/recurring.py --quality  # quality only
    .venv/bin/python bench/recurring.py --pg       # speed on PostgreSQL (a database of its own, dropped after)

Quality: pairwise precision/recall/F1 and B-cubed precision/recall/F1 on bench/recurring/ (318
cases, labels by hand, see make_set.py) for the hub's method and two baselines run here:
exact subject match, and plain TF-IDF (character 2-4-grams, no Arabic normalisation, no place or
time) with its best threshold on this very set (an optimistic baseline).
Speed: a SQLite store holding 100,000 synthetic grouped cases (a year, 40 categories, 1,200 blocks,
groups of 1-6, centroids as large as real ones); then 50 sample cases, each accepted at intake and
attached by `broker.recurring.store.attach_pending` on its own (its transaction included): the
median and p95 time, next to the intake commit of the same case. Four in five probes report
something of the last days, one in five something months ago. The synthetic store is built once
(about a minute) and kept in the temporary directory for later runs.
"""

from __future__ import annotations

import csv
import itertools
import json
import sys
from collections import defaultdict
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).parents[1]
sys.path.insert(0, str(ROOT))

from broker.recurring import Params, group_all, signature  # noqa: E402

SET = ROOT / "bench" / "recurring"


def load() -> tuple[list[dict[str, Any]], dict[str, str]]:
    """The evaluation cases in arrival order, and reference → true group."""
    cases = [json.loads(line) for line in (SET / "cases.jsonl").read_text("utf-8").splitlines()]
    with (SET / "labels.csv").open(encoding="utf-8") as f:
        labels = {row["reference"]: row["group"] for row in csv.DictReader(f)}
    return cases, labels


def scores(pred: dict[str, str], truth: dict[str, str]) -> dict[str, float]:
    """Pairwise and B-cubed precision, recall and F1 of a clustering (reference → cluster)."""
    tp = fp = fn = 0
    for a, b in itertools.combinations(sorted(pred), 2):
        same_t, same_p = truth[a] == truth[b], pred[a] == pred[b]
        tp += same_t and same_p
        fp += same_p and not same_t
        fn += same_t and not same_p
    p = tp / (tp + fp) if tp + fp else 1.0
    r = tp / (tp + fn) if tp + fn else 1.0
    by_p: dict[str, set[str]] = defaultdict(set)
    by_t: dict[str, set[str]] = defaultdict(set)
    for ref in pred:
        by_p[pred[ref]].add(ref)
        by_t[truth[ref]].add(ref)
    bp = sum(len(by_p[pred[x]] & by_t[truth[x]]) / len(by_p[pred[x]]) for x in pred) / len(pred)
    br = sum(len(by_p[pred[x]] & by_t[truth[x]]) / len(by_t[truth[x]]) for x in pred) / len(pred)
    return {
        "pair_precision": p,
        "pair_recall": r,
        "pair_f1": 2 * p * r / (p + r) if p + r else 0.0,
        "bcubed_precision": bp,
        "bcubed_recall": br,
        "bcubed_f1": 2 * bp * br / (bp + br) if bp + br else 0.0,
    }


def ours(cases: list[dict[str, Any]], params: Params = Params()) -> dict[str, str]:
    """The hub's grouping (broker.recurring), cases attached in arrival order."""
    sigs = [signature(f"c_{c['reference']}", c) for c in cases]
    return {m[2:]: g for g, members in group_all(sigs, params).items() for m in members}


def exact_subject(cases: list[dict[str, Any]]) -> dict[str, str]:
    """Baseline: cases with the very same subject line are one group."""
    return {c["reference"]: c["subject"] for c in cases}


def plain_tfidf(cases: list[dict[str, Any]], threshold: float) -> dict[str, str]:
    """Baseline: TF-IDF of raw character 2-4-grams; a case joins the group of its most similar earlier case."""
    from sklearn.feature_extraction.text import TfidfVectorizer

    texts = [f"{c['subject']}\n{c['description']}" for c in cases]
    matrix = TfidfVectorizer(analyzer="char_wb", ngram_range=(2, 4)).fit_transform(texts)
    sims = (matrix @ matrix.T).toarray()
    pred: dict[str, str] = {}
    for i, c in enumerate(cases):
        best = max(range(i), key=lambda j: sims[i, j], default=None)
        ref = c["reference"]
        pred[ref] = pred[cases[best]["reference"]] if best is not None and sims[i, best] >= threshold else ref
    return pred


def best_threshold(run: Callable[[float], dict[str, str]], truth: dict[str, str]) -> tuple[float, dict[str, float]]:
    """The threshold (0.05 steps) with the best B-cubed F1, and its scores."""
    return max(((t / 20, scores(run(t / 20), truth)) for t in range(2, 20)), key=lambda x: x[1]["bcubed_f1"])


def quality() -> None:
    """Print the quality table."""
    cases, truth = load()
    t, tfidf = best_threshold(lambda t: plain_tfidf(cases, t), truth)
    rows = [
        ("hub (broker.recurring)", scores(ours(cases), truth)),
        ("exact subject", scores(exact_subject(cases), truth)),
        (f"plain TF-IDF (best threshold {t:.2f})", tfidf),
    ]
    groups = len(set(truth.values()))
    print(f"quality on {len(cases)} labelled cases in {groups} true groups")
    print(f"{'method':40} {'pair P':>7} {'pair R':>7} {'pair F1':>7} {'B3 P':>7} {'B3 R':>7} {'B3 F1':>7}")
    for name, s in rows:
        print(
            f"{name:40} {s['pair_precision']:7.3f} {s['pair_recall']:7.3f} {s['pair_f1']:7.3f} "
            f"{s['bcubed_precision']:7.3f} {s['bcubed_recall']:7.3f} {s['bcubed_f1']:7.3f}"
        )
    base = max(rows[1][1]["bcubed_f1"], rows[2][1]["bcubed_f1"])
    print(f"B-cubed F1 ratio hub / best baseline: {rows[0][1]['bcubed_f1'] / base:.2f}")
    sweep = "  ".join(
        f"{t:.2f}: {scores(ours(cases, Params(threshold=t)), truth)['pair_f1']:.3f}"
        for t in (0.35, 0.40, 0.45, 0.50, 0.55)
    )
    print(f"hub pair F1 by threshold (default {Params().threshold}): {sweep}")
    samples = [c for c in cases if c["reference"] < "TW-2026-001000"]  # the 90 sample cases alone
    only = {c["reference"]: truth[c["reference"]] for c in samples}
    for name, result in (
        ("hub", scores(ours(samples), only)),
        ("exact subject", scores(exact_subject(samples), only)),
        ("plain TF-IDF", best_threshold(lambda t: plain_tfidf(samples, t), only)[1]),
    ):
        print(f"the 90 samples alone, {name}: pair F1 {result['pair_f1']:.3f}, B-cubed F1 {result['bcubed_f1']:.3f}")


def speed(total: int = 100_000, probes: int = 50, pg_url: str | None = None) -> None:
    """Attach `probes` new cases, one per pass, to a store (SQLite, or `pg_url`) holding `total` grouped cases."""
    import random
    import shutil
    import statistics
    import tempfile
    import time
    from datetime import datetime, timedelta

    from sqlalchemy import insert, text

    from broker.hub import Hub
    from broker.intake import submit_cases
    from broker.recurring.store import attach_pending, pack
    from broker.settings import Settings
    from broker.store.engine import transaction
    from broker.store.migrate import upgrade
    from broker.store.tables import cases as cases_t
    from broker.store.tables import recurring_cases, recurring_groups, recurring_keys
    from schemas import CaseIn

    rng = random.Random(12)
    tmp = Path(tempfile.mkdtemp())
    cached = Path(tempfile.gettempdir()) / f"tawasul-recurring-bench-{total}-v4.db"  # the synthetic store, reused
    if pg_url is not None:
        cached = tmp / "never"  # PostgreSQL: a database of its own, built each run, dropped afterwards
        url = pg_url
    else:
        if cached.exists():
            shutil.copy(cached, tmp / "hub.db")
        url = f"sqlite:///{tmp / 'hub.db'}"
    hub = Hub(Settings(database_url=url, config_dir=ROOT / "config"))
    upgrade(hub.engine)
    samples, _ = load()
    categories = sorted({c["category"] for c in samples})
    start = datetime.fromisoformat("2025-11-30T00:00:00+03:00")  # a year of history, ending about now
    t0 = time.perf_counter()
    batches: dict[str, list[dict[str, Any]]] = {"cases": [], "members": [], "groups": [], "keys": []}
    n = total if cached.exists() else 0
    while n < total:  # synthetic history: a year, groups of 1-6 cases, 40 categories, 1,200 blocks
        size = min(rng.choice([1, 1, 1, 2, 3, 6]), total - n)
        cat = rng.choice(categories)
        gov = rng.choice(["capital", "muharraq", "northern", "southern"])
        block = str(rng.randrange(100, 1300))
        at = start + timedelta(minutes=rng.randrange(365 * 24 * 60))
        gid = f"g_{n:026d}"
        width = min(500, int(350 * size**0.7))  # a sample case has 343 features on average; a centroid keeps 500
        vec = {rng.randrange(1 << 20): rng.random() for _ in range(width)}
        for i in range(size):
            cid = f"c_{n + i:026d}"
            batches["cases"].append(
                {
                    "id": cid,
                    "reference": f"SYN-{n + i:08d}",
                    "kind": "complaint",
                    "category": cat,
                    "state": "routed",
                    "payload": {},
                    "created_at": at,
                    "updated_at": at,
                }
            )
            batches["members"].append(
                {
                    "case_id": cid,
                    "group_id": gid,
                    "seq": n + i + 1,
                    "score": 1.0,
                    "at": at,
                    "agencies": [],
                    "flagged": False,
                    "attached_at": at,
                }
            )
        batches["groups"].append(
            {
                "id": gid,
                "kind": "complaint",
                "governorate": gov,
                "block": block,
                "road": None,
                "first_at": at,
                "last_at": at,
                "size": size,
                "categories": [cat],
                "faults": [],
                "centroid": pack(vec),
                "centroid_norm": 1.0,
                "updated_at": at,
            }
        )
        batches["keys"] += [
            {"key": f"cat:{cat}", "group_id": gid, "last_at": at},
            {"key": f"blk:{gov}:{block}", "group_id": gid, "last_at": at},
        ]
        n += size
    with transaction(hub.engine) as conn:
        for name, table in (
            ("cases", cases_t),
            ("members", recurring_cases),
            ("groups", recurring_groups),
            ("keys", recurring_keys),
        ):
            rows = batches[name]
            for i in range(0, len(rows), 5000):
                conn.execute(insert(table), rows[i : i + 5000])
    if pg_url is not None:
        with hub.engine.connect() as conn:  # what autovacuum would do after such a load
            conn.execute(text("ANALYZE"))
            conn.commit()
        print(f"store: {total} grouped cases written in {time.perf_counter() - t0:.0f} s (PostgreSQL)")
    elif not cached.exists():
        hub.engine.dispose()  # checkpoints the WAL into the file
        shutil.copy(tmp / "hub.db", cached)
        print(f"store: {total} grouped cases written in {time.perf_counter() - t0:.0f} s (SQLite; kept as {cached})")
    else:
        print(f"store: {total} grouped cases (SQLite), copied from {cached}")
    attach_pending(hub.engine)  # nothing new: sets the cursor
    import cProfile
    import pstats

    prof = cProfile.Profile()
    times: list[float] = []
    intake: list[float] = []
    for i in range(probes):
        raw = dict(rng.choice(samples))
        raw["reference"] = f"PROBE-{i:05d}"
        # most reports are about now; one in five is a late report of something months ago
        days = rng.uniform(362, 365) if rng.random() < 0.8 else rng.uniform(0, 365)
        raw["submitted_at"] = (start + timedelta(days=days)).isoformat()
        t = time.perf_counter()
        submit_cases(hub.engine, hub.directory, [CaseIn.model_validate(raw)], actor="bench")
        intake.append((time.perf_counter() - t) * 1000)
        t = time.perf_counter()
        if "--profile" in sys.argv:
            prof.enable()
        attach_pending(hub.engine)
        prof.disable()
        times.append((time.perf_counter() - t) * 1000)
    if "--profile" in sys.argv:
        pstats.Stats(prof).sort_stats("cumulative").print_stats(25)
    times.sort()
    base = statistics.median(intake)
    print(f"baseline, same run: accepting that case at intake (one commit): median {base:.1f} ms")
    print(
        f"attach one case at {total} stored cases: median {statistics.median(times):.1f} ms, "
        f"p95 {times[int(len(times) * 0.95) - 1]:.1f} ms, max {times[-1]:.1f} ms (goal < 50 ms); "
        f"ratio to intake {statistics.median(times) / base:.2f}"
    )


def speed_on_postgres(admin_url: str) -> None:
    """`speed` in a PostgreSQL database made for the run and dropped after it."""
    import uuid

    from sqlalchemy import create_engine, text

    name = f"recurring_bench_{uuid.uuid4().hex[:8]}"
    admin = create_engine(admin_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    try:
        speed(pg_url=admin_url.rsplit("/", 1)[0] + f"/{name}")
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


if __name__ == "__main__":
    quality()
    if "--pg" in sys.argv:
        import os

        speed_on_postgres(os.environ.get("TEST_PG_ADMIN_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test"))
    elif "--quality" not in sys.argv:
        speed()
