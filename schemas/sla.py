"""Service levels as written in config/sla.yaml, and the reminder an agency gets when one is at risk."""

from __future__ import annotations

import re
from datetime import date, time
from typing import Annotated, Any, Literal

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, StringConstraints, field_validator, model_validator

from schemas.case import Attachment, CaseKind, Slug, no_controls, not_blank

_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s+working\s+(day|days|hour|hours)\s*$")

WEEKDAYS = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")
"""Day names in `date.weekday()` order."""


class _Config(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class WorkingDuration(_Config):
    """A span of working time: "2 working days" or "4 working hours" in the YAML."""

    amount: Annotated[float, Field(ge=0, le=365)]
    unit: Literal["days", "hours"]

    @model_validator(mode="before")
    @classmethod
    def _parse(cls, value: Any) -> Any:
        if isinstance(value, str):
            m = _DURATION.match(value)
            if m is None:
                raise ValueError('write a duration like "2 working days" or "4 working hours"')
            unit = m.group(2)
            return {"amount": float(m.group(1)), "unit": unit if unit.endswith("s") else unit + "s"}
        return value

    def __str__(self) -> str:
        amount = int(self.amount) if self.amount.is_integer() else self.amount
        unit = self.unit if amount != 1 else self.unit[:-1]
        return f"{amount} working {unit}"


class WorkingHours(_Config):
    """The working day's opening hours, local time (Bahrain's government works 07:00 to 14:00)."""

    start: time
    end: time

    @model_validator(mode="after")
    def _ordered(self) -> WorkingHours:
        if self.start >= self.end:
            raise ValueError("`start` must be before `end`")
        return self


class AddedHoliday(_Config):
    """A day off the central office declares (a moon-sighted Eid, a decree)."""

    date: date
    name: str = ""


class CalendarConfig(_Config):
    """The working calendar: public holidays from the `holidays` package, corrected here."""

    timezone: str = "Asia/Bahrain"
    country: Annotated[str, StringConstraints(pattern=r"^[A-Z]{2}$")] = "BH"
    weekend: list[Literal[WEEKDAYS]] = ["friday", "saturday"]  # type: ignore[valid-type]
    add: list[AddedHoliday | date] = Field(default=[], description="Extra days off.")
    remove: list[date] = Field(default=[], description="Library holidays that are working days after all.")
    working_hours: WorkingHours | None = Field(
        default=WorkingHours(start=time(7), end=time(14)),
        description="Null counts whole days (00:00 to 24:00) as working time.",
    )

    @model_validator(mode="after")
    def _known_zone(self) -> CalendarConfig:
        from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

        try:
            ZoneInfo(self.timezone)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(f"unknown time zone '{self.timezone}'") from None
        if len(self.weekend) >= 7:
            raise ValueError("a week needs at least one working day")
        return self


class Deadlines(_Config):
    """The three clocks of a handoff."""

    acknowledge: WorkingDuration
    answer: WorkingDuration
    review: WorkingDuration = Field(description="The central office's time to review an answer.")


class DeadlinesOverride(_Config):
    """Some of the three clocks, for all kinds and, under `kinds`, for one kind."""

    acknowledge: WorkingDuration | None = None
    answer: WorkingDuration | None = None
    review: WorkingDuration | None = None
    kinds: dict[CaseKind, DeadlinesOverride] = {}


class EscalationLevel(_Config):
    """Who is chased once a handoff is this long overdue (counted from its answer-by time)."""

    id: Slug
    name_ar: str
    name_en: str
    after: WorkingDuration


def _default_kinds() -> dict[CaseKind, Deadlines]:
    d = WorkingDuration.model_validate
    return {
        CaseKind.complaint: Deadlines(
            acknowledge=d("1 working day"), answer=d("10 working days"), review=d("2 working days")
        ),
        CaseKind.suggestion: Deadlines(
            acknowledge=d("2 working days"), answer=d("15 working days"), review=d("3 working days")
        ),
        CaseKind.inquiry: Deadlines(
            acknowledge=d("1 working day"), answer=d("5 working days"), review=d("1 working day")
        ),
    }


class SlaConfig(_Config):
    """The whole of config/sla.yaml; more specific overrides win: kind < category < agency."""

    calendar: CalendarConfig = CalendarConfig()
    warn_at: Annotated[float, Field(gt=0, lt=1)] = Field(
        default=0.75, description="Share of the answer time after which the agency is warned."
    )
    kinds: dict[CaseKind, Deadlines] = Field(default_factory=_default_kinds)
    categories: dict[Slug, DeadlinesOverride] = {}
    agencies: dict[Slug, DeadlinesOverride] = {}
    escalation: list[EscalationLevel] = []

    @model_validator(mode="after")
    def _complete(self) -> SlaConfig:
        missing = [k.value for k in CaseKind if k not in self.kinds]
        if missing:
            raise ValueError(f"`kinds` must give deadlines for {', '.join(missing)}")
        afters = [(lvl.after.unit, lvl.after.amount) for lvl in self.escalation]
        if len({u for u, _ in afters}) > 1 or [a for _, a in afters] != sorted(a for _, a in afters):
            raise ValueError("`escalation` levels must use one unit and come in rising order of `after`")
        return self


class CitizenInfo(BaseModel):
    """What the citizen sent back after an agency asked for more information."""

    model_config = ConfigDict(extra="forbid")

    text: Annotated[str, StringConstraints(min_length=1, max_length=20000)]
    sent_at: AwareDatetime | None = None
    attachments: Annotated[list[Attachment], Field(max_length=20)] = []

    @field_validator("text", mode="after")
    @classmethod
    def _text(cls, value: str) -> str:
        return not_blank(no_controls(value))


class DeadlineNotice(BaseModel):
    """A handoff's deadlines as the national system is told them (Bahrain time), to tell the citizen."""

    handoff: str
    agency: str
    acknowledge_by: str
    answer_by: str = Field(description="ISO 8601 instant, Asia/Bahrain.")
    answer_by_day: str = Field(description="The local day on which the answer time runs out.")
    answer_within: str = Field(description='The working time granted, e.g. "10 working days".')
