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
    external_ref = models.CharField(_("external reference"), max_length=80)
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
                       ("view_settlement", "Can see the settlement centre's daily consolidation"),
                       ("import_bankfile", "Can apply bank collection files")]
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


class BankBatch(models.Model):
    """A bank file applied (银电互联): its header, totals and fingerprint. The same file twice posts
    nothing (each line is a payment unique by bank and serial); this row says when it came."""

    tenancy_node_field = "company"

    company = models.ForeignKey("org.OrgNode", on_delete=models.PROTECT, related_name="+")
    kind = models.CharField(_("kind"), max_length=10)
    bank_code = models.CharField(_("bank"), max_length=32)
    merchant_code = models.CharField(_("merchant code"), max_length=32)
    batch_no = models.CharField(_("batch"), max_length=32)
    file_date = models.DateField(_("file date"))
    encoding = models.CharField(_("encoding"), max_length=10)
    sha256 = models.CharField(_("SHA-256"), max_length=64)
    lines = models.IntegerField(_("lines"))
    total = models.DecimalField(_("total"), max_digits=16, decimal_places=2)
    applied = models.IntegerField(_("payments posted"))
    failed = models.IntegerField(_("lines not paid"), default=0)
    applied_by = models.ForeignKey("org.User", on_delete=models.PROTECT, null=True, blank=True, related_name="+")
    applied_at = models.DateTimeField(_("applied at"), db_default=Now())

    objects = TenantManager()

    class Meta:
        verbose_name = _("bank batch")
        verbose_name_plural = _("bank batches")
        constraints = [models.UniqueConstraint(fields=["sha256"], name="bankbatch_file_once")]

    def __str__(self) -> str:
        return f"{self.bank_code} {self.batch_no} {self.file_date}"


ORDER_STATUS = [("open", _("Waiting for payment")), ("paid", _("Paid")), ("closed", _("Closed"))]


class OnlineOrder(models.Model):
    """An order a customer pays online (WeChat Pay, Alipay): our ``out_trade_no``, the account and
    the amount the platform's notice must match."""

    tenancy_node_field = "account__node"

    out_trade_no = models.CharField(_("order number"), max_length=32, unique=True)
    channel = models.CharField(_("channel"), max_length=10, choices=CHANNELS)
    company = models.ForeignKey("org.OrgNode", on_delete=models.PROTECT, related_name="+")
    account = models.ForeignKey("customers.Account", on_delete=models.PROTECT, related_name="+")
    amount = models.DecimalField(_("amount"), max_digits=14, decimal_places=2)
    status = models.CharField(_("status"), max_length=8, choices=ORDER_STATUS, default="open")
    payment = models.OneToOneField(Payment, on_delete=models.PROTECT, null=True, blank=True, related_name="+")
    created_at = models.DateTimeField(_("created at"), db_default=Now())
    paid_at = models.DateTimeField(_("paid at"), null=True, blank=True)

    objects = TenantManager()

    class Meta:
        verbose_name = _("online order")
        verbose_name_plural = _("online orders")
        constraints = [models.CheckConstraint(condition=Q(amount__gt=0), name="onlineorder_amount_positive")]
        indexes = [models.Index(fields=["status", "created_at"], name="onlineorder_open")]

    def __str__(self) -> str:
        return self.out_trade_no


class SecurityEvent(models.Model):
    """A refused notice or file (forged, replayed, tampered): kept for the security officer."""

    channel = models.CharField(_("channel"), max_length=10)
    code = models.CharField(_("code"), max_length=32)
    reason = models.CharField(_("reason"), max_length=300)
    remote_addr = models.CharField(_("from"), max_length=64, blank=True, default="")
    detail = models.JSONField(_("detail"), default=dict, blank=True)
    at = models.DateTimeField(_("at"), db_default=Now())

    class Meta:
        verbose_name = _("security event")
        verbose_name_plural = _("security events")
        indexes = [models.Index(fields=["-at"], name="securityevent_recent")]

    def __str__(self) -> str:
        return f"{self.at} {self.channel} {self.code}"
