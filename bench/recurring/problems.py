# ruff: noqa: E501  (hand-written report texts, one per line)
"""The problems behind the evaluation set's written variants: each is one true group.

Every problem has a place, a first day, the agencies its reports went to, and phrasings written
by hand (Gulf dialect and standard Arabic, English, a mix). `make_set.py` draws reports from
them; several problems share a block on purpose (another fault in the same place), and some
are the same fault in a neighbouring block (another place): neither may merge.
"""

from __future__ import annotations

from typing import Any

P = dict  # a problem: id, joins (the sample case whose group it continues), category, agencies, place (governorate, block, road), day, texts [(subject, description)]

PROBLEMS: list[dict[str, Any]] = [
    P(
        id="saar-527-lights",
        category="street-lighting",
        agencies=["northern-municipality", "ministry-of-works"],
        place=("northern", "527", "2715"),
        day="2026-11-03",
        texts=[
            (
                "إنارة شارع 2715 في سار مطفية",
                "أعمدة الإنارة في شارع 2715 مجمع 527 بسار مطفية من أسبوع، والشارع ظلام بالليل والعيال يلعبون فيه.",
            ),
            (
                "انقطاع الإنارة في طريق 2715 بسار",
                "نود إبلاغكم أن إنارة الطريق رقم 2715 في مجمع 527 منطقة سار لا تعمل منذ عدة أيام، مما يشكل خطراً على المارة.",
            ),
            (
                "الشارع مظلم في سار مجمع 527",
                "الشارع عندنا في سار مظلم بالكامل، كل أعمدة الإنارة في طريق 2715 طافية. بلغنا من قبل وما أحد جا يصلحها.",
            ),
            (
                "Street lights out on Road 2715, Saar",
                "All the street lights on Road 2715 in Block 527, Saar have been off for about a week. The road is pitch dark at night.",
            ),
        ],
    ),
    P(
        id="saar-527-pothole",
        category="road-maintenance",
        agencies=["ministry-of-works"],
        place=("northern", "527", "2711"),
        day="2026-11-05",
        texts=[
            (
                "حفرة كبيرة في شارع 2711 بسار",
                "في حفرة كبيرة وسط شارع 2711 مجمع 527 في سار، أكثر من سيارة طاح تايرها فيها. نرجو ردمها قبل ما يصير حادث.",
            ),
            (
                "حفر في الطريق 2711 مجمع 527",
                "يوجد حفر عميقة في الطريق رقم 2711 بمجمع 527 في منطقة سار نتيجة تكسر الإسفلت، وقد تضررت عدة مركبات.",
            ),
            (
                "Big pothole on Road 2711 in Saar",
                "There is a deep pothole in the middle of Road 2711, Block 527, Saar. Two cars damaged their tyres there this week.",
            ),
        ],
    ),
    P(
        id="saar-527-garbage",
        category="street-cleaning",
        agencies=["northern-municipality"],
        place=("northern", "527", None),
        day="2026-11-08",
        texts=[
            (
                "تراكم القمامة في مجمع 527 بسار",
                "الحاويات في مجمع 527 بسار مليانة من أسبوع والقمامة صارت على الأرض، والقطط تنشرها في الشارع.",
            ),
            (
                "عدم جمع القمامة في سار",
                "لم تمر سيارة جمع القمامة على مجمع 527 بسار منذ أكثر من خمسة أيام، والروائح لا تطاق.",
            ),
            (
                "Garbage not collected in Block 527 Saar",
                "The bins in Block 527, Saar are overflowing and nobody has collected the garbage for a week. Cats spread it all over the road.",
            ),
        ],
    ),
    P(
        id="saar-528-lights",
        category="street-lighting",
        agencies=["northern-municipality"],
        place=("northern", "528", "2805"),
        day="2026-11-06",
        texts=[
            (
                "إنارة معطلة في مجمع 528 سار",
                "أعمدة الإنارة في طريق 2805 بمجمع 528 في سار معطلة من عشرة أيام، والمنطقة مظلمة.",
            ),
            (
                "Lights not working in Block 528",
                "Street lights along Road 2805, Block 528 (Saar) are not working. It has been dark for ten days.",
            ),
        ],
    ),
    P(
        id="riffa-907-power",
        joins="TW-2026-000106",
        category="electricity-supply",
        agencies=["egovernment-authority", "ministry-of-works"],
        place=("southern", "907", None),
        day="2026-09-08",
        texts=[
            (
                "انقطاع الكهرباء في الرفاع الشرقي مجمع 907",
                "الكهرباء تنقطع عندنا في الرفاع الشرقي مجمع 907 كل يوم تقريباً، أمس انقطعت ثلاث ساعات في عز الحر.",
            ),
            (
                "انقطاعات متكررة للتيار الكهربائي",
                "نعاني من انقطاع متكرر للتيار الكهربائي في مجمع 907 بالرفاع منذ بداية الشهر، والأجهزة تضررت.",
            ),
            (
                "الكهربا مقطوعة مرة ثانية في الرفاع",
                "للمرة الثالثة هالأسبوع الكهربا مقطوعة في فريجنا مجمع 907 الرفاع الشرقي، وعندنا كبار سن بالبيت.",
            ),
            (
                "Repeated power cuts in East Riffa",
                "We keep having power cuts in Block 907, East Riffa. Yesterday the electricity was off for four hours in the heat.",
            ),
        ],
    ),
    P(
        id="riffa-907-bill",
        category="electricity-supply",
        agencies=["egovernment-authority"],
        place=("southern", "907", None),
        day="2026-09-12",
        texts=[
            (
                "فاتورة الكهرباء مرتفعة بشكل غير طبيعي",
                "وصلتني فاتورة الكهرباء لشهر أغسطس ثلاثة أضعاف المعتاد، مع إن استهلاكنا ما تغير. بيتي في الرفاع مجمع 907. أشك إن العداد فيه خلل.",
            ),
            (
                "Electricity bill three times higher",
                "My electricity bill for August is three times the usual amount although nothing changed. I live in Block 907, Riffa. I think the meter is wrong.",
            ),
        ],
    ),
    P(
        id="janabiya-572-water",
        joins="TW-2026-000116",
        category="water-supply",
        agencies=["egovernment-authority", "ministry-of-works"],
        place=("northern", "572", None),
        day="2026-09-17",
        texts=[
            (
                "ضعف ضغط المياه في الجنبية",
                "ضغط الماي ضعيف جداً في بيتنا بالجنبية مجمع 572، والماي ما يوصل الخزان فوق إلا بالليل.",
            ),
            (
                "ضعف شديد في ضغط المياه بمجمع 572",
                "نعاني منذ أسبوعين من ضعف ضغط المياه في مجمع 572 بالجنبية، وتواصلنا مع الخط الساخن بدون فائدة.",
            ),
            (
                "Low water pressure in Janabiya",
                "The water pressure in Block 572, Janabiya is very low for two weeks. The tank on the roof only fills after midnight.",
            ),
        ],
    ),
    P(
        id="sitra-609-sewage",
        joins="TW-2026-000128",
        category="sewerage",
        agencies=["ministry-of-works"],
        place=("capital", "609", None),
        day="2026-09-30",
        texts=[
            ("طفح المجاري في سترة", "المجاري طافحة في فريجنا بسترة مجمع 609، الريحة ما تنطاق والماي الوسخ في الشارع."),
            (
                "طفح مياه الصرف الصحي بمجمع 609",
                "يتكرر طفح مياه الصرف الصحي في مجمع 609 بسترة بشكل يومي، ونطالب بإصلاح الخط وشفط المياه.",
            ),
            (
                "Sewage overflowing in Sitra Block 609",
                "Sewage keeps overflowing in the street in Block 609, Sitra. The smell is terrible and insects everywhere.",
            ),
        ],
    ),
    P(
        id="juffair-340-sewage",
        joins="TW-2026-000184",
        category="sewerage",
        agencies=["ministry-of-works", "capital-municipality"],
        place=("capital", "340", "4029"),
        day="2026-11-23",
        texts=[
            (
                "طفح منهول في الجفير شارع 4029",
                "المنهول في شارع 4029 مجمع 340 بالجفير طافح من أسبوع، والمياه الوسخة واصلة للرصيف.",
            ),
            (
                "مجاري طافحة في الجفير",
                "مياه المجاري تطفح من فتحة التصريف في طريق 4029 بالجفير مجمع 340، والأطفال يمشون فيها للباص.",
            ),
        ],
    ),
    P(
        id="juffair-341-water",
        joins="TW-2026-000160",
        category="water-supply",
        agencies=["ministry-of-works", "egovernment-authority"],
        place=("capital", "341", None),
        day="2026-10-29",
        texts=[
            (
                "انقطاع المياه عن بناية في الجفير",
                "الماي مقطوع عن بنايتنا في الجفير مجمع 341 من أمس الصبح، وفي 24 شقة فيها عوائل وأطفال.",
            ),
            (
                "لا توجد مياه في مجمع 341 بالجفير",
                "انقطعت المياه عن عدة بنايات في مجمع 341 بالجفير منذ صباح أمس دون أي إشعار مسبق.",
            ),
            (
                "No water in Juffair Block 341",
                "There has been no water in our building in Block 341, Juffair since yesterday morning. Please send someone.",
            ),
        ],
    ),
    P(
        id="juffair-341-dumping",
        joins="TW-2026-000135",
        category="street-cleaning",
        agencies=["capital-municipality"],
        place=("capital", "341", "4115"),
        day="2026-10-12",
        texts=[
            (
                "رمي مخلفات بناء في أرض فضاء بالجفير",
                "في شاحنات ترمي مخلفات بناء وأثاث قديم في الأرض الفضاء جنب بنايتنا بطريق 4115 مجمع 341 الجفير.",
            ),
            (
                "Rubble dumped on empty plot, Road 4115",
                "Construction rubble keeps being dumped on the empty plot on Road 4115, Block 341, Juffair. It attracts rats.",
            ),
        ],
    ),
    P(
        id="arad-244-potholes",
        joins="TW-2026-000112",
        category="road-maintenance",
        agencies=["ministry-of-works", "muharraq-municipality"],
        place=("muharraq", "244", "4403"),
        day="2026-09-15",
        texts=[
            (
                "حفر في الشارع الرئيسي بعراد",
                "الشارع الرئيسي في مجمع 244 بعراد مليان حفر بعد أعمال الحفر، والمقاول ما رجع الشارع مثل ما كان.",
            ),
            (
                "حفر خطيرة في طريق 4403 عراد",
                "توجد حفر خطيرة في الطريق 4403 بمجمع 244 في عراد تسببت في تلف إطارات عدد من السيارات.",
            ),
            (
                "Dangerous potholes in Arad",
                "The main road in Block 244, Arad is full of potholes since the digging works two months ago. Several cars got damaged tyres.",
            ),
        ],
    ),
    P(
        id="hidd-112-lights-extra",
        joins="TW-2026-000144",
        category="street-lighting",
        agencies=["muharraq-municipality", "ministry-of-works"],
        place=("muharraq", "112", "1219"),
        day="2026-10-20",
        texts=[
            (
                "Street lights off in Hidd Block 112",
                "The street lights on Road 1219, Block 112 in Hidd have been off for more than a week. It is completely dark at night.",
            ),
            (
                "اضاءة الشارع طافية في الحد",
                "إضاءة الشارع في الحد مجمع 112 طافية، الطريق 1219 كله ظلام والناس تمشي فيه للمسجد.",
            ),
        ],
    ),
    P(
        id="hidd-113-lights",
        category="street-lighting",
        agencies=["muharraq-municipality"],
        place=("muharraq", "113", "1306"),
        day="2026-10-24",
        texts=[
            ("أعمدة إنارة معطلة في مجمع 113 الحد", "أعمدة الإنارة في طريق 1306 بمجمع 113 في الحد معطلة من أسبوعين."),
            (
                "Broken street lights in Block 113, Hidd",
                "Several lamp posts on Road 1306, Block 113, Hidd are broken and the road is dark.",
            ),
        ],
    ),
    P(
        id="hidd-112-dogs",
        category="other",
        agencies=["egovernment-authority"],
        place=("muharraq", "112", None),
        day="2026-10-22",
        texts=[
            (
                "كلاب ضالة في الحد مجمع 112",
                "في كلاب ضالة تتجمع كل ليلة في مجمع 112 بالحد قرب الممشى، والناس خايفة تمشي.",
            ),
            (
                "Stray dogs in Hidd Block 112",
                "A pack of stray dogs gathers every evening near the walkway in Block 112, Hidd. People are afraid to walk there.",
            ),
        ],
    ),
    P(
        id="bus-41-extra",
        joins="TW-2026-000117",
        category="public-bus",
        agencies=["ministry-of-transportation"],
        place=(None, None, None),
        day="2026-09-25",
        texts=[
            ("باص 41 دايماً متأخر", "باص الخط 41 من مدينة حمد للمنامة كل يوم متأخر نص ساعة، وأحياناً ما يجي أبداً."),
            ("تأخر حافلات الخط 41", "حافلات الخط رقم 41 بين مدينة حمد والمنامة لا تلتزم بالجدول الزمني وتتأخر يومياً."),
            (
                "Bus 41 late every day",
                "The route 41 bus between Hamad Town and Manama is late every single day and the app tracking is wrong.",
            ),
        ],
    ),
    P(
        id="bus-12-shelter",
        joins="TW-2026-000125",
        category="public-bus",
        agencies=["ministry-of-transportation"],
        place=(None, None, None),
        day="2026-10-02",
        texts=[
            (
                "مقترح مظلات لمحطات الحافلات في الجفير",
                "أقترح تركيب مظلات في محطات الباص على الشارع الرئيسي في الجفير، الانتظار في الشمس خطر على كبار السن.",
            ),
            (
                "Shaded bus stops please",
                "Bus stops in Juffair have no shade. Please install shelters, waiting in the sun is dangerous for older people.",
            ),
        ],
    ),
    P(
        id="isa-health-extra",
        joins="TW-2026-000131",
        category="health-centre-appointments",
        agencies=["ministry-of-health"],
        place=("southern", "805", None),
        day="2026-10-06",
        texts=[
            (
                "ما في مواعيد في مركز مدينة عيسى الصحي",
                "من أسبوعين أحاول أحجز موعد في مركز مدينة عيسى الصحي والتطبيق يقول لا توجد مواعيد متاحة.",
            ),
            (
                "No appointments at Isa Town health centre",
                "I cannot book any appointment at Isa Town Health Centre, the app always says no slots are available.",
            ),
        ],
    ),
    P(
        id="hamad-health",
        category="health-centre-appointments",
        agencies=["ministry-of-health"],
        place=("northern", "1208", None),
        day="2026-10-10",
        texts=[
            (
                "تأخر المواعيد في مركز مدينة حمد الصحي",
                "أقرب موعد في مركز مدينة حمد الصحي بعد ثلاثة أسابيع، ورقم المواعيد ما يرد.",
            ),
            (
                "Long wait for appointments in Hamad Town",
                "The earliest appointment at the Hamad Town health centre is three weeks away and nobody answers the phone.",
            ),
        ],
    ),
    P(
        id="epay-extra",
        joins="TW-2026-000110",
        category="egovernment-services",
        agencies=["egovernment-authority"],
        place=(None, None, None),
        day="2026-09-14",
        texts=[
            (
                "انخصم المبلغ والمعاملة ما تمت",
                "دفعت رسوم خدمة في البوابة الوطنية وانخصم المبلغ من حسابي مرتين، والمعاملة ما اكتملت ولا وصلني إيصال.",
            ),
            (
                "Charged but the payment failed on bahrain.bh",
                "I paid a service fee on the national portal, the amount was deducted from my card but the transaction failed.",
            ),
        ],
    ),
    P(
        id="egov-sms",
        joins="TW-2026-000145",
        category="egovernment-services",
        agencies=["egovernment-authority"],
        place=(None, None, None),
        day="2026-10-20",
        texts=[
            (
                "مقترح إشعارات نصية لحالة الطلب",
                "أقترح إرسال رسالة نصية عند تغير حالة أي طلب في البوابة الوطنية بدل ما نتابع كل يوم.",
            ),
            (
                "Suggestion: SMS when my request status changes",
                "Please send an SMS or app notification when the status of a request on the portal changes.",
            ),
        ],
    ),
    P(
        id="budaiya-beach",
        joins="TW-2026-000149",
        category="street-cleaning",
        agencies=["northern-municipality"],
        place=("northern", "557", None),
        day="2026-10-24",
        texts=[
            ("مخلفات على ساحل البديع", "ساحل البديع مليان مخلفات بعد الويكند، أكياس وعلب وبقايا فحم، والحاويات قليلة."),
            (
                "Litter on Budaiya beach after weekends",
                "Budaiya public beach is covered with litter every weekend: plastic bags, bottles and charcoal. There are not enough bins.",
            ),
        ],
    ),
    P(
        id="banijamra-mosquitoes",
        joins="TW-2026-000164",
        category="pest-control",
        agencies=["northern-municipality"],
        place=("northern", "548", None),
        day="2026-11-02",
        texts=[
            (
                "انتشار البعوض في بني جمرة",
                "البعوض منتشر بشكل كبير في مجمع 548 ببني جمرة بسبب مياه راكدة في أرض فاضية، والأطفال تعبانين من القرص.",
            ),
            (
                "Mosquitoes in Bani Jamra Block 548",
                "There are swarms of mosquitoes in Block 548, Bani Jamra because of stagnant water on an empty plot nearby.",
            ),
        ],
    ),
    P(
        id="banijamra-rats",
        category="pest-control",
        agencies=["northern-municipality"],
        place=("northern", "548", None),
        day="2026-11-06",
        texts=[
            (
                "فئران في مجمع 548 بني جمرة",
                "انتشرت الفئران في مجمع 548 ببني جمرة قرب حاويات المطاعم، وصارت تدخل البيوت.",
            ),
            (
                "Rats near the restaurants in Bani Jamra",
                "Rats are everywhere near the restaurants' bins in Block 548, Bani Jamra, and they are getting into houses.",
            ),
        ],
    ),
    P(
        id="hamad-school-ac",
        joins="TW-2026-000114",
        category="public-schools",
        agencies=["ministry-of-education"],
        place=("northern", "1208", None),
        day="2026-09-16",
        texts=[
            (
                "تعطل المكيفات في مدرسة إعدادية بمدينة حمد",
                "المكيفات خربانة في أكثر من صف في مدرسة البنات الإعدادية بمدينة حمد، والبنات يدرسون في حر شديد.",
            ),
            (
                "Broken air conditioners at a Hamad Town school",
                "The air conditioners in several classrooms of the girls' intermediate school in Hamad Town have been broken since term started.",
            ),
        ],
    ),
    P(
        id="salmaniya-er",
        joins="TW-2026-000165",
        category="hospital-services",
        agencies=["ministry-of-health"],
        place=("capital", "330", None),
        day="2026-11-02",
        texts=[
            (
                "انتظار طويل في طوارئ السلمانية",
                "انتظرنا أكثر من خمس ساعات في طوارئ مجمع السلمانية الطبي بدون ما يشوفنا طبيب.",
            ),
            (
                "Six hours waiting at Salmaniya emergency",
                "We waited over six hours at the Salmaniya emergency department before a doctor saw my father.",
            ),
        ],
    ),
    P(
        id="pharmacy-bp-medicine",
        joins="TW-2026-000171",
        category="hospital-services",
        agencies=["ministry-of-health"],
        place=(None, None, None),
        day="2026-11-11",
        texts=[
            (
                "دواء الضغط غير متوفر في صيدلية المركز",
                "للشهر الثاني دواء الضغط غير متوفر في صيدلية المركز الصحي ويقولون اشتريه من برا.",
            ),
            (
                "Blood pressure medicine out of stock",
                "The health centre pharmacy has been out of my blood pressure medicine for two months.",
            ),
        ],
    ),
]
