"""Read-only Django admin views of the registry for administrators (changes go through services)."""

from __future__ import annotations

from django.contrib import admin

from ucis.customers.models import Account, AddressArea, Customer, Meter, Premise
from ucis.platform.admin_mixins import ReadOnlyAdminMixin, TenantAdminMixin


@admin.register(Customer)
class CustomerAdmin(ReadOnlyAdminMixin, TenantAdminMixin, admin.ModelAdmin):
    list_display = ("customer_no", "name", "customer_type", "grade", "status")
    list_filter = ("customer_type", "grade", "status")
    search_fields = ("customer_no", "name", "name_initials")
    exclude = ("phone", "id_number", "phone_hash", "id_number_hash")


@admin.register(Account)
class AccountAdmin(ReadOnlyAdminMixin, TenantAdminMixin, admin.ModelAdmin):
    list_display = ("account_no", "customer", "company", "node", "payment_method", "status", "opened_date")
    list_filter = ("status", "payment_method")
    search_fields = ("account_no",)
    list_select_related = ("customer", "company", "node")


@admin.register(Premise)
class PremiseAdmin(ReadOnlyAdminMixin, TenantAdminMixin, admin.ModelAdmin):
    list_display = ("premise_no", "address", "floor_area", "residents")
    search_fields = ("premise_no", "address")


@admin.register(Meter)
class MeterAdmin(ReadOnlyAdminMixin, TenantAdminMixin, admin.ModelAdmin):
    list_display = ("serial", "commodity", "meter_type", "dial_digits", "multiplier", "status", "node")
    list_filter = ("commodity", "meter_type", "status")
    search_fields = ("serial",)


@admin.register(AddressArea)
class AddressAreaAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    list_display = ("code", "name", "level", "parent")
    list_filter = ("level",)
    search_fields = ("code", "name")
