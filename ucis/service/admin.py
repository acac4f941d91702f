"""Django admin for the service desk's configuration (routing rules, SLAs, calendars, skills),
scoped to the administrator's subtree like every other admin page."""

from __future__ import annotations

from django.contrib import admin

from ucis.platform.admin_mixins import TenantAdminMixin
from ucis.service.models import (
    CalendarHoliday,
    CalendarMakeupDay,
    RoutingRule,
    ServiceCalendar,
    SlaRule,
    StaffSkill,
)


@admin.register(RoutingRule)
class RoutingRuleAdmin(TenantAdminMixin, admin.ModelAdmin):
    list_display = ("name", "company", "priority", "order_types", "commodity", "area", "skill", "target", "is_active")
    list_filter = ("is_active", "commodity")
    raw_id_fields = ("area",)


@admin.register(SlaRule)
class SlaRuleAdmin(TenantAdminMixin, admin.ModelAdmin):
    list_display = ("company", "order_type", "urgency", "clock", "accept_minutes", "complete_minutes")
    list_filter = ("order_type", "clock")


class HolidayInline(admin.TabularInline):
    model = CalendarHoliday
    extra = 0


class MakeupDayInline(admin.TabularInline):
    model = CalendarMakeupDay
    extra = 0


@admin.register(ServiceCalendar)
class ServiceCalendarAdmin(TenantAdminMixin, admin.ModelAdmin):
    list_display = ("company", "time_zone")
    inlines = [HolidayInline, MakeupDayInline]


@admin.register(StaffSkill)
class StaffSkillAdmin(TenantAdminMixin, admin.ModelAdmin):
    list_display = ("user", "skill")
    search_fields = ("skill", "user__username")
