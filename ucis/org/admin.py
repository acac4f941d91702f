"""Django admin for administrators; writes go through the same services as the staff UI."""

from __future__ import annotations

from django.contrib import admin, messages
from django.contrib.auth.admin import UserAdmin
from django.core.exceptions import ValidationError

from ucis.kernel.errors import DomainError
from ucis.org import services
from ucis.org.models import OrgNode, User
from ucis.platform.admin_mixins import TenantAdminMixin


@admin.register(OrgNode)
class OrgNodeAdmin(TenantAdminMixin, admin.ModelAdmin):
    list_display = ("code", "name", "kind", "company", "depth", "is_active")
    list_filter = ("kind", "is_active")
    search_fields = ("code", "name", "name_en")
    ordering = ("path",)
    readonly_fields = ("path", "depth", "company", "created_at", "updated_at")
    fields = ("parent", "code", "name", "name_en", "kind", "commodities", "address", "phone", "is_active",
              *readonly_fields)

    def get_readonly_fields(self, request, obj=None):
        # Code and parent are permanent here: moving a subtree is a separate, audited operation.
        return self.readonly_fields + (("code", "parent", "kind") if obj else ())

    def save_model(self, request, obj, form, change):
        try:
            if change:
                data = {f: form.cleaned_data[f] for f in ("name", "name_en", "address", "phone",
                                                          "is_active", "commodities")}
                services.org_node_update(actor=request.user, node_id=obj.pk, **data)
            else:
                created = services.org_node_create(
                    actor=request.user, parent_id=obj.parent_id, code=obj.code, name=obj.name, kind=obj.kind,
                    name_en=obj.name_en, commodities=obj.commodities, address=obj.address, phone=obj.phone)
                obj.pk = created.pk
        except DomainError as exc:
            raise ValidationError(str(exc)) from exc

    def delete_model(self, request, obj):
        messages.error(request, "Organisation nodes are deactivated, not deleted.")

    def has_delete_permission(self, request, obj=None):
        return False


@admin.register(User)
class StaffAdmin(TenantAdminMixin, UserAdmin):
    list_display = ("username", "display_name", "node", "is_active", "is_staff", "last_login")
    list_filter = ("is_active", "is_staff", "groups")
    search_fields = ("username", "display_name", "employee_no")
    fieldsets = (*UserAdmin.fieldsets, ("ucis", {"fields": ("node", "display_name", "employee_no", "phone",
                                                             "language")}))
    add_fieldsets = ((None, {"classes": ("wide",), "fields": ("username", "node", "password1", "password2")}),)
