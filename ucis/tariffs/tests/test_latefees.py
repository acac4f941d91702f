"""Late fees: grace days, the rate by class and by year, the minimum."""

from datetime import date
from decimal import Decimal as D

import pytest

from ucis.kernel.errors import DomainError
from ucis.tariffs.latefees import Arrear, LateFeeRule, late_fee

ELECTRICITY = LateFeeRule(grace_days=0, minimum=D("1.00"), rates={
    "resident": (D("0.001"), D("0.001")), "non_resident": (D("0.002"), D("0.003"))})


@pytest.mark.parametrize(("cls", "on", "amount", "days"), [
    ("resident", date(2026, 3, 15), D("0.00"), (0, 0)),  # due day itself: nothing yet
    ("resident", date(2026, 3, 16), D("1.00"), (1, 0)),  # 100 × 1‰ = 0.10, raised to the minimum
    ("resident", date(2026, 4, 14), D("3.00"), (30, 0)),
    ("non_resident", date(2026, 4, 14), D("6.00"), (30, 0)),
])
def test_daily_rate_by_class_and_minimum(cls, on, amount, days):
    fee = late_fee([Arrear("B1", D(100), date(2026, 3, 15))], customer_class=cls, on=on, rule=ELECTRICITY)
    assert fee.amount == amount
    if fee.lines:
        assert (fee.lines[0].days_this_year, fee.lines[0].days_later) == days


def test_days_after_the_year_end_use_the_earlier_year_rate():
    fee = late_fee([Arrear("B12", D(1000), date(2026, 12, 21))], customer_class="non_resident",
                   on=date(2027, 1, 10), rule=ELECTRICITY)
    line = fee.lines[0]
    assert (line.days_this_year, line.days_later) == (10, 10)  # Dec 22–31, Jan 1–10
    assert fee.amount == D("50.00")  # 1000 × (10 × 2‰ + 10 × 3‰)
    assert "10 day(s) × 0.002 + 10 day(s) × 0.003 = 50.00" in line.explanation


def test_grace_days_and_several_bills():
    rule = LateFeeRule(grace_days=10, rates={"resident": (D("0.0005"), D("0.0005"))})
    fee = late_fee([Arrear("B1", D(200), date(2026, 1, 31)), Arrear("B2", D(50), date(2026, 2, 28)),
                    Arrear("paid", D(0), date(2026, 1, 1))], customer_class="resident", on=date(2026, 3, 10),
                   rule=rule)
    assert [(ln.ref, ln.days_this_year, ln.amount) for ln in fee.lines] == [("B1", 28, D("2.80"))]
    assert fee.amount == D("2.80") and not fee.minimum_applied


def test_bad_rules_and_unknown_classes_are_refused():
    with pytest.raises(DomainError) as err:
        LateFeeRule(grace_days=0, rates={"resident": (D("-0.001"), D("0.001"))})
    assert err.value.problems[0].field == "rates.resident"
    with pytest.raises(DomainError) as err:
        late_fee([], customer_class="special", on=date(2026, 1, 1), rule=ELECTRICITY)
    assert err.value.problems[0].field == "customer_class"
