"""Validation of meter reads (抄表校验, MTR-3): usage from two readings, and flags for what looks wrong.

Pure: plain values in, a ``ReadCheck`` out; no Django, no clock (callers pass ``today``).

Two paths give the same answer on the same inputs (a property test holds them together):

* ``validate_read`` checks one read with ``Decimal`` readings and explains each flag in English
  (templates marked for translation, with ``%(name)s`` parameters).
* ``validate_reads`` checks a whole read batch at once with numpy: readings are ``int64``
  thousandths (a meter shows at most three decimals), dates ``datetime64[D]``, and the result is
  the usage in thousandths and a bitmask of ``ReadFlag``.

Rules:

* The base of a read is the last accepted reading, or the install reading when there is none.
* ROLLOVER (翻转): the reading is below the base but ``10**digits - base + reading`` is at most
  ``rollover_share`` of the dial capacity; usage is counted across the wrap.
* REVERSE (倒走): the reading is below the base and a wrap would be implausible. Usage is the
  (negative) difference so the size of the step back is visible.
* WRONG_BASE (底数错误): the base stated on the read differs from the expected base.
* METER_REPLACED (换表): usage = old meter final − base + reading − new meter install reading;
  each leg is checked for rollover / reverse on its own. The expected base becomes the new
  meter's install reading. Both meters are taken to have the same number of dial digits.
* NEGATIVE, TOO_MANY_DIGITS (reading ≥ 10**digits): the reading is impossible, usage is 0 and no
  usage checks run. NOT_NUMERIC only comes from ``parse_reading``.
* ZERO: usage is exactly 0.
* HIGH / LOW: the daily usage against the account's own history, seasonal first: the period ending
  in the same month last year when there is one, else the mean daily usage of the last
  ``recent_periods`` periods. Only checked with at least ``min_history`` valid (not estimated)
  periods of history and a period of at least one day; LOW only for usage above 0 (ZERO says it).
* OUT_OF_CYCLE: the read date is outside the cycle window ``[cycle_from, cycle_to)``.
* FUTURE: the read date is after ``today``.
"""

from __future__ import annotations

import enum
import re
import unicodedata
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal, InvalidOperation
from typing import Any, NamedTuple

import numpy as np
import numpy.typing as npt

from ucis.kernel.errors import DomainError, render_reason
from ucis.kernel.errors import gettext_noop as _

THOUSANDTH = Decimal("0.001")
MIN_DIGITS = 1
# 10**12 in thousandths times the 1000 scale of ratio comparisons stays far inside int64.
MAX_DIGITS = 12
_INT64_MAX = 2**63 - 1


class ReadFlag(enum.IntFlag):
    ROLLOVER = 1
    REVERSE = 2
    WRONG_BASE = 4
    HIGH = 8
    LOW = 16
    ZERO = 32
    OUT_OF_CYCLE = 64
    FUTURE = 128
    TOO_MANY_DIGITS = 256
    NEGATIVE = 512
    NOT_NUMERIC = 1024
    METER_REPLACED = 2048


# Rollover and replacement are explained, not suspicious: usage is still right.
INFORMATIONAL = ReadFlag.ROLLOVER | ReadFlag.METER_REPLACED
NEEDS_REVIEW = ~INFORMATIONAL & ReadFlag(sum(ReadFlag))


def flag_codes(mask: int) -> list[str]:
    """The flag names in a bitmask, in flag order (``["ROLLOVER", "HIGH"]``)."""
    return [f.name or "" for f in ReadFlag if int(mask) & f]


@dataclass(frozen=True)
class Finding:
    flag: ReadFlag
    template: str
    params: Mapping[str, Any] = field(default_factory=dict)

    @property
    def code(self) -> str:
        return self.flag.name or ""

    @property
    def reason(self) -> str:
        return render_reason(self.template, self.params)


@dataclass(frozen=True)
class ReadRules:
    """Thresholds; ratios and shares are exact to 0.001 so the integer path can use them."""

    high_ratio: Decimal = Decimal("2")
    low_ratio: Decimal = Decimal("0.3")
    rollover_share: Decimal = Decimal("0.1")
    min_history: int = 3
    recent_periods: int = 3

    def __post_init__(self) -> None:
        for name in ("high_ratio", "low_ratio", "rollover_share"):
            value = getattr(self, name)
            if not isinstance(value, Decimal) or value < 0 or value != value.quantize(THOUSANDTH):
                raise DomainError(name, _("must be a non-negative decimal with at most 3 decimals, not %(value)s"),
                                  value=str(value))
        if self.recent_periods < 1 or self.min_history < 0:
            raise DomainError("recent_periods", _("needs at least one recent period"))

    def milli(self, name: str) -> int:
        return int(getattr(self, name) * 1000)


DEFAULT_RULES = ReadRules()


class UsagePeriod(NamedTuple):
    """A billed period of history: ``[start, end)`` and its usage. Estimated periods are kept out
    of baselines so one estimate does not become the yardstick for the next. (A named tuple: the
    recorder builds one per history read of every read it checks.)"""

    start: date
    end: date
    usage: Decimal
    estimated: bool = False

    @property
    def days(self) -> int:
        return (self.end - self.start).days


@dataclass(frozen=True)
class Baselines:
    """What a read is compared with; ``*_days == 0`` means that baseline is absent."""

    last_year_usage: Decimal = Decimal(0)
    last_year_days: int = 0
    recent_usage: Decimal = Decimal(0)
    recent_days: int = 0
    history_count: int = 0


def valid_history(history: Sequence[UsagePeriod], until: date) -> list[UsagePeriod]:
    return sorted((p for p in history if not p.estimated and p.days > 0 and p.end <= until),
                  key=lambda p: (p.end, p.start))


def usage_baselines(history: Sequence[UsagePeriod], read_on: date, *, recent_periods: int = 3) -> Baselines:
    """Same period last year = the latest valid period ending in the same calendar month one year
    before ``read_on``; recent = the last ``recent_periods`` valid periods ending by ``read_on``."""
    valid = valid_history(history, read_on)
    last_year = [p for p in valid if (p.end.year, p.end.month) == (read_on.year - 1, read_on.month)]
    recent = valid[-recent_periods:]
    ly = last_year[-1] if last_year else None
    return Baselines(
        last_year_usage=ly.usage if ly else Decimal(0), last_year_days=ly.days if ly else 0,
        recent_usage=sum((p.usage for p in recent), Decimal(0)), recent_days=sum(p.days for p in recent),
        history_count=len(valid),
    )


@dataclass(frozen=True)
class MeterReplacement:
    old_final: Decimal  # last reading of the removed meter
    new_install: Decimal  # reading of the new meter when fitted


@dataclass(frozen=True)
class MeterContext:
    """What is known about the meter before this read."""

    dial_digits: int
    install_reading: Decimal
    install_on: date
    cycle_from: date
    cycle_to: date
    previous_reading: Decimal | None = None  # last accepted read
    previous_read_on: date | None = None
    replacement: MeterReplacement | None = None  # replaced since the last accepted read


@dataclass(frozen=True)
class MeterRead:
    reading: Decimal
    read_on: date
    stated_previous: Decimal | None = None  # the base printed on the sheet / sent by the device


@dataclass(frozen=True)
class ReadCheck:
    usage: Decimal
    flags: ReadFlag
    findings: tuple[Finding, ...]
    days: int

    @property
    def needs_review(self) -> bool:
        return bool(self.flags & NEEDS_REVIEW)

    @property
    def codes(self) -> list[str]:
        return flag_codes(self.flags)

    @property
    def explanation(self) -> str:
        head = f"usage {self.usage} over {self.days} days"
        return "; ".join([head, *(f.reason for f in self.findings)])


# --------------------------------------------------------------------------------------------------
# Parsing raw readings
# --------------------------------------------------------------------------------------------------

_NUMBER_RE = re.compile(r"^[+-]?(\d+(\.\d*)?|\.\d+)$")


@dataclass(frozen=True)
class ParsedReading:
    value: Decimal | None
    flags: ReadFlag
    findings: tuple[Finding, ...]


def parse_reading(raw: str, *, dial_digits: int) -> ParsedReading:
    """A reading typed or sent as text: full-width digits and spaces are folded; negative and
    over-long values are returned with their flag so the reader sees what was entered."""
    text = "".join(unicodedata.normalize("NFKC", raw or "").split()).replace(",", "")
    if not _NUMBER_RE.match(text):
        finding = Finding(ReadFlag.NOT_NUMERIC, _("%(value)s is not a number"), {"value": raw})
        return ParsedReading(None, ReadFlag.NOT_NUMERIC, (finding,))
    try:
        value = Decimal(text)
    except InvalidOperation:  # pragma: no cover - the pattern admits only decimals
        finding = Finding(ReadFlag.NOT_NUMERIC, _("%(value)s is not a number"), {"value": raw})
        return ParsedReading(None, ReadFlag.NOT_NUMERIC, (finding,))
    if value != value.quantize(THOUSANDTH):
        finding = Finding(ReadFlag.NOT_NUMERIC,
                          _("%(value)s has more than 3 decimals; a meter shows at most thousandths"),
                          {"value": raw})
        return ParsedReading(None, ReadFlag.NOT_NUMERIC, (finding,))
    if value < 0:
        finding = Finding(ReadFlag.NEGATIVE, _("the reading %(reading)s is negative"), {"reading": str(value)})
        return ParsedReading(value, ReadFlag.NEGATIVE, (finding,))
    _check_digits(dial_digits)
    if value >= Decimal(10) ** dial_digits:
        finding = _too_many_digits(value, dial_digits)
        return ParsedReading(value, ReadFlag.TOO_MANY_DIGITS, (finding,))
    return ParsedReading(value, ReadFlag(0), ())


def _too_many_digits(value: Decimal, digits: int) -> Finding:
    return Finding(ReadFlag.TOO_MANY_DIGITS,
                   _("the reading %(reading)s does not fit a %(digits)s-digit dial"),
                   {"reading": str(value), "digits": digits})


def _check_digits(digits: int) -> None:
    if not MIN_DIGITS <= digits <= MAX_DIGITS:
        raise DomainError("dial_digits", _("a dial has %(low)s to %(high)s digits, not %(digits)s"),
                          low=MIN_DIGITS, high=MAX_DIGITS, digits=digits)


def _check_thousandths(name: str, value: Decimal) -> None:
    if not isinstance(value, Decimal) or not value.is_finite() or value != value.quantize(THOUSANDTH):
        raise DomainError(name, _("a reading must be a decimal with at most 3 decimals, not %(value)s"),
                          value=str(value))


# --------------------------------------------------------------------------------------------------
# One read
# --------------------------------------------------------------------------------------------------


def _leg(previous: Decimal, current: Decimal, cap: Decimal, rules: ReadRules,
         findings: list[Finding]) -> tuple[Decimal, ReadFlag]:
    if current >= previous:
        return current - previous, ReadFlag(0)
    wrapped = cap - previous + current
    if wrapped <= cap * rules.rollover_share:
        findings.append(Finding(ReadFlag.ROLLOVER,
                                _("the dial rolled over from %(previous)s past %(capacity)s to %(current)s: "
                                  "usage %(usage)s"),
                                {"previous": str(previous), "current": str(current), "capacity": str(cap),
                                 "usage": str(wrapped)}))
        return wrapped, ReadFlag.ROLLOVER
    findings.append(Finding(ReadFlag.REVERSE,
                            _("the reading went back from %(previous)s to %(current)s, too far to be a rollover"),
                            {"previous": str(previous), "current": str(current)}))
    return current - previous, ReadFlag.REVERSE


def _daily(usage: Decimal, days: int) -> str:
    return str((usage / days).quantize(THOUSANDTH)) if days else "0"


def validate_read(read: MeterRead, meter: MeterContext, history: Sequence[UsagePeriod] = (), *,
                  today: date, rules: ReadRules = DEFAULT_RULES) -> ReadCheck:
    """Usage of ``read`` and every flag it raises, each with a plain reason."""
    _check_digits(meter.dial_digits)
    _check_thousandths("reading", read.reading)
    cap = Decimal(10) ** meter.dial_digits
    flags = ReadFlag(0)
    findings: list[Finding] = []

    if read.read_on > today:
        flags |= ReadFlag.FUTURE
        findings.append(Finding(ReadFlag.FUTURE, _("the read date %(read_on)s is after today (%(today)s)"),
                                {"read_on": read.read_on.isoformat(), "today": today.isoformat()}))
    if not meter.cycle_from <= read.read_on < meter.cycle_to:
        flags |= ReadFlag.OUT_OF_CYCLE
        findings.append(Finding(ReadFlag.OUT_OF_CYCLE,
                                _("the read date %(read_on)s is outside the cycle %(start)s to %(end)s"),
                                {"read_on": read.read_on.isoformat(), "start": meter.cycle_from.isoformat(),
                                 "end": meter.cycle_to.isoformat()}))

    if meter.previous_reading is not None:
        base = meter.previous_reading
        base_on = meter.previous_read_on or meter.install_on
    else:
        base, base_on = meter.install_reading, meter.install_on
    replacement = meter.replacement
    expected_base = replacement.new_install if replacement else base
    if read.stated_previous is not None and read.stated_previous != expected_base:
        flags |= ReadFlag.WRONG_BASE
        findings.append(Finding(ReadFlag.WRONG_BASE,
                                _("the read states a base of %(stated)s but the last accepted reading is "
                                  "%(expected)s"),
                                {"stated": str(read.stated_previous), "expected": str(expected_base)}))

    days = (read.read_on - base_on).days
    usage = Decimal(0)
    if read.reading < 0:
        flags |= ReadFlag.NEGATIVE
        findings.append(Finding(ReadFlag.NEGATIVE, _("the reading %(reading)s is negative"),
                                {"reading": str(read.reading)}))
        return ReadCheck(usage, flags, tuple(findings), days)
    if read.reading >= cap:
        flags |= ReadFlag.TOO_MANY_DIGITS
        findings.append(_too_many_digits(read.reading, meter.dial_digits))
        return ReadCheck(usage, flags, tuple(findings), days)

    if replacement:
        flags |= ReadFlag.METER_REPLACED
        old_usage, old_flags = _leg(base, replacement.old_final, cap, rules, findings)
        new_usage, new_flags = _leg(replacement.new_install, read.reading, cap, rules, findings)
        usage = old_usage + new_usage
        flags |= old_flags | new_flags
        findings.append(Finding(ReadFlag.METER_REPLACED,
                                _("the meter was replaced: old meter %(base)s to %(old_final)s, new meter "
                                  "%(new_install)s to %(reading)s, usage %(usage)s"),
                                {"base": str(base), "old_final": str(replacement.old_final),
                                 "new_install": str(replacement.new_install), "reading": str(read.reading),
                                 "usage": str(usage)}))
    else:
        usage, leg_flags = _leg(base, read.reading, cap, rules, findings)
        flags |= leg_flags
    if flags & ReadFlag.REVERSE:
        return ReadCheck(usage, flags, tuple(findings), days)

    if usage == 0:
        flags |= ReadFlag.ZERO
        findings.append(Finding(ReadFlag.ZERO, _("no usage since the last reading")))
        return ReadCheck(usage, flags, tuple(findings), days)

    b = usage_baselines(history, read.read_on, recent_periods=rules.recent_periods)
    if days <= 0 or b.history_count < rules.min_history:
        return ReadCheck(usage, flags, tuple(findings), days)
    if b.last_year_days > 0:
        seasonal, base_usage, base_days = True, b.last_year_usage, b.last_year_days
    elif b.recent_days > 0:
        seasonal, base_usage, base_days = False, b.recent_usage, b.recent_days
    else:
        return ReadCheck(usage, flags, tuple(findings), days)
    # Cross-multiplied so the comparison is exact and matches the integer path.
    lhs = usage * base_days
    params = {"daily": _daily(usage, days), "baseline": _daily(base_usage, base_days),
              "days": days, "periods": min(rules.recent_periods, b.history_count)}
    if lhs > rules.high_ratio * base_usage * days:
        flags |= ReadFlag.HIGH
        template = (_("daily usage %(daily)s is more than %(ratio)s times the same period last year "
                      "(%(baseline)s a day)") if seasonal else
                    _("daily usage %(daily)s is more than %(ratio)s times the average of the last %(periods)s "
                      "periods (%(baseline)s a day)"))
        findings.append(Finding(ReadFlag.HIGH, template, {**params, "ratio": str(rules.high_ratio)}))
    elif lhs < rules.low_ratio * base_usage * days:
        flags |= ReadFlag.LOW
        template = (_("daily usage %(daily)s is less than %(ratio)s times the same period last year "
                      "(%(baseline)s a day)") if seasonal else
                    _("daily usage %(daily)s is less than %(ratio)s times the average of the last %(periods)s "
                      "periods (%(baseline)s a day)"))
        findings.append(Finding(ReadFlag.LOW, template, {**params, "ratio": str(rules.low_ratio)}))
    return ReadCheck(usage, flags, tuple(findings), days)


# --------------------------------------------------------------------------------------------------
# A batch of reads
# --------------------------------------------------------------------------------------------------

IntArray = npt.NDArray[np.int64]
BoolArray = npt.NDArray[np.bool_]
DayArray = npt.NDArray[np.datetime64]


@dataclass(frozen=True)
class ReadArrays:
    """One row per read. Readings and usages are int64 thousandths; dates ``datetime64[D]``.

    ``base`` / ``base_on`` are already resolved (last accepted read, else the install reading);
    the baselines come from ``usage_baselines`` (or the same query in SQL), ``*_days == 0`` = absent.
    """

    reading: IntArray
    read_on: DayArray
    base: IntArray
    base_on: DayArray
    dial_digits: IntArray
    cycle_from: DayArray
    cycle_to: DayArray
    stated_previous: IntArray
    has_stated_previous: BoolArray
    replaced: BoolArray
    old_final: IntArray
    new_install: IntArray
    last_year_usage: IntArray
    last_year_days: IntArray
    recent_usage: IntArray
    recent_days: IntArray
    history_count: IntArray


@dataclass(frozen=True)
class BatchResult:
    usage: IntArray  # thousandths
    flags: IntArray  # ReadFlag bitmask


def _days(values: DayArray) -> IntArray:
    return np.asarray(values).astype("datetime64[D]").astype(np.int64)


def _i64(values: npt.ArrayLike) -> IntArray:
    return np.asarray(values, dtype=np.int64)


def _guard(bound: int, what: str) -> None:
    if bound > _INT64_MAX:
        raise DomainError("reads", _("%(what)s is too large for exact integer checks"), what=what)


def validate_reads(reads: ReadArrays, *, today: date, rules: ReadRules = DEFAULT_RULES) -> BatchResult:
    """``validate_read`` for a batch: the same usage (in thousandths) and the same flags."""
    digits = _i64(reads.dial_digits)
    if digits.size and (int(digits.min()) < MIN_DIGITS or int(digits.max()) > MAX_DIGITS):
        raise DomainError("dial_digits", _("a dial has %(low)s to %(high)s digits"), low=MIN_DIGITS,
                          high=MAX_DIGITS)
    reading, base = _i64(reads.reading), _i64(reads.base)
    old_final, new_install = _i64(reads.old_final), _i64(reads.new_install)
    replaced = np.asarray(reads.replaced, dtype=np.bool_)
    read_on, base_on = _days(reads.read_on), _days(reads.base_on)
    cap = np.power(np.int64(10), digits + 3).astype(np.int64)
    share = np.int64(rules.milli("rollover_share"))
    flags = np.zeros(reading.shape, dtype=np.int64)

    flags |= np.where(read_on > np.datetime64(today, "D").astype(np.int64), int(ReadFlag.FUTURE), 0)
    outside = (read_on < _days(reads.cycle_from)) | (read_on >= _days(reads.cycle_to))
    flags |= np.where(outside, int(ReadFlag.OUT_OF_CYCLE), 0)
    expected = np.where(replaced, new_install, base)
    wrong = np.asarray(reads.has_stated_previous, dtype=np.bool_) & (_i64(reads.stated_previous) != expected)
    flags |= np.where(wrong, int(ReadFlag.WRONG_BASE), 0)

    negative = reading < 0
    too_long = ~negative & (reading >= cap)
    invalid = negative | too_long
    flags |= np.where(negative, int(ReadFlag.NEGATIVE), 0) | np.where(too_long, int(ReadFlag.TOO_MANY_DIGITS), 0)

    def leg(previous: IntArray, current: IntArray) -> tuple[IntArray, BoolArray, BoolArray]:
        back = current < previous
        wrapped = cap - previous + current
        rolled = back & (wrapped * 1000 <= cap * share)
        return np.where(rolled, wrapped, current - previous), rolled, back & ~rolled

    plain_u, plain_roll, plain_rev = leg(base, reading)
    if replaced.any():
        old_u, old_roll, old_rev = leg(base, old_final)
        new_u, new_roll, new_rev = leg(new_install, reading)
        plain_u = np.where(replaced, old_u + new_u, plain_u)
        plain_roll = np.where(replaced, old_roll | new_roll, plain_roll)
        plain_rev = np.where(replaced, old_rev | new_rev, plain_rev)
    usage = np.where(invalid, 0, plain_u).astype(np.int64)
    rolled = ~invalid & plain_roll
    reverse = ~invalid & plain_rev
    flags |= np.where(rolled, int(ReadFlag.ROLLOVER), 0) | np.where(reverse, int(ReadFlag.REVERSE), 0)
    flags |= np.where(~invalid & replaced, int(ReadFlag.METER_REPLACED), 0)

    usable = ~invalid & ~reverse
    zero = usable & (usage == 0)
    flags |= np.where(zero, int(ReadFlag.ZERO), 0)

    days = read_on - base_on
    seasonal = _i64(reads.last_year_days) > 0
    base_usage = np.where(seasonal, _i64(reads.last_year_usage), _i64(reads.recent_usage))
    base_days = np.where(seasonal, _i64(reads.last_year_days), _i64(reads.recent_days))
    checked = (usable & ~zero & (days > 0) & (_i64(reads.history_count) >= rules.min_history)
               & (base_days > 0))
    if checked.any():
        ratio_max = max(rules.milli("high_ratio"), rules.milli("low_ratio"))
        _guard(int(np.abs(usage[checked]).max()) * int(base_days[checked].max()) * 1000, "usage")
        _guard(ratio_max * int(np.abs(base_usage[checked]).max()) * int(days[checked].max()), "baseline usage")
    lhs = np.where(checked, usage * base_days * 1000, 0)
    high_rhs = np.where(checked, rules.milli("high_ratio") * base_usage * days, 0)
    low_rhs = np.where(checked, rules.milli("low_ratio") * base_usage * days, 0)
    high = checked & (lhs > high_rhs)
    low = checked & ~high & (lhs < low_rhs)
    flags |= np.where(high, int(ReadFlag.HIGH), 0) | np.where(low, int(ReadFlag.LOW), 0)
    return BatchResult(usage=usage, flags=flags)


def to_thousandths(value: Decimal) -> int:
    """A reading for the integer path; refuses more than three decimals rather than rounding."""
    _check_thousandths("reading", value)
    return int(value * 1000)
