"""Audit trail search over the API (same rules as the audit page)."""

from __future__ import annotations

from datetime import datetime

from django.core.exceptions import PermissionDenied
from django.http import HttpRequest
from ninja import Router, Schema

from ucis.platform import audit
from ucis.platform.api import ERRORS

router = Router(tags=["audit"])


class ChangeOut(Schema):
    field: str
    before: str | None
    after: str | None


class HistoryOut(Schema):
    at: datetime
    label: str
    actor: str
    ip: str | None
    reason: str
    changes: list[ChangeOut]


def _text(value) -> str | None:
    return None if value is None else str(value)


def entries_out(entries: list[audit.AuditEntry]) -> list[dict]:
    """Audit entries as plain dicts for the schemas above (history tabs and search)."""
    return [
        {"at": e.at, "label": e.label, "model": e.model, "object_id": _text(e.object_id),
         "object_repr": e.object_repr, "actor": e.actor, "ip": e.ip, "url": e.url, "reason": e.reason,
         "changes": [{"field": c.field, "before": _text(c.before), "after": _text(c.after)}
                     for c in e.changes]}
        for e in entries
    ]


class EventOut(Schema):
    at: datetime
    label: str
    model: str
    object_id: str | None
    object_repr: str
    actor: str
    ip: str | None
    url: str | None
    reason: str
    changes: list[ChangeOut]


@router.get("/events", response={200: list[EventOut], **ERRORS})
def event_search(request: HttpRequest, model: str | None = None, user: str | None = None,
                 since: datetime | None = None, until: datetime | None = None,
                 object_id: str | None = None, text: str | None = None, label: str | None = None,
                 limit: int = 100):
    if not request.user.has_perm("org.view_audit"):
        raise PermissionDenied("missing permission org.view_audit")
    entries = audit.audit_search(actor=request.user, model=model, username=user, since=since, until=until,
                                 object_id=object_id, text=text, label=label, limit=min(max(limit, 1), 500))
    return entries_out(entries)
