"""Database expressions the business models share."""

from __future__ import annotations

from django.contrib.postgres.fields import DateRangeField
from django.db.models import F, Func, Q
from django.db.models.constraints import CheckConstraint


class DateRange(Func):
    """``daterange(from, to)``: the ``[from, to)`` range exclusion constraints compare."""

    function = "daterange"
    output_field = DateRangeField()


def range_valid(name: str, start: str = "active_from", end: str = "active_to") -> CheckConstraint:
    """An open-ended or non-empty ``[start, end)`` range."""
    return CheckConstraint(condition=Q(**{f"{end}__isnull": True}) | Q(**{f"{end}__gt": F(start)}), name=name)
