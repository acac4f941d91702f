"""Django-admin helpers shared by the apps: the admin sees only the staff member's subtree."""

from __future__ import annotations


class TenantAdminMixin:
    def get_queryset(self, request):
        return super().get_queryset(request).visible_to(request.user)


class ReadOnlyAdminMixin:
    """Registry data changes through the services (validation, audit reason), not admin forms."""

    def has_add_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False
