"""JSON API of the receivables ledger: an account's balance and statement, arrears, the trial
balance, journal entries, and closing a period."""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal

from django.core.exceptions import PermissionDenied
from django.http import HttpRequest
from ninja import Field, Router, Schema, Status

from ucis.ledger import corrections, selectors, services
from ucis.platform.api import ERRORS

router = Router(tags=["ledger"])


def _require(request: HttpRequest, perm: str) -> None:
    if not request.user.has_perm(perm):
        raise PermissionDenied(f"missing permission {perm}")


class OpenItemOut(Schema):
    bill_id: int
    period: str
    receivable: str
    open_amount: Decimal


class BalanceOut(Schema):
    account_id: int
    account_no: str
    owed: Decimal = Field(description="open receivables: bills, fees collected for others, late fees")
    credit: Decimal = Field(description="money held for the customer (预存)")
    net: Decimal
    open_items: list[OpenItemOut]


@router.get("/accounts/{account_id}/balance", response={200: BalanceOut, **ERRORS})
def account_balance(request: HttpRequest, account_id: int):
    """What an account owes and holds, bill by bill."""
    _require(request, "ledger.view_journalentry")
    pos = selectors.account_position(actor=request.user, account_id=account_id)
    bal = pos["balance"]
    return {"account_id": pos["account"].pk, "account_no": pos["account"].account_no, "owed": bal.owed,
            "credit": bal.credit, "net": bal.net,
            "open_items": [{"bill_id": i.bill_id, "period": i.period.strftime("%Y-%m"), "receivable": i.ledger_account,
                            "open_amount": i.open_amount} for i in pos["open_items"]]}


class StatementLineOut(Schema):
    entry_id: int
    kind: str
    effective_date: date
    posted_at: datetime
    memo: str
    bill_id: int | None
    ledger_account: str
    amount: Decimal = Field(description="debit +, credit −")


@router.get("/accounts/{account_id}/statement", response={200: list[StatementLineOut], **ERRORS})
def account_statement(request: HttpRequest, account_id: int, limit: int = 200):
    """The account's postings, newest first."""
    _require(request, "ledger.view_journalentry")
    rows = selectors.account_statement(actor=request.user, account_id=account_id, limit=min(limit, 1000))
    return [{"entry_id": r["entry_id"], "kind": r["entry__kind"], "effective_date": r["entry__effective_date"],
             "posted_at": r["entry__posted_at"], "memo": r["entry__memo"], "bill_id": r["bill_id"],
             "ledger_account": r["ledger_account__code"], "amount": r["amount"]} for r in rows]


class TrialRowOut(Schema):
    code: str
    kind: str
    debit: Decimal
    credit: Decimal
    balance: Decimal


@router.get("/trial-balance", response={200: list[TrialRowOut], **ERRORS})
def trial_balance(request: HttpRequest, company_id: int, as_of: date | None = None):
    """Debits, credits and balance per ledger account of a company (the balances sum to zero)."""
    _require(request, "ledger.view_journalentry")
    return selectors.trial_balance(actor=request.user, company_id=company_id, as_of=as_of)


class ArrearsBillOut(Schema):
    bill_id: int
    period: date
    total: Decimal
    open_amount: Decimal
    due_date: date | None


class ArrearsOut(Schema):
    account_id: int
    open_total: Decimal
    late_fee: Decimal
    bills: list[ArrearsBillOut]


@router.get("/arrears", response={200: list[ArrearsOut], **ERRORS})
def arrears(request: HttpRequest, company_id: int, as_of: date, route_id: int | None = None):
    """Accounts with bills past due and still open on ``as_of`` (欠费清单)."""
    _require(request, "ledger.view_journalentry")
    return selectors.arrears_list(actor=request.user, company_id=company_id, as_of=as_of, route_id=route_id)


class LineOut(Schema):
    seq: int
    ledger_account: str
    account_id: int | None
    bill_id: int | None
    amount: Decimal


class EntryOut(Schema):
    id: int
    kind: str
    effective_date: date
    posted_at: datetime
    source_type: str
    source_id: int | None
    memo: str
    reverses_id: int | None
    lines: list[LineOut]


@router.get("/entries/{entry_id}", response={200: EntryOut, **ERRORS})
def entry_get(request: HttpRequest, entry_id: int):
    """A journal entry with its lines."""
    _require(request, "ledger.view_journalentry")
    e = selectors.entry_get(actor=request.user, entry_id=entry_id)
    return {"id": e.pk, "kind": e.kind, "effective_date": e.effective_date, "posted_at": e.posted_at,
            "source_type": e.source_type, "source_id": e.source_id, "memo": e.memo, "reverses_id": e.reverses_id,
            "lines": [{"seq": ln.seq, "ledger_account": ln.ledger_account.code, "account_id": ln.account_id,
                       "bill_id": ln.bill_id, "amount": ln.amount} for ln in e.lines.all()]}


class CloseIn(Schema):
    company_id: int
    period: str = Field(pattern=r"^\d{4}-\d{2}$", description="YYYY-MM")


class PeriodOut(Schema):
    company_id: int
    period: str
    closed_at: datetime | None


@router.post("/periods/close", response={200: PeriodOut, **ERRORS})
def period_close(request: HttpRequest, payload: CloseIn):
    """Close an accounting month (结账): nothing can be posted into it afterwards."""
    row = services.period_close(actor=request.user, company_id=payload.company_id, period=payload.period)
    return {"company_id": row.company_id, "period": row.period.strftime("%Y-%m"), "closed_at": row.closed_at}


class CorrectionIn(Schema):
    kind: str = Field(description="charge_adjust | usage_adjust | late_fee_adjust | receivable_reversal | "
                                  "cancel_rebill | deducted_days | penalty_setting")
    account_id: int
    reason: str = Field(min_length=1, max_length=300)
    bill_id: int | None = None
    entry_id: int | None = None
    amount: str | None = Field(None, description="yuan; + the customer owes more, − less")
    usage: str | None = None
    days: int | None = None
    active_from: date | None = None
    active_to: date | None = None
    attachment_ids: list[int] = Field(default_factory=list, description="customer attachments (scans) to keep with it")


class CorrectionOut(Schema):
    id: int
    kind: str
    status: str
    account_id: int
    bill_id: int | None
    entry_id: int | None
    amount: Decimal
    details: dict
    reason: str
    requested_by: str | None
    requested_at: datetime
    decided_by: str | None
    decided_at: datetime | None
    decision_note: str
    posted_entry_ids: list[int]


def _correction(o) -> dict:
    return {"id": o.pk, "kind": o.kind, "status": o.status, "account_id": o.account_id, "bill_id": o.bill_id,
            "entry_id": o.entry_id, "amount": o.amount, "details": o.details, "reason": o.reason,
            "requested_by": o.requested_by.username if o.requested_by_id else None, "requested_at": o.requested_at,
            "decided_by": o.decided_by.username if o.decided_by_id else None, "decided_at": o.decided_at,
            "decision_note": o.decision_note, "posted_entry_ids": list(o.posted_entry_ids)}


@router.post("/corrections", response={201: CorrectionOut, **ERRORS})
def correction_request(request: HttpRequest, payload: CorrectionIn):
    """Request a correction order; it posts only when another person approves it."""
    order = corrections.correction_request(actor=request.user, **payload.dict())
    return Status(201, _correction(order))


@router.get("/corrections", response={200: list[CorrectionOut], **ERRORS})
def correction_list(request: HttpRequest, status: str = "requested"):
    """Correction orders by status (the approvers' queue: ``requested``)."""
    _require(request, "ledger.view_correctionorder")
    return [_correction(o) for o in selectors.correction_list(actor=request.user, status=status)[:500]]


class DecideIn(Schema):
    approve: bool
    note: str = Field("", max_length=300)


@router.post("/corrections/{correction_id}/decide", response={200: CorrectionOut, **ERRORS})
def correction_decide(request: HttpRequest, correction_id: int, payload: DecideIn):
    """Approve (post) or reject an order — not by the person who requested it; within your limit."""
    return _correction(corrections.correction_decide(actor=request.user, order_id=correction_id,
                                                     approve=payload.approve, note=payload.note))
