"""A case's signature: where, when, and a vector of what it says, computed once at attachment.

The vector joins three parts, each scaled by a weight and the whole of unit length:
character n-grams of the normalised text (scikit-learn's HashingVectorizer: stateless, so a case's
vector never changes as more cases arrive, which keeps the incremental path equal to a rebuild),
the bilingual concepts and localities of `lexicon` (the bridge between Arabic and English), and
the category. Stop words (greetings, "please", prepositions) are dropped before the n-grams.
"""

from __future__ import annotations

import itertools
import math
from dataclasses import dataclass, field
from datetime import datetime
from functools import cache
from typing import Any

from broker.recurring.lexicon import FAULTS, concepts
from broker.recurring.normalise import normalise

Vector = dict[int, float]
"""A sparse vector: feature index → weight."""

TEXT_FEATURES = 1 << 20
_CONCEPT_BASE = TEXT_FEATURES
_CATEGORY_BASE = TEXT_FEATURES + (1 << 16)

_STOP_TEXT = (
    "في من على الى إلى عن مع ان أن إن هذا هذه ذلك التي الذي اللي او أو ثم قد لم لا ما و يا كل بعد قبل منذ حتى "
    "عند غير بين كان كانت صار صارت تم يتم نرجو ارجو أرجو الرجاء نطالب يطلب تطلب يفيد تفيد المتصل المتصلة "
    "السلام عليكم ورحمة الله وبركاته تحية طيبة شكرا وشكرا لكم جزاكم خيرا الموضوع المشكلة مشكلة نفس "
    "the a an of in on at to for from and or is are was were be been it its this that there their our my we i "
    "you your they them he she his her with by as please kindly since have has had not no but so also very "
    "any all some into than then when which who what would could can will just about"
)
STOP_WORDS = frozenset(normalise(w) for w in _STOP_TEXT.split())
"""Words too common to tell one problem from another (written naturally, normalised on load)."""


@dataclass(frozen=True)
class Weights:
    """How much each part of the vector counts (squared, they share the vector's unit length)."""

    text: float = 0.6
    concepts: float = 0.8
    category: float = 0.2


@dataclass(frozen=True)
class Place:
    """Where a case is, as far as the citizen said: any part may be missing."""

    governorate: str | None = None
    block: str | None = None
    road: str | None = None


@dataclass(frozen=True)
class Signature:
    """What grouping needs of one case."""

    case_id: str
    at: datetime
    category: str
    place: Place
    vector: Vector
    concepts: tuple[str, ...] = ()
    agencies: tuple[str, ...] = field(default=())
    kind: str = "complaint"

    @property
    def faults(self) -> frozenset[str]:
        """The families of the faults it names (see `lexicon.FAULTS`)."""
        return frozenset(FAULTS[c] for c in self.concepts if c in FAULTS)


@cache
def _hasher() -> Any:
    from sklearn.feature_extraction.text import HashingVectorizer

    return HashingVectorizer(
        analyzer="char_wb", ngram_range=(3, 5), n_features=TEXT_FEATURES, alternate_sign=False, norm="l2"
    )


def prepare() -> None:
    """Load scikit-learn and compile the lexicon now (about 2 s of CPU), not while the first case waits."""
    _hasher()
    concepts("")


def _index(token: str, base: int, size: int) -> int:
    import zlib

    return base + zlib.crc32(token.encode()) % size


def content_words(normalised: str) -> str:
    """A normalised text without its stop words."""
    return " ".join(w for w in normalised.split() if w not in STOP_WORDS)


def text_vectors(normalised: list[str], scale: float = 1.0) -> list[Vector]:
    """Character n-gram counts of each normalised text (stop words dropped), of length `scale`.

    One `transform` for many texts: each row is computed on its own, so a text's vector is the same
    whichever batch it comes in, and the per-call overhead is paid once per batch.
    """
    if not normalised:
        return []
    matrix = _hasher().transform([content_words(t) for t in normalised])
    indices, data = matrix.indices.tolist(), (matrix.data * scale).tolist()
    ends = matrix.indptr.tolist()
    return [dict(zip(indices[a:b], data[a:b], strict=True)) for a, b in itertools.pairwise(ends)]


def vectorise(normalised: str, category: str, text_part: Vector, weights: Weights) -> tuple[Vector, tuple[str, ...]]:
    """The case's vector and the concepts it mentions, from its text's `text_vectors` row (of the text's weight)."""
    found = tuple(concepts(normalised))
    vector = dict(text_part)
    if found:
        each = weights.concepts / math.sqrt(len(found))
        for c in found:
            vector[_index(c, _CONCEPT_BASE, 1 << 16)] = each
    vector[_index(category, _CATEGORY_BASE, 1 << 12)] = weights.category
    norm = math.sqrt(sum(v * v for v in vector.values()))
    return {i: v / norm for i, v in vector.items()}, found


def _clean(value: Any) -> str | None:
    if value is None:
        return None
    text = normalise(str(value))
    return text or None


def _text(payload: dict[str, Any]) -> str:
    return f"{payload['subject']}\n{payload['description']}"


def signatures(
    items: list[tuple[str, dict[str, Any], tuple[str, ...]]], weights: Weights = Weights()
) -> list[Signature]:
    """The signatures of many cases, each from (case id, wire payload, agencies), text vectors in one batch."""
    texts = [normalise(_text(payload)) for _, payload, _ in items]
    parts = text_vectors(texts, weights.text)
    out = []
    for (case_id, payload, agencies), text, part in zip(items, texts, parts, strict=True):
        location = payload.get("location") or {}
        vector, found = vectorise(text, payload["category"], part, weights)
        at = payload["submitted_at"]
        out.append(
            Signature(
                case_id=case_id,
                at=datetime.fromisoformat(at) if isinstance(at, str) else at,
                category=payload["category"],
                place=Place(
                    _clean(location.get("governorate")), _clean(location.get("block")), _clean(location.get("road"))
                ),
                vector=vector,
                concepts=found,
                agencies=agencies,
                kind=payload.get("kind", "complaint"),
            )
        )
    return out


def signature(
    case_id: str, payload: dict[str, Any], agencies: tuple[str, ...] = (), weights: Weights = Weights()
) -> Signature:
    """The signature of a case from its wire payload (`CaseIn.model_dump(mode="json")`)."""
    return signatures([(case_id, payload, agencies)], weights)[0]
