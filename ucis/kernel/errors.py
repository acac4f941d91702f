"""Errors that name the field and the reason, so every layer can report bad input plainly."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class FieldProblem:
    field: str
    reason: str


class DomainError(Exception):
    """A business rule refused the input. Carries one or more (field, reason) problems."""

    def __init__(self, field: str | None = None, reason: str | None = None,
                 *, problems: list[FieldProblem] | None = None) -> None:
        items = list(problems or [])
        if field is not None or reason is not None:
            items.insert(0, FieldProblem(field or "__all__", reason or "invalid"))
        if not items:
            items = [FieldProblem("__all__", "invalid")]
        self.problems = items
        super().__init__("; ".join(f"{p.field}: {p.reason}" for p in items))

    def as_dict(self) -> dict[str, list[dict[str, str]]]:
        return {"errors": [{"field": p.field, "reason": p.reason} for p in self.problems]}


class NotFound(Exception):
    """The object does not exist or is outside the caller's visibility (both look the same)."""


class Conflict(DomainError):
    """The request conflicts with the current state (duplicate, stale, locked)."""
