"""How alike a case and a group are: text similarity, held back by where they are."""

from __future__ import annotations

import math

import numpy as np
import numpy.typing as npt

from broker.recurring.features import Place, Vector

Arrays = tuple[npt.NDArray[np.int64], npt.NDArray[np.float64]]
"""A sparse vector as (indices, weights) arrays, in the vector's own order."""


def arrays(vector: Vector) -> Arrays:
    """The vector as arrays sorted by index (as `store.pack` writes them)."""
    idx = np.fromiter(vector.keys(), dtype=np.int64, count=len(vector))
    val = np.fromiter(vector.values(), dtype=np.float64, count=len(vector))
    order = np.argsort(idx, kind="stable")
    return idx[order], val[order]


def norm(vector: Vector) -> float:
    """Euclidean length, exactly rounded (`math.fsum`), so it does not depend on the order of the features."""
    return math.sqrt(math.fsum(v * v for v in vector.values()))


def cosine(unit: Arrays, centroid: Arrays, centroid_norm: float) -> float:
    """Cosine between a unit vector and a centroid of given length (0 for an empty centroid).

    Both sorted by index; the shared features are found by binary search and summed in index order,
    so the result depends only on the values, never on how a vector was built or read.
    """
    if centroid_norm == 0 or len(centroid[0]) == 0:
        return 0.0
    at = np.minimum(np.searchsorted(centroid[0], unit[0]), len(centroid[0]) - 1)
    shared = centroid[0][at] == unit[0]
    return float(np.dot(unit[1][shared], centroid[1][at[shared]])) / centroid_norm


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
