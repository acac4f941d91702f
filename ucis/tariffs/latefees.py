"""Late fees (违约金, TAR-5): what an account owes for paying late, day by day.

Pure: arrears and a rule in, the fee with one explained line per overdue bill out; no clock
(``on`` is the day the fee is computed for).

Rule: a bill falls overdue after its due date plus ``grace_days``; from the next day it accrues
``amount × daily rate`` per day. The rate depends on the customer class and on the year: days in the
calendar year the bill fell due use the *this-year* rate, days in any later year the *earlier-year*
rate (e.g. electricity: residential 1‰ a day; others 2‰ for arrears of this year, 3‰ across the
year end). Each bill's fee is rounded half-up to the fen; if the account's total fee is above zero
but under ``minimum`` it is raised to the minimum (e.g. 1 yuan). Waiving a fee is not a rule here:
it goes through an approved correction order.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, timedelta
from decimal import Decimal
from typing import Any

from ucis.kernel.errors import DomainError, render_reason
from ucis.kernel.errors import gettext_noop as _
from ucis.kernel.money import round_yuan

RATE = Decimal("0.000001")


@dataclass(frozen=True)
class LateFeeRule:
    grace_days: int
    # customer class → (daily rate for days in the year the bill fell due, daily rate for later years)
    rates: Mapping[str, tuple[Decimal, Decimal]]
    minimum: Decimal = Decimal("0.00")

    def __post_init__(self) -> None:
        if self.grace_days < 0:
            raise DomainError("grace_days", _("grace days cannot be negative"))
        if not self.rates:
            raise DomainError("rates", _("give a daily rate for at least one customer class"))
        for cls, pair in self.rates.items():
            for rate in pair:
                if not isinstance(rate, Decimal) or rate < 0 or rate != rate.quantize(RATE):
                    raise DomainError(f"rates.{cls}", _("a daily rate is a non-negative decimal such as 0.001 "
                                                        "(1‰), not %(value)s"), value=str(rate))
        if self.minimum < 0:
            raise DomainError("minimum", _("the minimum cannot be negative"))


@dataclass(frozen=True)
class Arrear:
    ref: str  # the bill
    amount: Decimal  # still unpaid
    due_date: date


@dataclass(frozen=True)
class FeeLine:
    ref: str
    amount: Decimal
    days_this_year: int
    days_later: int
    template: str
    params: Mapping[str, Any] = field(default_factory=dict)

    @property
    def explanation(self) -> str:
        return render_reason(self.template, self.params)


@dataclass(frozen=True)
class LateFee:
    amount: Decimal
    lines: tuple[FeeLine, ...]
    minimum_applied: bool = False


def late_fee(arrears: Sequence[Arrear], *, customer_class: str, on: date, rule: LateFeeRule) -> LateFee:
    """The late fee owed on ``on`` (counting that day) for ``arrears``."""
    if customer_class not in rule.rates:
        raise DomainError("customer_class", _("no late-fee rate for customer class %(cls)s"), cls=customer_class)
    this_rate, later_rate = rule.rates[customer_class]
    lines = []
    for arrear in arrears:
        if arrear.amount <= 0:
            continue
        first = arrear.due_date + timedelta(days=rule.grace_days + 1)
        if on < first:
            continue
        year_end = date(arrear.due_date.year + 1, 1, 1)
        days_this = max(0, (min(on + timedelta(days=1), year_end) - first).days)
        days_later = max(0, (on + timedelta(days=1) - max(first, year_end)).days)
        fee = round_yuan(arrear.amount * (this_rate * days_this + later_rate * days_later))
        lines.append(FeeLine(
            arrear.ref, fee, days_this, days_later,
            _("%(amount)s overdue since %(first)s: %(days_this)s day(s) × %(rate_this)s + %(days_later)s day(s) × "
              "%(rate_later)s = %(fee)s"),
            {"amount": str(arrear.amount), "first": first.isoformat(), "days_this": days_this,
             "rate_this": str(this_rate), "days_later": days_later, "rate_later": str(later_rate), "fee": str(fee)}))
    total = sum((ln.amount for ln in lines), Decimal("0.00"))
    if Decimal(0) < total < rule.minimum:
        return LateFee(rule.minimum, tuple(lines), minimum_applied=True)
    return LateFee(total, tuple(lines))
