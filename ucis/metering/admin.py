"""Read-only Django admin views of meter reading (changes go through the services and the review queue)."""

from __future__ import annotations

from django.contrib import admin

from ucis.metering.models import ApportionGroup, MeterRead, MqttDeadLetter, ReadCycle, ReadReview, Route
from ucis.platform.admin_mixins import ReadOnlyAdminMixin, TenantAdminMixin


@admin.register(Route)
class RouteAdmin(ReadOnlyAdminMixin, TenantAdminMixin, admin.ModelAdmin):
    list_display = ("code", "name", "commodity", "node", "reader", "cycle_months", "read_day", "active")
    list_filter = ("commodity", "cycle_months", "active")
    search_fields = ("code", "name")
    list_select_related = ("node", "reader")


@admin.register(ReadCycle)
class ReadCycleAdmin(ReadOnlyAdminMixin, TenantAdminMixin, admin.ModelAdmin):
    list_display = ("route", "period", "scheduled_date", "window_from", "window_to", "status")
    list_filter = ("status", "period")
    list_select_related = ("route",)


@admin.register(MeterRead)
class MeterReadAdmin(ReadOnlyAdminMixin, TenantAdminMixin, admin.ModelAdmin):
    list_display = ("meter", "read_date", "reading", "usage", "kind", "source", "status", "flags")
    list_filter = ("status", "kind", "source")
    date_hierarchy = "read_date"
    raw_id_fields = ("meter", "service_point", "cycle", "supersedes")
    show_full_result_count = False  # counting tens of millions of reads for every page is not worth it


@admin.register(ReadReview)
class ReadReviewAdmin(ReadOnlyAdminMixin, TenantAdminMixin, admin.ModelAdmin):
    list_display = ("service_point", "period", "reasons", "flags", "status", "decided_by", "decided_at")
    list_filter = ("status", "period")
    raw_id_fields = ("service_point", "read", "cycle")


@admin.register(ApportionGroup)
class ApportionGroupAdmin(ReadOnlyAdminMixin, TenantAdminMixin, admin.ModelAdmin):
    list_display = ("name", "method", "line_label", "node", "active")


@admin.register(MqttDeadLetter)
class MqttDeadLetterAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    """Remote-read messages that could not be stored: for administrators of the whole group."""

    list_display = ("received_at", "topic", "reason")
    search_fields = ("topic", "reason")

    def has_view_permission(self, request, obj=None):
        return request.user.is_superuser
