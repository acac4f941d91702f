"""Taking payments: every channel ends in ``payment_post``, which posts a payment exactly once.

A payment is identified by its channel and external reference (bank serial, WeChat/Alipay trade
number, counter receipt or the client's Idempotency-Key). Posting holds a per-account lock for the
allocation, so two payments on one account never allocate the same open amount twice, and a
repeated notice returns the first payment and posts nothing.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import date, datetime
from decimal import Decimal
from typing import Any

from django.db import IntegrityError, connection, transaction
from django.utils import timezone

from ucis.customers import selectors as customer_selectors
from ucis.kernel.errors import Conflict, DomainError
from ucis.kernel.errors import gettext_noop as _
from ucis.kernel.money import to_decimal
from ucis.ledger import allocation, chart
from ucis.ledger import selectors as ledger_selectors
from ucis.ledger import services as ledger_services
from ucis.org import selectors as org_selectors
from ucis.payments import selectors
from ucis.payments.models import CHANNELS, BankDeposit, Payment, ShiftClose
from ucis.payments.selectors import PaymentOutcome
from ucis.platform.audit import audit_context
from ucis.platform.permissions import require
from ucis.platform.tenancy import access_by_id, acting_user, is_system

_ACCOUNT_LOCK = 0x4C44  # pg_advisory_xact_lock(class, account id): one allocation per account at a time
_SHIFT_LOCK = 0x5348  # (class, clerk id): a shift is counted while none of the clerk's payments posts
CHANNEL_CODES = tuple(code for code, _label in CHANNELS)


def _amount(value: Any) -> Decimal:
    amount = to_decimal(value, field="amount")
    if amount.as_tuple().exponent < -2:  # type: ignore[operator]
        raise DomainError("amount", _("at most two decimals (fen)"))
    if amount <= 0:
        raise DomainError("amount", _("must be greater than zero"))
    if amount >= Decimal("1e10"):
        raise DomainError("amount", _("too large"))
    return amount


def payment_post(*, actor: Any, account_id: Any, amount: Any, channel: str, external_ref: str | None = None,
                 business_date: date | None = None, received_at: datetime | None = None, node_id: int | None = None,
                 bills: Sequence[tuple[int, Any]] | None = None, payer_name: str = "", memo: str = "") -> PaymentOutcome:
    """Post a payment for an account: allocated oldest bill first (or to the named ``bills``), the
    rest kept as the customer's credit. Exactly once per ``(channel, external_ref)``: a repeat with
    the same account and amount returns the first outcome; the same reference for another account
    or amount is refused."""
    require(actor, "payments.collect_payment")
    if channel not in CHANNEL_CODES:
        raise DomainError("channel", _("unknown channel %(channel)s"), channel=channel)
    value = _amount(amount)
    ref = (external_ref or "").strip() or uuid.uuid4().hex
    if len(ref) > 64:
        raise DomainError("external_ref", _("at most 64 characters"))
    account = customer_selectors.account_get(actor=actor, account_id=account_id)
    chosen = [(int(b), to_decimal(a, field=f"allocations[{i}].amount")) for i, (b, a) in enumerate(bills or [])]
    day = business_date or timezone.localdate()
    with transaction.atomic(), audit_context(actor=actor, reason=f"payment {channel}", source="payments"):
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_advisory_xact_lock(%s, %s)", [_ACCOUNT_LOCK, int(account.pk) & 0x7FFFFFFF])
            if acting_user(actor) is not None:
                cursor.execute("SELECT pg_advisory_xact_lock_shared(%s, %s)",
                               [_SHIFT_LOCK, int(actor.pk) & 0x7FFFFFFF])
        existing = Payment.objects.filter(channel=channel, external_ref=ref).first()
        if existing is not None:
            return _repeat(existing, account.pk, value)
        clerk = acting_user(actor)
        if clerk is not None and ShiftClose.objects.filter(clerk=clerk, business_date=day).exists():
            raise Conflict("business_date", _("your shift of %(day)s is closed; payments go to the next day"),
                           day=day.isoformat())
        collecting_node = node_id or (None if is_system(actor) else getattr(actor, "node_id", None)) or account.node_id
        try:
            with transaction.atomic():
                payment = Payment.objects.create(
                    company_id=account.company_id, node_id=collecting_node, account_id=account.pk, channel=channel,
                    external_ref=ref, amount=value, business_date=day, received_at=received_at or timezone.now(),
                    collected_by=acting_user(actor), payer_name=payer_name[:60], memo=memo[:200])
        except IntegrityError as exc:
            if "payment_once_per_external_ref" not in str(exc):
                raise
            return _repeat(Payment.objects.get(channel=channel, external_ref=ref), account.pk, value)
        items = ledger_selectors.open_items(account_id=account.pk, company_id=account.company_id)
        result = (allocation.allocate_to_bills(value, items, chosen) if chosen
                  else allocation.allocate_oldest_first(value, items))
        postings = [ledger_services.Posting(chart.cash_account(channel), value)]
        postings += [ledger_services.Posting(a.ledger_account, -a.amount, account.pk, a.bill_id)
                     for a in result.allocations]
        if result.credit > 0:
            postings.append(ledger_services.Posting(chart.CUSTOMER_CREDIT, -result.credit, account.pk))
        ledger_services.journal_post(actor=actor, company_id=account.company_id, node_id=collecting_node,
                                     kind="payment", effective_date=day, lines=postings,
                                     idempotency_key=f"payment:{payment.pk}", source_type="payment",
                                     source_id=payment.pk, memo=f"{channel} {ref}"[:200])
    return PaymentOutcome(payment, True, result.allocations, result.credit)


def _repeat(existing: Payment, account_id: int, amount: Decimal) -> PaymentOutcome:
    if existing.account_id != account_id or existing.amount != amount:
        raise Conflict("external_ref", _("reference %(ref)s was already posted as another payment "
                                         "(account or amount differ)"), ref=existing.external_ref)
    return selectors.outcome_of(existing)


def payment_reverse(*, actor: Any, payment_id: Any, reason: str) -> PaymentOutcome:
    """Reverse a posted payment (a bounced cheque, a bank recall): its entry is reversed and the
    bills it paid are open again. The payment row stays, marked reversed."""
    require(actor, "payments.reverse_payment")
    with transaction.atomic(), audit_context(actor=actor, reason=reason, source="payments"):
        payment = access_by_id(Payment.objects.select_for_update(), actor, payment_id)
        if payment.status != "posted":
            raise Conflict("status", _("only a posted payment can be reversed"))
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_advisory_xact_lock(%s, %s)", [_ACCOUNT_LOCK, int(payment.account_id) & 0x7FFFFFFF])
        entry = ledger_selectors.entry_for(idempotency_key=f"payment:{payment.pk}")
        ledger_services.journal_reverse(actor=actor, entry_id=entry.pk, reason=reason,
                                        effective_date=timezone.localdate())
        payment.status = "reversed"
        payment.save(update_fields=["status"])
    return selectors.outcome_of(payment)


def shift_close(*, actor: Any, business_date: date, counted_cash: Any, note: str = "") -> ShiftClose:
    """Close the acting clerk's day (交班): the system's takings by channel against the counted cash.
    A difference is allowed but must be explained in the note; the day takes no more payments."""
    require(actor, "payments.collect_payment")
    clerk = acting_user(actor)
    if clerk is None:
        raise DomainError("clerk", _("only a staff member closes a shift"))
    counted = to_decimal(counted_cash, field="counted_cash")
    if counted < 0 or counted.as_tuple().exponent < -2:  # type: ignore[operator]
        raise DomainError("counted_cash", _("a non-negative amount in fen"))
    with transaction.atomic(), audit_context(actor=actor, reason="shift close", source="payments"):
        with connection.cursor() as cursor:  # no payment of this clerk may slip in while we count
            cursor.execute("SELECT pg_advisory_xact_lock(%s, %s)", [_SHIFT_LOCK, int(clerk.pk) & 0x7FFFFFFF])
        if ShiftClose.objects.filter(clerk=clerk, business_date=business_date).exists():
            raise Conflict("business_date", _("the shift of %(day)s is already closed"), day=business_date.isoformat())
        takings = selectors.clerk_takings(clerk_id=clerk.pk, business_date=business_date)
        expected_cash = takings.get("counter", {}).get("total", Decimal("0.00"))
        if counted != expected_cash and not note.strip():
            raise DomainError("note", _("the drawer differs from the takings by %(diff)s: explain it"),
                              diff=counted - expected_cash)
        node = clerk.node
        return ShiftClose.objects.create(
            clerk=clerk, node=node, company_id=node.company_id or node.pk, business_date=business_date,
            payments=sum(t["count"] for t in takings.values()),
            expected={ch: {"count": t["count"], "total": str(t["total"])} for ch, t in takings.items()},
            expected_cash=expected_cash, counted_cash=counted, note=note[:200])


def deposit_record(*, actor: Any, node_id: int, business_date: date, amount: Any, bank_ref: str) -> BankDeposit:
    """Record a unit's cash paid into the bank for a day (解款单); one slip number once per company."""
    require(actor, "payments.view_settlement")
    node = org_selectors.org_node_get(actor=actor, node_id=node_id)
    value = _amount(amount)
    ref = bank_ref.strip()
    if not ref:
        raise DomainError("bank_ref", _("give the deposit slip number"))
    company_id = node.company_id or node.pk
    with transaction.atomic(), audit_context(actor=actor, reason="bank deposit", source="payments"):
        if BankDeposit.objects.filter(company_id=company_id, bank_ref=ref).exists():
            raise Conflict("bank_ref", _("deposit slip %(ref)s is already recorded"), ref=ref)
        return BankDeposit.objects.create(company_id=company_id, node=node, business_date=business_date,
                                          amount=value, bank_ref=ref, recorded_by=acting_user(actor))
