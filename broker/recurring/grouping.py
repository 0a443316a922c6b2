"""Attach each case, in arrival order, to the group of the same problem, or start a new group.

The decision for a case reads only the groups made by earlier cases, through an `Index` that
finds candidates by key (the case's category, its block) among groups active within the time
window. So the same cases in the same order make the same groups, whether attached one at a
time as they arrive (the store's index) or all at once (a rebuild, or `MemoryIndex` in the
benchmark).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Protocol

from broker.recurring.features import Place, Signature, Vector
from broker.recurring.similarity import Arrays, arrays, cosine, norm, place_factor

CENTROID_SIZE = 500
"""A group's centroid keeps its heaviest features only, so reading and comparing it stays cheap."""


@dataclass(frozen=True)
class Params:
    """The grouping's knobs (defaults measured on bench/recurring/, see the README)."""

    window: timedelta = timedelta(days=30)
    """A case joins a group whose reports are at most this far from it (a rolling window)."""
    threshold: float = 0.45
    """Least similarity to join a group."""
    road_mismatch: float = 0.75
    """Similarity is multiplied by this when both name a road and the roads differ."""
    fault_mismatch: float = 0.6
    """Similarity is multiplied by this when both name faults and share none (an outage is not a bill)."""


@dataclass
class Group:
    """A group as grouping sees it: its place, span, categories and the sum of its cases' vectors."""

    id: str
    kind: str
    place: Place
    first_at: datetime
    last_at: datetime
    size: int = 0
    faults: list[str] = field(default_factory=list)
    categories: list[str] = field(default_factory=list)
    centroid_norm: float = 0.0
    stored: Arrays | None = None
    """The centroid as arrays: as read from the store (turned into `centroid` only if a case joins), or
    made from `centroid` when first compared after a case joined, so each case's score reuses them."""
    _centroid: Vector | None = None

    @property
    def centroid(self) -> Vector:
        """The sum of the group's case vectors (its heaviest `CENTROID_SIZE` features)."""
        if self._centroid is None:
            self._centroid = (
                dict(zip(self.stored[0].tolist(), self.stored[1].tolist(), strict=True)) if self.stored else {}
            )
        return self._centroid

    def arrays(self) -> Arrays:
        """The centroid as arrays, for `similarity.cosine`."""
        if self.stored is None:
            self.stored = arrays(self.centroid)
        return self.stored

    def add(self, sig: Signature) -> None:
        """Take `sig` in: span, place parts it was missing, categories, centroid."""
        self.first_at = min(self.first_at, sig.at)
        self.last_at = max(self.last_at, sig.at)
        self.place = Place(
            self.place.governorate or sig.place.governorate,
            self.place.block or sig.place.block,
            self.place.road or sig.place.road,
        )
        if sig.category not in self.categories:
            self.categories.append(sig.category)
        self.faults.extend(sorted(sig.faults.difference(self.faults)))
        centroid = self.centroid
        for i, v in sig.vector.items():
            centroid[i] = centroid.get(i, 0.0) + v
        if len(centroid) > CENTROID_SIZE:
            heaviest = sorted(centroid.items(), key=lambda kv: (-kv[1], kv[0]))[:CENTROID_SIZE]
            self._centroid = centroid = dict(sorted(heaviest))
        self.stored = None
        self.centroid_norm = norm(centroid)
        self.size += 1


def keys(category: str, place: Place) -> list[str]:
    """The index keys of a case or group: its category, and its block when known."""
    out = [f"cat:{category}"]
    if place.block:
        out.append(f"blk:{place.governorate or '-'}:{place.block}")
    return out


def group_id(case_id: str) -> str:
    """A group is named after its first case, so a rebuild that makes the same group gives the same id."""
    return "g_" + case_id.split("_", 1)[-1]


class Index(Protocol):
    """Where groups live while grouping runs."""

    def candidates(self, keys: list[str], since: datetime, until: datetime, place: Place, kind: str) -> list[Group]:
        """Groups having one of `keys`, with a report between `since` and `until`, in id order.

        An index may leave out groups `score` would give 0: another kind, governorate or block.
        """
        ...

    def save(self, group: Group, sig: Signature, score: float, created: bool) -> None:
        """Record that `sig` joined `group` (already updated), with its similarity."""
        ...


@dataclass(frozen=True)
class Attached:
    """Where one case went."""

    case_id: str
    group_id: str
    score: float
    created: bool


def score(sig: Signature, group: Group, params: Params, unit: Arrays | None = None) -> float:
    """How well `sig` fits `group`: cosine to the group's centroid, times the place and fault factors."""
    if sig.kind != group.kind:
        return 0.0  # a suggestion is not a complaint about the same thing
    factor = place_factor(sig.place, group.place, params.road_mismatch)
    if factor == 0.0:
        return 0.0
    if sig.faults and group.faults and sig.faults.isdisjoint(group.faults):
        factor *= params.fault_mismatch
    return factor * cosine(unit or arrays(sig.vector), group.arrays(), group.centroid_norm)


def attach(index: Index, sig: Signature, params: Params = Params()) -> Attached:
    """Put `sig` into the best-fitting candidate group, or a new one when none reaches the threshold."""
    best: tuple[float, Group] | None = None
    window = (sig.at - params.window, sig.at + params.window)
    unit = arrays(sig.vector)
    for group in index.candidates(keys(sig.category, sig.place), *window, sig.place, sig.kind):
        s = score(sig, group, params, unit)
        if s >= params.threshold and (best is None or s > best[0]):
            best = (s, group)
    if best is None:
        group = Group(group_id(sig.case_id), sig.kind, Place(), sig.at, sig.at)
        group.add(sig)
        index.save(group, sig, 1.0, created=True)
        return Attached(sig.case_id, group.id, 1.0, created=True)
    s, group = best
    group.add(sig)
    index.save(group, sig, s, created=False)
    return Attached(sig.case_id, group.id, s, created=False)


class MemoryIndex:
    """An `Index` in memory: for rebuilding and for the benchmark."""

    def __init__(self) -> None:
        self.groups: dict[str, Group] = {}
        self.by_key: dict[str, list[str]] = {}
        self.members: dict[str, list[str]] = {}

    def candidates(self, keys: list[str], since: datetime, until: datetime, place: Place, kind: str) -> list[Group]:
        """Groups under any of `keys` with a report in [since, until] (`score` checks place and kind)."""
        ids = sorted({g for k in keys for g in self.by_key.get(k, ())})
        return [g for g in (self.groups[i] for i in ids) if g.last_at >= since and g.first_at <= until]

    def save(self, group: Group, sig: Signature, score: float, created: bool) -> None:
        """Keep the group, file it under its keys, and note the member."""
        self.groups[group.id] = group
        self.members.setdefault(group.id, []).append(sig.case_id)
        for k in keys(sig.category, group.place):
            filed = self.by_key.setdefault(k, [])
            if group.id not in filed:
                filed.append(group.id)


def group_all(signatures: list[Signature], params: Params = Params()) -> dict[str, list[str]]:
    """Group cases in the given order from nothing: group id → case ids."""
    index = MemoryIndex()
    for sig in signatures:
        attach(index, sig, params)
    return index.members
