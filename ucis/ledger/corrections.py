"""Corrections of the books through approved orders (BIL-2, Y8): 电费退补, 电量退补, 违约金调整,
应收冲正, 冲调, 扣减天数, 违约金设置.

A clerk requests an order with a reason (and attachments); another person approves it within the
amount limit of their role (``UCIS_CORRECTION_LIMITS``); approval posts it as reversals and new
entries in one transaction. Money a correction takes off a bill that was already paid becomes the
customer's credit. The corrected account's service points go into the forced review queue, so the
next cycle is looked at by a person. Nothing is edited in place; the order keeps its whole history.
"""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from typing import Any

from django.conf import settings
from django.db import transaction
from django.db.models import Sum
from django.utils import timezone

from ucis.billing import selectors as billing_selectors
from ucis.billing import services as billing_services
from ucis.customers import selectors as customer_selectors
from ucis.kernel.errors import Conflict, DomainError, reason_required
from ucis.kernel.errors import gettext_noop as _
from ucis.kernel.money import round_yuan, to_decimal
from ucis.kernel.periods import month_start
from ucis.ledger import chart, services
from ucis.ledger.models import CorrectionOrder, JournalEntry, JournalLine, LateFeeRelief
from ucis.metering import review as metering_review
from ucis.platform.audit import audit_context
from ucis.platform.permissions import require
from ucis.platform.tenancy import access_by_id, acting_user

ZERO = Decimal("0.00")
REVERSIBLE = ("late_fee", "adjustment", "credit")


def _money(value: Any, field: str = "amount") -> Decimal:
    amount = to_decimal(value, field=field)
    if amount.as_tuple().exponent < -2:  # type: ignore[operator]
        raise DomainError(field, _("at most two decimals (fen)"))
    return amount


def _open(bill_id: int, code: str) -> Decimal:
    return (JournalLine.objects.filter(bill_id=bill_id, ledger_account__code=code, account__isnull=False)
            .aggregate(s=Sum("amount"))["s"] or ZERO)


def _billed(bill_id: int, code: str) -> Decimal:
    return (JournalLine.objects.filter(bill_id=bill_id, ledger_account__code=code, entry__kind="bill")
            .aggregate(s=Sum("amount"))["s"] or ZERO)


def _issued_bill(actor: Any, bill_id: Any, account: Any) -> Any:
    if bill_id is None:
        raise DomainError("bill", _("name the bill to correct"))
    bill = billing_selectors.bill_get(actor=actor, bill_id=bill_id)
    if bill.account_id != account.pk:
        raise DomainError("bill", _("bill %(bill)s is not a bill of this account"), bill=bill_id)
    if bill.status != "issued":
        raise DomainError("bill", _("only an issued bill can be corrected; this one is %(status)s"),
                          status=bill.status)
    return bill


def correction_request(*, actor: Any, kind: str, account_id: Any, reason: str, bill_id: Any = None,
                       entry_id: Any = None, amount: Any = None, usage: Any = None, receivable: str | None = None,
                       days: Any = None, active_from: date | None = None, active_to: date | None = None,
                       attachment_ids: list[int] | tuple[int, ...] = ()) -> CorrectionOrder:
    """Request a correction; nothing is posted until another person approves it."""
    require(actor, "ledger.request_correction")
    text = reason_required(reason)
    account = customer_selectors.account_get(actor=actor, account_id=account_id)
    bill = None
    entry = None
    details: dict[str, Any] = {}
    value = ZERO
    if kind in ("charge_adjust", "usage_adjust", "late_fee_adjust", "cancel_rebill", "deducted_days"):
        bill = _issued_bill(actor, bill_id, account)
    if kind == "charge_adjust":
        value = _money(amount if amount is not None else "", "amount")
        if value == 0:
            raise DomainError("amount", _("a correction of zero changes nothing"))
        code = receivable or f"RECEIVABLE:{bill.run.commodity.upper()}"
        billed = _billed(bill.pk, code)
        if billed == 0:
            raise DomainError("receivable", _("the bill has nothing on %(code)s"), code=code)
        if value < 0 and -value > billed:
            raise DomainError("amount", _("a refund of %(amount)s is more than the %(billed)s billed"),
                              amount=-value, billed=billed)
        details = {"lines": [{"receivable": code, "amount": str(value)}]}
    elif kind == "usage_adjust":
        delta = _money(usage if usage is not None else "", "usage")
        if delta == 0:
            raise DomainError("usage", _("a correction of zero changes nothing"))
        if bill.usage + delta < 0:
            raise DomainError("usage", _("the bill's usage %(usage)s cannot go below zero"), usage=bill.usage)
        # Priced at the price of the highest block each charge reached on the bill (the documented rule).
        top: dict[str, dict[str, Any]] = {}
        for line in billing_selectors.bill_priced_lines(bill_id=bill.pk):
            top[line["code"]] = line
        if not top:
            raise DomainError("bill", _("the bill has no priced line to re-price the usage with"))
        lines = [{"code": code, "label": ln["label"], "price": str(ln["price"]),
                  "receivable": chart.bill_line_accounts(ln["receivable"], bill.run.commodity)[0],
                  "amount": str(round_yuan(delta * ln["price"]))} for code, ln in top.items()]
        lines = [ln for ln in lines if Decimal(ln["amount"]) != 0]
        value = sum((Decimal(ln["amount"]) for ln in lines), ZERO)
        details = {"usage": str(delta), "lines": lines}
    elif kind == "late_fee_adjust":
        value = _money(amount if amount is not None else "", "amount")
        open_fee = _open(bill.pk, chart.LATE_FEE_RECEIVABLE)
        if value == 0:
            raise DomainError("amount", _("a correction of zero changes nothing"))
        if value < 0 and -value > open_fee:
            raise DomainError("amount", _("%(amount)s is more than the open late fee %(open)s"),
                              amount=-value, open=open_fee)
        details = {"lines": [{"receivable": chart.LATE_FEE_RECEIVABLE, "amount": str(value)}]}
    elif kind == "receivable_reversal":
        entry = access_by_id(JournalEntry, actor, entry_id, company_wide=True) if entry_id else None
        if entry is None or not entry.lines.filter(account_id=account.pk).exists():
            raise DomainError("entry", _("name a posting of this account to reverse"))
        if entry.kind not in REVERSIBLE:
            raise DomainError("entry", _("a %(kind)s posting is corrected by its own order (payments are "
                                         "reversed from the payment, bills by cancel and rebill)"), kind=entry.kind)
        if JournalEntry.objects.filter(reverses=entry).exists():
            raise Conflict("entry", _("this entry has already been reversed"))
        value = -(entry.lines.filter(ledger_account__receivable=True).aggregate(s=Sum("amount"))["s"] or ZERO)
    elif kind == "cancel_rebill":
        value = -bill.total
    elif kind == "deducted_days":
        try:
            n = int(days)
        except (TypeError, ValueError):
            raise DomainError("days", _("a whole number of days")) from None
        if not 1 <= n <= 366:
            raise DomainError("days", _("between 1 and 366 days"))
        details = {"days": n}
    elif kind == "penalty_setting":
        if active_from is None:
            raise DomainError("active_from", _("give the first day of the exemption"))
        if active_to is not None and active_to <= active_from:
            raise DomainError("active_to", _("the end must be after the start"))
        details = {"active_from": active_from.isoformat(), "active_to": active_to.isoformat() if active_to else None}
    else:
        raise DomainError("kind", _("unknown correction kind %(kind)s"), kind=kind)
    with transaction.atomic(), audit_context(actor=actor, reason=text, source="ledger"):
        return CorrectionOrder.objects.create(
            company_id=account.company_id, node_id=account.node_id, account=account, kind=kind, bill=bill, entry=entry,
            amount=value, details=details, reason=text, attachment_ids=list(attachment_ids),
            requested_by=acting_user(actor))


def approval_limit(actor: Any) -> Decimal | None:
    """The largest |amount| the actor may approve (None: no limit) — the most of their roles' limits."""
    if getattr(actor, "is_system", False) or getattr(actor, "is_superuser", False):
        return None
    limits = settings.UCIS_CORRECTION_LIMITS
    best: Decimal | None = ZERO
    for role in actor.groups.values_list("name", flat=True):
        if role in limits:
            if limits[role] is None:
                return None
            best = max(best or ZERO, Decimal(str(limits[role])))
    return best


def correction_decide(*, actor: Any, order_id: Any, approve: bool, note: str = "") -> CorrectionOrder:
    """Approve (and post) or reject a requested correction — never by the person who requested it."""
    require(actor, "ledger.approve_correction")
    today = timezone.localdate()
    with transaction.atomic(), audit_context(actor=actor, reason=note or ("approve" if approve else "reject"),
                                             source="ledger"):
        order = access_by_id(CorrectionOrder.objects.select_for_update(), actor, order_id)
        if order.status != "requested":
            raise Conflict("status", _("this order was already decided (%(status)s)"), status=order.status)
        if order.requested_by_id is not None and order.requested_by_id == getattr(actor, "pk", None):
            raise DomainError("decided_by", _("a correction is approved by someone other than who requested it"))
        if not approve:
            order.status, order.decided_by, order.decided_at = "rejected", acting_user(actor), timezone.now()
            order.decision_note = reason_required(note)
            order.save(update_fields=["status", "decided_by", "decided_at", "decision_note"])
            return order
        limit = approval_limit(actor)
        if limit is not None and abs(order.amount) > limit:
            raise DomainError("amount", _("%(amount)s is above your approval limit of %(limit)s"),
                              amount=abs(order.amount), limit=limit)
        order.posted_entry_ids = _post(actor, order, today)
        order.status, order.decided_by, order.decided_at = "posted", acting_user(actor), timezone.now()
        order.decision_note = note[:300]
        order.save(update_fields=["status", "decided_by", "decided_at", "decision_note", "posted_entry_ids"])
        points = customer_selectors.account_service_points(account_id=order.account_id, on=today)
        if points:
            metering_review.read_review_require(service_points=points, period=month_start(today),
                                                reason="bill_corrected")
    return order


def _post(actor: Any, order: CorrectionOrder, today: date) -> list[int]:
    key = f"correction:{order.pk}"
    common = {"actor": actor, "company_id": order.company_id, "node_id": order.node_id, "effective_date": today,
              "source_type": "correction", "source_id": order.pk, "memo": order.reason[:200]}
    posted: list[int] = []
    if order.kind in ("charge_adjust", "usage_adjust", "late_fee_adjust"):
        commodity = order.bill.run.commodity
        lines = []
        for item in order.details["lines"]:
            amount = Decimal(item["amount"])
            code = item["receivable"]
            if code == chart.LATE_FEE_RECEIVABLE:
                other = chart.LATE_FEE_REVENUE
            else:
                short = "RECEIVABLE" if code == f"RECEIVABLE:{commodity.upper()}" else code.removeprefix("RECEIVABLE:")
                other = chart.bill_line_accounts(short, commodity)[1]
            lines += [services.Posting(code, amount, order.account_id, order.bill_id),
                      services.Posting(other, -amount, None, order.bill_id)]
        posted.append(services.journal_post(kind="adjustment", lines=lines, idempotency_key=key, **common).pk)
    elif order.kind == "receivable_reversal":
        posted.append(services.journal_reverse(actor=actor, entry_id=order.entry_id, reason=order.reason,
                                               effective_date=today, idempotency_key=key).pk)
    elif order.kind == "cancel_rebill":
        for entry in JournalEntry.objects.filter(kind__in=("bill", "adjustment"), lines__bill_id=order.bill_id,
                                                 reverses__isnull=True, reversed_by__isnull=True).distinct():
            posted.append(services.journal_reverse(actor=actor, entry_id=entry.pk, reason=order.reason,
                                                   effective_date=today,
                                                   idempotency_key=f"{key}:{entry.pk}").pk)
        charged = -(JournalLine.objects.filter(bill_id=order.bill_id, ledger_account__code=chart.LATE_FEE_REVENUE)
                    .aggregate(s=Sum("amount"))["s"] or ZERO)
        if charged > 0:  # the bill was wrong, so were its late fees
            posted.append(services.journal_post(
                kind="adjustment", idempotency_key=f"{key}:late_fee", lines=[
                    services.Posting(chart.LATE_FEE_RECEIVABLE, -charged, order.account_id, order.bill_id),
                    services.Posting(chart.LATE_FEE_REVENUE, charged, None, order.bill_id)], **common).pk)
        billing_services.bill_cancel(actor=actor, bill_id=order.bill_id, reason=order.reason)
    elif order.kind == "deducted_days":
        LateFeeRelief.objects.create(order=order, account_id=order.account_id, bill_id=order.bill_id,
                                     deducted_days=order.details["days"])
    elif order.kind == "penalty_setting":
        LateFeeRelief.objects.create(order=order, account_id=order.account_id,
                                     active_from=date.fromisoformat(order.details["active_from"]),
                                     active_to=(date.fromisoformat(order.details["active_to"])
                                                if order.details.get("active_to") else None))
    moved = _overpaid_to_credit(actor, order, today, f"{key}:credit")
    return posted + ([moved] if moved else [])


def _overpaid_to_credit(actor: Any, order: CorrectionOrder, today: date, key: str) -> int | None:
    """Money taken off a bill beyond what is open on it was paid already: it becomes credit."""
    rows = (JournalLine.objects.filter(account_id=order.account_id, ledger_account__receivable=True,
                                       bill__isnull=False)
            .values("bill_id", "ledger_account__code").annotate(open=Sum("amount")).filter(open__lt=0))
    lines = []
    total = ZERO
    for row in rows:
        lines.append(services.Posting(row["ledger_account__code"], -row["open"], order.account_id, row["bill_id"]))
        total += -row["open"]
    if not lines:
        return None
    lines.append(services.Posting(chart.CUSTOMER_CREDIT, -total, order.account_id))
    return services.journal_post(actor=actor, company_id=order.company_id, node_id=order.node_id, kind="adjustment",
                                 effective_date=today, lines=lines, idempotency_key=key, source_type="correction",
                                 source_id=order.pk, memo="paid amount moved to credit").pk
