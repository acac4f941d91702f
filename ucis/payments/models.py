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
                       ("reverse_payment", "Can reverse payments")]
        triggers = [pgtrigger.Protect(name="no_delete", operation=pgtrigger.Delete)]

    def __str__(self) -> str:
        return f"{self.channel}:{self.external_ref} {self.amount}"
