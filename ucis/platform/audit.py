"""Audit trail (ORG-4): who changed what, when, from where, with before/after values.

Changes are captured by PostgreSQL triggers (django-pghistory), so bulk ``UPDATE``s and raw SQL
are recorded row by row. The context (user, IP, URL, reason) is attached by the request
middleware or, for commands and services run outside a request, by ``audit_context``.
"""

from __future__ import annotations

import bisect
import contextlib
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import pghistory
from django.apps import apps
from django.db import models
from django.db.models.expressions import RawSQL
from pghistory.models import Event

from ucis.kernel.snapshots import FieldChange, history
from ucis.platform.tenancy import actor_root_path

# Snapshot fields never shown in a history: bookkeeping, or secrets (hashes are not tracked).
HIDDEN_FIELDS = ("pgh_id", "pgh_created_at", "pgh_label", "pgh_obj", "pgh_obj_id", "pgh_context",
                 "pgh_context_id", "updated_at")


def trackers() -> tuple[Any, ...]:
    """The trackers every audited business model uses: creation, each change, deletion."""
    return (pghistory.InsertEvent("insert"), pghistory.UpdateEvent("update"),
            pghistory.DeleteEvent("delete"))


@contextlib.contextmanager
def audit_context(*, actor: Any, reason: str = "", source: str = "command", **extra: Any) -> Iterator[None]:
    """Attribute every change in the block to ``actor`` with a reason (nests inside a request; in a
    read request, which opens no context of its own, it adds the request's URL, method and IP)."""
    from ucis.platform.middleware import read_request_context

    with pghistory.context(**{**read_request_context(), "user": getattr(actor, "pk", None),
                              "username": getattr(actor, "username", None), "reason": reason, "source": source,
                              **extra}):
        yield


def event_models() -> list[type[Event]]:
    return [m for m in apps.get_models() if issubclass(m, Event) and m is not Event
            and getattr(m, "pgh_tracked_model", None) is not None]


def event_model_for(model: type[models.Model]) -> type[Event] | None:
    concrete = model._meta.concrete_model
    for event_model in event_models():
        if event_model.pgh_tracked_model._meta.concrete_model is concrete:
            return event_model
    return None


def audited_labels() -> dict[str, type[Event]]:
    """``app_label.model_name`` of each audited model → its event model."""
    return {m.pgh_tracked_model._meta.label_lower: m for m in event_models()}


@dataclass(frozen=True)
class AuditEntry:
    at: datetime
    label: str
    model: str
    model_verbose: str
    object_id: Any
    object_repr: str
    actor_id: Any
    actor: str
    ip: str | None
    url: str | None
    reason: str
    changes: list[FieldChange]


def _snapshot(event: Event, field_names: list[str]) -> dict[str, Any]:
    return {name: getattr(event, name) for name in field_names}


def _field_names(event_model: type[Event]) -> list[str]:
    return [f.attname for f in event_model._meta.concrete_fields if f.name not in HIDDEN_FIELDS
            and f.attname not in HIDDEN_FIELDS]


def _entry(event: Event, changes: list[FieldChange], usernames: dict[Any, str]) -> AuditEntry:
    meta = event.pgh_context.metadata if event.pgh_context_id else {}
    tracked = event.pgh_tracked_model
    actor_id = meta.get("user")
    actor = meta.get("username") or usernames.get(actor_id) or (
        "system" if meta.get("source") == "command" else "—")
    return AuditEntry(
        at=event.pgh_created_at, label=event.pgh_label, model=tracked._meta.label_lower,
        model_verbose=str(tracked._meta.verbose_name), object_id=getattr(event, "pgh_obj_id", None),
        object_repr=str(getattr(event, "name", "") or getattr(event, "username", "") or getattr(event, "pgh_obj_id", "")),
        actor_id=actor_id, actor=actor, ip=meta.get("ip"), url=meta.get("url"),
        reason=meta.get("reason") or "", changes=changes)


def _usernames(events: list[Event]) -> dict[Any, str]:
    ids = {e.pgh_context.metadata.get("user") for e in events if e.pgh_context_id}
    ids.discard(None)
    if not ids:
        return {}
    user_model = apps.get_model("org", "User")
    return dict(user_model.objects.filter(pk__in=ids).values_list("pk", "username"))


def object_history(obj: models.Model) -> list[AuditEntry]:
    """Every recorded change of ``obj``, oldest first, with before/after values.

    The caller has already obtained ``obj`` through the tenancy layer."""
    event_model = event_model_for(type(obj))
    if event_model is None:
        return []
    events = list(event_model.objects.filter(pgh_obj_id=obj.pk).select_related("pgh_context")
                  .order_by("pgh_id"))
    names = _field_names(event_model)
    changes = history([(e.pgh_label, _snapshot(e, names)) for e in events])
    users = _usernames(events)
    return [_entry(e, c, users) for e, c in zip(events, changes, strict=True)]


def _visible_events(event_model: type[Event], actor: Any) -> models.QuerySet:
    root = actor_root_path(actor)
    qs = event_model.objects.all()
    if root is None:
        return qs.none()
    if root == "":
        return qs
    tracked = event_model.pgh_tracked_model
    field = getattr(tracked, "tenancy_node_field", None)
    if field is None:
        return qs.none()  # not tenant-scoped data: only system/group-level auditors see it
    if not field:
        return qs.filter(path__startswith=root)
    first = field.split("__")[0]
    if any(f.name == first and f.concrete for f in event_model._meta.get_fields()):
        # The snapshot carries its own node: deleted rows stay visible to the subtree that owned them.
        return qs.filter(**{f"{field}__path__startswith": root})
    # Reached through other rows (a group-wide customer via its accounts): the live object decides.
    return qs.filter(pgh_obj_id__in=tracked._default_manager.visible_to(actor).values("pk"))


def audit_search(*, actor: Any, model: str | None = None, username: str | None = None,
                 since: datetime | None = None, until: datetime | None = None,
                 object_id: str | None = None, text: str | None = None,
                 label: str | None = None, limit: int = 200) -> list[AuditEntry]:
    """Search the audit trail of every audited model the actor can see (newest first).

    Deleted objects stay searchable: visibility is decided by the snapshot's own node."""
    # Link-table events (role grants) have no object of their own; they show in their owner's history.
    targets = {k: v for k, v in audited_labels().items() if any(f.name == "pgh_obj" for f in v._meta.fields)}
    if model:
        targets = {k: v for k, v in targets.items() if k == model}
    user_model = apps.get_model("org", "User")
    actor_ids: list[Any] | None = None
    if username:
        actor_ids = list(user_model.objects.filter(username__icontains=username).values_list("pk", flat=True))
    found: list[tuple[Event, list[FieldChange]]] = []
    for event_model in targets.values():
        qs = _visible_events(event_model, actor).select_related("pgh_context")
        if since:
            qs = qs.filter(pgh_created_at__gte=since)
        if until:
            qs = qs.filter(pgh_created_at__lt=until)
        if object_id:
            qs = qs.filter(pgh_obj_id=object_id)
        if label:
            qs = qs.filter(pgh_label=label)
        if actor_ids is not None:
            qs = qs.filter(pgh_context__metadata__user__in=actor_ids)
        if text:
            table = event_model._meta.db_table
            qs = qs.annotate(_row_text=RawSQL(f'"{table}"::text', [])).filter(_row_text__icontains=text)
        events = list(qs.order_by("-pgh_created_at", "-pgh_id")[:limit])
        names = _field_names(event_model)
        # The diff of each hit needs the previous snapshot of the same object: one query for the
        # histories of all hit objects, then a search per hit.
        earlier: dict[Any, list[Event]] = {}
        if events:
            for row in (event_model.objects.filter(pgh_obj_id__in={e.pgh_obj_id for e in events},
                                                   pgh_id__lt=max(e.pgh_id for e in events)).order_by("pgh_id")):
                earlier.setdefault(row.pgh_obj_id, []).append(row)
        for event in events:
            chain = earlier.get(event.pgh_obj_id, [])
            index = bisect.bisect_left([e.pgh_id for e in chain], event.pgh_id)
            previous = chain[index - 1] if index else None
            pairs = ([(previous.pgh_label, _snapshot(previous, names))] if previous else []) + [
                (event.pgh_label, _snapshot(event, names))]
            found.append((event, history(pairs)[-1]))
    found.sort(key=lambda item: (item[0].pgh_created_at, item[0].pgh_id), reverse=True)
    found = found[:limit]
    users = _usernames([e for e, _ in found])
    return [_entry(e, c, users) for e, c in found]


def related_history(*, model: type[models.Model], filters: dict[str, Any], field: str,
                    describe: Any) -> list[AuditEntry]:
    """Membership-style events (a row added to or removed from a link table, e.g. a role granted)
    shown as a change of ``field`` on the owning object."""
    event_model = event_model_for(model)
    if event_model is None:
        return []
    events = list(event_model.objects.filter(**filters).select_related("pgh_context").order_by("pgh_id"))
    users = _usernames(events)
    entries = []
    for event in events:
        value = describe(event)
        added = event.pgh_label.endswith((".add", "insert"))
        change = FieldChange(field, None, value) if added else FieldChange(field, value, None)
        entries.append(_entry(event, [change], users))
    return entries
