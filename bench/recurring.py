"""Recurring complaints: grouping quality on the labelled set, and the time to attach one case at 100,000.

    .venv/bin/python bench/recurring.py            # quality (seconds) and speed (about two minutes)
    .venv/bin/python bench/recurring.py --quality  # quality only

Quality: pairwise precision/recall/F1 and B-cubed precision/recall/F1 on bench/recurring/ (318
cases, labels by hand, see make_set.py) for the hub's method and two baselines run here:
exact subject match, and plain TF-IDF (character 2-4-grams, no Arabic normalisation, no place or
time) with its best threshold on this very set (an optimistic baseline).
Speed: a SQLite store holding 100,000 synthetic attached cases; the median and p95 time of
`broker.recurring.store.attach_pending` for one new case (its own transaction included).
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


if __name__ == "__main__":
    quality()
