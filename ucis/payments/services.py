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
from ucis.payments import selectors
from ucis.payments.models import CHANNELS, Payment
from ucis.payments.selectors import PaymentOutcome
from ucis.platform.audit import audit_context
from ucis.platform.permissions import require
from ucis.platform.tenancy import access_by_id, acting_user, is_system

_ACCOUNT_LOCK = 0x4C44  # pg_advisory_xact_lock(class, account id): one allocation per account at a time
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
        existing = Payment.objects.filter(channel=channel, external_ref=ref).first()
        if existing is not None:
            return _repeat(existing, account.pk, value)
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
