"""The business clock for 95598 work-order SLAs (工单时限): when a work order is due, whether it is
late, how far up the escalation ladder (督办) it has gone, and the timeliness rate (及时率).

Pure: plain values in, dataclasses with explanations out; no Django, no clock (callers pass
``now`` / ``as_of``). Every instant is an aware ``datetime``; naive ones are refused.

A company's business calendar (``calendar_build``):

* a time zone (``Asia/Shanghai`` by default). Working windows are local wall-clock times; they are
  turned into UTC instants per day, so zones with daylight saving work too (a window that falls
  into a skipped hour is shortened; windows never overlap after conversion).
* working windows per weekday (Monday = 0), several a day (08:30–12:00 and 13:30–17:30), each
  ``[start, end)``, none overlapping.
* holidays: named date ranges ``[date_from, date_to)`` (国庆节 2026-10-01..2026-10-08 is Oct 1–7).
  A holiday beats the weekday windows.
* make-up working days (调休): dates that are worked although they fall on a rest day; they use the
  windows of ``makeup_weekday`` (Monday by default). A make-up day inside a holiday is an error.

Two clocks: ``business`` counts only working windows (complaints, enquiries); ``elapsed`` runs 24×7
(repairs). ``business_add`` moves forward whole days at a time (per-day window instants are memoised
on the calendar, holidays are jumped over), so deadlines months ahead cost a few hundred steps.
``business_add`` and ``business_seconds_between`` walk the same spans, so
``business_seconds_between(cal, s, business_add(cal, s, m)) == m * 60`` always holds.
"""

from __future__ import annotations

import bisect
import enum
import re
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta, tzinfo
from decimal import ROUND_CEILING, ROUND_HALF_UP, Decimal, InvalidOperation
from typing import Any, Literal, NamedTuple
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from ucis.kernel.errors import DomainError, FieldProblem, render_reason
from ucis.kernel.errors import gettext_noop as _

DEFAULT_TZ = "Asia/Shanghai"
WEEKDAYS = range(7)  # Monday = 0 … Sunday = 6
RATE_QUANTUM = Decimal("0.0001")

Clock = Literal["business", "elapsed"]
CLOCKS: tuple[Clock, ...] = ("business", "elapsed")

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_US = timedelta(microseconds=1)
_US_PER_SECOND = 1_000_000
_US_PER_MINUTE = 60 * _US_PER_SECOND
_ONE_DAY = timedelta(days=1)
_TIME_RE = re.compile(r"^(\d{1,2}):(\d{2})(?::(\d{2}))?$")
_CACHE_LIMIT = 20_000  # memoised days per calendar (about 55 years)


# --------------------------------------------------------------------------------------------------
# The calendar
# --------------------------------------------------------------------------------------------------


@dataclass(frozen=True, order=True)
class Window:
    """A working window ``[start, end)`` in local wall-clock time."""

    start: time
    end: time

    def __str__(self) -> str:
        return f"{_hhmm(self.start)}–{_hhmm(self.end)}"


@dataclass(frozen=True)
class Holiday:
    """A named holiday ``[date_from, date_to)``."""

    name: str
    date_from: date
    date_to: date

    def contains(self, day: date) -> bool:
        return self.date_from <= day < self.date_to

    def __str__(self) -> str:
        return f"{self.name} {self.date_from.isoformat()}..{self.date_to.isoformat()}"


Spans = tuple[tuple[int, int], ...]  # UTC microseconds since the epoch, [start, end)


@dataclass(frozen=True)
class BusinessCalendar:
    """Build with ``calendar_build`` (it validates). ``windows[w]`` are the windows of weekday ``w``."""

    tz: str
    windows: tuple[tuple[Window, ...], ...]
    holidays: tuple[Holiday, ...]  # sorted, non-overlapping
    makeup_days: frozenset[date]
    makeup_weekday: int = 0
    zone: ZoneInfo = field(init=False, repr=False, compare=False, hash=False)
    _holiday_starts: tuple[date, ...] = field(init=False, repr=False, compare=False, hash=False)
    _spans_cache: dict[date, Spans] = field(init=False, repr=False, compare=False, hash=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "zone", ZoneInfo(self.tz))
        object.__setattr__(self, "_holiday_starts", tuple(h.date_from for h in self.holidays))
        object.__setattr__(self, "_spans_cache", {})

    def holiday_on(self, day: date) -> Holiday | None:
        """The holiday that contains ``day``, if any."""
        i = bisect.bisect_right(self._holiday_starts, day) - 1
        if i >= 0 and day < self.holidays[i].date_to:
            return self.holidays[i]
        return None

    def windows_on(self, day: date) -> tuple[Window, ...]:
        """The working windows of a local date: none on a holiday, the make-up weekday's on a make-up
        day, else the weekday's."""
        if self.holiday_on(day) is not None:
            return ()
        if day in self.makeup_days:
            return self.windows[self.makeup_weekday]
        return self.windows[day.weekday()]

    def _spans(self, day: date) -> Spans:
        cached = self._spans_cache.get(day)
        if cached is not None:
            return cached
        spans: list[tuple[int, int]] = []
        last = None
        for w in self.windows_on(day):
            a = (datetime.combine(day, w.start, tzinfo=self.zone) - _EPOCH) // _US
            b = (datetime.combine(day, w.end, tzinfo=self.zone) - _EPOCH) // _US
            if last is not None and a < last:  # only around a DST change
                a = last
            if b > a:
                spans.append((a, b))
                last = b
        result = tuple(spans)
        if len(self._spans_cache) >= _CACHE_LIMIT:
            self._spans_cache.clear()
        self._spans_cache[day] = result
        return result

    def _next_day(self, day: date) -> date:
        holiday = self.holiday_on(day)
        return holiday.date_to if holiday is not None else day + _ONE_DAY


STANDARD_WINDOWS: Mapping[int, Sequence[tuple[str, str]]] = {
    w: (("08:30", "12:00"), ("13:30", "17:30")) for w in range(5)
}
"""Monday–Friday 08:30–12:00 and 13:30–17:30, the usual business-hall day."""

TimeLike = time | str
WindowSpec = tuple[TimeLike, TimeLike] | Window
HolidaySpec = tuple[str, date, date] | Holiday


def _parse_time(value: object, field_name: str, problems: list[FieldProblem]) -> time | None:
    if isinstance(value, time):
        if value.tzinfo is not None:
            problems.append(FieldProblem(field_name, _("a window time is local wall-clock time; %(value)s has "
                                                       "a time zone"), {"value": str(value)}))
            return None
        return value
    if isinstance(value, str):
        m = _TIME_RE.match(value.strip())
        if m:
            h, mi, s = int(m.group(1)), int(m.group(2)), int(m.group(3) or 0)
            if h < 24 and mi < 60 and s < 60:
                return time(h, mi, s)
    problems.append(FieldProblem(field_name, _("%(value)s is not a time of day (HH:MM)"), {"value": str(value)}))
    return None


def _build_windows(windows: Mapping[int, Sequence[WindowSpec]],
                   problems: list[FieldProblem]) -> tuple[tuple[Window, ...], ...]:
    per_day: list[list[Window]] = [[] for _w in WEEKDAYS]
    for weekday, specs in windows.items():
        if not isinstance(weekday, int) or isinstance(weekday, bool) or weekday not in WEEKDAYS:
            problems.append(FieldProblem(f"windows[{weekday}]",
                                         _("weekday %(weekday)s is outside 0–6 (Monday is 0, Sunday 6)"),
                                         {"weekday": str(weekday)}))
            continue
        for i, spec in enumerate(specs):
            name = f"windows[{weekday}][{i}]"
            try:
                raw_start, raw_end = (spec.start, spec.end) if isinstance(spec, Window) else spec
            except (TypeError, ValueError):
                problems.append(FieldProblem(name, _("a window is (start, end), not %(value)s"), {"value": str(spec)}))
                continue
            start = _parse_time(raw_start, f"{name}.start", problems)
            end = _parse_time(raw_end, f"{name}.end", problems)
            if start is None or end is None:
                continue
            if end <= start:
                problems.append(FieldProblem(f"{name}.end",
                                             _("a window must end after it starts (%(start)s–%(end)s)"),
                                             {"start": _hhmm(start), "end": _hhmm(end)}))
                continue
            per_day[weekday].append(Window(start, end))
    for weekday, day in enumerate(per_day):
        day.sort()
        for earlier, later in zip(day, day[1:], strict=False):
            if later.start < earlier.end:
                problems.append(FieldProblem(f"windows[{weekday}]",
                                             _("windows %(first)s and %(second)s overlap on weekday %(weekday)s"),
                                             {"first": str(earlier), "second": str(later), "weekday": weekday}))
    return tuple(tuple(day) for day in per_day)


def _build_holidays(holidays: Sequence[HolidaySpec], problems: list[FieldProblem]) -> tuple[Holiday, ...]:
    built: list[tuple[int, Holiday]] = []
    for i, spec in enumerate(holidays):
        name = f"holidays[{i}]"
        try:
            h = spec if isinstance(spec, Holiday) else Holiday(*spec)
        except TypeError:
            problems.append(FieldProblem(name, _("a holiday is (name, date_from, date_to), not %(value)s"),
                                         {"value": str(spec)}))
            continue
        if not isinstance(h.date_from, date) or not isinstance(h.date_to, date):
            problems.append(FieldProblem(name, _("holiday %(name)s needs dates"), {"name": h.name}))
            continue
        if not str(h.name).strip():
            problems.append(FieldProblem(f"{name}.name", _("a holiday needs a name")))
        if h.date_to <= h.date_from:
            problems.append(FieldProblem(f"{name}.date_to",
                                         _("holiday %(name)s ends %(date_to)s, not after it starts %(date_from)s "
                                           "(ranges are [from, to))"),
                                         {"name": h.name, "date_from": h.date_from.isoformat(),
                                          "date_to": h.date_to.isoformat()}))
            continue
        built.append((i, h))
    built.sort(key=lambda item: (item[1].date_from, item[1].date_to))
    result: list[Holiday] = []
    for i, h in built:
        if result and h.date_from < result[-1].date_to:
            prev = result[-1]
            problems.append(FieldProblem(f"holidays[{i}]",
                                         _("holiday %(name)s (%(range)s) overlaps holiday %(other)s (%(other_range)s) "
                                           "on %(first)s to %(last)s"),
                                         {"name": h.name, "range": _range_text(h), "other": prev.name,
                                          "other_range": _range_text(prev), "first": h.date_from.isoformat(),
                                          "last": (min(h.date_to, prev.date_to) - _ONE_DAY).isoformat()}))
            continue
        result.append(h)
    return tuple(result)


def calendar_build(*, windows: Mapping[int, Sequence[WindowSpec]], holidays: Sequence[HolidaySpec] = (),
                   makeup_days: Sequence[date] = (), tz: str = DEFAULT_TZ, makeup_weekday: int = 0) -> BusinessCalendar:
    """A validated business calendar.

    ``windows`` maps weekday (Monday = 0) to ``(start, end)`` pairs of ``time`` or ``"HH:MM"``;
    ``holidays`` are ``Holiday`` or ``(name, date_from, date_to)``; ``makeup_days`` are dates worked
    with the windows of ``makeup_weekday``. Raises ``DomainError`` listing every problem found.
    """
    problems: list[FieldProblem] = []
    zone_ok = True
    try:
        ZoneInfo(tz)
    except (ZoneInfoNotFoundError, ValueError, TypeError):
        zone_ok = False
        problems.append(FieldProblem("tz", _("%(tz)s is not a known time zone (e.g. Asia/Shanghai)"),
                                     {"tz": str(tz)}))
    if isinstance(makeup_weekday, bool) or not isinstance(makeup_weekday, int) or makeup_weekday not in WEEKDAYS:
        problems.append(FieldProblem("makeup_weekday",
                                     _("weekday %(weekday)s is outside 0–6 (Monday is 0, Sunday 6)"),
                                     {"weekday": str(makeup_weekday)}))
        makeup_weekday = 0
    built_windows = _build_windows(windows, problems)
    built_holidays = _build_holidays(holidays, problems)
    if not any(built_windows):
        problems.append(FieldProblem("windows", _("the calendar needs at least one working window")))

    probe = BusinessCalendar(DEFAULT_TZ, built_windows, built_holidays, frozenset(), makeup_weekday)
    days: set[date] = set()
    for i, day in enumerate(makeup_days):
        if not isinstance(day, date) or isinstance(day, datetime):
            problems.append(FieldProblem(f"makeup_days[{i}]", _("%(value)s is not a date"), {"value": str(day)}))
            continue
        holiday = probe.holiday_on(day)
        if holiday is not None:
            problems.append(FieldProblem(f"makeup_days[{i}]",
                                         _("make-up working day %(day)s falls inside holiday %(name)s (%(range)s)"),
                                         {"day": day.isoformat(), "name": holiday.name,
                                          "range": _range_text(holiday)}))
            continue
        days.add(day)
    if days and not built_windows[makeup_weekday]:
        problems.append(FieldProblem("makeup_weekday",
                                     _("make-up days use the windows of weekday %(weekday)s, which has none"),
                                     {"weekday": makeup_weekday}))
    if problems:
        raise DomainError(problems=problems)
    assert zone_ok
    return BusinessCalendar(tz, built_windows, built_holidays, frozenset(days), makeup_weekday)


# --------------------------------------------------------------------------------------------------
# The business clock
# --------------------------------------------------------------------------------------------------


def _aware(value: object, field_name: str) -> datetime:
    if not isinstance(value, datetime):
        raise DomainError(field_name, _("%(value)s is not a date and time"), value=str(value))
    if value.tzinfo is None or value.utcoffset() is None:
        raise DomainError(field_name, _("%(value)s has no time zone; pass an aware datetime"),
                          value=value.isoformat())
    return value


def _minutes(value: object, field_name: str = "minutes") -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise DomainError(field_name, _("must be a whole number of minutes, 0 or more, not %(value)s"),
                          value=str(value))
    return value


def _to_us(at: datetime) -> int:
    return (at - _EPOCH) // _US


def _from_us(us: int, tz: tzinfo | None) -> datetime:
    return (_EPOCH + timedelta(microseconds=us)).astimezone(tz)


def _walk(cal: BusinessCalendar, from_us: int, at: datetime) -> Iterator[tuple[int, int]]:
    """Working spans ending after ``from_us``, in order, clipped so they never overlap or start
    before ``from_us``. Starts a day early so a span of the previous local day is not missed."""
    day = at.astimezone(cal.zone).date() - _ONE_DAY
    cur = from_us
    while True:
        for a, b in cal._spans(day):
            if b <= cur:
                continue
            if a < cur:
                a = cur
            yield a, b
            cur = b
        day = cal._next_day(day)


def _add_us(cal: BusinessCalendar, start_at: datetime, amount_us: int) -> int:
    remaining = amount_us
    for a, b in _walk(cal, _to_us(start_at), start_at):
        if b - a >= remaining:
            return a + remaining
        remaining -= b - a
    raise AssertionError("unreachable: the walk is endless")  # pragma: no cover


def business_add(cal: BusinessCalendar, start_at: datetime, minutes: int) -> datetime:
    """The instant ``minutes`` business minutes after ``start_at`` (in ``start_at``'s time zone).

    Outside working time the clock starts at the next window. A deadline that uses up a window
    exactly is due at that window's end (12:00, not 13:30). ``minutes=0`` is ``start_at`` inside a
    window, else the next window start."""
    _aware(start_at, "start_at")
    us = _add_us(cal, start_at, _minutes(minutes) * _US_PER_MINUTE)
    return _from_us(us, start_at.tzinfo)


def _business_us_between(cal: BusinessCalendar, start_at: datetime, end_at: datetime) -> int:
    end = _to_us(end_at)
    total = 0
    if end <= _to_us(start_at):
        return 0
    for a, b in _walk(cal, _to_us(start_at), start_at):
        if a >= end:
            break
        total += min(b, end) - a
    return total


def business_seconds_between(cal: BusinessCalendar, start_at: datetime, end_at: datetime) -> int:
    """Working seconds in ``[start_at, end_at)`` (whole seconds, rounded down); 0 if ``end_at <= start_at``."""
    _aware(start_at, "start_at")
    _aware(end_at, "end_at")
    return _business_us_between(cal, start_at, end_at) // _US_PER_SECOND


def is_business_time(cal: BusinessCalendar, at: datetime) -> bool:
    """Whether ``at`` is inside a working window (windows are ``[start, end)``)."""
    _aware(at, "at")
    us = _to_us(at)
    a, _b = next(_walk(cal, us, at))
    return a == us


def next_business_start(cal: BusinessCalendar, at: datetime) -> datetime:
    """``at`` itself when it is working time, else the start of the next working window."""
    return business_add(cal, at, 0)


def elapsed_add(start_at: datetime, minutes: int) -> datetime:
    """The elapsed (24×7) clock: ``start_at`` plus ``minutes`` of real time."""
    _aware(start_at, "start_at")
    return start_at + timedelta(minutes=_minutes(minutes))


def _clock(value: object) -> Clock:
    if value == "business":
        return "business"
    if value == "elapsed":
        return "elapsed"
    raise DomainError("clock", _("%(value)s is not a clock (business or elapsed)"), value=str(value))


def _add(cal: BusinessCalendar | None, clock: Clock, start_at: datetime, amount_us: int) -> datetime:
    if clock == "elapsed":
        return start_at + timedelta(microseconds=amount_us)
    if cal is None:
        raise DomainError("cal", _("the business clock needs a business calendar"))
    return _from_us(_add_us(cal, start_at, amount_us), start_at.tzinfo)


# --------------------------------------------------------------------------------------------------
# Deadlines
# --------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Note:
    template: str
    params: Mapping[str, Any] = field(default_factory=dict)

    @property
    def text(self) -> str:
        return render_reason(self.template, self.params)


@dataclass(frozen=True)
class Deadline:
    start_at: datetime
    due_at: datetime
    clock: Clock
    minutes: int
    template: str
    params: Mapping[str, Any]
    notes: tuple[Note, ...] = ()

    @property
    def explanation(self) -> str:
        """``4 h of business time from 2026-11-20 16:00 → due 2026-11-23 11:30 (2 rest days skipped)``"""
        head = render_reason(self.template, self.params)
        return f"{head} ({'; '.join(n.text for n in self.notes)})" if self.notes else head


def _hhmm(t: time) -> str:
    return t.strftime("%H:%M:%S" if t.second else "%H:%M")


def _range_text(h: Holiday) -> str:
    return f"{h.date_from.isoformat()}..{h.date_to.isoformat()}"


def _when(at: datetime, tz: tzinfo | None) -> str:
    local = at.astimezone(tz) if tz is not None else at
    return local.strftime("%Y-%m-%d %H:%M:%S" if local.second or local.microsecond else "%Y-%m-%d %H:%M")


def duration_text(minutes: int) -> str:
    """``4 h``, ``1 h 30 min``, ``45 min``."""
    hours, rest = divmod(minutes, 60)
    if hours and rest:
        return f"{hours} h {rest} min"
    return f"{hours} h" if hours else f"{rest} min"


def deadline(cal: BusinessCalendar | None, *, start_at: datetime, minutes: int,
             clock: Clock = "business") -> Deadline:
    """When a work order received at ``start_at`` with a limit of ``minutes`` on ``clock`` is due,
    with an explanation (the skipped rest days and holidays on the business clock). Times in the
    explanation are in the calendar's zone. ``cal`` may be None for the elapsed clock."""
    _aware(start_at, "start_at")
    _minutes(minutes)
    clock = _clock(clock)
    due_at = _add(cal, clock, start_at, minutes * _US_PER_MINUTE)
    tz = cal.zone if cal is not None else start_at.tzinfo
    params = {"duration": duration_text(minutes), "start": _when(start_at, tz), "due": _when(due_at, tz)}
    if clock == "elapsed":
        return Deadline(start_at, due_at, clock, minutes,
                        _("%(duration)s elapsed time (24×7) from %(start)s → due %(due)s"), params)
    assert cal is not None
    notes: list[Note] = []
    clock_start = business_add(cal, start_at, 0)
    if clock_start != start_at:
        notes.append(Note(_("outside working time: the clock starts %(clock_start)s"),
                          {"clock_start": _when(clock_start, tz)}))
    first, last = start_at.astimezone(cal.zone).date(), due_at.astimezone(cal.zone).date()
    rest_days, holidays = 0, []
    day = first
    while day <= last:
        holiday = cal.holiday_on(day)
        if holiday is not None:
            if holiday.name not in holidays:
                holidays.append(holiday.name)
            day = holiday.date_to
            continue
        if not cal.windows_on(day):
            rest_days += 1
        day += _ONE_DAY
    if rest_days:
        notes.append(Note(_("%(days)s rest days skipped"), {"days": rest_days}))
    if holidays:
        notes.append(Note(_("holidays skipped: %(names)s"), {"names": ", ".join(holidays)}))
    return Deadline(start_at, due_at, clock, minutes,
                    _("%(duration)s of business time from %(start)s → due %(due)s"), params, tuple(notes))


# --------------------------------------------------------------------------------------------------
# State, escalation, timeliness
# --------------------------------------------------------------------------------------------------


class SlaState(enum.StrEnum):
    MET = "met"  # done by the due time
    MISSED = "missed"  # done after the due time
    OVERDUE = "overdue"  # not done, past due
    DUE_SOON = "due_soon"  # not done, due within warn_minutes
    RUNNING = "running"  # not done, not due soon


def sla_state(*, due_at: datetime, done_at: datetime | None, now: datetime, warn_minutes: int = 0) -> SlaState:
    """Where a work order stands. ``due_soon`` is ``due_at - warn_minutes <= now <= due_at`` (real
    minutes); ``overdue`` is ``now > due_at``."""
    _aware(due_at, "due_at")
    _aware(now, "now")
    _minutes(warn_minutes, "warn_minutes")
    if done_at is not None:
        _aware(done_at, "done_at")
        return SlaState.MET if done_at <= due_at else SlaState.MISSED
    if now > due_at:
        return SlaState.OVERDUE
    if now >= due_at - timedelta(minutes=warn_minutes):
        return SlaState.DUE_SOON
    return SlaState.RUNNING


@dataclass(frozen=True)
class EscalationStep:
    """Escalate to ``level`` once ``at_fraction`` of the SLA time has run (0.8, 1.0, 1.5)."""

    level: int
    at_fraction: Decimal


@dataclass(frozen=True)
class Escalation:
    level: int  # highest level reached; 0 = none
    next_level: int | None  # the level reached next, None when the top is reached
    next_at: datetime | None  # when next_level is reached: when a scheduler should look again
    thresholds: tuple[tuple[int, datetime], ...]  # every (level, reached at)


def _check_steps(steps: Sequence[EscalationStep]) -> list[tuple[int, Decimal]]:
    checked: list[tuple[int, Decimal]] = []
    for i, step in enumerate(steps):
        if isinstance(step.level, bool) or not isinstance(step.level, int) or step.level < 1:
            raise DomainError(f"steps[{i}].level", _("an escalation level is a whole number from 1, not %(value)s"),
                              value=str(step.level))
        try:
            fraction = step.at_fraction if isinstance(step.at_fraction, Decimal) else Decimal(str(step.at_fraction))
        except InvalidOperation:
            fraction = Decimal("NaN")
        if not fraction.is_finite() or fraction <= 0:
            raise DomainError(f"steps[{i}].at_fraction", _("must be a fraction above 0 (0.8, 1, 1.5), not %(value)s"),
                              value=str(step.at_fraction))
        if checked and (step.level <= checked[-1][0] or fraction <= checked[-1][1]):
            raise DomainError(f"steps[{i}]", _("steps go up: each step needs a higher level and a higher fraction "
                                               "than the one before (level %(level)s at %(fraction)s after level "
                                               "%(prev_level)s at %(prev_fraction)s)"),
                              level=step.level, fraction=str(fraction), prev_level=checked[-1][0],
                              prev_fraction=str(checked[-1][1]))
        checked.append((step.level, fraction))
    return checked


def escalation_level(*, steps: Sequence[EscalationStep], started_at: datetime, due_at: datetime,
                     now: datetime, cal: BusinessCalendar | None, clock: Clock = "business") -> Escalation:
    """The escalation ladder (督办) of a work order started at ``started_at`` and due at ``due_at``.

    SLA time is measured on ``clock``: business seconds between start and due (or real time for
    ``elapsed``). Level ``n`` is reached when ``at_fraction`` of it has run, counted on the same
    clock from ``started_at`` (rounded up to the microsecond). With no SLA time at all (due at or
    before the start) every level is reached at ``started_at``."""
    _aware(started_at, "started_at")
    _aware(due_at, "due_at")
    _aware(now, "now")
    clock = _clock(clock)
    checked = _check_steps(steps)
    if clock == "elapsed":
        total_us = max(0, _to_us(due_at) - _to_us(started_at))
    else:
        if cal is None:
            raise DomainError("cal", _("the business clock needs a business calendar"))
        total_us = _business_us_between(cal, started_at, due_at)
    thresholds: list[tuple[int, datetime]] = []
    for level, fraction in checked:
        if total_us == 0:
            thresholds.append((level, started_at))
            continue
        amount = int((total_us * fraction).to_integral_value(rounding=ROUND_CEILING))
        thresholds.append((level, _add(cal, clock, started_at, amount)))
    level, next_level, next_at = 0, None, None
    for step_level, at in thresholds:
        if at <= now:
            level = step_level
        elif next_at is None:
            next_level, next_at = step_level, at
    return Escalation(level, next_level, next_at, tuple(thresholds))


class TimelinessInput(NamedTuple):
    group_key: str
    due_at: datetime
    done_at: datetime | None = None


@dataclass(frozen=True)
class TimelinessRow:
    group_key: str
    assessed: int  # on_time + late + open_overdue
    on_time: int  # done by as_of, at or before due
    late: int  # done by as_of, after due
    open_overdue: int  # not done by as_of, due before as_of
    not_yet_due: int  # not done by as_of, not yet due: not assessable, left out of the rate
    rate: Decimal | None  # on_time / assessed, half-up to 0.0001; None when nothing is assessed


def timeliness(orders: Sequence[TimelinessInput], *, as_of: datetime) -> list[TimelinessRow]:
    """The timeliness rate (及时率) per group, sorted by group key.

    An order counts as done only if ``done_at <= as_of`` (a report as of a past instant ignores
    later completions). Open orders count as overdue when ``due_at < as_of`` (as ``sla_state``)."""
    _aware(as_of, "as_of")
    counts: dict[str, list[int]] = {}
    for i, order in enumerate(orders):
        _aware(order.due_at, f"orders[{i}].due_at")
        row = counts.setdefault(order.group_key, [0, 0, 0, 0])
        done = order.done_at
        if done is not None:
            _aware(done, f"orders[{i}].done_at")
        if done is not None and done <= as_of:
            row[0 if done <= order.due_at else 1] += 1
        elif order.due_at < as_of:
            row[2] += 1
        else:
            row[3] += 1
    result = []
    for key in sorted(counts):
        on_time, late, overdue, not_yet = counts[key]
        assessed = on_time + late + overdue
        rate = ((Decimal(on_time) / Decimal(assessed)).quantize(RATE_QUANTUM, rounding=ROUND_HALF_UP)
                if assessed else None)
        result.append(TimelinessRow(key, assessed, on_time, late, overdue, not_yet, rate))
    return result
