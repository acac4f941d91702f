"""Bill runs (BIL-1): select → calculate → review → approve → issue, and the bills they make.

Bills and bill lines are append-only mass tables written with COPY; ``(account, period)`` is
unique among bills that are not cancelled, which is what makes a run resumable: re-running any
step neither duplicates nor skips a bill.
"""

from __future__ import annotations

import pghistory
from django.contrib.postgres.fields import ArrayField
from django.db import models
from django.db.models import Q
from django.db.models.functions import Now
from django.utils.translation import gettext_lazy as _

from ucis.kernel.errors import gettext_noop
from ucis.platform.audit import trackers
from ucis.platform.tenancy import TenantManager

RUN_STATUS = [("created", _("Created")), ("calculating", _("Calculating")), ("calculated", _("Calculated")),
              ("approved", _("Approved")), ("issuing", _("Issuing")), ("issued", _("Issued")),
              ("cancelled", _("Cancelled"))]


@pghistory.track(*trackers())
class BillRun(models.Model):
    """One company's billing of one period for some routes (all when ``route_ids`` is empty)."""

    tenancy_node_field = "company"

    company = models.ForeignKey("org.OrgNode", on_delete=models.PROTECT, related_name="+")
    commodity = models.CharField(_("commodity"), max_length=16)
    period = models.DateField(_("billing period"))
    route_ids = ArrayField(models.BigIntegerField(), default=list, blank=True, verbose_name=_("routes"))
    status = models.CharField(_("status"), max_length=12, choices=RUN_STATUS, default="created")
    items_total = models.IntegerField(_("accounts"), default=0)
    items_done = models.IntegerField(_("accounts calculated"), default=0)
    exceptions = models.IntegerField(_("exceptions"), default=0)
    totals = models.JSONField(_("totals"), default=dict, blank=True)
    created_by = models.ForeignKey("org.User", on_delete=models.PROTECT, null=True, blank=True, related_name="+")
    created_at = models.DateTimeField(_("created at"), auto_now_add=True)
    calculated_by = models.ForeignKey("org.User", on_delete=models.PROTECT, null=True, blank=True, related_name="+")
    calculated_at = models.DateTimeField(_("calculated at"), null=True, blank=True)
    approved_by = models.ForeignKey("org.User", on_delete=models.PROTECT, null=True, blank=True, related_name="+")
    approved_at = models.DateTimeField(_("approved at"), null=True, blank=True)
    issued_by = models.ForeignKey("org.User", on_delete=models.PROTECT, null=True, blank=True, related_name="+")
    issued_at = models.DateTimeField(_("issued at"), null=True, blank=True)

    objects = TenantManager()

    class Meta:
        verbose_name = _("bill run")
        verbose_name_plural = _("bill runs")
        indexes = [models.Index(fields=["company", "period"])]
        constraints = [models.CheckConstraint(condition=Q(period__day=1), name="billrun_period_month_start")]
        permissions = [("calculate_billrun", "Can start and calculate bill runs"),
                       ("approve_billrun", "Can approve bill runs"), ("issue_billrun", "Can issue bill runs")]

    def __str__(self) -> str:
        return f"{self.company_id} {self.commodity} {self.period:%Y-%m} ({self.status})"


# Why an account of a run got no bill (stored rendered in English in ``BillRunItem.reason``; the
# screens match a reason back to its template to show it translated).
NO_AGREEMENT = gettext_noop("no agreement on the run's service points at the period end")
NO_READ = gettext_noop("no accepted read for the period")
NO_DAYS = gettext_noop("the reads of the period cover no days")
NEGATIVE_USAGE = gettext_noop("negative usage %(usage)s for the period")
NO_TARIFF = gettext_noop("no tariff for customer type %(type)s")
SEVERAL_TARIFFS = gettext_noop("several tariffs for customer type %(type)s")
EXCEPTION_REASONS = (NO_AGREEMENT, NO_READ, NO_DAYS, NEGATIVE_USAGE, NO_TARIFF, SEVERAL_TARIFFS)

ITEM_STATUS = [("pending", _("Pending")), ("billed", _("Billed")), ("exception", _("Exception"))]


class BillRunItem(models.Model):
    """An account of a run and what became of it; exceptions carry the reason (never a silent zero bill)."""

    tenancy_node_field = "run__company"

    id = models.BigAutoField(primary_key=True)
    # No database foreign keys on the mass tables (see docs/architecture.md, Decisions): the run
    # writes ids it has just read, nothing deletes runs or accounts, and the ledger checker looks
    # for orphans. The unique (run, account) index serves lookups by run.
    run = models.ForeignKey(BillRun, on_delete=models.CASCADE, related_name="items", db_constraint=False,
                            db_index=False)
    account = models.ForeignKey("customers.Account", on_delete=models.PROTECT, related_name="+",
                                db_constraint=False, db_index=False)
    route_id = models.BigIntegerField(_("route"), null=True)
    status = models.CharField(_("status"), max_length=10, choices=ITEM_STATUS, default="pending")
    reason = models.CharField(_("reason"), max_length=300, blank=True, default="")

    objects = TenantManager()

    class Meta:
        constraints = [models.UniqueConstraint(fields=["run", "account"], name="billrunitem_unique")]
        indexes = [models.Index(fields=["run", "status", "route_id"], name="billrunitem_progress")]

    def __str__(self) -> str:
        return f"{self.run_id}: {self.account_id} {self.status}"


BILL_STATUS = [("calculated", _("Calculated")), ("issued", _("Issued")), ("cancelled", _("Cancelled"))]


@pghistory.track(pghistory.UpdateEvent("update"), pghistory.DeleteEvent("delete"))
class Bill(models.Model):
    """An account's bill for a period (账单): lines add up to ``total``."""

    tenancy_node_field = "node"

    id = models.BigAutoField(primary_key=True)
    # Foreign keys without database constraints, and indexes only where the composite ones below
    # do not serve (docs/architecture.md, Decisions; the ledger checker looks for orphans).
    run = models.ForeignKey(BillRun, on_delete=models.PROTECT, related_name="bills", db_constraint=False,
                            db_index=False)
    account = models.ForeignKey("customers.Account", on_delete=models.PROTECT, related_name="+",
                                db_constraint=False, db_index=False)
    company = models.ForeignKey("org.OrgNode", on_delete=models.PROTECT, related_name="+", db_constraint=False,
                                db_index=False)
    node = models.ForeignKey("org.OrgNode", on_delete=models.PROTECT, related_name="+", db_constraint=False)
    period = models.DateField(_("billing period"))
    period_from = models.DateField(_("usage from"))
    period_to = models.DateField(_("usage to (exclusive)"))
    usage = models.DecimalField(_("usage"), max_digits=14, decimal_places=2)
    total = models.DecimalField(_("total"), max_digits=14, decimal_places=2)
    status = models.CharField(_("status"), max_length=10, choices=BILL_STATUS, default="calculated")
    messages = ArrayField(models.CharField(max_length=200), default=list, blank=True,
                          verbose_name=_("bill messages"))
    created_at = models.DateTimeField(_("created at"), db_default=Now())
    issued_at = models.DateTimeField(_("issued at"), null=True, blank=True)
    due_date = models.DateField(_("due date"), null=True, blank=True)

    objects = TenantManager()

    class Meta:
        verbose_name = _("bill")
        verbose_name_plural = _("bills")
        indexes = [models.Index(fields=["run", "status"], name="bill_run_status"),
                   models.Index(fields=["account", "-period"], name="bill_account_period")]
        constraints = [models.UniqueConstraint(fields=["account", "period"], condition=~Q(status="cancelled"),
                                               name="bill_one_per_account_period")]

    def __str__(self) -> str:
        return f"{self.account_id} {self.period:%Y-%m}: {self.total}"


class BillLine(models.Model):
    """One line of a bill with its explanation (which block, which version, how many days)."""

    tenancy_node_field = "bill__node"

    id = models.BigAutoField(primary_key=True)
    # No database constraint (docs/architecture.md, Decisions); unique (bill, seq) serves lookups by bill.
    bill = models.ForeignKey(Bill, on_delete=models.CASCADE, related_name="lines", db_constraint=False,
                             db_index=False)
    seq = models.SmallIntegerField(_("line"))
    code = models.CharField(_("code"), max_length=32)
    label = models.CharField(_("label"), max_length=60)
    quantity = models.DecimalField(_("quantity"), max_digits=14, decimal_places=4)
    price = models.DecimalField(_("price"), max_digits=12, decimal_places=4, null=True)
    amount = models.DecimalField(_("amount"), max_digits=14, decimal_places=2)
    receivable = models.CharField(_("receivable"), max_length=40)
    version = models.CharField(_("tariff version"), max_length=32, blank=True, default="")
    block = models.SmallIntegerField(_("block"), default=0)
    explanation = models.JSONField(_("explanation"), null=True)

    objects = TenantManager()

    class Meta:
        constraints = [models.UniqueConstraint(fields=["bill", "seq"], name="billline_seq_unique")]

    def __str__(self) -> str:
        return f"{self.bill_id}#{self.seq} {self.code}: {self.amount}"
