"""Bilingual concept words: the bridge between an Arabic and an English report of one problem.

Character n-grams cannot see that "flooded road" and "غرق الشارع" say the same thing, so each
kind of fault, object and locality the taxonomy deals with is listed here in both languages
(Gulf dialect spellings included). A text carries the concept when one of its forms occurs;
forms are written naturally and normalised when this module loads.
"""

from __future__ import annotations

import re
from functools import cache

from broker.recurring.normalise import normalise

CONCEPTS: dict[str, tuple[str, ...]] = {
    # what is broken or wrong
    "outage": (
        "انقطاع",
        "انقطع",
        "ينقطع",
        "مقطوع",
        "مقطوعة",
        "قطع",
        "outage",
        "cut off",
        "power cut",
        "no water",
        "no power",
        "no electricity",
        "no supply",
        "blackout",
    ),
    "not-working": (
        "معطل",
        "معطلة",
        "تعطل",
        "عطل",
        "خربان",
        "خربانة",
        "لا تعمل",
        "لا يعمل",
        "ما تشتغل",
        "ما يشتغل",
        "متوقف",
        "broken",
        "not working",
        "out of order",
        "faulty",
        "stopped working",
        "doesn't work",
    ),
    "dark": (
        "مطفأة",
        "مطفية",
        "مطفيه",
        "طافية",
        "ظلام",
        "مظلم",
        "مظلمة",
        "dark",
        "darkness",
        "pitch black",
        "lights off",
        "lights out",
    ),
    "weak-pressure": (
        "ضعف ضغط",
        "ضغط المياه",
        "ضغط الماي",
        "ضعيف",
        "low pressure",
        "water pressure",
        "weak pressure",
        "weak flow",
        "trickle",
    ),
    "flooding": (
        "غرق",
        "غرقان",
        "غرقانة",
        "تجمع المياه",
        "تجمع مياه",
        "تجمعت",
        "بحيرة",
        "مياه راكدة",
        "مستنقع",
        "flood",
        "flooded",
        "flooding",
        "pooling",
        "pooled",
        "standing water",
        "waterlogged",
        "lake",
    ),
    "rain": ("مطر", "امطار", "الأمطار", "المطر", "rain", "rainwater", "rainfall", "storm"),
    "drainage": ("تصريف", "شبكة تصريف", "بالوعة", "drainage", "drain", "drains", "gully"),
    "sewage": (
        "مجاري",
        "المجاري",
        "صرف صحي",
        "الصرف الصحي",
        "طفح",
        "فيضان المجاري",
        "sewage",
        "sewer",
        "sewerage",
        "manhole",
        "overflowing",
    ),
    "pothole": (
        "حفر",
        "حفرة",
        "حفريات",
        "تكسر الاسفلت",
        "الاسفلت",
        "اسفلت",
        "pothole",
        "potholes",
        "asphalt",
        "crater",
        "road surface",
    ),
    "waste": (
        "قمامة",
        "القمامه",
        "زبالة",
        "الزبالة",
        "مخلفات",
        "نفايات",
        "حاوية",
        "حاويات",
        "القاذورات",
        "garbage",
        "rubbish",
        "trash",
        "waste",
        "litter",
        "bins",
        "bin",
        "dumping",
        "dumped",
        "rubble",
    ),
    "abandoned-car": (
        "سيارة مهملة",
        "سيارات مهملة",
        "مهملة",
        "مركونة",
        "abandoned car",
        "abandoned vehicle",
        "abandoned",
    ),
    "delay": (
        "تأخر",
        "تأخير",
        "يتأخر",
        "تتأخر",
        "متأخر",
        "متأخرة",
        "ما وصل",
        "ما وصلت",
        "لم تصل",
        "late",
        "delay",
        "delays",
        "delayed",
        "not on time",
        "never on time",
        "waiting",
        "did not come",
        "didn't come",
    ),
    "noise": ("ازعاج", "إزعاج", "صوت عالي", "اصوات", "تفحيط", "noise", "noisy", "loud"),
    "smell": ("ريحة", "رائحة", "روائح", "smell", "stink", "odour", "odor"),
    "crowding": ("ازدحام", "زحمة", "مزدحمة", "مزدحم", "overcrowded", "crowded", "standing"),
    "leak": ("تسرب", "تسريب", "leak", "leaking", "leakage"),
    "cracks": ("تشققات", "تشقق", "متصدع", "تصدع", "cracks", "cracked"),
    "overcharge": (
        "خصم",
        "مخصوم",
        "انخصم",
        "خصم مرتين",
        "deducted",
        "charged twice",
        "taken twice",
        "double charge",
        "overcharged",
        "overcharge",
    ),
    "not-available": (
        "غير متوفر",
        "غير متوفرة",
        "لا توجد",
        "ما في",
        "ما فيه",
        "عدم توفر",
        "not available",
        "unavailable",
        "no slots",
        "out of stock",
        "none available",
        "fully booked",
    ),
    # what it happens to
    "water": ("مياه", "الماء", "الماي", "ماي", "water"),
    "electricity": ("كهرباء", "الكهرباء", "كهربا", "التيار الكهربائي", "electricity", "power", "electric"),
    "street-light": (
        "انارة",
        "الانارة",
        "اضاءة",
        "الاضاءة",
        "اعمدة الانارة",
        "عمود",
        "اعمدة",
        "street light",
        "street lights",
        "streetlights",
        "lighting",
        "lights",
        "lamp",
        "lamps",
        "lampposts",
        "lamp posts",
        "light poles",
    ),
    "road": ("شارع", "الشارع", "طريق", "الطريق", "road", "street", "lane"),
    "bus": ("حافلة", "حافلات", "الحافلة", "باص", "الباص", "bus", "buses"),
    "bus-route": ("خط", "الخط", "route", "line"),
    "tracking": ("تتبع", "التتبع", "التطبيق يبين", "live tracking", "tracking", "tracker"),
    "appointment": (
        "موعد",
        "مواعيد",
        "المواعيد",
        "حجز",
        "الحجز",
        "appointment",
        "appointments",
        "booking",
        "book",
        "slots",
        "slot",
    ),
    "health-centre": ("المركز الصحي", "مركز صحي", "الصحي", "health centre", "health center", "clinic"),
    "payment": ("دفع", "الدفع", "مبلغ", "المبلغ", "رسوم", "payment", "pay", "paid", "fee", "fees", "amount"),
    "e-service": (
        "البوابة",
        "بوابة",
        "البوابه الوطنيه",
        "التطبيق",
        "الموقع",
        "الكتروني",
        "الكترونية",
        "online",
        "portal",
        "app",
        "website",
        "egovernment",
        "e-government",
        "bahrain.bh",
    ),
    "bill": ("فاتورة", "فواتير", "الفاتورة", "bill", "bills", "billing", "invoice"),
    "meter": ("عداد", "العداد", "meter", "smart meter"),
    "mosquitoes": ("بعوض", "البعوض", "ناموس", "mosquito", "mosquitoes"),
    "rodents": ("فئران", "جرذان", "جرذ", "فار", "rats", "rat", "rodents", "mice"),
    "stray-dogs": ("كلاب ضالة", "كلاب", "الكلاب", "stray dogs", "dogs", "strays"),
    "air-conditioning": (
        "مكيف",
        "مكيفات",
        "المكيفات",
        "تكييف",
        "air conditioning",
        "air conditioners",
        "air conditioner",
        "ac units",
        "a/c",
    ),
    "school": ("مدرسة", "المدرسة", "مدرسه", "الطلاب", "الطالبات", "school", "pupils", "students"),
    "parking": ("مواقف", "موقف", "parking", "car park"),
    "internet": ("انترنت", "الانترنت", "فايبر", "الفايبر", "internet", "fibre", "fiber", "broadband"),
    "medicine": ("دواء", "ادوية", "الدواء", "medicine", "medication", "medicines", "drug"),
    "pharmacy": ("صيدلية", "الصيدلية", "pharmacy"),
    "emergency": ("طوارئ", "الطوارئ", "emergency", "a&e"),
    "shade": ("مظلة", "مظلات", "shade", "shaded", "shelter", "shelters"),
    "crossing": ("ممر مشاة", "ممر المشاة", "pedestrian crossing", "zebra crossing", "crossing"),
    "playground": (
        "العاب",
        "ألعاب",
        "الاجهزة الرياضية",
        "اجهزة رياضية",
        "playground",
        "play equipment",
        "exercise equipment",
        "swings",
    ),
    "warranty": ("ضمان", "الضمان", "warranty", "guarantee"),
    "salary": ("راتب", "رواتب", "الرواتب", "salary", "salaries", "wages"),
    "pension": ("معاش", "المعاش", "تقاعد", "pension", "retirement"),
    "allowance": ("علاوة", "مخصص", "allowance", "benefit"),
    "housing-unit": ("وحدة سكنية", "الوحدة السكنية", "housing unit", "house"),
    "smart-card": ("البطاقة الذكية", "بطاقة الهوية", "smart card", "id card", "cpr card"),
    "licence": ("رخصة", "ترخيص", "الترخيص", "licence", "license", "permit"),
    "bachelors": ("عزاب", "العزاب", "bachelors", "bachelor"),
    "food-expired": ("منتهية الصلاحية", "منتهي الصلاحية", "expired"),
    "beach": ("ساحل", "الساحل", "شاطئ", "beach", "coast", "seafront"),
}
"""Concept → its forms in Arabic (with dialect spellings) and English."""

FAULTS: dict[str, str] = {
    f"c:{name}": family
    for family, names in {
        "out": ("outage", "not-working", "dark"),  # lights off, no power, broken: one kind of fault
        "weak-pressure": ("weak-pressure",),
        "water-where-it-should-not-be": ("flooding", "sewage", "leak"),
        "pothole": ("pothole", "cracks"),
        "dirt": ("waste", "abandoned-car", "smell"),
        "delay": ("delay", "not-available", "crowding"),
        "noise": ("noise",),
        "charge": ("overcharge", "bill", "meter"),
        "pests": ("mosquitoes", "rodents", "stray-dogs"),
    }.items()
    for name in names
}
"""Concepts that say what is wrong, by family: two reports naming faults of no common family differ."""

PLACES: dict[str, tuple[str, ...]] = {
    "saar": ("سار", "saar"),
    "hidd": ("الحد", "hidd", "al hidd"),
    "isa-town": ("مدينة عيسى", "عيسى", "isa town"),
    "hamad-town": ("مدينة حمد", "hamad town"),
    "juffair": ("الجفير", "juffair"),
    "manama": ("المنامة", "manama"),
    "riffa": ("الرفاع", "riffa"),
    "muharraq": ("المحرق", "muharraq"),
    "sitra": ("سترة", "sitra"),
    "arad": ("عراد", "arad"),
    "budaiya": ("البديع", "budaiya"),
    "karrana": ("كرانة", "karrana", "karranah"),
    "janabiya": ("الجنبية", "janabiya", "janabiyah"),
    "diraz": ("الدراز", "diraz", "duraz"),
    "tubli": ("توبلي", "tubli"),
    "busaiteen": ("البسيتين", "busaiteen"),
    "gudaibiya": ("القضيبية", "gudaibiya", "qudaibiya"),
    "hoora": ("الحورة", "hoora"),
    "seef": ("السيف", "seef"),
    "salmaniya": ("السلمانية", "salmaniya"),
    "zallaq": ("الزلاق", "zallaq"),
    "samaheej": ("سماهيج", "samaheej"),
    "askar": ("عسكر", "askar"),
    "umm-al-hassam": ("ام الحصم", "umm al hassam"),
    "bani-jamra": ("بني جمرة", "bani jamra"),
    "barbar": ("باربار", "barbar"),
    "sanabis": ("السنابس", "sanabis"),
    "jidhafs": ("جدحفص", "jidhafs"),
    "aali": ("عالي", "aali"),
    "zinj": ("الزنج", "zinj"),
    "adliya": ("العدلية", "adliya"),
    "hamala": ("الهملة", "hamala"),
    "malkiya": ("المالكية", "malkiya"),
    "sanad": ("سند", "sanad"),
    "galali": ("قلالي", "galali"),
    "bilad-al-qadeem": ("بلاد القديم", "bilad al qadeem"),
    "tashan": ("الطشان", "tashan"),
    "dair": ("الدير", "dair"),
    "nuwaidrat": ("النويدرات", "nuwaidrat"),
    "awali": ("عوالي", "awali"),
}
"""Localities of Bahrain in Arabic and English, so a place named in the text counts in both languages."""

_AR_PREFIX = r"(?:[وفبلك]{0,2}(?:ال)?|لل)?"
_AR_SUFFIX = r"(?:ه|ها|هم|ات|ين|ون|ان|ي|يه|نا|كم|ته|تها)?"


def _body(form: str) -> str:
    text = normalise(form)
    return text.removeprefix("ال") if _is_arabic(text) else text


def _is_arabic(text: str) -> bool:
    return any("\u0600" <= ch <= "\u06ff" for ch in text)


def _pattern(form: str) -> str:
    body = _body(form)
    if _is_arabic(body):
        # an Arabic form may take a conjunction or preposition and the article in front, and a short suffix
        return rf"(?<!\w){_AR_PREFIX}{re.escape(body)}{_AR_SUFFIX}(?!\w)"
    return rf"(?<!\w){re.escape(body)}(?:s|es|ed|ing)?(?!\w)"


@cache
def _compiled() -> tuple[tuple[str, frozenset[str], re.Pattern[str]], ...]:
    table = [(f"c:{name}", forms) for name, forms in CONCEPTS.items()]
    table += [(f"p:{name}", forms) for name, forms in PLACES.items()]
    return tuple(
        (key, frozenset(_body(f) for f in forms), re.compile("|".join(_pattern(f) for f in forms)))
        for key, forms in table
    )


@cache
def _bodies() -> tuple[str, ...]:
    return tuple(sorted({b for _, bodies, _ in _compiled() for b in bodies}))


def concepts(normalised: str) -> list[str]:
    """The concepts (`c:…`) and localities (`p:…`) a normalised text mentions, in table order.

    A plain substring test of every form first, in one pass (fast), the word-boundary pattern only
    for the concepts with a form in the text.
    """
    present = {b for b in _bodies() if b in normalised}
    if not present:
        return []
    table = _compiled()
    return [key for key, bodies, pattern in table if not present.isdisjoint(bodies) and pattern.search(normalised)]
