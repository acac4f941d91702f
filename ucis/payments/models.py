"""Payments (收费): money received through a channel, each posted exactly once to the ledger.

``(channel, external_ref)`` is unique: a bank line, a WeChat/Alipay transaction or a counter
receipt can only ever be one payment, however often its notice arrives. The payment's journal
entry (idempotency key ``payment:<id>``) allocates it to the account's open bills.
"""

from __future__ import annotations

import pgtrigger
from django.db import models
from django.db.models import Q
from django.db.models.functions import Now
from django.utils.translation import gettext_lazy as _

from ucis.platform.tenancy import TenantManager

CHANNELS = [("counter", _("Counter")), ("bank", _("Bank")), ("wechat", _("WeChat Pay")), ("alipay", _("Alipay")),
            ("kiosk", _("Self-service kiosk"))]
PAYMENT_STATUS = [("posted", _("Posted")), ("reversed", _("Reversed"))]


class Payment(models.Model):
    """A payment received for an account through one channel."""

    tenancy_node_field = "node"

    id = models.BigAutoField(primary_key=True)
    company = models.ForeignKey("org.OrgNode", on_delete=models.PROTECT, related_name="+")
    node = models.ForeignKey("org.OrgNode", on_delete=models.PROTECT, related_name="+")
    account = models.ForeignKey("customers.Account", on_delete=models.PROTECT, related_name="+")
    channel = models.CharField(_("channel"), max_length=10, choices=CHANNELS)
    external_ref = models.CharField(_("external reference"), max_length=64)
    amount = models.DecimalField(_("amount"), max_digits=14, decimal_places=2)
    received_at = models.DateTimeField(_("received at"), db_default=Now())
    business_date = models.DateField(_("business date"))
    collected_by = models.ForeignKey("org.User", on_delete=models.PROTECT, null=True, blank=True, related_name="+")
    payer_name = models.CharField(_("payer"), max_length=60, blank=True, default="")
    memo = models.CharField(_("memo"), max_length=200, blank=True, default="")
    status = models.CharField(_("status"), max_length=10, choices=PAYMENT_STATUS, default="posted")

    objects = TenantManager()

    class Meta:
        verbose_name = _("payment")
        verbose_name_plural = _("payments")
        constraints = [
            models.UniqueConstraint(fields=["channel", "external_ref"], name="payment_once_per_external_ref"),
            models.CheckConstraint(condition=Q(amount__gt=0), name="payment_amount_positive"),
        ]
        indexes = [models.Index(fields=["account", "-received_at"], name="payment_account"),
                   models.Index(fields=["company", "business_date", "channel"], name="payment_day"),
                   models.Index(fields=["collected_by", "business_date"], name="payment_clerk_day",
                                condition=Q(collected_by__isnull=False))]
        permissions = [("collect_payment", "Can take payments at the counter"),
                       ("reverse_payment", "Can reverse payments"),
                       ("view_settlement", "Can see the settlement centre's daily consolidation")]
        triggers = [pgtrigger.Protect(name="no_delete", operation=pgtrigger.Delete)]

    def __str__(self) -> str:
        return f"{self.channel}:{self.external_ref} {self.amount}"


class ShiftClose(models.Model):
    """A counter clerk's hand-over at the end of the day (交班/日结): what the system says was taken,
    by channel, against the cash counted in the drawer. After it, the clerk's day takes no more payments."""

    tenancy_node_field = "node"

    clerk = models.ForeignKey("org.User", on_delete=models.PROTECT, related_name="+")
    node = models.ForeignKey("org.OrgNode", on_delete=models.PROTECT, related_name="+")
    company = models.ForeignKey("org.OrgNode", on_delete=models.PROTECT, related_name="+")
    business_date = models.DateField(_("business date"))
    payments = models.IntegerField(_("payments"))
    expected = models.JSONField(_("takings by channel"), default=dict)
    expected_cash = models.DecimalField(_("cash expected"), max_digits=14, decimal_places=2)
    counted_cash = models.DecimalField(_("cash counted"), max_digits=14, decimal_places=2)
    note = models.CharField(_("note"), max_length=200, blank=True, default="")
    closed_at = models.DateTimeField(_("closed at"), db_default=Now())

    objects = TenantManager()

    class Meta:
        verbose_name = _("shift close")
        verbose_name_plural = _("shift closes")
        constraints = [models.UniqueConstraint(fields=["clerk", "business_date"], name="shiftclose_once_a_day"),
                       models.CheckConstraint(condition=Q(counted_cash__gte=0), name="shiftclose_counted_positive")]

    def __str__(self) -> str:
        return f"{self.clerk_id} {self.business_date}"

    @property
    def difference(self):
        return self.counted_cash - self.expected_cash


class BankDeposit(models.Model):
    """Cash a unit paid into the bank for a business day (解款), matched in the settlement report."""

    tenancy_node_field = "node"

    company = models.ForeignKey("org.OrgNode", on_delete=models.PROTECT, related_name="+")
    node = models.ForeignKey("org.OrgNode", on_delete=models.PROTECT, related_name="+")
    business_date = models.DateField(_("business date"))
    amount = models.DecimalField(_("amount"), max_digits=14, decimal_places=2)
    bank_ref = models.CharField(_("deposit slip number"), max_length=64)
    recorded_by = models.ForeignKey("org.User", on_delete=models.PROTECT, null=True, blank=True, related_name="+")
    recorded_at = models.DateTimeField(_("recorded at"), db_default=Now())

    objects = TenantManager()

    class Meta:
        verbose_name = _("bank deposit")
        verbose_name_plural = _("bank deposits")
        constraints = [models.UniqueConstraint(fields=["company", "bank_ref"], name="bankdeposit_slip_unique"),
                       models.CheckConstraint(condition=Q(amount__gt=0), name="bankdeposit_amount_positive")]

    def __str__(self) -> str:
        return f"{self.bank_ref} {self.amount}"
