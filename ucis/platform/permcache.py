"""One query for a staff member's permissions instead of two (issue #7).

Django's ``ModelBackend`` reads a user's own permissions and those of the user's groups with two
queries, once per request (it keeps them on the user object: ``_user_perm_cache``,
``_group_perm_cache``, ``_perm_cache``). ``PermissionPrefetchBackend`` sits before it in
``AUTHENTICATION_BACKENDS`` and fills the same three caches with one UNION query, then answers
from them; ``ModelBackend`` finds them filled and asks nothing. Nothing is kept across requests, so
a changed role takes effect on the next request exactly as before. It authenticates nobody.
"""

from __future__ import annotations

from typing import Any

from django.db import connection


def _prefetch(user_obj: Any) -> None:
    user_model = type(user_obj)
    own = user_model._meta.get_field("user_permissions").remote_field.through._meta
    groups = user_model._meta.get_field("groups")
    member = groups.remote_field.through._meta
    group_perms = groups.related_model._meta.get_field("permissions").remote_field.through._meta
    own_user = own.get_field(user_model._meta.model_name).column
    member_user = member.get_field(user_model._meta.model_name).column
    with connection.cursor() as cursor:
        cursor.execute(
            f"""SELECT true, ct.app_label, p.codename FROM auth_permission p
                  JOIN django_content_type ct ON ct.id = p.content_type_id
                  JOIN {own.db_table} up ON up.permission_id = p.id AND up.{own_user} = %s
                UNION ALL
                SELECT false, ct.app_label, p.codename FROM auth_permission p
                  JOIN django_content_type ct ON ct.id = p.content_type_id
                  JOIN {group_perms.db_table} gp ON gp.permission_id = p.id
                  JOIN {member.db_table} ug ON ug.group_id = gp.group_id AND ug.{member_user} = %s""",  # noqa: S608
            [user_obj.pk, user_obj.pk])
        rows = cursor.fetchall()
    user_obj._user_perm_cache = {f"{app}.{code}" for mine, app, code in rows if mine}
    user_obj._group_perm_cache = {f"{app}.{code}" for mine, app, code in rows if not mine}
    user_obj._perm_cache = user_obj._user_perm_cache | user_obj._group_perm_cache


class PermissionPrefetchBackend:
    """Not a ``BaseBackend``: it has no ``get_user``, so a session (``force_login``, ``login``)
    is never bound to it — it only answers permission checks."""

    def authenticate(self, request: Any, **credentials: Any) -> None:
        return None

    def has_perm(self, user_obj: Any, perm: str, obj: Any = None) -> bool:
        # Superusers, inactive and anonymous users and object permissions: left to the backends after.
        if (obj is not None or not getattr(user_obj, "is_active", False) or user_obj.is_anonymous
                or getattr(user_obj, "is_superuser", False) or not hasattr(user_obj, "user_permissions")):
            return False
        if not hasattr(user_obj, "_perm_cache"):
            _prefetch(user_obj)
        return perm in user_obj._perm_cache
