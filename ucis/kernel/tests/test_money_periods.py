from datetime import date
from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from ucis.kernel.errors import DomainError
from ucis.kernel.money import fen, round_yuan, yuan_from_ten_thousandths
from ucis.kernel.periods import Period, month_period
from ucis.kernel.snapshots import diff, history


@pytest.mark.parametrize("value, expected", [
    ("0.005", "0.01"), ("0.004", "0.00"), ("-0.005", "-0.01"), ("2.675", "2.68"), ("1", "1.00"),
])
def test_round_yuan_is_half_up(value, expected):
    assert round_yuan(value) == Decimal(expected)


def test_floats_are_refused_with_the_field_named():
    with pytest.raises(DomainError) as exc:
        round_yuan(0.1)  # type: ignore[arg-type]
    assert exc.value.problems[0].field == "amount"


@given(st.integers(min_value=-10**12, max_value=10**12))
def test_integer_path_equals_decimal_rule(units):
    assert yuan_from_ten_thousandths(units) == round_yuan(Decimal(units) / Decimal(10000))


@given(st.integers(min_value=-10**9, max_value=10**9))
def test_fen_roundtrip(cents):
    assert fen(Decimal(cents) / 100) == cents


def test_periods_are_half_open():
    p = month_period(2026, 2)
    assert p == Period(date(2026, 2, 1), date(2026, 3, 1))
    assert p.contains(date(2026, 2, 28)) and not p.contains(date(2026, 3, 1))
    assert p.days() == 28
    assert month_period(2026, 12).active_to == date(2027, 1, 1)
    assert not p.overlaps(month_period(2026, 3))
    assert Period(date(2026, 1, 15)).intersection(p) == p
    with pytest.raises(DomainError):
        Period(date(2026, 2, 1), date(2026, 2, 1))


def test_snapshot_history_shows_before_and_after():
    events = [("insert", {"name": "a", "x": 1}), ("update", {"name": "b", "x": 1}), ("delete", {"name": "b", "x": 1})]
    created, renamed, deleted = history(events)
    assert [(c.field, c.before, c.after) for c in created] == [("name", None, "a"), ("x", None, 1)]
    assert [(c.field, c.before, c.after) for c in renamed] == [("name", "a", "b")]
    assert {(c.field, c.after) for c in deleted} == {("name", None), ("x", None)}
    assert diff({"a": 1}, {"a": 1}) == []
