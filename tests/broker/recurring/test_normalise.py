"""Each normalisation rule, alone and through `normalise`: spellings of one word become one."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from broker.recurring import normalise as n
from broker.recurring.lexicon import concepts

RULES: list[tuple[Callable[[str], str], str, str]] = [
    (n.strip_diacritics, "مُعَطَّلَةٌ", "معطلة"),
    (n.strip_diacritics, "الإنارةُ في road 12", "الإنارة في road 12"),  # mixed text keeps its Latin part
    (n.strip_tatweel, "إنــــارة الشـارع", "إنارة الشارع"),
    (n.unify_hamza, "إنقطاع أعمدة آخر", "انقطاع اعمدة اخر"),
    (n.unify_hamza, "مؤسسة شاطئ", "موسسة شاطي"),
    (n.unify_ta_marbuta, "الإنارة معطلة", "الإناره معطله"),
    (n.unify_alef_maqsura, "مستشفى على", "مستشفي علي"),
    (n.unify_letters, "کهربای", "كهرباي"),
    (n.western_digits, "مجمع ٥٢٧ طريق ۲۷۰۷", "مجمع 527 طريق 2707"),
    (n.fold_case, "Street LIGHTS ﻻ", "street lights لا"),
    (n.drop_punctuation, "«تعذّر» الدفع!! (مرتين)، road-41", "تعذّر الدفع مرتين road 41"),
]


@pytest.mark.parametrize(
    ("rule", "text", "expected"), RULES, ids=[f"{r.__name__}-{i}" for i, (r, _, _) in enumerate(RULES)]
)
def test_each_rule_merges_one_kind_of_spelling(rule: Callable[[str], str], text: str, expected: str) -> None:
    assert rule(text) == expected


SAME = [
    ("انقطاع الإنارة في الطريق رقم ١٢١٩", "انقطاع الانارة فى الطريق رقم 1219"),
    ("أعمدة الإنــارة مُعطَّلة", "اعمده الانارة معطله"),
    ("المستشفى", "المستشفي"),
    ("Road 2707, Block 527!", "road 2707 block 527"),
]


@pytest.mark.parametrize(("a", "b"), SAME)
def test_spellings_of_one_text_normalise_alike(a: str, b: str) -> None:
    assert n.normalise(a) == n.normalise(b)


def test_normalising_keeps_every_word() -> None:
    text = "تجمّع مياه الأمطار في شارع ٢٧٠٧ - Saar"
    assert len(n.normalise(text).split()) == 7


def test_normalising_twice_changes_nothing() -> None:
    once = n.normalise("إنقطاعُ الكهرباءِ فى مجمّع ٩٠٧ منذ أسبوع")
    assert n.normalise(once) == once


def test_concepts_bridge_arabic_and_english() -> None:
    arabic = concepts(n.normalise("غرق الشارع بمياه الأمطار في سار"))
    english = concepts(n.normalise("Flooded road in Saar after the rain"))
    assert {"c:flooding", "c:rain", "c:road", "p:saar"} <= set(arabic) & set(english)


def test_a_concept_form_needs_a_whole_word() -> None:
    # "خط" (a bus line) is not in "خطأ" (an error) nor "خطر" (danger)
    assert "c:bus-route" not in concepts(n.normalise("ظهرت رسالة خطأ وصار خطر"))
    assert "c:bus-route" in concepts(n.normalise("حافلة الخط ٤١"))
