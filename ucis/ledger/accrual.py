"""Daily ledger jobs: late fees accrue on overdue bills (违约金, TAR-5) and customers' credit is
applied to newly issued bills (预存抵扣). Both are set-based and idempotent per day / per run.

Late fees: for each overdue bill still open (its receivables other than late fees), the fee the
company's rule gives up to ``on`` on today's open amount, less what earlier accruals charged it (a
fee waived or reversed by a correction order stays waived: it is not charged again) —
so a daily job charges each day once, a missed day is caught up by the next run, a rerun charges
nothing, and a partial payment slows the fee (never refunds it: that is a correction order). The
rule's minimum (e.g. 1 yuan) applies to the account's late fees over its overdue bills. Each run posts one entry per account and day
(key ``late_fee:<day>:<account>``): debit RECEIVABLE:LATE_FEE and credit LATE_FEE_REVENUE, both
carrying the bill. A fee is waived only through an approved correction order.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import date, timedelta
from decimal import Decimal
from typing import Any

from django.db.models import Q, Sum

from ucis.customers import selectors as customer_selectors
from ucis.kernel.errors import DomainError
from ucis.ledger import allocation, chart, selectors, services
from ucis.ledger.models import JournalLine
from ucis.tariffs import latefees
from ucis.tariffs import selectors as tariff_selectors

ZERO = Decimal("0.00")


@dataclass
class AccrualResult:
    entries: int = 0
    amount: Decimal = ZERO
    bills: int = 0
    skipped: list[tuple[int, str]] = field(default_factory=list)  # (account, reason)


def late_fees_accrue(*, actor: Any, company_id: int, commodity: str, on: date) -> AccrualResult:
    """Charge the late fees of ``on`` (and any days missed since the last run) for one company and commodity."""
    rule = tariff_selectors.late_fee_rule_on(company_id=company_id, commodity=commodity, on=on)
    result = AccrualResult()
    if rule is None:
        return result
    last_due = on - timedelta(days=rule.grace_days + 1)
    receivables = Q(ledger_account__receivable=True) & ~Q(ledger_account__code=chart.LATE_FEE_RECEIVABLE)
    open_rows = (JournalLine.objects.filter(receivables, ledger_account__company_id=company_id, bill__isnull=False,
                                            bill__run__commodity=commodity, bill__due_date__lte=last_due,
                                            entry__effective_date__lte=on)
                 .values("account_id", "bill_id", "bill__due_date", "account__node_id")
                 .annotate(open=Sum("amount")).filter(open__gt=0))
    bills = {r["bill_id"]: r for r in open_rows}
    if not bills:
        return result
    charged = {r["bill_id"]: -(r["charged"] or ZERO) for r in
               JournalLine.objects.filter(ledger_account__company_id=company_id, entry__kind="late_fee",
                                          ledger_account__code=chart.LATE_FEE_REVENUE, bill_id__in=list(bills))
               .values("bill_id").annotate(charged=Sum("amount"))}
    accounts = {r["account_id"] for r in bills.values()}
    types = customer_selectors.account_customer_types(account_ids=accounts)
    deducted, exempt = selectors.reliefs_by_bill(account_ids=accounts, on=on)
    fees: dict[int, list[tuple[int, Decimal, Decimal]]] = defaultdict(list)  # account → (bill, fee to date, charged)
    nodes: dict[int, int] = {}
    for bill_id, row in sorted(bills.items(), key=lambda kv: (kv[1]["bill__due_date"], kv[0])):
        account_id = row["account_id"]
        if account_id in exempt:
            continue
        nodes[account_id] = row["account__node_id"]
        due = row["bill__due_date"] + timedelta(days=deducted.get(bill_id, 0))
        arrear = [latefees.Arrear(str(bill_id), row["open"], due)]
        try:
            upto = latefees.late_fee(arrear, customer_class=types.get(account_id, ""), on=on, rule=_no_minimum(rule))
        except DomainError as exc:
            result.skipped.append((account_id, exc.problems[0].reason))
            continue
        fees[account_id].append((bill_id, upto.amount, charged.get(bill_id, ZERO)))
    entries = []
    for account_id, rows in fees.items():
        target = sum((fee for _b, fee, _c in rows), ZERO)
        if ZERO < target < rule.minimum:
            target = rule.minimum
        due = target - sum((c for _b, _f, c in rows), ZERO)
        if due <= 0:
            continue
        parts = {b: max(ZERO, fee - c) for b, fee, c in rows}
        last = rows[-1][0]
        parts[last] += due - sum(parts.values())  # the minimum's top-up (or a rounding fen) on the latest bill
        while parts[last] < 0:  # a payment lowered an older bill's fee below what it was charged
            spill, parts[last] = parts[last], ZERO
            donor = next(b for b, v in reversed(parts.items()) if v > 0)
            parts[donor] += spill
            last = donor
        lines = []
        for bill_id, part in parts.items():
            if part > 0:
                lines += [services.Posting(chart.LATE_FEE_RECEIVABLE, part, account_id, bill_id),
                          services.Posting(chart.LATE_FEE_REVENUE, -part, None, bill_id)]
        entries.append(services.BulkEntry(f"late_fee:{on.isoformat()}:{account_id}", nodes[account_id], lines,
                                          memo=f"late fee to {on.isoformat()}"))
        result.amount += due
        result.bills += len(lines) // 2
    result.entries = services.journal_post_many(actor=actor, company_id=company_id, kind="late_fee",
                                                effective_date=on, entries=entries, source_type="late_fee")
    return result


def _no_minimum(rule: latefees.LateFeeRule) -> latefees.LateFeeRule:
    # The minimum is the account's, over all its overdue bills and days: applied above, not per bill.
    return latefees.LateFeeRule(grace_days=rule.grace_days, rates=rule.rates, minimum=ZERO)


def credits_apply(*, actor: Any, company_id: int, effective_date: date, key: str,
                  account_ids: list[int] | None = None) -> int:
    """Use the credit (预存) accounts hold (all the company's, or ``account_ids``) to pay their open
    bills, oldest first: one entry per account under ``credit:<key>:<account>``. Returns the entries posted."""
    credit_rows = JournalLine.objects.filter(ledger_account__company_id=company_id,
                                             ledger_account__code=chart.CUSTOMER_CREDIT)
    if account_ids is not None:
        credit_rows = credit_rows.filter(account_id__in=account_ids)
    credit_rows = (credit_rows.values("account_id", "account__node_id").annotate(held=Sum("amount")).filter(held__lt=0))
    holders = [r["account_id"] for r in credit_rows]
    if not holders:
        return 0
    customer_selectors.accounts_lock(account_ids=holders)  # no payment allocates to these bills meanwhile
    held = {r["account_id"]: (-r["held"], r["account__node_id"]) for r in credit_rows.filter(account_id__in=holders)}
    items: dict[int, list[allocation.OpenItem]] = defaultdict(list)
    for row in (JournalLine.objects.filter(ledger_account__company_id=company_id, ledger_account__receivable=True,
                                           account_id__in=list(held), bill__isnull=False)
                .values("account_id", "bill_id", "ledger_account__code", "bill__period")
                .annotate(open=Sum("amount")).filter(open__gt=0)):
        code = row["ledger_account__code"]
        rank = chart.allocation_rank(code)
        items[row["account_id"]].append(allocation.OpenItem(row["bill_id"], code, row["open"], row["bill__period"], rank))
    entries = []
    for account_id, (credit, node_id) in held.items():
        owed = sum((i.open_amount for i in items.get(account_id, [])), ZERO)
        use = min(credit, owed)
        if use <= 0:
            continue
        spread = allocation.allocate_oldest_first(use, items[account_id])
        lines = [services.Posting(chart.CUSTOMER_CREDIT, use, account_id)]
        lines += [services.Posting(a.ledger_account, -a.amount, account_id, a.bill_id) for a in spread.allocations]
        entries.append(services.BulkEntry(f"credit:{key}:{account_id}", node_id, lines, memo="credit applied"))
    return services.journal_post_many(actor=actor, company_id=company_id, kind="credit", effective_date=effective_date,
                                      entries=entries, source_type="credit")


def late_fees_accrue_all(*, actor: Any, on: date) -> dict[tuple[int, str], AccrualResult]:
    """The daily job: late fees of ``on`` for every company and commodity with a rule in force."""
    return {(company_id, commodity): late_fees_accrue(actor=actor, company_id=company_id, commodity=commodity, on=on)
            for company_id, commodity in tariff_selectors.late_fee_scopes_on(on=on)}
