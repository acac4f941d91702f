"""Reads of payments: one payment with its allocation, receipts, a clerk's or a day's takings."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from typing import Any

from django.core.exceptions import PermissionDenied
from django.db.models import Count, Sum

from ucis.customers import selectors as customer_selectors
from ucis.ledger import allocation, chart
from ucis.ledger import selectors as ledger_selectors
from ucis.payments.models import BankBatch, BankDeposit, Payment, ShiftClose
from ucis.platform.tenancy import access_by_id


@dataclass(frozen=True)
class PaymentOutcome:
    payment: Payment
    created: bool                       # False: the reference was posted before; nothing new was posted
    allocations: tuple[allocation.Allocation, ...]
    credit: Decimal


def receipt_no(payment: Payment) -> str:
    """The number printed on the receipt: business day and payment id (unique, sortable)."""
    return f"{payment.business_date:%Y%m%d}-{payment.pk:08d}"


def payment_get(*, actor: Any, payment_id: Any) -> Payment:
    if not actor.has_perm("payments.view_payment"):
        raise PermissionDenied("missing permission payments.view_payment")
    return access_by_id(Payment.objects.select_related("collected_by", "account"), actor, payment_id,
                        company_wide=actor.has_perm("customers.lookup_company"))


def outcome_of(payment: Payment) -> PaymentOutcome:
    """What a posted payment paid: its allocations and the part kept as credit."""
    entry = ledger_selectors.entry_for(idempotency_key=f"payment:{payment.pk}")
    allocs, credit = [], Decimal("0.00")
    for line in entry.lines.select_related("ledger_account").order_by("seq") if entry else []:
        if line.bill_id is not None and line.ledger_account.receivable:
            allocs.append(allocation.Allocation(line.bill_id, line.ledger_account.code, -line.amount))
        elif line.ledger_account.code == chart.CUSTOMER_CREDIT:
            credit -= line.amount
    return PaymentOutcome(payment, False, tuple(allocs), credit)


def payment_outcome(*, actor: Any, payment_id: Any) -> PaymentOutcome:
    return outcome_of(payment_get(actor=actor, payment_id=payment_id))


def takings(*, actor: Any, business_date: date, clerk_id: int | None = None, company_id: int | None = None,
            ) -> list[dict[str, Any]]:
    """Money taken on a day by channel (and clerk): count and sum of posted and reversed payments."""
    qs = Payment.objects.visible_to(actor).filter(business_date=business_date)
    if clerk_id is not None:
        qs = qs.filter(collected_by_id=clerk_id)
    if company_id is not None:
        qs = qs.filter(company_id=company_id)
    return list(qs.values("channel", "status", "collected_by__username", "node__name")
                .annotate(count=Count("id"), total=Sum("amount")).order_by("channel", "collected_by__username"))


def clerk_takings(*, clerk_id: int, business_date: date) -> dict[str, dict[str, Any]]:
    """A clerk's posted payments of a day by channel: count and total."""
    rows = (Payment.objects.filter(collected_by_id=clerk_id, business_date=business_date, status="posted")
            .values("channel").annotate(count=Count("id"), total=Sum("amount")))
    return {r["channel"]: {"count": r["count"], "total": r["total"]} for r in rows}


def my_day(*, actor: Any, business_date: date) -> dict[str, Any]:
    """The counter clerk's day: takings by channel, the payments, and the shift close if done."""
    clerk_id = actor.pk
    payments = list(Payment.objects.filter(collected_by_id=clerk_id, business_date=business_date)
                    .select_related("account").order_by("-received_at")[:500])
    return {"takings": clerk_takings(clerk_id=clerk_id, business_date=business_date), "payments": payments,
            "closed": ShiftClose.objects.filter(clerk_id=clerk_id, business_date=business_date).first(),
            "business_date": business_date}


def settlement(*, actor: Any, company_id: int, business_date: date) -> dict[str, Any]:
    """The settlement centre's day (结算中心, W13): every unit's takings by channel, the clerks'
    hand-overs, and cash taken against cash deposited in the bank, per unit."""
    if not actor.has_perm("payments.view_settlement"):
        raise PermissionDenied("missing permission payments.view_settlement")
    payments = Payment.objects.visible_to(actor).filter(company_id=company_id, business_date=business_date,
                                                        status="posted")
    by_unit = list(payments.values("node_id", "node__code", "node__name", "channel")
                   .annotate(count=Count("id"), total=Sum("amount")).order_by("node__code", "channel"))
    by_channel = list(payments.values("channel").annotate(count=Count("id"), total=Sum("amount"))
                      .order_by("channel"))
    shifts = list(ShiftClose.objects.visible_to(actor).filter(company_id=company_id, business_date=business_date)
                  .select_related("clerk", "node").order_by("node__code", "clerk__username"))
    deposits = list(BankDeposit.objects.visible_to(actor).filter(company_id=company_id, business_date=business_date)
                    .select_related("node").order_by("node__code", "bank_ref"))
    cash: dict[int, dict[str, Any]] = {}
    for row in by_unit:
        if row["channel"] == "counter":
            cash[row["node_id"]] = {"node": f'{row["node__code"]} {row["node__name"]}', "taken": row["total"],
                                    "handed_over": Decimal("0.00"), "deposited": Decimal("0.00")}
    for s in shifts:
        item = cash.setdefault(s.node_id, {"node": f"{s.node.code} {s.node.name}", "taken": Decimal("0.00"),
                                           "handed_over": Decimal("0.00"), "deposited": Decimal("0.00")})
        item["handed_over"] += s.counted_cash
    for d in deposits:
        item = cash.setdefault(d.node_id, {"node": f"{d.node.code} {d.node.name}", "taken": Decimal("0.00"),
                                           "handed_over": Decimal("0.00"), "deposited": Decimal("0.00")})
        item["deposited"] += d.amount
    for item in cash.values():
        item["difference"] = item["deposited"] - item["taken"]
    return {"by_unit": by_unit, "by_channel": by_channel, "shifts": shifts, "deposits": deposits,
            "cash": sorted(cash.values(), key=lambda i: i["node"]),
            "total": sum((r["total"] for r in by_channel), Decimal("0.00"))}


def counter_search(*, actor: Any, q: str) -> list[dict[str, Any]]:
    """Customers matching ``q`` (number, name, initials, phone, ID, account, meter, address) with
    their accounts in the caller's company — the counter's first step."""
    found = customer_selectors.customer_search(actor=actor, q=q, limit=20)
    return [{"customer": c, "accounts": list(customer_selectors.customer_accounts(actor=actor, customer=c))}
            for c in found]


def counter_account(*, actor: Any, account_id: Any) -> dict[str, Any]:
    """The account at the counter: who, what is owed bill by bill, credit, recent payments."""
    position = ledger_selectors.account_position(actor=actor, account_id=account_id)
    account = position["account"]
    recent = list(Payment.objects.filter(account_id=account.pk).select_related("collected_by")
                  .order_by("-received_at")[:10])
    bills: dict[int, dict[str, Any]] = {}
    for item in position["open_items"]:
        row = bills.setdefault(item.bill_id, {"bill_id": item.bill_id, "period": item.period,
                                              "open": Decimal("0.00"), "parts": []})
        row["open"] += item.open_amount
        row["parts"].append(item)
    return {**position, "bills": list(bills.values()), "recent": recent}


def bank_batches(*, actor: Any, limit: int = 50) -> list[BankBatch]:
    """The bank files applied lately, newest first."""
    return list(BankBatch.objects.visible_to(actor).select_related("company", "applied_by")
                .order_by("-applied_at")[:limit])
