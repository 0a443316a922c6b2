"""Working-time arithmetic: properties over any instant, and known Bahraini dates."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from broker.working_time import WorkingCalendar
from schemas.sla import CalendarConfig, WorkingDuration

BAHRAIN = ZoneInfo("Asia/Bahrain")
OFFICE = WorkingCalendar.from_config(CalendarConfig())
WHOLE_DAYS = WorkingCalendar.from_config(CalendarConfig(working_hours=None))
ARAFAT = WorkingCalendar.from_config(CalendarConfig(add=[date(2026, 5, 26)]))
NO_NATIONAL_DAY = WorkingCalendar.from_config(CalendarConfig(remove=[date(2026, 12, 17)]))
TICK = timedelta(microseconds=1)

calendars = st.sampled_from([OFFICE, WHOLE_DAYS, ARAFAT])
instants = st.datetimes(min_value=datetime(2025, 1, 1), max_value=datetime(2028, 12, 31), timezones=st.just(UTC))
durations = st.builds(
    WorkingDuration,
    amount=st.integers(min_value=1, max_value=40).map(float),
    unit=st.sampled_from(["days", "hours"]),
)
working_times = st.integers(min_value=1, max_value=60 * 86400 * 10**6).map(lambda us: timedelta(microseconds=us))


def local(year: int, month: int, day: int, hour: int = 0, minute: int = 0) -> datetime:
    return datetime(year, month, day, hour, minute, tzinfo=BAHRAIN)


@settings(max_examples=300, deadline=None)
@given(cal=calendars, start=instants, duration=durations)
def test_a_deadline_never_runs_out_on_a_weekend_or_a_holiday(
    cal: WorkingCalendar, start: datetime, duration: WorkingDuration
) -> None:
    due = cal.add_working(start, duration)
    last_moment = cal.local(due - TICK)
    assert cal.is_working_day(last_moment.date())
    assert last_moment.weekday() not in (4, 5)  # Friday, Saturday
    assert cal.working_between(due - TICK, due) == TICK  # the last moment before it was working time


@settings(max_examples=300, deadline=None)
@given(cal=calendars, start=instants, amount=working_times)
def test_counting_working_time_between_agrees_with_adding_it(
    cal: WorkingCalendar, start: datetime, amount: timedelta
) -> None:
    due = cal.add_working(start, amount)
    assert cal.working_between(start, due) == amount
    assert cal.working_between(due, start) == -amount


@settings(max_examples=300, deadline=None)
@given(
    cal=calendars,
    start=instants,
    amount=working_times,
    paused_share=st.floats(min_value=0, max_value=1),
    away=st.integers(min_value=0, max_value=90 * 86400).map(lambda s: timedelta(seconds=s)),
)
def test_a_pause_and_resume_keeps_the_time_that_was_left(
    cal: WorkingCalendar, start: datetime, amount: timedelta, paused_share: float, away: timedelta
) -> None:
    due = cal.add_working(start, amount)
    paused = start + (due - start) * paused_share
    left = cal.working_between(paused, due)
    resumed = paused + away
    new_due = cal.add_working(resumed, left)
    assert cal.working_between(resumed, new_due) == left
    assert cal.working_between(start, paused) + cal.working_between(resumed, new_due) == amount


KNOWN = [
    # (what, calendar, created (Bahrain time), duration, due (Bahrain time))
    (
        "Thursday afternoon before Eid al-Fitr 2026 (Fri 20 - Sun 22 March): starts Monday",
        OFFICE,
        local(2026, 3, 19, 15, 0),
        "2 working days",
        local(2026, 3, 24, 14, 0),
    ),
    (
        "Thursday before Eid al-Adha 2026 (Wed 27 - Fri 29 May), one hour of Thursday used",
        OFFICE,
        local(2026, 5, 21, 13, 0),
        "5 working days",
        local(2026, 6, 1, 13, 0),
    ),
    (
        "the same with Arafat Day (Tue 26 May) added by the central office",
        ARAFAT,
        local(2026, 5, 21, 13, 0),
        "5 working days",
        local(2026, 6, 2, 13, 0),
    ),
    (
        "on a Saturday: counting starts at Sunday's opening",
        OFFICE,
        local(2026, 11, 28, 10, 0),
        "2 working days",
        local(2026, 11, 30, 14, 0),
    ),
    (
        "across National Day (Wed 16 - Thu 17 December 2026)",
        OFFICE,
        local(2026, 12, 15, 10, 0),
        "2 working days",
        local(2026, 12, 21, 10, 0),
    ),
    (
        "across National Day when the central office removes its second day",
        NO_NATIONAL_DAY,
        local(2026, 12, 15, 10, 0),
        "2 working days",
        local(2026, 12, 20, 10, 0),
    ),
    (
        "working hours within one day",
        OFFICE,
        local(2026, 11, 29, 8, 30),
        "4 working hours",
        local(2026, 11, 29, 12, 30),
    ),
    (
        "working hours over the weekend",
        OFFICE,
        local(2026, 11, 26, 12, 0),
        "4 working hours",
        local(2026, 11, 29, 9, 0),
    ),
    (
        "whole days: Thursday 15:00 before Eid al-Fitr, 1 working day runs out on Monday at 15:00",
        WHOLE_DAYS,
        local(2026, 3, 19, 15, 0),
        "1 working day",
        local(2026, 3, 23, 15, 0),
    ),
    (
        "whole days: on a Saturday, 2 working days end at Monday's midnight",
        WHOLE_DAYS,
        local(2026, 11, 28, 10, 0),
        "2 working days",
        local(2026, 12, 1, 0, 0),
    ),
]


@pytest.mark.parametrize(("what", "cal", "created", "duration", "due"), KNOWN, ids=[k[0] for k in KNOWN])
def test_known_deadlines(what: str, cal: WorkingCalendar, created: datetime, duration: str, due: datetime) -> None:
    assert cal.add_working(created, WorkingDuration.model_validate(duration)) == due


def test_a_deadline_at_midnight_belongs_to_the_day_before() -> None:
    assert WHOLE_DAYS.due_day(local(2026, 12, 1, 0, 0)) == date(2026, 11, 30)
    assert OFFICE.due_day(local(2026, 12, 21, 10, 0)) == date(2026, 12, 21)


def test_the_working_day_has_the_configured_hours() -> None:
    assert OFFICE.day_length == timedelta(hours=7)
    assert WHOLE_DAYS.day_length == timedelta(days=1)
    assert OFFICE.length(WorkingDuration.model_validate("1.5 working days")) == timedelta(hours=10, minutes=30)


def test_naive_instants_are_refused() -> None:
    with pytest.raises(ValueError, match="aware"):
        OFFICE.add_working(datetime(2026, 1, 1, 9), timedelta(hours=1))


def test_a_week_without_working_days_cannot_hold_a_deadline() -> None:
    with pytest.raises(ValueError, match="working day"):
        CalendarConfig(weekend=list(("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")))


@pytest.mark.parametrize(
    ("text", "amount", "unit"),
    [
        ("2 working days", 2, "days"),
        ("1 working day", 1, "days"),
        ("4 working hours", 4, "hours"),
        ("0.5 working days", 0.5, "days"),
    ],
)
def test_durations_are_written_as_people_say_them(text: str, amount: float, unit: str) -> None:
    d = WorkingDuration.model_validate(text)
    assert (d.amount, d.unit) == (amount, unit)
    assert WorkingDuration.model_validate(str(d)) == d


@pytest.mark.parametrize("text", ["2 days", "two working days", "-1 working days", "3 working weeks", ""])
def test_a_duration_in_other_words_is_refused(text: str) -> None:
    with pytest.raises(ValueError):
        WorkingDuration.model_validate(text)


def test_office_hours_start_before_they_end() -> None:
    with pytest.raises(ValueError, match="before"):
        CalendarConfig.model_validate({"working_hours": {"start": time(14), "end": time(7)}})
