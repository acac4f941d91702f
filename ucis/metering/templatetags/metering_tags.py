"""Template helpers of the meter-reading screens: findings and problems in the reader's language."""

from __future__ import annotations

from typing import Any

from django import template
from django.utils.translation import gettext_lazy

from ucis.metering import display
from ucis.platform.i18n import problem_text

register = template.Library()


@register.filter
def finding_text(finding: Any) -> str:
    """A stored finding ``{code, template, params}`` → its plain reason, translated."""
    return display.finding_text(finding)


@register.filter
def problem(problem: Any) -> str:
    return problem_text(problem)



COMMODITY_LABELS = {"water": gettext_lazy("Water"), "gas": gettext_lazy("Gas"),
                    "electricity": gettext_lazy("Electricity")}


@register.filter
def commodity(code: str) -> str:
    return str(COMMODITY_LABELS.get(code, code))
