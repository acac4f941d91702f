from datetime import date
from decimal import Decimal as D

import pytest

from ucis.kernel.errors import DomainError
from ucis.metering.estimation import RECENT_AVERAGE, SAME_PERIOD_LAST_YEAR, estimate_usage, true_up
from ucis.metering.validation import UsagePeriod

RECENT = [UsagePeriod(date(2025, 11, 1), date(2025, 12, 1), D("30")),
          UsagePeriod(date(2025, 12, 1), date(2026, 1, 1), D("62")),
          UsagePeriod(date(2026, 1, 1), date(2026, 2, 1), D("31"))]


def test_same_period_last_year_is_preferred():
    last_year = UsagePeriod(date(2025, 2, 1), date(2025, 3, 1), D("56"))
    est = estimate_usage(RECENT + [last_year], date(2026, 2, 1), date(2026, 3, 1))
    assert est.method == SAME_PERIOD_LAST_YEAR
    assert est.usage == D("56.000") and est.daily == D("2.000") and est.days == 28
    assert "same period last year" in est.explanation


def test_recent_average_when_no_last_year():
    est = estimate_usage(RECENT, date(2026, 2, 1), date(2026, 3, 1))
    assert est.method == RECENT_AVERAGE
    assert est.usage == (D(123) * 28 / 92).quantize(D("0.001"))  # 37.435
    assert est.usage == D("37.435")
    assert "last 3 valid periods" in est.explanation


def test_recent_uses_last_n_and_skips_estimates():
    history = RECENT + [UsagePeriod(date(2026, 2, 1), date(2026, 3, 1), D("999"), estimated=True)]
    est = estimate_usage(history, date(2026, 3, 1), date(2026, 3, 11), recent_periods=1)
    assert est.usage == D("10.000")


@pytest.mark.parametrize("history, start, end", [
    ([], date(2026, 2, 1), date(2026, 3, 1)),
    ([UsagePeriod(date(2026, 1, 1), date(2026, 2, 1), D(5), estimated=True)], date(2026, 2, 1), date(2026, 3, 1)),
    (RECENT, date(2026, 3, 1), date(2026, 3, 1)),
])
def test_no_estimate_without_history_or_days(history, start, end):
    with pytest.raises(DomainError):
        estimate_usage(history, start, end)


@pytest.mark.parametrize("estimated, actual, difference, word", [
    ("37.435", "40", "2.565", "added"), ("50", "40.5", "-9.5", "taken off"), ("12", "12", "0", "equals"),
])
def test_true_up(estimated, actual, difference, word):
    result = true_up(D(estimated), D(actual))
    assert result.difference == D(difference)
    assert D(estimated) + result.difference == D(actual)
    assert word in result.explanation


def test_usage_until_a_date_is_split_by_days_half_up():
    from ucis.metering.estimation import usage_until

    assert usage_until(D("30"), date(2025, 6, 1), date(2025, 7, 1), date(2025, 6, 16)) == D("15.000")
    assert usage_until(D("10"), date(2025, 6, 1), date(2025, 6, 4), date(2025, 6, 2)) == D("3.333")
    assert usage_until(D("0.005"), date(2025, 6, 1), date(2025, 6, 3), date(2025, 6, 2)) == D("0.003")
    assert usage_until(D("5"), date(2025, 6, 1), date(2025, 6, 1), date(2025, 6, 1)) == 0
    with pytest.raises(DomainError):
        usage_until(D("5"), date(2025, 6, 1), date(2025, 6, 10), date(2025, 6, 11))
