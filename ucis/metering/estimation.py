"""Estimated usage (估抄) where no valid read exists, and the true-up once a real read arrives.

Pure: history in, an ``Estimate`` with its explanation out; no Django, no clock.

Method: the average daily usage of a baseline × the days of the period to estimate, rounded half-up
to 0.001 (the precision of a reading). The baseline is the same period last year when there is one
(the latest valid period ending in the same calendar month a year before the period's end), because
usage is seasonal; otherwise the mean daily usage of the last ``recent_periods`` valid periods.
Estimated periods are never used as a baseline, so estimates do not compound.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from ucis.kernel.errors import DomainError, render_reason
from ucis.kernel.errors import gettext_noop as _
from ucis.metering.validation import THOUSANDTH, UsagePeriod, usage_baselines

SAME_PERIOD_LAST_YEAR = "same_period_last_year"
RECENT_AVERAGE = "recent_average"


@dataclass(frozen=True)
class Estimate:
    usage: Decimal
    daily: Decimal  # shown, rounded to 0.001; ``usage`` is computed from the exact ratio
    days: int
    method: str
    template: str
    params: Mapping[str, Any] = field(default_factory=dict)

    @property
    def explanation(self) -> str:
        return render_reason(self.template, self.params)


def estimate_usage(history: Sequence[UsagePeriod], start: date, end: date, *,
                   recent_periods: int = 3) -> Estimate:
    """Usage for ``[start, end)`` from the account's own valid history."""
    days = (end - start).days
    if days <= 0:
        raise DomainError("end", _("the period to estimate must end after it starts (%(start)s to %(end)s)"),
                          start=start.isoformat(), end=end.isoformat())
    if recent_periods < 1:
        raise DomainError("recent_periods", _("needs at least one recent period"))
    b = usage_baselines(history, end, recent_periods=recent_periods)
    if b.last_year_days > 0:
        method, base_usage, base_days = SAME_PERIOD_LAST_YEAR, b.last_year_usage, b.last_year_days
        template = _("estimated %(usage)s for %(days)s days at %(daily)s a day, the daily usage of the same "
                     "period last year")
    elif b.recent_days > 0:
        method, base_usage, base_days = RECENT_AVERAGE, b.recent_usage, b.recent_days
        template = _("estimated %(usage)s for %(days)s days at %(daily)s a day, the average of the last "
                     "%(periods)s valid periods")
    else:
        raise DomainError("history", _("there is no valid read history to estimate from"))
    # Multiply before dividing so the only rounding is the final one.
    usage = (base_usage * days / base_days).quantize(THOUSANDTH, rounding=ROUND_HALF_UP)
    daily = (base_usage / base_days).quantize(THOUSANDTH, rounding=ROUND_HALF_UP)
    params = {"usage": str(usage), "days": days, "daily": str(daily),
              "periods": min(recent_periods, b.history_count)}
    return Estimate(usage, daily, days, method, template, params)


@dataclass(frozen=True)
class TrueUp:
    """``difference`` > 0: the estimate was short and the next bill carries the extra usage;
    < 0: the estimate was over and the next bill is reduced."""

    estimated: Decimal
    actual: Decimal
    difference: Decimal

    @property
    def explanation(self) -> str:
        if self.difference > 0:
            template = _("actual usage %(actual)s was %(difference)s more than the estimate %(estimated)s; "
                         "the difference is added to the next bill")
        elif self.difference < 0:
            template = _("actual usage %(actual)s was %(difference)s less than the estimate %(estimated)s; "
                         "the difference is taken off the next bill")
        else:
            template = _("actual usage %(actual)s equals the estimate")
        return template % {"actual": str(self.actual), "estimated": str(self.estimated),
                           "difference": str(abs(self.difference))}


def true_up(estimated_usage: Decimal, actual_usage: Decimal) -> TrueUp:
    """The usage to carry into the next bill once an estimated period has a real read."""
    for name, value in (("estimated_usage", estimated_usage), ("actual_usage", actual_usage)):
        if not isinstance(value, Decimal) or not value.is_finite():
            raise DomainError(name, _("must be a decimal, not %(value)s"), value=repr(value))
    return TrueUp(estimated_usage, actual_usage, actual_usage - estimated_usage)


def usage_until(usage: Decimal, start: date, end: date, on: date) -> Decimal:
    """The part of ``usage`` over ``[start, end)`` that falls before ``on``, by days (a special
    read derived when nobody read the meter on a tariff change date), half-up to 0.001."""
    if not start <= on <= end:
        raise DomainError("read_date", _("%(on)s is outside the read period %(start)s to %(end)s"),
                          on=on.isoformat(), start=start.isoformat(), end=end.isoformat())
    span = (end - start).days
    if span == 0:
        return Decimal(0)
    return (usage * (on - start).days / span).quantize(THOUSANDTH, rounding=ROUND_HALF_UP)
