"""The receivables ledger (应收账): a double-entry journal per company, append-only.

Every charge, payment, adjustment, late fee, write-off and refund is a ``JournalEntry`` whose
``JournalLine``s sum to zero (debit +, credit −). The database itself refuses what would break
the books — an entry whose lines do not balance, lines added to an entry later, any UPDATE or
DELETE of a posted row, an entry dated in a closed period — so no code path, bulk SQL included,
can get around it. Corrections are new entries that reverse old ones. Balances are sums.
"""

from __future__ import annotations

import pghistory
import pgtrigger
from django.contrib.postgres.fields import ArrayField
from django.db import models
from django.db.models import Q
from django.db.models.functions import Now
from django.utils.translation import gettext_lazy as _

from ucis.ledger import chart
from ucis.platform.audit import trackers
from ucis.platform.tenancy import TenantManager

KIND_CHOICES = [(k, k) for k in chart.KINDS]


class LedgerAccount(models.Model):
    """An account of a company's chart (科目), named by code, e.g. ``RECEIVABLE:WATER``."""

    tenancy_node_field = "company"

    company = models.ForeignKey("org.OrgNode", on_delete=models.PROTECT, related_name="+")
    code = models.CharField(_("code"), max_length=64)
    kind = models.CharField(_("kind"), max_length=10, choices=KIND_CHOICES)
    receivable = models.BooleanField(_("customer receivable"), default=False)

    objects = TenantManager()

    class Meta:
        verbose_name = _("ledger account")
        verbose_name_plural = _("ledger accounts")
        constraints = [models.UniqueConstraint(fields=["company", "code"], name="ledgeraccount_code_unique")]

    def __str__(self) -> str:
        return self.code


class LedgerPeriod(models.Model):
    """A company's accounting month; once closed nothing can be posted into it (结账)."""

    tenancy_node_field = "company"

    company = models.ForeignKey("org.OrgNode", on_delete=models.PROTECT, related_name="+")
    period = models.DateField(_("period"))
    closed_at = models.DateTimeField(_("closed at"), null=True, blank=True)
    closed_by = models.ForeignKey("org.User", on_delete=models.PROTECT, null=True, blank=True, related_name="+")

    objects = TenantManager()

    class Meta:
        verbose_name = _("ledger period")
        verbose_name_plural = _("ledger periods")
        constraints = [models.UniqueConstraint(fields=["company", "period"], name="ledgerperiod_unique"),
                       models.CheckConstraint(condition=Q(period__day=1), name="ledgerperiod_month_start")]

    def __str__(self) -> str:
        return f"{self.company_id} {self.period:%Y-%m}"


ENTRY_KINDS = [("bill", _("Bill")), ("payment", _("Payment")), ("credit", _("Credit applied")),
               ("adjustment", _("Adjustment")), ("late_fee", _("Late fee")), ("write_off", _("Write-off")),
               ("refund", _("Refund")), ("reversal", _("Reversal")), ("prepaid", _("Prepaid sale"))]

PROTECT_POSTED = pgtrigger.Protect(name="append_only", operation=pgtrigger.Update | pgtrigger.Delete)

ENTRY_PERIOD_OPEN = pgtrigger.Trigger(
    name="period_open", operation=pgtrigger.Insert, when=pgtrigger.After, level=pgtrigger.Statement,
    referencing=pgtrigger.Referencing(new="new_entries"),
    func="""
    DECLARE bad record;
    BEGIN
      SELECT n.id, n.effective_date INTO bad FROM new_entries n
        JOIN ledger_ledgerperiod p ON p.company_id = n.company_id
         AND p.period = date_trunc('month', n.effective_date)::date AND p.closed_at IS NOT NULL
       LIMIT 1;
      IF FOUND THEN
        RAISE EXCEPTION 'journal entry % is dated % in a closed period', bad.id, bad.effective_date
          USING ERRCODE = 'check_violation';
      END IF;
      RETURN NULL;
    END;""")

LINES_BALANCE = pgtrigger.Trigger(
    name="entry_balances", operation=pgtrigger.Insert, when=pgtrigger.After, level=pgtrigger.Statement,
    referencing=pgtrigger.Referencing(new="new_lines"),
    func="""
    DECLARE bad record;
    BEGIN
      -- All of an entry's lines arrive in one statement: they must sum to zero and fill exactly
      -- seq 1..line_count, which (with UNIQUE(entry, seq)) leaves no room to add a line later.
      SELECT g.entry_id, g.total, g.n, e.line_count INTO bad
        FROM (SELECT entry_id, sum(amount) AS total, count(*) AS n, min(seq) AS lo, max(seq) AS hi
                FROM new_lines GROUP BY entry_id) g
        JOIN ledger_journalentry e ON e.id = g.entry_id
       WHERE g.total <> 0 OR g.n <> e.line_count OR g.lo <> 1 OR g.hi <> e.line_count
       LIMIT 1;
      IF FOUND THEN
        RAISE EXCEPTION 'journal entry % does not balance: % line(s) of %, sum %',
          bad.entry_id, bad.n, bad.line_count, bad.total USING ERRCODE = 'check_violation';
      END IF;
      RETURN NULL;
    END;""")


class JournalEntry(models.Model):
    """A balanced posting (凭证) with its source and idempotency key."""

    tenancy_node_field = "node"

    id = models.BigAutoField(primary_key=True)
    # Foreign keys without database constraints on the journal (docs/architecture.md, Decisions):
    # ``checks.py`` looks for orphans; journalentry_company_date serves lookups by company.
    company = models.ForeignKey("org.OrgNode", on_delete=models.PROTECT, related_name="+", db_constraint=False,
                                db_index=False)
    node = models.ForeignKey("org.OrgNode", on_delete=models.PROTECT, related_name="+", db_constraint=False)
    kind = models.CharField(_("kind"), max_length=12, choices=ENTRY_KINDS)
    effective_date = models.DateField(_("effective date"))
    posted_at = models.DateTimeField(_("posted at"), db_default=Now())
    line_count = models.SmallIntegerField(_("lines"))
    idempotency_key = models.CharField(_("idempotency key"), max_length=120, null=True, blank=True)
    source_type = models.CharField(_("source"), max_length=20, blank=True, default="")
    source_id = models.BigIntegerField(_("source id"), null=True, blank=True)
    reverses = models.OneToOneField("self", on_delete=models.PROTECT, null=True, blank=True,
                                    related_name="reversed_by")
    memo = models.CharField(_("memo"), max_length=200, blank=True, default="")
    created_by = models.ForeignKey("org.User", on_delete=models.PROTECT, null=True, blank=True, related_name="+")

    objects = TenantManager()

    class Meta:
        verbose_name = _("journal entry")
        verbose_name_plural = _("journal entries")
        constraints = [
            models.UniqueConstraint(fields=["idempotency_key"], name="journalentry_idempotency_unique"),
            models.CheckConstraint(condition=Q(line_count__gte=2), name="journalentry_two_lines"),
        ]
        indexes = [models.Index(fields=["company", "effective_date"], name="journalentry_company_date"),
                   models.Index(fields=["source_type", "source_id"], name="journalentry_source")]
        triggers = [PROTECT_POSTED, ENTRY_PERIOD_OPEN]

    def __str__(self) -> str:
        return f"{self.kind} #{self.pk} {self.effective_date}"


class JournalLine(models.Model):
    """One side of an entry: a ledger account, optionally a customer account and bill; debit +."""

    tenancy_node_field = "entry__node"

    id = models.BigAutoField(primary_key=True)
    # Foreign keys without database constraints (docs/architecture.md, Decisions): lines are
    # written with the entry in one statement from ids just read, referenced rows are never
    # deleted, and ``checks.py`` looks for orphans.
    entry = models.ForeignKey(JournalEntry, on_delete=models.PROTECT, related_name="lines", db_index=False,
                              db_constraint=False)
    seq = models.SmallIntegerField(_("line"))
    ledger_account = models.ForeignKey(LedgerAccount, on_delete=models.PROTECT, related_name="+", db_index=False,
                                       db_constraint=False)
    account = models.ForeignKey("customers.Account", on_delete=models.PROTECT, null=True, blank=True,
                                related_name="+", db_index=False, db_constraint=False)
    bill = models.ForeignKey("billing.Bill", on_delete=models.PROTECT, null=True, blank=True, related_name="+",
                             db_index=False, db_constraint=False)
    amount = models.DecimalField(_("amount"), max_digits=14, decimal_places=2)

    objects = TenantManager()

    class Meta:
        verbose_name = _("journal line")
        verbose_name_plural = _("journal lines")
        constraints = [models.UniqueConstraint(fields=["entry", "seq"], name="journalline_seq_unique"),
                       models.CheckConstraint(condition=~Q(amount=0), name="journalline_not_zero")]
        # Balances sum an account's lines straight from this index (index-only: ``amount`` is included).
        indexes = [models.Index(fields=["account", "ledger_account"], include=["amount"], name="journalline_account",
                                condition=Q(account__isnull=False)),
                   models.Index(fields=["bill"], name="journalline_bill", condition=Q(bill__isnull=False))]
        triggers = [PROTECT_POSTED, LINES_BALANCE]

    def __str__(self) -> str:
        return f"{self.entry_id}#{self.seq} {self.amount}"


CORRECTION_KINDS = [
    ("charge_adjust", _("Charge refund or back-billing (电费退补)")),
    ("usage_adjust", _("Usage back-billing (电量退补)")),
    ("late_fee_adjust", _("Late-fee adjustment (违约金调整)")),
    ("receivable_reversal", _("Receivable reversal (应收冲正)")),
    ("cancel_rebill", _("Cancel and rebill (冲调)")),
    ("deducted_days", _("Deducted late-fee days (扣减天数)")),
    ("penalty_setting", _("Late-fee exemption (违约金设置)")),
]
CORRECTION_STATUS = [("requested", _("Requested")), ("posted", _("Approved and posted")),
                     ("rejected", _("Rejected"))]


@pghistory.track(*trackers())
class CorrectionOrder(models.Model):
    """A correction of the books (BIL-2, Y8): requested with a reason (and attachments), approved by
    another person within their amount limit, then posted as reversals and new entries."""

    tenancy_node_field = "node"

    company = models.ForeignKey("org.OrgNode", on_delete=models.PROTECT, related_name="+")
    node = models.ForeignKey("org.OrgNode", on_delete=models.PROTECT, related_name="+")
    account = models.ForeignKey("customers.Account", on_delete=models.PROTECT, related_name="+")
    kind = models.CharField(_("kind"), max_length=24, choices=CORRECTION_KINDS)
    status = models.CharField(_("status"), max_length=10, choices=CORRECTION_STATUS, default="requested")
    bill = models.ForeignKey("billing.Bill", on_delete=models.PROTECT, null=True, blank=True, related_name="+")
    entry = models.ForeignKey(JournalEntry, on_delete=models.PROTECT, null=True, blank=True, related_name="+",
                              help_text="the entry a receivable reversal reverses")
    amount = models.DecimalField(_("amount"), max_digits=14, decimal_places=2,
                                 help_text="the change to what the customer owes (+ more, − less)")
    details = models.JSONField(_("details"), default=dict, blank=True)
    reason = models.CharField(_("reason"), max_length=300)
    attachment_ids = ArrayField(models.BigIntegerField(), default=list, blank=True)
    requested_by = models.ForeignKey("org.User", on_delete=models.PROTECT, null=True, blank=True, related_name="+")
    requested_at = models.DateTimeField(_("requested at"), auto_now_add=True)
    decided_by = models.ForeignKey("org.User", on_delete=models.PROTECT, null=True, blank=True, related_name="+")
    decided_at = models.DateTimeField(_("decided at"), null=True, blank=True)
    decision_note = models.CharField(_("decision note"), max_length=300, blank=True, default="")
    posted_entry_ids = ArrayField(models.BigIntegerField(), default=list, blank=True)

    objects = TenantManager()

    class Meta:
        verbose_name = _("correction order")
        verbose_name_plural = _("correction orders")
        indexes = [models.Index(fields=["company", "status"], name="correction_queue")]
        permissions = [("request_correction", "Can request ledger corrections"),
                       ("approve_correction", "Can approve ledger corrections")]

    def __str__(self) -> str:
        return f"{self.kind} #{self.pk} ({self.status})"


class LateFeeRelief(models.Model):
    """Late-fee relief granted by a posted correction order: days deducted from a bill's late fee,
    or an account exempt from late fees for ``[active_from, active_to)``."""

    tenancy_node_field = "order__node"

    order = models.OneToOneField(CorrectionOrder, on_delete=models.PROTECT, related_name="relief")
    account = models.ForeignKey("customers.Account", on_delete=models.PROTECT, related_name="+")
    bill = models.ForeignKey("billing.Bill", on_delete=models.PROTECT, null=True, blank=True, related_name="+")
    deducted_days = models.PositiveIntegerField(_("deducted days"), default=0)
    active_from = models.DateField(_("from"), null=True, blank=True)
    active_to = models.DateField(_("to (exclusive)"), null=True, blank=True)

    objects = TenantManager()

    class Meta:
        verbose_name = _("late-fee relief")
        verbose_name_plural = _("late-fee reliefs")

    def __str__(self) -> str:
        return f"{self.account_id} {self.bill_id} −{self.deducted_days}d"
