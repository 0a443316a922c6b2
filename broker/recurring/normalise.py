"""Arabic and English text brought to one spelling, so the same words written differently compare equal.

Each rule is its own function (pyarabic does the Arabic letter work) and `normalise` applies them
all in order. The rules only ever merge spellings; they never drop a word.
"""

from __future__ import annotations

import re
import unicodedata

from pyarabic import araby

_DIGITS = str.maketrans("٠١٢٣٤٥٦٧٨٩۰۱۲۳۴۵۶۷۸۹", "01234567890123456789")
_PERSIAN = str.maketrans({"ی": araby.YEH, "ک": "ك", "ە": araby.HEH})
_NOT_WORD = re.compile(r"[^\w\u0610-\u061a\u064b-\u065f\u0670\u06d6-\u06ed]+|_+")  # Arabic marks belong to words
_SPACES = re.compile(r"\s+")


def strip_diacritics(text: str) -> str:
    """Remove tashkeel (fatha, damma, kasra, tanween, sukun, shadda) and Quranic marks: مُعطَّلة → معطلة."""
    return str(araby.strip_diacritics(text))


def strip_tatweel(text: str) -> str:
    """Remove the tatweel that stretches words: إنــارة → إنارة."""
    return str(araby.strip_tatweel(text))


def unify_hamza(text: str) -> str:
    """Every hamza seat as its bare letter (أ إ آ → ا, ؤ → و, ئ → ي): a missing hamza is no difference."""
    return str(araby.normalize_hamza(text, method="tasheel"))


def unify_ta_marbuta(text: str) -> str:
    """ة → ه, as many write it: معطلة → معطله."""
    return str(araby.normalize_teh(text))


def unify_alef_maqsura(text: str) -> str:
    """ى → ي: مستشفى and مستشفي are one word."""
    return text.replace(araby.ALEF_MAKSURA, araby.YEH)


def unify_letters(text: str) -> str:
    """Persian keyboard letters (ی ک ە) to their Arabic twins."""
    return text.translate(_PERSIAN)


def western_digits(text: str) -> str:
    """Arabic-Indic and Persian digits to 0-9: ١٢١٩ → 1219."""
    return text.translate(_DIGITS)


def fold_case(text: str) -> str:
    """Latin text in lower case, compatibility forms (ligatures, full-width letters) unfolded."""
    return unicodedata.normalize("NFKC", text).casefold()


def drop_punctuation(text: str) -> str:
    """Punctuation (Arabic and Latin) and runs of spaces become one space."""
    return _SPACES.sub(" ", _NOT_WORD.sub(" ", text)).strip()


RULES = (
    fold_case,
    unify_letters,
    strip_diacritics,
    strip_tatweel,
    unify_hamza,
    unify_ta_marbuta,
    unify_alef_maqsura,
    western_digits,
    drop_punctuation,
)
"""Applied in this order by `normalise` (NFKC first: it would otherwise re-compose some letters)."""


def normalise(text: str) -> str:
    """The text with every rule of `RULES` applied: the form that features are computed on."""
    for rule in RULES:
        text = rule(text)
    return text
