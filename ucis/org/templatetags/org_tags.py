from django import template
from django.utils.translation import gettext

from ucis.org.roles import role_label as _role_label

register = template.Library()


@register.filter
def role_label(code: str) -> str:
    """Role code → its translated name (营业收费员 for counter_clerk)."""
    return gettext(_role_label(code))
