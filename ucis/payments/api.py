"""JSON API of payments: post (exactly once per Idempotency-Key), read, reverse.

``POST /payments`` with an ``Idempotency-Key`` header: the key becomes the payment's external
reference on its channel, so a client that retries after a timeout gets the first payment back
(200) instead of a second one (201). Without the header every call is a new payment.
"""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal
from typing import Literal

from django.http import HttpRequest
from ninja import Field, Router, Schema, Status

from ucis.payments import selectors, services
from ucis.platform.api import ERRORS

router = Router(tags=["payments"])


class AllocationOut(Schema):
    bill_id: int
    receivable: str
    amount: Decimal


class PaymentOut(Schema):
    id: int
    receipt_no: str
    account_id: int
    channel: str
    external_ref: str
    amount: Decimal
    business_date: date
    received_at: datetime
    status: str
    collected_by: str | None
    allocations: list[AllocationOut]
    credit: Decimal = Field(description="the part kept as the customer's credit (预存)")


class BillChoice(Schema):
    bill_id: int
    amount: str = Field(description="yuan, as a decimal string")


class PaymentIn(Schema):
    account_id: int
    amount: str = Field(description="yuan, as a decimal string with at most two decimals", examples=["98.75"])
    channel: Literal["counter", "kiosk"] = "counter"
    bills: list[BillChoice] = Field(default_factory=list,
                                    description="pay these bills (each at most its open amount); empty: oldest first")
    payer_name: str = Field("", max_length=60)
    memo: str = Field("", max_length=200)


def _out(outcome: selectors.PaymentOutcome) -> dict:
    p = outcome.payment
    return {"id": p.pk, "receipt_no": selectors.receipt_no(p), "account_id": p.account_id, "channel": p.channel,
            "external_ref": p.external_ref, "amount": p.amount, "business_date": p.business_date,
            "received_at": p.received_at, "status": p.status,
            "collected_by": p.collected_by.username if p.collected_by_id else None,
            "allocations": [{"bill_id": a.bill_id, "receivable": a.ledger_account, "amount": a.amount}
                            for a in outcome.allocations], "credit": outcome.credit}


@router.post("", response={200: PaymentOut, 201: PaymentOut, **ERRORS})
def payment_post(request: HttpRequest, payload: PaymentIn):
    """Take a payment for an account (any counter of the account's company may). Send an
    ``Idempotency-Key`` header to make retries safe: a repeat returns the first payment with 200."""
    outcome = services.payment_post(
        actor=request.user, account_id=payload.account_id, amount=payload.amount, channel=payload.channel,
        external_ref=request.headers.get("Idempotency-Key"), bills=[(b.bill_id, b.amount) for b in payload.bills],
        payer_name=payload.payer_name, memo=payload.memo)
    return Status(201 if outcome.created else 200, _out(outcome))


@router.get("/{payment_id}", response={200: PaymentOut, **ERRORS})
def payment_get(request: HttpRequest, payment_id: int):
    """A payment with what it paid."""
    return _out(selectors.payment_outcome(actor=request.user, payment_id=payment_id))


class ReverseIn(Schema):
    reason: str = Field(min_length=1, max_length=200)


@router.post("/{payment_id}/reverse", response={200: PaymentOut, **ERRORS})
def payment_reverse(request: HttpRequest, payment_id: int, payload: ReverseIn):
    """Reverse a payment (returned by the bank, taken for the wrong account): its bills are open again."""
    return _out(services.payment_reverse(actor=request.user, payment_id=payment_id, reason=payload.reason))
