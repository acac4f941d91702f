"""Tenancy: staff see only their organisation node's subtree — enforced here, in one place.

Every business model uses ``TenantQuerySet`` (``Model.objects.visible_to(user)``) and names the
field that ties a row to the tree (``tenancy_node_field``; ``""`` for the node model itself).
Group-wide rows name instead the rows that use them (``tenancy_through = (model label, foreign
key back to this model, node field)``): a customer is visible where one of its accounts is.
``access_by_id`` turns "not visible" into ``Http404`` so another branch's object looks exactly
like a missing one. URL keyword arguments that carry ids are registered with ``register_id_kwarg``
so a generic test can sweep every route with foreign ids.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from django.apps import apps
from django.db import models
from django.db.models import Exists, OuterRef
from django.http import Http404


@dataclass(frozen=True)
class SystemActor:
    """The actor of command-line and scheduled work: sees the whole tree, attributed as 'system'."""

    username: str = "system"
    pk: None = None
    is_system: bool = True
    is_authenticated: bool = True
    is_active: bool = True

    def has_perm(self, perm: str, obj: Any = None) -> bool:
        return True


SYSTEM = SystemActor()


def is_system(actor: Any) -> bool:
    return getattr(actor, "is_system", False) is True


def acting_user(actor: Any) -> Any:
    """The staff member to record as having acted (``created_by`` …); None for the system."""
    return actor if getattr(actor, "pk", None) is not None else None


def _actor_node(actor: Any, *, with_company: bool) -> Any:
    """The actor's node; with its company read in the same query when that will be needed."""
    descriptor = getattr(actor.__class__, "node", None)  # __class__: request.user is a lazy proxy
    if (with_company and getattr(actor, "node_id", None) is not None and descriptor is not None
            and hasattr(descriptor, "is_cached") and not descriptor.is_cached(actor)):
        model = descriptor.field.related_model
        node = model._default_manager.select_related("company").filter(pk=actor.node_id).first()
        if node is not None:
            actor.node = node
    return getattr(actor, "node", None)


def actor_root_path(actor: Any, *, company_wide: bool = False) -> str | None:
    """The path of the subtree the actor may see; ``""`` for everything; None for nothing.

    ``company_wide`` widens the view to the actor's whole company — cross-site service (ORG-3):
    any counter of a company may look up and serve any customer of that company."""
    if is_system(actor):
        return ""
    if actor is None or not getattr(actor, "is_authenticated", False) or not actor.is_active:
        return None
    node = _actor_node(actor, with_company=company_wide)
    if node is None:
        return None
    if company_wide and node.company_id and node.company_id != node.pk:
        return node.company.path
    return node.path


class TenantQuerySet(models.QuerySet):
    def _path_lookup(self) -> str:
        field = getattr(self.model, "tenancy_node_field", None)
        if field is None:
            raise TypeError(f"{self.model.__name__} does not declare tenancy_node_field")
        return f"{field}__path" if field else "path"

    def visible_to(self, actor: Any, *, company_wide: bool = False) -> TenantQuerySet:
        root = actor_root_path(actor, company_wide=company_wide)
        if root is None:
            return self.none()
        if root == "":
            return self
        through = getattr(self.model, "tenancy_through", None)
        if through:
            # Group-wide rows (a customer, a premise) are visible where a row that uses them is.
            label, back, node_field = through
            users = apps.get_model(label)._default_manager.filter(
                **{back: OuterRef("pk"), f"{node_field}__path__startswith": root})
            return self.filter(Exists(users))
        return self.filter(**{f"{self._path_lookup()}__startswith": root})


TenantManager = models.Manager.from_queryset(TenantQuerySet)


def access_by_id(queryset: models.QuerySet | type[models.Model], actor: Any, pk: Any, *,
                 for_update: bool = False, company_wide: bool = False) -> Any:
    """The object with ``pk`` if ``actor`` may see it, else ``Http404`` (never 403, never the object)."""
    qs = queryset._default_manager.all() if isinstance(queryset, type) else queryset
    qs = qs.visible_to(actor, company_wide=company_wide)
    if for_update:
        qs = qs.select_for_update()
    try:
        return qs.get(pk=pk)
    except (qs.model.DoesNotExist, ValueError, TypeError):
        raise Http404(f"No {qs.model._meta.verbose_name} matches the given query.") from None


# URL keyword → "app_label.Model". Every route kwarg ending in ``_id`` must be registered.
ID_KWARGS: dict[str, str] = {}


def register_id_kwarg(kwarg: str, model_label: str) -> None:
    existing = ID_KWARGS.get(kwarg)
    if existing and existing != model_label:
        raise ValueError(f"URL kwarg {kwarg} already maps to {existing}")
    ID_KWARGS[kwarg] = model_label
