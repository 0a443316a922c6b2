"""Working-time arithmetic in the hub's calendar: Bahrain's week, its public holidays, office hours.

How time is counted (the rule agencies and citizens are told):

* Working time runs only inside working hours (07:00 to 14:00 in Asia/Bahrain by default) on
  working days: Sunday to Thursday, except public holidays (the `holidays` package for Bahrain,
  plus the days the central office adds in config/sla.yaml, minus those it removes: Islamic
  holidays follow the moon sighting and the library only estimates them).
* "n working days" is n full working days of time, n x 7 hours with the default hours; "n working
  hours" is that many hours. The clock starts at the moment the handoff is created, so a case
  received at 10:00 on a working day is due at 10:00 on the n-th following working day, and a
  case received after hours, on a weekend or on a holiday starts at the next working day's opening
  and is due at its closing (14:00) n - 1 working days later. Example: created Thursday
  19 March 2026 at 15:00, just before Eid al-Fitr (Friday 20 to Sunday 22 March), 2 working days
  run Monday 23 and Tuesday 24 March: due Tuesday 24 March 14:00.
* With `working_hours: null` whole days count (00:00 to 24:00): a deadline that runs out at the end
  of a day is given as the next midnight, and that day is `due_day()`.

Everything here is pure: instants in, instants or durations out. Instants are aware datetimes;
results are in UTC.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from functools import cache, cached_property
from zoneinfo import ZoneInfo

import holidays

from schemas.sla import WEEKDAYS, AddedHoliday, CalendarConfig, WorkingDuration

MAX_DAYS = 3 * 366
"""How far ahead a deadline may fall: a longer search means a calendar with no working days."""

_TICK = timedelta(microseconds=1)


@cache
def _public_holidays(country: str, year: int) -> frozenset[date]:
    return frozenset(holidays.country_holidays(country, years=year).keys())


@dataclass(frozen=True)
class WorkingCalendar:
    """A working week, holidays and optional working hours in one time zone."""

    zone: ZoneInfo
    weekend: frozenset[int]
    added: frozenset[date] = frozenset()
    removed: frozenset[date] = frozenset()
    hours: tuple[time, time] | None = None
    country: str = "BH"

    @classmethod
    def from_config(cls, config: CalendarConfig) -> WorkingCalendar:
        """The calendar that config/sla.yaml describes."""
        hours = config.working_hours
        return cls(
            zone=ZoneInfo(config.timezone),
            weekend=frozenset(WEEKDAYS.index(d) for d in config.weekend),
            added=frozenset(a.date if isinstance(a, AddedHoliday) else a for a in config.add),
            removed=frozenset(config.remove),
            hours=(hours.start, hours.end) if hours else None,
            country=config.country,
        )

    @cached_property
    def day_length(self) -> timedelta:
        """The working time in one working day."""
        if self.hours is None:
            return timedelta(days=1)
        start, end = self.hours
        return datetime.combine(date.min, end) - datetime.combine(date.min, start)

    def length(self, duration: WorkingDuration) -> timedelta:
        """A configured duration as working time."""
        per_unit = self.day_length if duration.unit == "days" else timedelta(hours=1)
        return per_unit * duration.amount

    def is_holiday(self, day: date) -> bool:
        """A public holiday (library or added) that has not been removed."""
        if day in self.added:
            return True
        return day not in self.removed and day in _public_holidays(self.country, day.year)

    def is_working_day(self, day: date) -> bool:
        """Neither a weekend day nor a holiday."""
        return day.weekday() not in self.weekend and not self.is_holiday(day)

    def _interval(self, day: date) -> tuple[datetime, datetime]:
        """The working interval of one working day, in UTC."""
        if self.hours is None:
            start = datetime.combine(day, time(), self.zone)
            end = datetime.combine(day + timedelta(days=1), time(), self.zone)
        else:
            start = datetime.combine(day, self.hours[0], self.zone)
            end = datetime.combine(day, self.hours[1], self.zone)
        return start.astimezone(UTC), end.astimezone(UTC)

    def _local_day(self, at: datetime) -> date:
        return at.astimezone(self.zone).date()

    def add_working(self, start: datetime, amount: timedelta | WorkingDuration) -> datetime:
        """The instant when `amount` of working time, counted from `start`, runs out."""
        left = self.length(amount) if isinstance(amount, WorkingDuration) else amount
        start = _aware(start).astimezone(UTC)
        if left < timedelta(0):
            raise ValueError("cannot add a negative working time")
        if not left:
            return start
        day = self._local_day(start)
        for _ in range(MAX_DAYS):
            if self.is_working_day(day):
                opens, closes = self._interval(day)
                opens = max(opens, start)
                if closes > opens:
                    if left <= closes - opens:
                        return opens + left
                    left -= closes - opens
            day += timedelta(days=1)
        raise ValueError(f"no working time within {MAX_DAYS} days of {start.isoformat()}")

    def working_between(self, a: datetime, b: datetime) -> timedelta:
        """Working time from `a` to `b` (negative when `b` is before `a`)."""
        a, b = _aware(a).astimezone(UTC), _aware(b).astimezone(UTC)
        if b < a:
            return -self.working_between(b, a)
        total = timedelta(0)
        day, last = self._local_day(a) - timedelta(days=1), self._local_day(b)
        while day <= last:
            if self.is_working_day(day):
                opens, closes = self._interval(day)
                overlap = min(closes, b) - max(opens, a)
                if overlap > timedelta(0):
                    total += overlap
            day += timedelta(days=1)
        return total

    def due_day(self, due: datetime) -> date:
        """The local working day on which a deadline runs out (the day of its last working moment)."""
        return self._local_day(due - _TICK)

    def in_days(self, amount: timedelta) -> float:
        """Working time as a number of working days."""
        return amount / self.day_length

    def local(self, at: datetime) -> datetime:
        """An instant in the calendar's zone (for people and for the national system)."""
        return at.astimezone(self.zone)


def _aware(at: datetime) -> datetime:
    if at.tzinfo is None:
        raise ValueError("working time needs aware datetimes")
    return at
