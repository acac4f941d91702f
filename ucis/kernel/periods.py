"""Half-open date ranges ``[active_from, active_to)``; ``active_to`` None means open-ended."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

from ucis.kernel.errors import DomainError
from ucis.kernel.errors import gettext_noop as _


@dataclass(frozen=True, order=True)
class Period:
    active_from: date
    active_to: date | None = None

    def __post_init__(self) -> None:
        if self.active_to is not None and self.active_to <= self.active_from:
            raise DomainError("active_to", _("must be after active_from (ranges are [from, to))"))

    def contains(self, day: date) -> bool:
        return self.active_from <= day and (self.active_to is None or day < self.active_to)

    def overlaps(self, other: Period) -> bool:
        return (other.active_to is None or self.active_from < other.active_to) and (
            self.active_to is None or other.active_from < self.active_to
        )

    def days(self) -> int:
        if self.active_to is None:
            raise DomainError("active_to", _("an open-ended period has no length"))
        return (self.active_to - self.active_from).days

    def intersection(self, other: Period) -> Period | None:
        if not self.overlaps(other):
            return None
        start = max(self.active_from, other.active_from)
        ends = [d for d in (self.active_to, other.active_to) if d is not None]
        return Period(start, min(ends) if ends else None)


def month_period(year: int, month: int) -> Period:
    """The calendar month as ``[first day, first day of next month)``."""
    if not 1 <= month <= 12:
        raise DomainError("month", _("must be 1..12"))
    start = date(year, month, 1)
    end = date(year + (month == 12), month % 12 + 1, 1)
    return Period(start, end)


def month_start(value: date | str, *, field: str = "period") -> date:
    """The first day of a billing month given as a date or as ``YYYY-MM``."""
    if isinstance(value, str):
        try:
            year, month = (int(x) for x in value.split("-")[:2])
            return date(year, month, 1)
        except (TypeError, ValueError):
            raise DomainError(field, _("%(value)s is not a month (YYYY-MM)"), value=value) from None
    return value.replace(day=1)
