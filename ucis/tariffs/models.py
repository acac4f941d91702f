"""Tariffs as versioned data (TAR-1 … TAR-5): tariffs and their versions, policy discounts with the
accounts they reach, standing reductions by special category, and late-fee policies.

A version's charge components are stored as the document form of ``ucis.tariffs.definitions``
(the same shape as a tariff file), so what is stored, exported and reviewed is one format; the
rules that read it live in the pure ``rating``/``latefees`` modules.
"""

from __future__ import annotations

import pghistory
from django.contrib.postgres.constraints import ExclusionConstraint
from django.contrib.postgres.fields import ArrayField, RangeOperators
from django.db import models
from django.db.models import Q
from django.utils.translation import gettext_lazy as _

from ucis.platform.audit import trackers
from ucis.platform.dbfuncs import DateRange, range_valid
from ucis.platform.tenancy import TenantManager


@pghistory.track(*trackers())
class Tariff(models.Model):
    """A price (电价/水价/气价) of one company and commodity for some customer types (价格类别)."""

    tenancy_node_field = "company"

    code = models.CharField(_("code"), max_length=32, unique=True)
    name = models.CharField(_("name"), max_length=100)
    company = models.ForeignKey("org.OrgNode", on_delete=models.PROTECT, related_name="+")
    commodity = models.CharField(_("commodity"), max_length=16)
    customer_types = ArrayField(models.CharField(max_length=16), verbose_name=_("customer types"))
    created_at = models.DateTimeField(_("created at"), auto_now_add=True)

    objects = TenantManager()

    class Meta:
        verbose_name = _("tariff")
        verbose_name_plural = _("tariffs")
        indexes = [models.Index(fields=["company", "commodity"])]
        permissions = [("import_tariff", "Can import tariff files"), ("simulate_bill", "Can simulate bills")]

    def __str__(self) -> str:
        return f"{self.code} {self.name}"


@pghistory.track(*trackers())
class TariffVersion(models.Model):
    """The tariff's price components in force on ``[active_from, active_to)``; versions of a tariff
    never overlap (the database refuses it)."""

    tenancy_node_field = "tariff__company"

    tariff = models.ForeignKey(Tariff, on_delete=models.PROTECT, related_name="versions")
    version = models.CharField(_("version"), max_length=32)
    active_from = models.DateField(_("from"))
    active_to = models.DateField(_("to (exclusive)"), null=True, blank=True)
    components = models.JSONField(_("components"))
    created_by = models.ForeignKey("org.User", on_delete=models.PROTECT, null=True, blank=True, related_name="+")
    created_at = models.DateTimeField(_("created at"), auto_now_add=True)

    objects = TenantManager()

    class Meta:
        verbose_name = _("tariff version")
        verbose_name_plural = _("tariff versions")
        constraints = [
            models.UniqueConstraint(fields=["tariff", "version"], name="tariffversion_label_unique"),
            range_valid("tariffversion_range_valid"),
            ExclusionConstraint(name="tariffversion_no_overlap", expressions=[
                ("tariff", RangeOperators.EQUAL), (DateRange("active_from", "active_to"), RangeOperators.OVERLAPS)]),
        ]

    def __str__(self) -> str:
        return f"{self.tariff_id} {self.version}"


@pghistory.track(*trackers())
class Discount(models.Model):
    """A policy discount (政策性优惠, TAR-4): ``percent`` off, or ``free_volume`` per month, on the
    components ``of`` for the accounts listed as members, on ``[active_from, active_to)``, with the
    message printed on their bills (温馨提示)."""

    tenancy_node_field = "company"

    code = models.CharField(_("code"), max_length=32, unique=True)
    label = models.CharField(_("label"), max_length=60)
    company = models.ForeignKey("org.OrgNode", on_delete=models.PROTECT, related_name="+")
    commodity = models.CharField(_("commodity"), max_length=16)
    of = ArrayField(models.CharField(max_length=32), verbose_name=_("components"))
    percent = models.DecimalField(_("percent off"), max_digits=5, decimal_places=2, default=0)
    free_volume = models.DecimalField(_("free volume per month"), max_digits=10, decimal_places=2, default=0)
    active_from = models.DateField(_("from"))
    active_to = models.DateField(_("to (exclusive)"), null=True, blank=True)
    message = models.CharField(_("bill message"), max_length=200, blank=True, default="")
    reason = models.CharField(_("reason"), max_length=200)
    created_by = models.ForeignKey("org.User", on_delete=models.PROTECT, null=True, blank=True, related_name="+")
    created_at = models.DateTimeField(_("created at"), auto_now_add=True)

    objects = TenantManager()

    class Meta:
        verbose_name = _("policy discount")
        verbose_name_plural = _("policy discounts")
        constraints = [
            range_valid("discount_range_valid"),
            models.CheckConstraint(condition=Q(percent__gte=0, percent__lte=100), name="discount_percent_range"),
            models.CheckConstraint(condition=Q(free_volume__gte=0), name="discount_free_volume"),
            models.CheckConstraint(condition=Q(percent__gt=0) | Q(free_volume__gt=0), name="discount_gives_something"),
        ]

    def __str__(self) -> str:
        return f"{self.code} {self.label}"


class DiscountMember(models.Model):
    """An account a discount reaches (chosen by area, by community or from an imported list)."""

    tenancy_node_field = "discount__company"

    discount = models.ForeignKey(Discount, on_delete=models.CASCADE, related_name="members")
    account = models.ForeignKey("customers.Account", on_delete=models.PROTECT, related_name="+")

    objects = TenantManager()

    class Meta:
        constraints = [models.UniqueConstraint(fields=["discount", "account"], name="discountmember_unique")]

    def __str__(self) -> str:
        return f"{self.discount_id}: {self.account_id}"


@pghistory.track(*trackers())
class StandingReduction(models.Model):
    """A reduction every customer of a special category gets while in it (e.g. 低保户: 5 m³ free a month)."""

    tenancy_node_field = "company"

    company = models.ForeignKey("org.OrgNode", on_delete=models.PROTECT, related_name="+")
    commodity = models.CharField(_("commodity"), max_length=16)
    category = models.CharField(_("special category"), max_length=16)
    label = models.CharField(_("label"), max_length=60)
    of = ArrayField(models.CharField(max_length=32), verbose_name=_("components"))
    percent = models.DecimalField(_("percent off"), max_digits=5, decimal_places=2, default=0)
    free_volume = models.DecimalField(_("free volume per month"), max_digits=10, decimal_places=2, default=0)
    message = models.CharField(_("bill message"), max_length=200, blank=True, default="")
    active_from = models.DateField(_("from"))
    active_to = models.DateField(_("to (exclusive)"), null=True, blank=True)

    objects = TenantManager()

    class Meta:
        verbose_name = _("standing reduction")
        verbose_name_plural = _("standing reductions")
        constraints = [
            range_valid("reduction_range_valid"),
            models.CheckConstraint(condition=Q(percent__gte=0, percent__lte=100), name="reduction_percent_range"),
            ExclusionConstraint(name="reduction_one_at_a_time", expressions=[
                ("company", RangeOperators.EQUAL), ("commodity", RangeOperators.EQUAL),
                ("category", RangeOperators.EQUAL), (DateRange("active_from", "active_to"), RangeOperators.OVERLAPS)]),
        ]

    def __str__(self) -> str:
        return f"{self.category}: {self.label}"


@pghistory.track(*trackers())
class LateFeePolicy(models.Model):
    """Late-fee rule of a company and commodity (TAR-5) for ``[active_from, active_to)``.
    ``rates``: {customer type: [daily rate for the year the bill fell due, for later years]}."""

    tenancy_node_field = "company"

    company = models.ForeignKey("org.OrgNode", on_delete=models.PROTECT, related_name="+")
    commodity = models.CharField(_("commodity"), max_length=16)
    grace_days = models.PositiveSmallIntegerField(_("grace days"))
    rates = models.JSONField(_("daily rates"))
    minimum = models.DecimalField(_("minimum fee"), max_digits=8, decimal_places=2, default=0)
    active_from = models.DateField(_("from"))
    active_to = models.DateField(_("to (exclusive)"), null=True, blank=True)

    objects = TenantManager()

    class Meta:
        verbose_name = _("late-fee policy")
        verbose_name_plural = _("late-fee policies")
        constraints = [
            range_valid("latefee_range_valid"),
            ExclusionConstraint(name="latefee_one_at_a_time", expressions=[
                ("company", RangeOperators.EQUAL), ("commodity", RangeOperators.EQUAL),
                (DateRange("active_from", "active_to"), RangeOperators.OVERLAPS)]),
        ]

    def __str__(self) -> str:
        return f"{self.company_id} {self.commodity} from {self.active_from}"
