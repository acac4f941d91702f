"""Reads of the receivables ledger: balances, open items, arrears, statements, trial balance.

Balances are sums of journal lines — there is no stored balance to drift from the journal.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal
from typing import Any

from django.db import connection
from django.db.models import Q, Sum

from ucis.billing import selectors as billing_selectors
from ucis.customers import selectors as customer_selectors
from ucis.ledger import chart
from ucis.ledger.allocation import OpenItem
from ucis.ledger.models import CorrectionOrder, JournalEntry, JournalLine, LateFeeRelief, LedgerAccount
from ucis.platform.tenancy import access_by_id

ZERO = Decimal("0.00")


def open_items(*, account_id: int, company_id: int | None = None) -> list[OpenItem]:
    """What the account still owes, per bill and receivable, oldest bill first (no tenancy: callers
    have already resolved the account through it)."""
    rows = (JournalLine.objects.filter(account_id=account_id, ledger_account__receivable=True, bill__isnull=False)
            .values("bill_id", "ledger_account__code", "bill__period")
            .annotate(open=Sum("amount")).filter(open__gt=0))
    if company_id is not None:
        rows = rows.filter(ledger_account__company_id=company_id)
    items = []
    for row in rows:
        code = row["ledger_account__code"]
        rank = chart.allocation_rank(code)
        items.append(OpenItem(row["bill_id"], code, row["open"], row["bill__period"], rank))
    items.sort(key=lambda i: (i.period, i.bill_id, i.order, i.ledger_account))
    return items


@dataclass(frozen=True)
class Balance:
    owed: Decimal       # open receivables (bills, fees for others, late fees)
    credit: Decimal     # prepaid / overpaid money held for the customer

    @property
    def net(self) -> Decimal:
        return self.owed - self.credit


def account_balance(*, account_id: int) -> Balance:
    sums = (JournalLine.objects.filter(account_id=account_id)
            .aggregate(owed=Sum("amount", filter=Q(ledger_account__receivable=True)),
                       credit=Sum("amount", filter=Q(ledger_account__code=chart.CUSTOMER_CREDIT))))
    return Balance(sums["owed"] or ZERO, -(sums["credit"] or ZERO))


def account_balances(*, account_ids: list[int]) -> dict[int, Balance]:
    """Owed and credit per account, summed from the covering ``journalline_account`` index in one
    statement (plain SQL: the screens that call this for every page view pay no ORM compile)."""
    out = {a: Balance(ZERO, ZERO) for a in account_ids}
    if not account_ids:
        return out
    with connection.cursor() as cur:
        cur.execute("SELECT l.account_id, sum(l.amount) FILTER (WHERE la.receivable),"
                    " sum(l.amount) FILTER (WHERE la.code = %s)"
                    " FROM ledger_journalline l JOIN ledger_ledgeraccount la ON la.id = l.ledger_account_id"
                    " WHERE l.account_id = ANY(%s) GROUP BY l.account_id",
                    [chart.CUSTOMER_CREDIT, list(account_ids)])
        for account_id, owed, credit in cur.fetchall():
            out[account_id] = Balance(owed or ZERO, -(credit or ZERO))
    return out


@dataclass(frozen=True)
class ArrearsBill:
    bill_id: int
    period: date
    total: Decimal
    open_amount: Decimal
    due_date: date | None


@dataclass
class ArrearsRow:
    """An account with overdue bills (欠费) as of a date."""

    account_id: int
    bills: list[ArrearsBill] = field(default_factory=list)
    open_total: Decimal = ZERO
    late_fee: Decimal = ZERO


def arrears_list(*, actor: Any, company_id: int, as_of: date, route_id: int | None = None,
                 min_amount: Decimal = Decimal("0.01")) -> list[ArrearsRow]:
    """Accounts of the company with bills past their due date still open on ``as_of`` (postings dated
    up to that day), with the open late fees; optionally only the bills of one route's accounts."""
    rows = (JournalLine.objects.visible_to(actor)
            .filter(ledger_account__company_id=company_id, ledger_account__receivable=True, bill__isnull=False,
                    entry__effective_date__lte=as_of)
            .values("account_id", "bill_id", "bill__period", "bill__total", "bill__due_date", "ledger_account__code")
            .annotate(open=Sum("amount")).filter(open__gt=0))
    by_bill: dict[int, dict[str, Any]] = {}
    for row in rows:
        due = row["bill__due_date"]
        if due is None or due >= as_of:
            continue
        item = by_bill.setdefault(row["bill_id"], {"account_id": row["account_id"], "period": row["bill__period"],
                                                   "total": row["bill__total"], "due": due, "open": ZERO,
                                                   "late": ZERO})
        if row["ledger_account__code"] == chart.LATE_FEE_RECEIVABLE:
            item["late"] += row["open"]
        else:
            item["open"] += row["open"]
    if route_id is not None:
        on_route = billing_selectors.bills_on_route(bill_ids=list(by_bill), route_id=route_id)
        by_bill = {b: v for b, v in by_bill.items() if b in on_route}
    accounts: dict[int, ArrearsRow] = defaultdict(lambda: ArrearsRow(0))
    for bill_id, item in sorted(by_bill.items(), key=lambda kv: (kv[1]["period"], kv[0])):
        row = accounts[item["account_id"]]
        row.account_id = item["account_id"]
        if item["open"] > 0:
            row.bills.append(ArrearsBill(bill_id, item["period"], item["total"], item["open"], item["due"]))
        row.open_total += item["open"]
        row.late_fee += item["late"]
    return [r for r in sorted(accounts.values(), key=lambda r: r.account_id)
            if r.open_total + r.late_fee >= min_amount]


def account_statement(*, actor: Any, account_id: int, limit: int = 200) -> list[dict[str, Any]]:
    """The account's postings, newest first: date, kind, bill, amount on its receivables and credit."""
    account = customer_selectors.account_get(actor=actor, account_id=account_id)  # 404 outside the caller's view
    rows = (JournalLine.objects.filter(account_id=account.pk)
            .values("entry_id", "entry__kind", "entry__effective_date", "entry__posted_at", "entry__memo", "bill_id",
                    "bill__period", "ledger_account__code", "amount")
            .order_by("-entry__posted_at", "-entry_id", "ledger_account__code")[:limit])
    return list(rows)


def trial_balance(*, actor: Any, company_id: int, as_of: date | None = None) -> list[dict[str, Any]]:
    """Per ledger account: debits, credits and balance (sums to zero over the company)."""
    lines = JournalLine.objects.visible_to(actor).filter(ledger_account__company_id=company_id)
    if as_of is not None:
        lines = lines.filter(entry__effective_date__lte=as_of)
    rows = (lines.values("ledger_account__code", "ledger_account__kind")
            .annotate(debit=Sum("amount", filter=Q(amount__gt=0)), credit=Sum("amount", filter=Q(amount__lt=0)),
                      balance=Sum("amount")).order_by("ledger_account__code"))
    return [{"code": r["ledger_account__code"], "kind": r["ledger_account__kind"], "debit": r["debit"] or ZERO,
             "credit": -(r["credit"] or ZERO), "balance": r["balance"]} for r in rows]


def entry_get(*, actor: Any, entry_id: Any) -> JournalEntry:
    return access_by_id(JournalEntry.objects.prefetch_related("lines__ledger_account"), actor, entry_id)


def chart_list(*, actor: Any, company_id: int) -> list[LedgerAccount]:
    return list(LedgerAccount.objects.visible_to(actor).filter(company_id=company_id).order_by("code"))


def entry_for(*, idempotency_key: str) -> JournalEntry | None:
    """The entry posted under ``idempotency_key`` (no tenancy: the caller owns the key's source)."""
    return JournalEntry.objects.filter(idempotency_key=idempotency_key).first()


def account_position(*, actor: Any, account_id: Any) -> dict[str, Any]:
    """An account's balance and open items, for the counter and the hotline (company-wide lookup)."""
    account = customer_selectors.account_get(actor=actor, account_id=account_id)
    return {"account": account, "balance": account_balance(account_id=account.pk),
            "open_items": open_items(account_id=account.pk, company_id=account.company_id)}


def correction_list(*, actor: Any, status: str = "requested") -> Any:
    """Correction orders the actor sees, oldest first (the approvers' queue when ``requested``)."""
    return (CorrectionOrder.objects.visible_to(actor).filter(status=status)
            .select_related("account", "requested_by", "decided_by", "bill").order_by("requested_at"))


def correction_get(*, actor: Any, order_id: Any) -> CorrectionOrder:
    return access_by_id(CorrectionOrder.objects.select_related("account", "requested_by", "decided_by", "bill"),
                        actor, order_id)


def reliefs_by_bill(*, account_ids: set[int], on: date) -> tuple[dict[int, int], set[int]]:
    """Deducted late-fee days per bill and the accounts exempt on ``on`` (for the accrual)."""
    days: dict[int, int] = defaultdict(int)
    exempt: set[int] = set()
    for r in LateFeeRelief.objects.filter(account_id__in=account_ids):
        if r.bill_id is not None:
            days[r.bill_id] += r.deducted_days
        elif r.active_from is not None and r.active_from <= on and (r.active_to is None or on < r.active_to):
            exempt.add(r.account_id)
    return days, exempt


def account_corrections(*, actor: Any, account_id: int) -> list[CorrectionOrder]:
    account = customer_selectors.account_get(actor=actor, account_id=account_id)
    return list(CorrectionOrder.objects.filter(account_id=account.pk)
                .select_related("requested_by", "decided_by").order_by("-requested_at")[:50])


def entry_of_account(*, account_id: int, kind: str) -> JournalEntry | None:
    """The latest entry of ``kind`` touching the account (no tenancy: for jobs and the demo)."""
    return JournalEntry.objects.filter(kind=kind, lines__account_id=account_id).order_by("-id").first()
