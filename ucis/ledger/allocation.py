"""Allocating a payment to open bills (销账) — pure, no Django.

Default rule: the oldest bill first; within a bill, its receivables in the bill's own order (the
commodity charge, then the fees collected on behalf of others), so a partial payment settles whole
components before it starts the next. What is left over becomes the customer's credit (预存).
A clerk may instead name the bills and amounts; each is checked against the bill's open amount.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from ucis.kernel.errors import DomainError, FieldProblem
from ucis.kernel.errors import gettext_noop as _

ZERO = Decimal("0.00")


@dataclass(frozen=True)
class OpenItem:
    """What a customer still owes on one receivable of one bill (positive)."""

    bill_id: int
    ledger_account: str
    open_amount: Decimal
    period: Any = None   # for ordering and display only
    order: int = 0       # position of the receivable within the bill


@dataclass(frozen=True)
class Allocation:
    bill_id: int
    ledger_account: str
    amount: Decimal


@dataclass(frozen=True)
class AllocationResult:
    allocations: tuple[Allocation, ...]
    credit: Decimal          # surplus that becomes the customer's credit
    explanation: str


def _check_amount(amount: Decimal, field: str) -> None:
    if amount.as_tuple().exponent < -2:  # type: ignore[operator]
        raise DomainError(field, _("at most two decimals (fen)"))
    if amount <= 0:
        raise DomainError(field, _("must be greater than zero"))


def allocate_oldest_first(amount: Decimal, items: Sequence[OpenItem]) -> AllocationResult:
    """Spread ``amount`` over ``items`` oldest bill first; the rest is credit."""
    _check_amount(amount, "amount")
    left = amount
    out: list[Allocation] = []
    for item in sorted(items, key=lambda i: (i.period is None, i.period, i.bill_id, i.order)):
        if left <= 0:
            break
        if item.open_amount <= 0:
            continue
        take = min(left, item.open_amount)
        out.append(Allocation(item.bill_id, item.ledger_account, take))
        left -= take
    bills = len({a.bill_id for a in out})
    return AllocationResult(tuple(out), left,
                            f"oldest first: {bills} bill(s) {amount - left}, credit {left}")


def allocate_to_bills(amount: Decimal, items: Sequence[OpenItem],
                      chosen: Sequence[tuple[int, Decimal]]) -> AllocationResult:
    """Allocate to the bills a clerk named, each at most its open amount; the rest is credit."""
    _check_amount(amount, "amount")
    open_by_bill: dict[int, list[OpenItem]] = {}
    for item in sorted(items, key=lambda i: (i.bill_id, i.order)):
        open_by_bill.setdefault(item.bill_id, []).append(item)
    problems: list[FieldProblem] = []
    seen: set[int] = set()
    total = ZERO
    for i, (bill_id, part) in enumerate(chosen):
        field = f"allocations[{i}].amount"
        if bill_id in seen:
            problems.append(FieldProblem(f"allocations[{i}].bill", _("bill %(bill)s named twice"),
                                         {"bill": bill_id}))
            continue
        seen.add(bill_id)
        open_total = sum((it.open_amount for it in open_by_bill.get(bill_id, [])), ZERO)
        if bill_id not in open_by_bill:
            problems.append(FieldProblem(f"allocations[{i}].bill", _("bill %(bill)s has nothing open"),
                                         {"bill": bill_id}))
        elif part <= 0 or part.as_tuple().exponent < -2:  # type: ignore[operator]
            problems.append(FieldProblem(field, _("must be greater than zero, in fen"), {}))
        elif part > open_total:
            problems.append(FieldProblem(field, _("%(amount)s is above the bill's open amount %(open)s"),
                                         {"amount": part, "open": open_total}))
        total += part
    if not problems and total > amount:
        problems.append(FieldProblem("allocations", _("the allocations add up to %(total)s, more than "
                                                      "the payment %(amount)s"),
                                     {"total": total, "amount": amount}))
    if problems:
        raise DomainError(problems=problems)
    out: list[Allocation] = []
    for bill_id, part in chosen:
        left = part
        for item in open_by_bill[bill_id]:
            take = min(left, item.open_amount)
            if take > 0:
                out.append(Allocation(bill_id, item.ledger_account, take))
                left -= take
    return AllocationResult(tuple(out), amount - total,
                            f"chosen bills: {len(chosen)} bill(s) {total}, credit {amount - total}")
