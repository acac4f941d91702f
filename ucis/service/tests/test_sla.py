"""The SLA business clock: calendars, business_add / business_seconds_between, deadlines, states,
escalation and timeliness. Pure: no database."""

from __future__ import annotations

import dataclasses
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ucis.kernel.errors import DomainError
from ucis.service.sla import (
    STANDARD_WINDOWS,
    BusinessCalendar,
    EscalationStep,
    Holiday,
    SlaState,
    TimelinessInput,
    TimelinessRow,
    business_add,
    business_seconds_between,
    calendar_build,
    deadline,
    duration_text,
    elapsed_add,
    escalation_level,
    is_business_time,
    next_business_start,
    sla_state,
    timeliness,
)

SH = ZoneInfo("Asia/Shanghai")

# A 2026 calendar in the shape of the State Council's notice: holidays [from, to) and the
# weekend days worked in exchange (调休).
HOLIDAYS_2026 = [
    ("元旦", date(2026, 1, 1), date(2026, 1, 4)),
    ("春节", date(2026, 2, 15), date(2026, 2, 24)),
    ("清明节", date(2026, 4, 4), date(2026, 4, 7)),
    ("劳动节", date(2026, 5, 1), date(2026, 5, 6)),
    ("端午节", date(2026, 6, 19), date(2026, 6, 22)),
    ("中秋节", date(2026, 9, 25), date(2026, 9, 26)),
    ("国庆节", date(2026, 10, 1), date(2026, 10, 8)),
]
MAKEUP_2026 = [date(2026, 1, 4), date(2026, 2, 14), date(2026, 2, 28), date(2026, 5, 9),
               date(2026, 9, 27), date(2026, 10, 10)]


@pytest.fixture(scope="module")
def cal() -> BusinessCalendar:
    return calendar_build(windows=STANDARD_WINDOWS, holidays=HOLIDAYS_2026, makeup_days=MAKEUP_2026)


def sh(y: int, mo: int, d: int, h: int = 0, mi: int = 0, s: int = 0, us: int = 0) -> datetime:
    return datetime(y, mo, d, h, mi, s, us, tzinfo=SH)


def test_makeup_days_are_weekend_days() -> None:
    assert all(d.weekday() >= 5 for d in MAKEUP_2026)
    assert date(2026, 9, 27).weekday() == 6 and date(2026, 10, 10).weekday() == 5


# --------------------------------------------------------------------------------------------------
# business_add
# --------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(("start", "minutes", "due"), [
    # inside a window, within it
    (sh(2026, 11, 17, 10, 0), 30, sh(2026, 11, 17, 10, 30)),
    # across the lunch break: 11:00–12:00 then 13:30–14:30
    (sh(2026, 11, 17, 11, 0), 120, sh(2026, 11, 17, 14, 30)),
    # using up a window exactly is due at its end, not at the next start
    (sh(2026, 11, 17, 11, 0), 60, sh(2026, 11, 17, 12, 0)),
    (sh(2026, 11, 17, 8, 30), 450, sh(2026, 11, 17, 17, 30)),
    # outside working time the clock starts at the next window
    (sh(2026, 11, 17, 7, 0), 30, sh(2026, 11, 17, 9, 0)),
    (sh(2026, 11, 17, 12, 30), 30, sh(2026, 11, 17, 14, 0)),
    (sh(2026, 11, 17, 17, 30), 30, sh(2026, 11, 18, 9, 0)),
    (sh(2026, 11, 17, 23, 59), 1, sh(2026, 11, 18, 8, 31)),
    # Friday evening → Monday
    (sh(2026, 11, 20, 18, 0), 60, sh(2026, 11, 23, 9, 30)),
    (sh(2026, 11, 20, 16, 0), 240, sh(2026, 11, 23, 11, 0)),
    (sh(2026, 11, 21, 10, 0), 15, sh(2026, 11, 23, 8, 45)),
    # 国庆节: Sep 30 16:00 gets 1.5 h, Oct 1–7 off, Oct 8 (Thu) 08:30–12:00, 13:30–16:30
    (sh(2026, 9, 30, 16, 0), 480, sh(2026, 10, 8, 16, 30)),
    # ... three business days run into the make-up Saturday Oct 10
    (sh(2026, 9, 30, 16, 0), 1440, sh(2026, 10, 10, 17, 30)),
    # Saturday Sep 26 is a rest day; Sunday Sep 27 is worked (Monday's windows)
    (sh(2026, 9, 26, 10, 0), 60, sh(2026, 9, 27, 9, 30)),
    # five business days from Thu Sep 24 09:00: 中秋 Fri off, Sun 27 worked, 国庆 off → Oct 8 09:00
    (sh(2026, 9, 24, 9, 0), 5 * 450, sh(2026, 10, 8, 9, 0)),
    # 春节 Feb 15–23, make-up Saturdays Feb 14 and Feb 28
    (sh(2026, 2, 13, 17, 0), 60, sh(2026, 2, 14, 9, 0)),
    (sh(2026, 2, 14, 17, 0), 60, sh(2026, 2, 24, 9, 0)),
])
def test_business_add(cal: BusinessCalendar, start: datetime, minutes: int, due: datetime) -> None:
    assert business_add(cal, start, minutes) == due
    assert business_seconds_between(cal, start, due) == minutes * 60


@pytest.mark.parametrize(("start", "expected"), [
    (sh(2026, 11, 17, 10, 0, 5, 123), sh(2026, 11, 17, 10, 0, 5, 123)),  # inside: itself
    (sh(2026, 11, 17, 8, 30), sh(2026, 11, 17, 8, 30)),  # window start is inside
    (sh(2026, 11, 17, 8, 0), sh(2026, 11, 17, 8, 30)),
    (sh(2026, 11, 17, 12, 0), sh(2026, 11, 17, 13, 30)),  # window end is outside
    (sh(2026, 11, 20, 17, 30), sh(2026, 11, 23, 8, 30)),
    (sh(2026, 10, 1, 9, 0), sh(2026, 10, 8, 8, 30)),
])
def test_zero_minutes_and_next_business_start(cal: BusinessCalendar, start: datetime, expected: datetime) -> None:
    assert business_add(cal, start, 0) == expected
    assert next_business_start(cal, start) == expected
    assert is_business_time(cal, expected)
    assert is_business_time(cal, start) == (start == expected)


def test_is_business_time_boundaries(cal: BusinessCalendar) -> None:
    assert is_business_time(cal, sh(2026, 11, 17, 8, 30))
    assert is_business_time(cal, sh(2026, 11, 17, 11, 59, 59, 999999))
    assert not is_business_time(cal, sh(2026, 11, 17, 12, 0))
    assert not is_business_time(cal, sh(2026, 11, 17, 8, 29, 59))
    assert not is_business_time(cal, sh(2026, 11, 21, 10, 0))  # Saturday
    assert is_business_time(cal, sh(2026, 10, 10, 10, 0))  # make-up Saturday
    assert not is_business_time(cal, sh(2026, 10, 2, 10, 0))  # 国庆节
    # the same instant given in UTC
    assert is_business_time(cal, datetime(2026, 11, 17, 2, 0, tzinfo=UTC))  # 10:00 in Shanghai


def test_result_keeps_the_callers_time_zone(cal: BusinessCalendar) -> None:
    start = datetime(2026, 11, 20, 10, 0, tzinfo=UTC)  # Fri 18:00 in Shanghai
    due = business_add(cal, start, 60)
    assert due.tzinfo is UTC
    assert due == sh(2026, 11, 23, 9, 30)


def _working_days(first: date, count: int) -> date:
    """The ``count``-th working day from ``first`` (inclusive), counted by hand from the raw data."""
    day, seen = first, 0
    while True:
        off = any(f <= day < t for _n, f, t in HOLIDAYS_2026)
        if day in MAKEUP_2026 or (day.weekday() < 5 and not off):
            seen += 1
            if seen == count:
                return day
        day += timedelta(days=1)


def test_multi_month_deadline(cal: BusinessCalendar) -> None:
    start = sh(2026, 1, 4, 8, 30)  # the make-up Sunday after 元旦
    for days in (1, 20, 45, 120, 240):
        due = business_add(cal, start, days * 450)
        last = _working_days(date(2026, 1, 4), days)
        assert due == datetime.combine(last, time(17, 30), tzinfo=SH), days
        assert business_seconds_between(cal, start, due) == days * 450 * 60


def test_a_year_of_holidays_does_not_loop_per_minute() -> None:
    long_cal = calendar_build(windows={0: [("09:00", "10:00")]},
                              holidays=[("大修", date(2026, 1, 1), date(2027, 1, 1))])
    assert business_add(long_cal, sh(2026, 1, 1), 120) == sh(2027, 1, 11, 10, 0)  # Mondays Jan 4 2027 and 11


def test_many_five_day_deadlines(cal: BusinessCalendar) -> None:
    """10,000 five-business-day deadlines (the code walks whole days; this stays far below a second)."""
    start = sh(2026, 1, 1, 0, 0)
    dues = [business_add(cal, start + timedelta(minutes=53 * i), 5 * 450) for i in range(10_000)]
    assert dues == sorted(dues)
    for i in range(0, 10_000, 997):
        assert business_seconds_between(cal, start + timedelta(minutes=53 * i), dues[i]) == 5 * 450 * 60


def test_seconds_between(cal: BusinessCalendar) -> None:
    assert business_seconds_between(cal, sh(2026, 11, 17, 9), sh(2026, 11, 17, 9)) == 0
    assert business_seconds_between(cal, sh(2026, 11, 17, 10), sh(2026, 11, 17, 9)) == 0
    assert business_seconds_between(cal, sh(2026, 11, 16), sh(2026, 11, 23)) == 5 * 450 * 60
    assert business_seconds_between(cal, sh(2026, 11, 17, 11, 59, 30), sh(2026, 11, 17, 13, 30, 30)) == 60
    assert business_seconds_between(cal, sh(2026, 10, 1), sh(2026, 10, 8)) == 0
    # sub-second ends round down
    assert business_seconds_between(cal, sh(2026, 11, 17, 9), sh(2026, 11, 17, 9, 0, 1, 999_999)) == 1


def test_elapsed_add() -> None:
    assert elapsed_add(sh(2026, 10, 1, 23, 0), 120) == sh(2026, 10, 2, 1, 0)
    with pytest.raises(DomainError) as info:
        elapsed_add(datetime(2026, 10, 1), 10)
    assert info.value.problems[0].field == "start_at"


# --------------------------------------------------------------------------------------------------
# Other time zones (daylight saving)
# --------------------------------------------------------------------------------------------------


def test_daylight_saving_days_count_real_time() -> None:
    berlin = ZoneInfo("Europe/Berlin")
    c = calendar_build(windows={6: [("01:00", "04:00")]}, tz="Europe/Berlin", makeup_weekday=6)
    # 2026-03-29: 02:00 → 03:00, so the window is 2 real hours
    spring = datetime(2026, 3, 29, tzinfo=berlin)
    assert business_seconds_between(c, spring, spring + timedelta(days=1)) == 2 * 3600
    assert business_add(c, spring, 120) == datetime(2026, 3, 29, 4, 0, tzinfo=berlin)
    # 2026-10-25: 03:00 → 02:00, so the window is 4 real hours
    autumn = datetime(2026, 10, 25, tzinfo=berlin)
    assert business_seconds_between(c, autumn, autumn + timedelta(days=1)) == 4 * 3600
    assert business_add(c, autumn, 240) == datetime(2026, 10, 25, 4, 0, tzinfo=berlin)


# --------------------------------------------------------------------------------------------------
# Properties over random calendars
# --------------------------------------------------------------------------------------------------

ZONES = ["Asia/Shanghai", "UTC", "Europe/Berlin", "America/New_York", "Australia/Lord_Howe"]


@st.composite
def calendars(draw: st.DrawFn) -> tuple[BusinessCalendar, int]:
    """A random valid calendar and its working minutes in an ordinary week."""
    windows: dict[int, list[tuple[time, time]]] = {}
    weekly = 0
    for weekday in range(7):
        points = sorted(draw(st.lists(st.integers(0, 1439), min_size=2 if weekday == 0 else 0, max_size=6,
                                      unique=True)))
        pairs = [(points[i], points[i + 1]) for i in range(0, len(points) - 1, 2)]
        windows[weekday] = [(time(a // 60, a % 60), time(b // 60, b % 60)) for a, b in pairs]
        weekly += sum(b - a for a, b in pairs)
    bounds = sorted(draw(st.lists(st.dates(date(2026, 1, 1), date(2027, 12, 31)), max_size=12, unique=True)))
    holidays = [(f"H{i}", bounds[i], bounds[i + 1]) for i in range(0, len(bounds) - 1, 2)]
    makeup = [d for d in draw(st.lists(st.dates(date(2026, 1, 1), date(2027, 12, 31)), max_size=6, unique=True))
              if not any(f <= d < t for _n, f, t in holidays)]
    tz = draw(st.sampled_from(ZONES))
    return calendar_build(windows=windows, holidays=holidays, makeup_days=makeup, tz=tz), weekly


@st.composite
def instants(draw: st.DrawFn, tz: str) -> datetime:
    zone = ZoneInfo(draw(st.sampled_from([tz, "UTC"])))
    return draw(st.datetimes(datetime(2026, 1, 1), datetime(2027, 12, 31), timezones=st.just(zone),
                             allow_imaginary=False))


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
def test_seconds_between_inverts_business_add(data: st.DataObject) -> None:
    cal, weekly = data.draw(calendars())
    start = data.draw(instants(cal.tz))
    minutes = data.draw(st.integers(0, min(20_000, weekly * 52)))
    due = business_add(cal, start, minutes)
    assert due >= start
    assert business_seconds_between(cal, start, due) == minutes * 60
    if minutes:
        # due is inside working time or at the end of a window: the last microsecond was worked
        assert is_business_time(cal, due - timedelta(microseconds=1))
    else:
        assert due == next_business_start(cal, start) and is_business_time(cal, due)
    more = data.draw(st.integers(0, 2_000))
    assert business_add(cal, start, minutes + more) >= due  # monotone in minutes
    if more:  # additive, except that 0 minutes from a window's end moves on to the next start
        assert business_add(cal, due, more) == business_add(cal, start, minutes + more)


@settings(max_examples=60, deadline=None)
@given(start=st.datetimes(datetime(2026, 9, 20), datetime(2026, 10, 12), timezones=st.just(SH)),
       minutes=st.integers(0, 600))
def test_business_add_matches_a_minute_by_minute_count(start: datetime, minutes: int) -> None:
    """Against a brute-force oracle built from the raw 2026 data, on whole minutes."""
    c = calendar_build(windows=STANDARD_WINDOWS, holidays=HOLIDAYS_2026, makeup_days=MAKEUP_2026)
    start = start.replace(second=0, microsecond=0)

    def working(at: datetime) -> bool:
        day = at.date()
        if any(f <= day < t for _n, f, t in HOLIDAYS_2026):
            return False
        if day.weekday() >= 5 and day not in MAKEUP_2026:
            return False
        hm = at.strftime("%H:%M")
        return "08:30" <= hm < "12:00" or "13:30" <= hm < "17:30"

    at, left = start, minutes
    if minutes == 0:
        while not working(at):
            at += timedelta(minutes=1)
    while left:
        if working(at):
            left -= 1
        at += timedelta(minutes=1)
    assert business_add(c, start, minutes) == at


# --------------------------------------------------------------------------------------------------
# Calendar validation
# --------------------------------------------------------------------------------------------------

GOOD: dict[str, Any] = {"windows": STANDARD_WINDOWS, "holidays": HOLIDAYS_2026, "makeup_days": MAKEUP_2026}


@pytest.mark.parametrize(("changes", "field", "words"), [
    ({"holidays": [("国庆节", date(2026, 10, 1), date(2026, 10, 8)), ("中秋节", date(2026, 10, 6), date(2026, 10, 9))]},
     "holidays[1]", ["中秋节", "国庆节", "2026-10-06 to 2026-10-07"]),
    ({"holidays": [("国庆节", date(2026, 10, 8), date(2026, 10, 1))]}, "holidays[0].date_to", ["国庆节", "2026-10-01"]),
    ({"holidays": [("一天", date(2026, 10, 1), date(2026, 10, 1))]}, "holidays[0].date_to", ["一天"]),
    ({"holidays": [("", date(2026, 10, 1), date(2026, 10, 2))]}, "holidays[0].name", ["name"]),
    ({"holidays": [("坏", "2026-10-01")]}, "holidays[0]", ["name, date_from, date_to"]),
    ({"windows": {0: [("12:00", "08:30")]}}, "windows[0][0].end", ["12:00–08:30"]),
    ({"windows": {0: [("09:00", "09:00")]}}, "windows[0][0].end", ["09:00–09:00"]),
    ({"windows": {2: [("08:30", "12:00"), ("11:30", "17:30")]}}, "windows[2]", ["08:30–12:00", "11:30–17:30"]),
    ({"windows": {0: [("8h30", "12:00")]}}, "windows[0][0].start", ["8h30"]),
    ({"windows": {0: [("08:30", "24:00")]}}, "windows[0][0].end", ["24:00"]),
    ({"windows": {7: [("08:30", "12:00")]}}, "windows[7]", ["0–6"]),
    ({"windows": {}}, "windows", ["at least one"]),
    ({"makeup_days": [date(2026, 10, 3)]}, "makeup_days[0]", ["2026-10-03", "国庆节"]),
    ({"tz": "Asia/Beijing"}, "tz", ["Asia/Beijing"]),
    ({"tz": "../etc"}, "tz", ["../etc"]),
    ({"makeup_weekday": 9}, "makeup_weekday", ["9"]),
    ({"makeup_weekday": 5}, "makeup_weekday", ["has none"]),
])
def test_calendar_validation_names_the_field(changes: dict[str, Any], field: str, words: list[str]) -> None:
    with pytest.raises(DomainError) as info:
        calendar_build(**{**GOOD, **changes})
    problems = {p.field: p.reason for p in info.value.problems}
    assert field in problems, problems
    for word in words:
        assert word in problems[field]


def test_calendar_validation_collects_every_problem() -> None:
    with pytest.raises(DomainError) as info:
        calendar_build(windows={0: [("12:00", "08:30")], 8: []}, holidays=[("x", date(2026, 1, 2), date(2026, 1, 1))],
                       tz="Nowhere/Land")
    fields = {p.field for p in info.value.problems}
    assert {"tz", "windows[0][0].end", "windows[8]", "holidays[0].date_to", "windows"} <= fields


def test_calendar_is_a_frozen_value(cal: BusinessCalendar) -> None:
    again = calendar_build(windows=STANDARD_WINDOWS, holidays=list(reversed(HOLIDAYS_2026)),
                           makeup_days=MAKEUP_2026 + MAKEUP_2026[:1])
    assert again == cal and hash(again) == hash(cal)
    with pytest.raises(dataclasses.FrozenInstanceError):
        cal.tz = "UTC"  # type: ignore[misc]
    assert cal.holiday_on(date(2026, 10, 7)) == Holiday("国庆节", date(2026, 10, 1), date(2026, 10, 8))
    assert cal.holiday_on(date(2026, 10, 8)) is None
    assert [str(w) for w in cal.windows_on(date(2026, 9, 27))] == ["08:30–12:00", "13:30–17:30"]
    assert cal.windows_on(date(2026, 9, 26)) == ()


@pytest.mark.parametrize("call", [
    lambda c: business_add(c, datetime(2026, 11, 17, 9), 10),
    lambda c: business_seconds_between(c, datetime(2026, 11, 17, 9), sh(2026, 11, 17, 10)),
    lambda c: business_seconds_between(c, sh(2026, 11, 17, 9), datetime(2026, 11, 17, 10)),
    lambda c: is_business_time(c, datetime(2026, 11, 17, 9)),
    lambda c: next_business_start(c, datetime(2026, 11, 17, 9)),
    lambda c: deadline(c, start_at=datetime(2026, 11, 17, 9), minutes=10, clock="business"),
    lambda c: sla_state(due_at=datetime(2026, 11, 17, 9), done_at=None, now=sh(2026, 11, 17, 9), warn_minutes=0),
    lambda c: timeliness([TimelinessInput("a", datetime(2026, 11, 17, 9))], as_of=sh(2026, 11, 18)),
])
def test_naive_datetimes_are_refused(cal: BusinessCalendar, call: Any) -> None:
    with pytest.raises(DomainError) as info:
        call(cal)
    assert "no time zone" in info.value.problems[0].reason


@pytest.mark.parametrize("minutes", [-1, 1.5, True, "10"])
def test_minutes_must_be_a_non_negative_whole_number(cal: BusinessCalendar, minutes: Any) -> None:
    with pytest.raises(DomainError) as info:
        business_add(cal, sh(2026, 11, 17, 9), minutes)
    assert info.value.problems[0].field == "minutes"


# --------------------------------------------------------------------------------------------------
# Deadlines
# --------------------------------------------------------------------------------------------------


def test_deadline_explains_skipped_weekend(cal: BusinessCalendar) -> None:
    d = deadline(cal, start_at=sh(2026, 11, 20, 16, 0), minutes=240, clock="business")
    assert d.due_at == sh(2026, 11, 23, 11, 0) and d.clock == "business" and d.minutes == 240
    assert d.explanation == "4 h of business time from 2026-11-20 16:00 → due 2026-11-23 11:00 (2 rest days skipped)"
    assert "%(due)s" in d.template and d.params["due"] == "2026-11-23 11:00"


def test_deadline_explains_holidays_and_out_of_hours_start(cal: BusinessCalendar) -> None:
    d = deadline(cal, start_at=datetime(2026, 9, 30, 12, 0, tzinfo=UTC), minutes=90, clock="business")
    # 20:00 in Shanghai, after hours: the clock starts on Oct 8
    assert d.due_at == sh(2026, 10, 8, 10, 0)
    assert d.explanation == ("1 h 30 min of business time from 2026-09-30 20:00 → due 2026-10-08 10:00 "
                             "(outside working time: the clock starts 2026-10-08 08:30; holidays skipped: 国庆节)")


def test_deadline_on_the_elapsed_clock(cal: BusinessCalendar) -> None:
    d = deadline(cal, start_at=sh(2026, 10, 1, 22, 15), minutes=45, clock="elapsed")
    assert d.due_at == sh(2026, 10, 1, 23, 0)
    assert d.explanation == "45 min elapsed time (24×7) from 2026-10-01 22:15 → due 2026-10-01 23:00"
    assert deadline(None, start_at=sh(2026, 10, 1, 22, 15), minutes=45, clock="elapsed").due_at == d.due_at


def test_deadline_refuses_unknown_clock_and_missing_calendar(cal: BusinessCalendar) -> None:
    with pytest.raises(DomainError) as info:
        deadline(cal, start_at=sh(2026, 10, 1), minutes=10, clock="wall")  # type: ignore[arg-type]
    assert info.value.problems[0].field == "clock"
    with pytest.raises(DomainError) as info:
        deadline(None, start_at=sh(2026, 10, 1), minutes=10, clock="business")
    assert info.value.problems[0].field == "cal"


def test_duration_text() -> None:
    assert [duration_text(m) for m in (0, 45, 60, 90, 1440)] == ["0 min", "45 min", "1 h", "1 h 30 min", "24 h"]


# --------------------------------------------------------------------------------------------------
# SLA state
# --------------------------------------------------------------------------------------------------

DUE = sh(2026, 11, 17, 14, 30)


@pytest.mark.parametrize(("done_at", "now", "state"), [
    (sh(2026, 11, 17, 14, 0), sh(2026, 11, 20), SlaState.MET),
    (DUE, sh(2026, 11, 20), SlaState.MET),  # done exactly at the due time is on time
    (DUE + timedelta(seconds=1), DUE, SlaState.MISSED),
    (None, DUE + timedelta(microseconds=1), SlaState.OVERDUE),
    (None, DUE, SlaState.DUE_SOON),
    (None, DUE - timedelta(minutes=30), SlaState.DUE_SOON),
    (None, DUE - timedelta(minutes=30, seconds=1), SlaState.RUNNING),
    (None, sh(2026, 11, 17, 9), SlaState.RUNNING),
])
def test_sla_state(done_at: datetime | None, now: datetime, state: SlaState) -> None:
    assert sla_state(due_at=DUE, done_at=done_at, now=now, warn_minutes=30) == state


def test_sla_state_is_a_string() -> None:
    assert sla_state(due_at=DUE, done_at=None, now=DUE, warn_minutes=0) == "due_soon"
    with pytest.raises(DomainError) as info:
        sla_state(due_at=DUE, done_at=None, now=DUE, warn_minutes=-5)
    assert info.value.problems[0].field == "warn_minutes"


# --------------------------------------------------------------------------------------------------
# Escalation
# --------------------------------------------------------------------------------------------------

LADDER = [EscalationStep(1, Decimal("0.8")), EscalationStep(2, Decimal("1.0")), EscalationStep(3, Decimal("1.5"))]


@pytest.mark.parametrize(("now", "level", "next_level", "next_at"), [
    (sh(2026, 11, 17, 9, 0), 0, 1, sh(2026, 11, 17, 13, 42)),
    (sh(2026, 11, 17, 13, 0), 0, 1, sh(2026, 11, 17, 13, 42)),  # lunch break does not count
    (sh(2026, 11, 17, 13, 42), 1, 2, sh(2026, 11, 17, 14, 30)),
    (sh(2026, 11, 17, 14, 30), 2, 3, sh(2026, 11, 17, 16, 30)),
    (sh(2026, 11, 17, 17, 0), 3, None, None),
])
def test_escalation_on_the_business_clock(cal: BusinessCalendar, now: datetime, level: int,
                                          next_level: int | None, next_at: datetime | None) -> None:
    start = sh(2026, 11, 17, 9, 0)
    due = business_add(cal, start, 240)  # 09:00–12:00, 13:30–14:30
    assert due == sh(2026, 11, 17, 14, 30)
    e = escalation_level(steps=LADDER, started_at=start, due_at=due, now=now, cal=cal, clock="business")
    assert (e.level, e.next_level, e.next_at) == (level, next_level, next_at)
    assert e.thresholds == ((1, sh(2026, 11, 17, 13, 42)), (2, due), (3, sh(2026, 11, 17, 16, 30)))


def test_escalation_over_a_weekend(cal: BusinessCalendar) -> None:
    start = sh(2026, 11, 20, 16, 0)
    due = business_add(cal, start, 240)  # Mon 11:00
    e = escalation_level(steps=LADDER, started_at=start, due_at=due, now=sh(2026, 11, 22, 12), cal=cal)
    # 0.8 × 4 h = 192 min: 90 on Friday, 102 on Monday → 10:12
    assert (e.level, e.next_level, e.next_at) == (0, 1, sh(2026, 11, 23, 10, 12))


def test_escalation_on_the_elapsed_clock() -> None:
    start = sh(2026, 10, 1, 9, 0)
    e = escalation_level(steps=LADDER, started_at=start, due_at=sh(2026, 10, 1, 13, 0), now=sh(2026, 10, 1, 12, 30),
                         cal=None, clock="elapsed")
    assert (e.level, e.next_level, e.next_at) == (1, 2, sh(2026, 10, 1, 13, 0))
    assert [at for _l, at in e.thresholds] == [sh(2026, 10, 1, 12, 12), sh(2026, 10, 1, 13, 0),
                                               sh(2026, 10, 1, 15, 0)]


def test_escalation_with_no_sla_time_is_reached_at_once(cal: BusinessCalendar) -> None:
    start = sh(2026, 11, 21, 10)  # Saturday: no business time until Monday
    e = escalation_level(steps=LADDER, started_at=start, due_at=start, now=start, cal=cal)
    assert (e.level, e.next_level, e.next_at) == (3, None, None)
    assert escalation_level(steps=[], started_at=start, due_at=start, now=start, cal=cal).level == 0


@pytest.mark.parametrize(("steps", "field"), [
    ([EscalationStep(0, Decimal("0.8"))], "steps[0].level"),
    ([EscalationStep(1, Decimal("0"))], "steps[0].at_fraction"),
    ([EscalationStep(1, Decimal("-1"))], "steps[0].at_fraction"),
    ([EscalationStep(1, Decimal("NaN"))], "steps[0].at_fraction"),
    ([EscalationStep(2, Decimal("0.8")), EscalationStep(1, Decimal("1"))], "steps[1]"),
    ([EscalationStep(1, Decimal("0.8")), EscalationStep(2, Decimal("0.8"))], "steps[1]"),
])
def test_escalation_steps_are_checked(cal: BusinessCalendar, steps: list[EscalationStep], field: str) -> None:
    with pytest.raises(DomainError) as info:
        escalation_level(steps=steps, started_at=sh(2026, 11, 17, 9), due_at=sh(2026, 11, 17, 14, 30),
                         now=sh(2026, 11, 17, 10), cal=cal)
    assert info.value.problems[0].field == field


# --------------------------------------------------------------------------------------------------
# Timeliness
# --------------------------------------------------------------------------------------------------


def test_timeliness_rates() -> None:
    as_of = sh(2026, 11, 30)
    d = sh(2026, 11, 10, 17, 30)
    later = sh(2026, 12, 5)
    orders = [
        # A: 3 on time, 1 late, 2 open overdue, 1 not yet due → 3 / 6
        TimelinessInput("A", d, d - timedelta(hours=3)),
        TimelinessInput("A", d, d),  # done exactly at the due time
        TimelinessInput("A", d, d + timedelta(seconds=1)),
        TimelinessInput("A", sh(2026, 11, 20), None),
        TimelinessInput("A", later, None),  # not yet assessable
        TimelinessInput("A", later, sh(2026, 11, 25)),  # done early counts although not yet due
        TimelinessInput("A", d, sh(2026, 12, 1)),  # done only after as_of: open and overdue as of then
        # B: 2 on time, 1 late → 0.6667 (half up)
        TimelinessInput("B", d, d), TimelinessInput("B", d, d), TimelinessInput("B", d, d + timedelta(days=1)),
        # C: 1 on time out of 32 = 0.03125 → 0.0313 (half up, not half even)
        TimelinessInput("C", d, d),
        *[TimelinessInput("C", d, d + timedelta(minutes=1)) for _i in range(31)],
        # D: nothing assessable yet; E: due exactly at as_of and open is not yet overdue
        TimelinessInput("D", later, None),
        TimelinessInput("E", as_of, None),
    ]
    rows = timeliness(list(reversed(orders)), as_of=as_of)
    assert rows == [
        TimelinessRow("A", assessed=6, on_time=3, late=1, open_overdue=2, not_yet_due=1, rate=Decimal("0.5000")),
        TimelinessRow("B", assessed=3, on_time=2, late=1, open_overdue=0, not_yet_due=0, rate=Decimal("0.6667")),
        TimelinessRow("C", assessed=32, on_time=1, late=31, open_overdue=0, not_yet_due=0, rate=Decimal("0.0313")),
        TimelinessRow("D", assessed=0, on_time=0, late=0, open_overdue=0, not_yet_due=1, rate=None),
        TimelinessRow("E", assessed=0, on_time=0, late=0, open_overdue=0, not_yet_due=1, rate=None),
    ]
    assert str(rows[0].rate) == "0.5000"
    assert timeliness([], as_of=as_of) == []
