"""How alike a case and a group are: text similarity, held back by where they are."""

from __future__ import annotations

import math

from broker.recurring.features import Place, Vector


def norm(vector: Vector) -> float:
    """Euclidean length."""
    return math.sqrt(sum(v * v for v in vector.values()))


def cosine(unit: Vector, centroid: Vector, centroid_norm: float) -> float:
    """Cosine between a unit vector and a centroid of given length (0 for an empty centroid)."""
    if centroid_norm == 0:
        return 0.0
    if len(unit) > len(centroid):
        return sum(v * unit.get(i, 0.0) for i, v in centroid.items()) / centroid_norm
    return sum(v * centroid.get(i, 0.0) for i, v in unit.items()) / centroid_norm


def place_factor(case: Place, group: Place, road_mismatch: float) -> float:
    """1 where nothing conflicts; 0 for another governorate or block; `road_mismatch` for another road.

    A missing part never conflicts: many citizens give no block, or only the governorate.
    """
    if case.governorate and group.governorate and case.governorate != group.governorate:
        return 0.0
    if case.block and group.block and case.block != group.block:
        return 0.0
    if case.road and group.road and case.road != group.road:
        return road_mismatch
    return 1.0
