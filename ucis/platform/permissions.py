"""Permission checks used by services: a missing permission is 403, an invisible object is 404."""

from __future__ import annotations

from typing import Any

from django.core.exceptions import PermissionDenied


def require(actor: Any, perm: str, obj: Any = None) -> None:
    if not actor.has_perm(perm, obj) if obj is not None else not actor.has_perm(perm):
        raise PermissionDenied(f"missing permission {perm}")
