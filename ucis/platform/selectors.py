"""Reads for the platform pages (home dashboard)."""

from __future__ import annotations

from typing import Any

from django.apps import apps
from django.db.models import Count
from django_otp.plugins.otp_totp.models import TOTPDevice


def home_summary(*, actor: Any) -> dict[str, Any]:
    node_model = apps.get_model("org", "OrgNode")
    user_model = apps.get_model("org", "User")
    nodes = node_model.objects.visible_to(actor)
    by_kind = dict(nodes.values_list("kind").annotate(n=Count("id")))
    labels = dict(node_model._meta.get_field("kind").choices)
    return {
        "node": actor.node,
        "nodes_by_kind": {str(labels.get(kind, kind)): n for kind, n in sorted(by_kind.items())},
        "node_count": sum(by_kind.values()),
        "staff_count": user_model.objects.visible_to(actor).filter(is_active=True).count(),
        "roles": sorted(g.name for g in actor.groups.all()),
        "otp_enabled": TOTPDevice.objects.filter(user=actor, confirmed=True).exists(),
    }
