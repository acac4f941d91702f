"""Before/after differences between successive snapshots of one object (the audit trail)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class FieldChange:
    field: str
    before: Any
    after: Any


def diff(before: Mapping[str, Any] | None, after: Mapping[str, Any] | None,
         *, ignore: Sequence[str] = ()) -> list[FieldChange]:
    """Fields whose value differs; a missing side (creation, deletion) shows as ``None``."""
    before = before or {}
    after = after or {}
    changes = []
    for field in sorted(set(before) | set(after)):
        if field in ignore:
            continue
        old, new = before.get(field), after.get(field)
        if old != new:
            changes.append(FieldChange(field, old, new))
    return changes


def history(snapshots: Sequence[tuple[str, Mapping[str, Any]]],
            *, ignore: Sequence[str] = ()) -> list[list[FieldChange]]:
    """For ``(label, snapshot)`` events in order, the changes each one made.

    An insert is compared with nothing; a delete snapshot holds the last state, so it is shown
    as every field going to ``None``."""
    result = []
    previous: Mapping[str, Any] | None = None
    for label, snapshot in snapshots:
        if label == "delete":
            result.append(diff(snapshot, None, ignore=ignore))
            previous = None
        else:
            result.append(diff(previous, snapshot, ignore=ignore))
            previous = snapshot
    return result
