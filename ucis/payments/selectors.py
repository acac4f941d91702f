"""Reads of payments: one payment with its allocation, receipts, a clerk's or a day's takings."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from typing import Any

from django.core.exceptions import PermissionDenied
from django.db.models import Count, Sum

from ucis.ledger import allocation, chart
from ucis.ledger import selectors as ledger_selectors
from ucis.payments.models import Payment
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
