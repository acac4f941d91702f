from datetime import date, timedelta
from decimal import Decimal as D

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ucis.kernel.errors import DomainError
from ucis.metering.validation import (
    DEFAULT_RULES,
    MeterContext,
    MeterRead,
    MeterReplacement,
    ReadArrays,
    ReadFlag,
    ReadRules,
    UsagePeriod,
    flag_codes,
    parse_reading,
    to_thousandths,
    usage_baselines,
    validate_read,
    validate_reads,
)

TODAY = date(2026, 3, 10)
F = ReadFlag


def meter(previous="100", *, digits=5, previous_on=date(2026, 2, 1), replacement=None, install="0"):
    return MeterContext(dial_digits=digits, install_reading=D(install), install_on=date(2020, 1, 1),
                        cycle_from=date(2026, 3, 1), cycle_to=date(2026, 4, 1),
                        previous_reading=None if previous is None else D(previous),
                        previous_read_on=previous_on if previous is not None else None,
                        replacement=replacement)


def monthly_history(usages, *, last_end=date(2026, 2, 1)):
    """Consecutive periods ending on the 1st of each month, the last ending ``last_end``."""
    periods = []
    end = last_end
    for usage in reversed(usages):
        start = (end - timedelta(days=1)).replace(day=1)
        periods.append(UsagePeriod(start, end, D(usage)))
        end = start
    return list(reversed(periods))


def check(reading, ctx=None, history=(), *, on=date(2026, 3, 1), stated=None, rules=DEFAULT_RULES):
    return validate_read(MeterRead(D(reading), on, None if stated is None else D(stated)), ctx or meter(),
                         history, today=TODAY, rules=rules)


# ------------------------------------------------------------------------------------------------
# Table of flags
# ------------------------------------------------------------------------------------------------

@pytest.mark.parametrize("reading, ctx, kwargs, usage, flags", [
    ("130", None, {}, "30", F(0)),
    ("100", None, {}, "0", F.ZERO),
    ("90", None, {}, "-10", F.REVERSE),
    ("-1", None, {}, "0", F.NEGATIVE),
    ("100000", None, {}, "0", F.TOO_MANY_DIGITS),
    ("130", None, {"stated": "99"}, "30", F.WRONG_BASE),
    ("130", None, {"stated": "100"}, "30", F(0)),
    ("130", meter(None, install="50"), {"stated": "50"}, "80", F(0)),
    ("130", meter(None, install="50"), {"stated": "100"}, "80", F.WRONG_BASE),
    ("130", None, {"on": date(2026, 4, 1)}, "30", F.OUT_OF_CYCLE | F.FUTURE),
    ("130", None, {"on": date(2026, 2, 28)}, "30", F.OUT_OF_CYCLE),
    ("130", None, {"on": date(2026, 3, 11)}, "30", F.FUTURE),
    ("5", meter("99990"), {}, "15", F.ROLLOVER),
    ("12.5", meter("150", replacement=MeterReplacement(D("170"), D("2"))), {"stated": "2"},
     "30.5", F.METER_REPLACED),
    ("12.5", meter("150", replacement=MeterReplacement(D("170"), D("2"))), {"stated": "150"},
     "30.5", F.METER_REPLACED | F.WRONG_BASE),
    ("1", meter("150", replacement=MeterReplacement(D("170"), D("2"))), {}, "19", F.METER_REPLACED | F.REVERSE),
    ("3", meter("99990", replacement=MeterReplacement(D("10"), D("0"))), {}, "23",
     F.METER_REPLACED | F.ROLLOVER),
])
def test_flags(reading, ctx, kwargs, usage, flags):
    result = check(reading, ctx, **kwargs)
    assert result.usage == D(usage)
    assert result.flags == flags
    assert {f.code for f in result.findings} == set(flag_codes(flags))
    assert all(f.reason and "%(" not in f.reason for f in result.findings)


@pytest.mark.parametrize("digits", range(3, 11))
def test_rollover_at_each_dial_size(digits):
    cap = D(10) ** digits
    previous = cap - D("7.5")
    result = check("2", meter(str(previous), digits=digits))
    assert result.flags == F.ROLLOVER and result.usage == D("9.5")
    assert "rolled over" in result.explanation
    # A wrap above the plausible share of the dial is a reverse.
    far = check(str(previous - cap // 2), meter(str(previous), digits=digits))
    assert far.flags == F.REVERSE and far.usage < 0
    # Right at the share limit is still a rollover, one thousandth beyond is not.
    limit = cap / 10
    assert check(str(limit - D("7.5")), meter(str(previous), digits=digits)).flags == F.ROLLOVER
    assert check(str(limit - D("7.499")), meter(str(previous), digits=digits)).flags == F.REVERSE
    assert check(str(cap), meter("0", digits=digits)).flags == F.TOO_MANY_DIGITS


def test_high_against_last_year_is_seasonal():
    # Summer last year was high; recent months are low. A summer read like last year's is fine.
    history = [UsagePeriod(date(2025, 2, 1), date(2025, 3, 1), D("280"))] + monthly_history(["28", "31", "30"])
    ok = check("380", meter("100"), history)  # 280 in 28 days, same as last year
    assert ok.flags == F(0)
    high = check("800", meter("100"), history)
    assert high.flags == F.HIGH
    assert "same period last year" in high.explanation and "more than 2 times" in high.explanation


def test_high_and_low_against_recent_average():
    history = monthly_history(["31", "30", "31"])  # Nov-Jan, 92 days, 1 a day
    assert check("157", meter("100"), history).flags == F.HIGH  # 57 in 28 days > 2/day
    assert check("156", meter("100"), history).flags == F(0)
    low = check("108", meter("100"), history)  # 8 in 28 days < 0.3/day
    assert low.flags == F.LOW and "last 3 periods" in low.explanation
    assert check("109", meter("100"), history).flags == F(0)


def test_high_low_need_enough_history_and_ignore_estimates():
    short = monthly_history(["30", "31"])
    assert check("500", meter("100"), short).flags == F(0)
    estimated = short + [UsagePeriod(date(2026, 1, 1), date(2026, 2, 1), D("900"), estimated=True)]
    assert usage_baselines(estimated, date(2026, 3, 1)).history_count == 2
    assert check("500", meter("100"), estimated).flags == F(0)
    assert check("500", meter("100"), history=monthly_history(["30", "31", "31"]),
                 rules=ReadRules(min_history=4)).flags == F(0)


def test_thresholds_are_configurable():
    history = monthly_history(["31", "30", "31"])
    assert check("150", meter("100"), history, rules=ReadRules(high_ratio=D("1.5"))).flags == F.HIGH
    with pytest.raises(DomainError):
        ReadRules(high_ratio=D("1.2345"))


@pytest.mark.parametrize("raw, value, flags", [
    ("123.4", "123.4", F(0)), (" １２３ ", "123", F(0)), ("-5", "-5", F.NEGATIVE),
    ("abc", None, F.NOT_NUMERIC), ("", None, F.NOT_NUMERIC), ("1.2345", None, F.NOT_NUMERIC),
    ("100000", "100000", F.TOO_MANY_DIGITS), ("99999.999", "99999.999", F(0)),
])
def test_parse_reading(raw, value, flags):
    parsed = parse_reading(raw, dial_digits=5)
    assert parsed.value == (None if value is None else D(value))
    assert parsed.flags == flags
    assert all(f.reason for f in parsed.findings)


def test_bad_dial_and_fractional_thousandths_are_refused():
    with pytest.raises(DomainError):
        check("1", meter("0", digits=13))
    with pytest.raises(DomainError):
        check("1.0001")
    with pytest.raises(DomainError):
        to_thousandths(D("0.0005"))


# ------------------------------------------------------------------------------------------------
# The batch path gives the same answers
# ------------------------------------------------------------------------------------------------

def pack(cases, rules):
    rows = []
    for read, ctx, history in cases:
        b = usage_baselines(history, read.read_on, recent_periods=rules.recent_periods)
        base = ctx.previous_reading if ctx.previous_reading is not None else ctx.install_reading
        base_on = (ctx.previous_read_on or ctx.install_on) if ctx.previous_reading is not None else ctx.install_on
        rep = ctx.replacement
        rows.append(dict(
            reading=to_thousandths(read.reading), read_on=read.read_on, base=to_thousandths(base), base_on=base_on,
            dial_digits=ctx.dial_digits, cycle_from=ctx.cycle_from, cycle_to=ctx.cycle_to,
            stated_previous=to_thousandths(read.stated_previous) if read.stated_previous is not None else 0,
            has_stated_previous=read.stated_previous is not None, replaced=rep is not None,
            old_final=to_thousandths(rep.old_final) if rep else 0,
            new_install=to_thousandths(rep.new_install) if rep else 0,
            last_year_usage=to_thousandths(b.last_year_usage), last_year_days=b.last_year_days,
            recent_usage=to_thousandths(b.recent_usage), recent_days=b.recent_days,
            history_count=b.history_count,
        ))
    columns = {}
    for name in ReadArrays.__dataclass_fields__:
        values = [r[name] for r in rows]
        if name in ("read_on", "base_on", "cycle_from", "cycle_to"):
            columns[name] = np.array(values, dtype="datetime64[D]")
        elif name in ("has_stated_previous", "replaced"):
            columns[name] = np.array(values, dtype=np.bool_)
        else:
            columns[name] = np.array(values, dtype=np.int64)
    return ReadArrays(**columns)


thousandths = st.integers(min_value=0, max_value=10**6).map(lambda n: D(n) / 1000)


@st.composite
def read_cases(draw):
    digits = draw(st.integers(min_value=3, max_value=10))
    cap_t = 10 ** (digits + 3)
    reading_t = draw(st.one_of(st.integers(0, cap_t - 1), st.integers(cap_t - 2000, cap_t + 5),
                               st.integers(-5, 2000), st.integers(0, 5 * 10**6)))
    previous_t = draw(st.one_of(st.integers(0, cap_t - 1), st.integers(max(0, cap_t - 3000), cap_t - 1),
                                st.integers(0, 3000)))
    has_previous = draw(st.booleans())
    start = date(2025, 6, 1)
    previous_on = start + timedelta(days=draw(st.integers(0, 300)))
    read_on = previous_on + timedelta(days=draw(st.integers(-2, 70)))
    cycle_from = start + timedelta(days=draw(st.integers(250, 330)))
    replacement = None
    if draw(st.booleans()):
        replacement = MeterReplacement(D(draw(st.integers(0, cap_t - 1))) / 1000,
                                       D(draw(st.integers(0, min(cap_t - 1, 10**6)))) / 1000)
    ctx = MeterContext(
        dial_digits=digits, install_reading=D(draw(st.integers(0, 5000))) / 1000, install_on=date(2025, 1, 1),
        cycle_from=cycle_from, cycle_to=cycle_from + timedelta(days=draw(st.integers(1, 40))),
        previous_reading=D(previous_t) / 1000 if has_previous else None,
        previous_read_on=previous_on if has_previous else None, replacement=replacement)
    stated = draw(st.one_of(st.none(), st.just(D(previous_t) / 1000), thousandths))
    n = draw(st.integers(0, 6))
    history = []
    end = read_on - timedelta(days=draw(st.integers(0, 40)))
    for _ in range(n):
        length = draw(st.integers(0, 40))
        history.append(UsagePeriod(end - timedelta(days=length), end, draw(thousandths),
                                   estimated=draw(st.booleans())))
        end -= timedelta(days=length)
    if draw(st.booleans()):
        ly_end = read_on.replace(year=read_on.year - 1, day=1) + timedelta(days=draw(st.integers(0, 27)))
        history.append(UsagePeriod(ly_end - timedelta(days=draw(st.integers(1, 40))), ly_end, draw(thousandths)))
    return MeterRead(D(reading_t) / 1000, read_on, stated), ctx, history


@settings(max_examples=300, deadline=None)
@given(st.lists(read_cases(), min_size=1, max_size=8),
       st.sampled_from([ReadRules(), ReadRules(high_ratio=D("1.5"), low_ratio=D("0.5"), min_history=1,
                                               rollover_share=D("0.25"), recent_periods=2)]))
def test_scalar_and_batch_paths_agree(cases, rules):
    today = date(2026, 2, 1)
    batch = validate_reads(pack(cases, rules), today=today, rules=rules)
    for i, (read, ctx, history) in enumerate(cases):
        one = validate_read(read, ctx, history, today=today, rules=rules)
        assert to_thousandths(one.usage) == int(batch.usage[i])
        assert int(one.flags) == int(batch.flags[i]), (flag_codes(one.flags), flag_codes(batch.flags[i]))


def test_batch_of_nothing():
    empty = {name: np.array([], dtype="datetime64[D]" if name.endswith(("_on", "_from", "_to")) else np.int64)
             for name in ReadArrays.__dataclass_fields__}
    result = validate_reads(ReadArrays(**empty), today=TODAY)
    assert result.usage.shape == (0,) and result.flags.shape == (0,)
