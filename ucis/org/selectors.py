"""Reads of the organisation tree and staff, always through the tenancy layer."""

from __future__ import annotations

from typing import Any

from django.db.models import Count, Q, QuerySet

from ucis.org.models import OrgNode, User
from ucis.platform import audit
from ucis.platform.tenancy import access_by_id


def org_node_list(*, actor: Any, kind: str | None = None, q: str | None = None,
                  company_id: int | None = None, under_id: int | None = None) -> QuerySet[OrgNode]:
    qs = OrgNode.objects.visible_to(actor).select_related("parent", "company")
    if kind:
        qs = qs.filter(kind=kind)
    if q:
        qs = qs.filter(Q(code__istartswith=q) | Q(name__icontains=q) | Q(name_en__icontains=q))
    if company_id:
        qs = qs.filter(company_id=company_id)
    if under_id:
        root = org_node_get(actor=actor, node_id=under_id)
        qs = qs.filter(path__startswith=root.path)
    return qs.order_by("path")


def org_node_get(*, actor: Any, node_id: Any) -> OrgNode:
    return access_by_id(OrgNode.objects.select_related("parent", "company"), actor, node_id)


def org_node_by_code(*, actor: Any, code: str) -> OrgNode:
    node = OrgNode.objects.visible_to(actor).filter(code=code.strip().upper()).only("pk").first()
    return org_node_get(actor=actor, node_id=node.pk if node else None)


def org_node_children(*, actor: Any, node: OrgNode) -> QuerySet[OrgNode]:
    return (OrgNode.objects.visible_to(actor).filter(parent=node)
            .annotate(staff_count=Count("staff")).order_by("code"))


def org_node_ancestors(*, node: OrgNode) -> list[OrgNode]:
    """The chain above ``node`` (for breadcrumbs); only the part inside the caller's view is shown
    by the views, which already hold ``node`` through tenancy."""
    ids = [int(part) for part in node.path.strip("/").split("/")[:-1]]
    by_id = OrgNode.objects.in_bulk(ids)
    return [by_id[i] for i in ids if i in by_id]


def staff_list(*, actor: Any, q: str | None = None, node_id: int | None = None,
               role: str | None = None, active: bool | None = None) -> QuerySet[User]:
    qs = User.objects.visible_to(actor).select_related("node").prefetch_related("groups")
    if q:
        qs = qs.filter(Q(username__icontains=q) | Q(display_name__icontains=q)
                       | Q(employee_no__istartswith=q))
    if node_id:
        root = org_node_get(actor=actor, node_id=node_id)
        qs = qs.filter(node__path__startswith=root.path)
    if role:
        qs = qs.filter(groups__name=role)
    if active is not None:
        qs = qs.filter(is_active=active)
    return qs.order_by("node__path", "username")


def staff_get(*, actor: Any, staff_id: Any) -> User:
    return access_by_id(User.objects.select_related("node").prefetch_related("groups"), actor, staff_id)


def org_node_history(*, actor: Any, node_id: Any) -> list[audit.AuditEntry]:
    return audit.object_history(org_node_get(actor=actor, node_id=node_id))


def staff_history(*, actor: Any, staff_id: Any) -> list[audit.AuditEntry]:
    """The staff member's own changes plus every role granted or removed, oldest first."""
    staff = staff_get(actor=actor, staff_id=staff_id)
    entries = audit.object_history(staff)
    entries += audit.related_history(model=User.groups.through, filters={"user_id": staff.pk},
                                     field="role", describe=lambda e: e.group.name if e.group_id else "")
    return sorted(entries, key=lambda e: e.at)
