"""Errors that name the field and the reason, so every layer can report bad input plainly.

A reason is an English message template with named parameters — ``_("code %(code)s is already
used")`` with ``code="LJW"`` — so the UI can show it translated (``ucis.platform.i18n``) while
API clients and logs get the English text. ``_`` here only marks the template for extraction
(gettext_noop); pure modules import it without Django.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from dataclasses import field as dataclass_field
from typing import Any


def gettext_noop(message: str) -> str:
    """Marks ``message`` for translation catalogues; translation happens where it is shown."""
    return message


_ = gettext_noop


def render_reason(template: str, params: Mapping[str, Any] | None) -> str:
    """A message template filled with its parameters (``%(name)s``), untranslated."""
    return template % dict(params) if params else template


@dataclass(frozen=True)
class FieldProblem:
    field: str
    template: str
    params: Mapping[str, Any] = dataclass_field(default_factory=dict)

    @property
    def reason(self) -> str:
        return render_reason(self.template, self.params)

    def at(self, field_name: str) -> FieldProblem:
        """The same problem reported under another field name (e.g. ``units[2].code``)."""
        return FieldProblem(field_name, self.template, self.params)


class DomainError(Exception):
    """A business rule refused the input. Carries one or more (field, reason) problems."""

    def __init__(self, field: str | None = None, reason: str | None = None,
                 *, problems: list[FieldProblem] | None = None, **params: Any) -> None:
        items = list(problems or [])
        if field is not None or reason is not None:
            items.insert(0, FieldProblem(field or "__all__", reason or _("invalid"), params))
        if not items:
            items = [FieldProblem("__all__", _("invalid"))]
        self.problems = items
        super().__init__("; ".join(f"{p.field}: {p.reason}" for p in items))

    def as_dict(self) -> dict[str, list[dict[str, str]]]:
        return {"errors": [{"field": p.field, "reason": p.reason} for p in self.problems]}


class NotFound(Exception):
    """The object does not exist or is outside the caller's visibility (both look the same)."""


class Conflict(DomainError):
    """The request conflicts with the current state (duplicate, stale, locked)."""


def reason_required(reason: str | None) -> str:
    """The reason a change must carry (kept in its history), stripped; refused when blank."""
    text = (reason or "").strip()
    if not text:
        raise DomainError("reason", _("give a reason; it is kept in the history"))
    return text
