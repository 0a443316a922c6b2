"""Statistics for the central office: periods in Bahrain time, growth in per cent, counts from real rows."""

from __future__ import annotations

from datetime import UTC, date, datetime

import pytest
from sqlalchemy import update

from broker import statistics
from broker.hub import Hub
from broker.intake import submit_cases
from broker.statistics import Period
from broker.store.tables import cases
from tests.conftest import make_case
from tests.support import pump

AT = datetime(2026, 12, 3, 8, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    ("day", "period", "start", "shown"),
    [
        (date(2026, 12, 3), Period.day, date(2026, 12, 3), "2026-12-03"),
        (date(2026, 12, 3), Period.week, date(2026, 11, 29), "2026-11-29"),  # a Thursday: its Sunday
        (date(2026, 11, 29), Period.week, date(2026, 11, 29), "2026-11-29"),
        (date(2026, 12, 3), Period.month, date(2026, 12, 1), "2026-12"),
        (date(2026, 12, 3), Period.quarter, date(2026, 10, 1), "2026-Q4"),
        (date(2026, 2, 28), Period.quarter, date(2026, 1, 1), "2026-Q1"),
    ],
)
def test_a_day_falls_in_its_period(day: date, period: Period, start: date, shown: str) -> None:
    assert statistics.period_start(day, period) == start
    assert statistics.label(start, period) == shown


def test_the_last_periods_go_back_across_a_year_end() -> None:
    assert statistics.periods(AT, Period.month, 3) == [date(2026, 10, 1), date(2026, 11, 1), date(2026, 12, 1)]
    assert statistics.periods(datetime(2027, 1, 5, tzinfo=UTC), Period.quarter, 2) == [
        date(2026, 10, 1),
        date(2027, 1, 1),
    ]
    # 23:30 UTC on 30 November is already 1 December in Bahrain
    assert statistics.periods(datetime(2026, 11, 30, 23, 30, tzinfo=UTC), Period.month, 1) == [date(2026, 12, 1)]


@pytest.mark.parametrize(
    ("totals", "growth"),
    [
        ([100, 154], [None, 54.0]),  # the seed's headline: +54 %
        ([0, 10, 5], [None, None, -50.0]),
        ([3], [None]),
    ],
)
def test_growth_is_the_change_on_the_period_before_in_per_cent(totals: list[int], growth: list[float | None]) -> None:
    assert statistics.growth(totals) == growth


def test_cases_are_counted_by_kind_and_by_agency_in_the_month_they_came(sqlite_hub: Hub) -> None:
    sent = [make_case(kind="complaint"), make_case(kind="suggestion"), make_case(kind="complaint")]
    accepted = submit_cases(sqlite_hub.engine, sqlite_hub.directory, sent, actor="test")
    pump(sqlite_hub)
    october = datetime(2026, 10, 15, 9, 0, tzinfo=UTC)
    with sqlite_hub.engine.begin() as conn:
        conn.execute(update(cases).where(cases.c.id == accepted[0].case_id).values(created_at=october))
    with sqlite_hub.engine.connect() as conn:
        by_kind = statistics.cases_by_kind(conn, Period.month, 3, AT)
        by_agency = statistics.cases_by_agency(conn, Period.month, 3, AT)
    assert by_kind.labels == ["2026-10", "2026-11", "2026-12"]
    assert by_kind.values == {"complaint": [1, 0, 1], "suggestion": [0, 0, 1], "inquiry": [0, 0, 0]}
    assert by_agency.values == {"ministry-of-works": [1, 0, 2]}
    assert statistics.growth(by_kind.totals()) == [None, -100.0, None]


def test_the_queue_size_is_sampled_and_read_back_with_the_size_now(sqlite_hub: Hub) -> None:
    manual = make_case(category="social-insurance-pensions")  # a joining agency: on the queue once delivered
    submit_cases(sqlite_hub.engine, sqlite_hub.directory, [manual], actor="test")
    assert statistics.sample_queue(sqlite_hub) == 1  # the empty queue: its total only
    pump(sqlite_hub)
    statistics.sample_queue(sqlite_hub)
    with sqlite_hub.engine.connect() as conn:
        sizes = [n for _, n in statistics.queue_size(conn, AT.replace(year=2020))]
    assert sizes[0] == 0 and sizes[-1] >= 1 and len(sizes) == 3
