"""Showing what validation found in the reader's language: a stored finding is
``{code, template, params}``; the template is translated first, then filled in."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from django.utils.translation import gettext


def finding_text(finding: Mapping[str, Any]) -> str:
    template = finding.get("template") or ""
    params = finding.get("params") or {}
    if not template:
        return str(finding.get("code", ""))
    try:
        return gettext(template) % params if params else gettext(template)
    except (KeyError, TypeError, ValueError):  # a translation that lost a placeholder: show the English
        return template % params if params else template
