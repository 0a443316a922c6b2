"""What the console says, in Arabic and English; dates in Bahrain time; Arabic-Indic or Latin digits."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from zoneinfo import ZoneInfo

from broker.console.permissions import ROLE_LABELS, Role
from broker.followup import LABELS as REASON_LABELS
from schemas import FollowupReason

ZONE = ZoneInfo("Asia/Bahrain")
LANGUAGES = ("ar", "en")
_ARABIC_DIGITS = str.maketrans("0123456789", "٠١٢٣٤٥٦٧٨٩")

STRINGS: dict[str, tuple[str, str]] = {
    "title": ("تواصل - المكتب المركزي", "Tawasul - central office"),
    "sign_in": ("تسجيل الدخول", "Sign in"),
    "sign_out": ("تسجيل الخروج", "Sign out"),
    "username": ("اسم المستخدم", "Username"),
    "password": ("كلمة المرور", "Password"),
    "wrong_login": ("اسم المستخدم أو كلمة المرور غير صحيحة.", "Wrong username or password."),
    "throttled": (
        "محاولات كثيرة خاطئة. حاول مرة أخرى بعد ربع ساعة.",
        "Too many failed attempts. Try again in a quarter of an hour.",
    ),
    "csrf": (
        "انتهت صلاحية النموذج. أعد تحميل الصفحة ثم حاول مجددًا.",
        "This form has expired. Reload the page and try again.",
    ),
    "forbidden": ("ليست لديك صلاحية لهذا الإجراء.", "You are not allowed to do this."),
    "not_found": ("غير موجود.", "Not found."),
    "queue": ("قائمة المتابعة", "Follow-up queue"),
    "review": ("مراجعة الردود", "Review answers"),
    "agencies": ("الجهات", "Agencies"),
    "stats": ("الإحصاءات", "Statistics"),
    "users": ("المستخدمون", "Users"),
    "language": ("اللغة", "Language"),
    "digits": ("الأرقام", "Digits"),
    "digits_arab": ("هندية (٠١٢)", "Arabic-Indic (٠١٢)"),
    "digits_latn": ("لاتينية (012)", "Latin (012)"),
    "save": ("حفظ", "Save"),
    "filter": ("تصفية", "Filter"),
    "all": ("الكل", "All"),
    "agency": ("الجهة", "Agency"),
    "kind": ("النوع", "Kind"),
    "reason": ("السبب", "Reason"),
    "escalation": ("مستوى التصعيد", "Escalation level"),
    "search": ("بحث", "Search"),
    "reference": ("الرقم المرجعي", "Reference"),
    "subject": ("الموضوع", "Subject"),
    "due": ("موعد الرد", "Answer due"),
    "state": ("الحالة", "State"),
    "assigned": ("المكلَّف", "Assigned to"),
    "empty": ("لا شيء هنا.", "Nothing here."),
    "previous": ("السابق", "Previous"),
    "next": ("التالي", "Next"),
    "page": ("صفحة", "Page"),
    "live": ("تتحدث تلقائيًا", "Updates live"),
    "handoff": ("الإحالة", "Handoff"),
    "case": ("الحالة الأصلية", "Case"),
    "citizen": ("المواطن", "Citizen"),
    "cpr": ("الرقم الشخصي", "CPR"),
    "description": ("التفاصيل", "Description"),
    "category": ("الفئة", "Category"),
    "timeline": ("سجل الأحداث", "Timeline"),
    "messages": ("الرسائل", "Messages"),
    "follow_ons": ("رسائل المتابعة", "Follow-on messages"),
    "deadlines": ("المواعيد", "Deadlines"),
    "ack_due": ("موعد الإقرار بالاستلام", "Acknowledge by"),
    "answer_due": ("موعد الرد", "Answer by"),
    "working_left": ("الوقت المتبقي (ساعات عمل)", "Working time left (hours)"),
    "contacts": ("جهات الاتصال", "Contacts"),
    "attempts": ("محاولات التسليم", "Delivery attempts"),
    "last_error": ("آخر خطأ", "Last error"),
    "round": ("الجولة", "Round"),
    "record_contact": ("تسجيل تواصل يدوي", "Record a manual contact"),
    "channel": ("الوسيلة", "Channel"),
    "channel_call": ("اتصال هاتفي", "Phone call"),
    "channel_letter": ("خطاب", "Letter"),
    "channel_visit": ("زيارة", "Visit"),
    "what_said": ("ما قالته الجهة", "What the agency said"),
    "agency_reference": ("مرجع الجهة", "Agency's reference"),
    "record": ("تسجيل", "Record"),
    "resend": ("إعادة الإرسال", "Send again"),
    "confirm": ("تأكيد التسليم", "Confirm delivery"),
    "transfer": ("تحويل إلى جهة أخرى", "Transfer to another agency"),
    "refuse_transfer": ("رفض طلب التحويل", "Refuse the transfer request"),
    "extension": ("طلب تمديد", "Extension request"),
    "grant": ("منح", "Grant"),
    "refuse": ("رفض", "Refuse"),
    "days": ("أيام", "days"),
    "assign": ("تكليف موظف", "Assign to an officer"),
    "accept": ("اعتماد الرد", "Accept the answer"),
    "reply_to_citizen": ("الرد على المواطن (يمكن تعديله)", "Reply to the citizen (may be edited)"),
    "return": ("إعادة إلى الجهة", "Return to the agency"),
    "return_reason": ("سبب الإعادة", "Why it goes back"),
    "close_case": ("إغلاق الحالة", "Close the case"),
    "survey": ("استبيان الرضا", "Satisfaction survey"),
    "score": ("التقييم", "Score"),
    "comment": ("التعليق", "Comment"),
    "no_survey": ("لم يصل الاستبيان بعد.", "No survey yet."),
    "done": ("تم.", "Done."),
    "not_done": ("لم يتم:", "Not done:"),
    "answers_waiting": ("ردود بانتظار المراجعة", "Answers waiting for review"),
    "answer": ("الرد", "Answer"),
    "answered_at": ("وقت الرد", "Answered at"),
    "adapter": ("المحوّل", "Adapter"),
    "onboarding": ("حالة الربط", "Onboarding"),
    "onboarded": ("مربوطة", "onboarded"),
    "joining": ("قيد الربط", "joining"),
    "health": ("السلامة", "Health"),
    "last_success": ("آخر نجاح", "Last success"),
    "failures_in_row": ("إخفاقات متتالية", "Failures in a row"),
    "circuit": ("قاطع الدائرة", "Circuit"),
    "open": ("مفتوحة", "Open"),
    "overdue": ("متأخرة", "Overdue"),
    "on_time": ("في الموعد", "On time"),
    "cases_by_kind": ("الحالات حسب النوع", "Cases by kind"),
    "cases_by_agency": ("الحالات حسب الجهة", "Cases by agency"),
    "growth": ("النمو مقارنة بالفترة السابقة", "Growth on the previous period"),
    "on_time_share": ("نسبة الرد في الموعد", "Answered on time"),
    "satisfaction": ("متوسط الرضا", "Mean satisfaction"),
    "queue_size": ("حجم قائمة المتابعة", "Follow-up queue size"),
    "download_csv": ("تنزيل CSV", "Download CSV"),
    "period": ("الفترة", "Period"),
    "complaint": ("شكوى", "complaint"),
    "suggestion": ("اقتراح", "suggestion"),
    "inquiry": ("استفسار", "inquiry"),
    "role": ("الدور", "Role"),
    "name": ("الاسم", "Name"),
    "create_user": ("إنشاء مستخدم", "Create a user"),
    "disable": ("تعطيل", "Disable"),
    "disabled": ("معطَّل", "disabled"),
    "active": ("فعّال", "active"),
    "switch_language": ("English", "العربية"),
    "unmatched": ("بريد وارد غير مطابق", "Unmatched inbound mail"),
    "sender": ("المرسل", "From"),
    "attach": ("إلحاق بالإحالة", "Attach to the handoff"),
    "dismiss": ("إغلاق دون تسجيل", "Dismiss"),
    "recurring": ("الشكاوى المتكررة", "Recurring complaints"),
    "recurring_off": (
        "تجميع الشكاوى المتكررة متوقف (HUB_RECURRING=false): لا تُضاف الحالات الجديدة إلى المجموعات.",
        "Grouping recurring complaints is off (HUB_RECURRING=false): new cases join no group.",
    ),
    "recurring_trend": ("المجموعات الأكبر أسبوعيًا", "The largest groups, week by week"),
    "recurring_group": ("مجموعة شكاوى متكررة", "Recurring complaints group"),
    "group_trend": ("الحالات أسبوعيًا", "Cases per week"),
    "cases_count": ("عدد الحالات", "Cases"),
    "place": ("المكان", "Place"),
    "first_report": ("أول بلاغ", "First report"),
    "last_report": ("آخر بلاغ", "Last report"),
    "trend": ("الاتجاه", "Trend"),
    "from": ("من", "From"),
    "to": ("إلى", "To"),
    "least_cases": ("أقل عدد للحالات", "At least this many cases"),
    "known": ("مشكلة معروفة", "Known problem"),
    "not_known": ("غير معلَّمة", "Not marked"),
    "owner": ("الجهة المسؤولة عن الحل الدائم", "Agency owning the permanent fix"),
    "note": ("ملاحظة", "Note"),
    "flagged": ("حالات انضمت بعد التعليم", "Cases that joined after the mark"),
    "mark_known": ("تعليمها مشكلة متكررة معروفة", "Mark as a known recurring problem"),
    "marked": ("عُلِّمت المجموعة مشكلة متكررة معروفة.", "The group is marked as a known recurring problem."),
    "block": ("مجمع", "block"),
    "road": ("طريق", "road"),
    "capital": ("محافظة العاصمة", "Capital"),
    "muharraq": ("محافظة المحرق", "Muharraq"),
    "northern": ("المحافظة الشمالية", "Northern"),
    "southern": ("المحافظة الجنوبية", "Southern"),
}


STATES: dict[str, tuple[str, str]] = {
    "pending": ("بانتظار التسليم", "pending"),
    "delivering": ("جارٍ التسليم", "delivering"),
    "outcome_unknown": ("نتيجة التسليم غير معروفة", "outcome unknown"),
    "delivered": ("سُلّمت للجهة", "delivered"),
    "acknowledged": ("أقرّت الجهة بالاستلام", "acknowledged"),
    "answered": ("ردّت الجهة", "answered"),
    "accepted": ("اعتُمد الرد", "accepted"),
    "failed": ("تعذّر التسليم", "failed"),
    "transferred": ("حُوّلت", "transferred"),
    "cancelled": ("سُحبت", "cancelled"),
    "received": ("استُلمت", "received"),
    "routed": ("وُجّهت", "routed"),
    "with_agency": ("لدى الجهة", "with the agency"),
    "in_review": ("قيد المراجعة", "in review"),
    "returned": ("أُعيدت للجهة", "returned to the agency"),
    "replied": ("تم الرد على المواطن", "replied"),
    "closed": ("مغلقة", "closed"),
}
"""Handoff and case states."""

KINDS: dict[str, tuple[str, str]] = {
    "acknowledged": ("تم الاستلام", "acknowledged"),
    "progress": ("قيد المعالجة", "in progress"),
    "answered": ("تم الرد", "answered"),
    "needs_info": ("بحاجة إلى معلومات من المواطن", "needs information from the citizen"),
    "transfer_requested": ("طلب تحويل", "transfer requested"),
    "rejected": ("مرفوض", "rejected"),
}
"""What an agency can say."""


class Texts:
    """The strings of one language, with its direction, digits and date format."""

    def __init__(self, language: str, digits: str | None = None) -> None:
        self.language = language if language in LANGUAGES else "ar"
        self.digits = digits or ("arab" if self.language == "ar" else "latn")
        self._index = 0 if self.language == "ar" else 1

    @property
    def direction(self) -> str:
        """`rtl` for Arabic, `ltr` for English."""
        return "rtl" if self.language == "ar" else "ltr"

    def __call__(self, key: str) -> str:
        """The string `key` in this language (the key itself if there is none: visible, never a crash)."""
        pair = STRINGS.get(key)
        return pair[self._index] if pair else key

    def pick(self, pair: tuple[str, str]) -> str:
        """One of an (Arabic, English) pair."""
        return pair[self._index]

    def reason(self, reason: str | FollowupReason) -> str:
        """A follow-up reason's label."""
        return self.pick(REASON_LABELS[FollowupReason(reason)])

    def state(self, state: str) -> str:
        """A handoff's or a case's state."""
        return self.pick(STATES[state]) if state in STATES else state

    def kind(self, kind: str) -> str:
        """A kind of agency message."""
        return self.pick(KINDS[kind]) if kind in KINDS else kind

    def role(self, role: str) -> str:
        """A role's name."""
        return self.pick(ROLE_LABELS[Role(role)])

    def number(self, value: object) -> str:
        """Digits in the person's choice."""
        text = str(value)
        return text.translate(_ARABIC_DIGITS) if self.digits == "arab" else text

    def when(self, at: datetime | None, with_time: bool = True) -> str:
        """An instant in Bahrain time."""
        if at is None:
            return "—"
        local = at.astimezone(ZONE)
        return self.number(local.strftime("%Y-%m-%d %H:%M" if with_time else "%Y-%m-%d"))


def template_globals(texts: Texts) -> dict[str, Callable[..., str] | Texts]:
    """What every template can call."""
    return {"t": texts, "n": texts.number, "when": texts.when}
