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

from django.db import DatabaseError, connection, transaction
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

_SHIFT_LOCK = 0x5348  # (class, clerk id): a shift is counted while none of the clerk's payments posts
CHANNEL_CODES = tuple(code for code, _label in CHANNELS)


def payment_amount(value: Any) -> Decimal:
    """A payment amount: Decimal yuan, in fen, above zero."""
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
    value = payment_amount(amount)
    ref = (external_ref or "").strip() or uuid.uuid4().hex
    if len(ref) > 64:
        raise DomainError("external_ref", _("at most 64 characters"))
    account_pk, company_id, account_node_id = customer_selectors.account_keys(actor=actor, account_id=account_id)
    chosen = [(int(b), to_decimal(a, field=f"allocations[{i}].amount")) for i, (b, a) in enumerate(bills or [])]
    day = business_date or timezone.localdate()
    clerk = acting_user(actor)
    collecting_node = node_id or (None if is_system(actor) else getattr(actor, "node_id", None)) or account_node_id
    received = received_at or timezone.now()
    if not chosen:
        return _post_oldest_first(account_pk, company_id, collecting_node, channel, ref, value, received, day, clerk,
                                  payer_name[:60], memo[:200])
    # No audit context here: a payment row carries its own provenance (collected_by, received_at,
    # channel and reference) and is never updated except by a reversal, which is audited.
    with transaction.atomic():
        customer_selectors.accounts_lock(account_ids=[account_pk])
        with connection.cursor() as cursor:
            if clerk is not None:
                cursor.execute("SELECT pg_advisory_xact_lock_shared(%s, %s), EXISTS (SELECT 1 FROM payments_shiftclose "
                               "WHERE clerk_id = %s AND business_date = %s)",
                               [_SHIFT_LOCK, int(clerk.pk) & 0x7FFFFFFF, clerk.pk, day])
                if cursor.fetchone()[1]:
                    raise Conflict("business_date", _("your shift of %(day)s is closed; payments go to the next day"),
                                   day=day.isoformat())
            cursor.execute(
                """INSERT INTO payments_payment (company_id, node_id, account_id, channel, external_ref, amount,
                                                 received_at, business_date, collected_by_id, payer_name, memo, status)
                   VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, 'posted')
                   ON CONFLICT (channel, external_ref) DO NOTHING RETURNING id""",
                [company_id, collecting_node, account_pk, channel, ref, value, received, day,
                 getattr(clerk, "pk", None), payer_name[:60], memo[:200]])
            row = cursor.fetchone()
        if row is None:  # posted before (or a concurrent twin won): the first outcome stands
            return _repeat(Payment.objects.get(channel=channel, external_ref=ref), account_pk, value)
        payment = Payment(id=row[0], company_id=company_id, node_id=collecting_node, account_id=account_pk,
                          channel=channel, external_ref=ref, amount=value, received_at=received, business_date=day,
                          collected_by=clerk, payer_name=payer_name[:60], memo=memo[:200], status="posted")
        payment._state.adding = False
        items = ledger_selectors.open_items(account_id=account_pk, company_id=company_id)
        result = (allocation.allocate_to_bills(value, items, chosen) if chosen
                  else allocation.allocate_oldest_first(value, items))
        postings = [ledger_services.Posting(chart.cash_account(channel), value)]
        postings += [ledger_services.Posting(a.ledger_account, -a.amount, account_pk, a.bill_id)
                     for a in result.allocations]
        if result.credit > 0:
            postings.append(ledger_services.Posting(chart.CUSTOMER_CREDIT, -result.credit, account_pk))
        ledger_services.journal_post(actor=actor, company_id=company_id, node_id=collecting_node,
                                     kind="payment", effective_date=day, lines=postings,
                                     idempotency_key=f"payment:{payment.pk}", source_type="payment",
                                     source_id=payment.pk, memo=f"{channel} {ref}"[:200])
    return PaymentOutcome(payment, True, result.allocations, result.credit)


_CASH_KINDS = {code: chart.account_of(chart.cash_account(code)).kind for code in CHANNEL_CODES}
_CREDIT_KIND = chart.account_of(chart.CUSTOMER_CREDIT).kind


def _post_oldest_first(account_pk: int, company_id: int, node: int, channel: str, ref: str, value: Decimal,
                       received: datetime, day: date, clerk: Any, payer_name: str, memo: str) -> PaymentOutcome:
    """The common case in one round trip: ``payments_post_one`` (migration 0002) locks the account,
    checks the shift, inserts the payment once per reference, allocates it oldest first exactly as
    ``allocation.allocate_oldest_first`` and posts the balanced entry — one transaction of its own
    in autocommit, a savepoint inside the caller's."""
    params = [company_id, node, account_pk, channel, ref, value, received, day, getattr(clerk, "pk", None),
              payer_name, memo, _SHIFT_LOCK, chart.cash_account(channel), _CASH_KINDS[channel], chart.CUSTOMER_CREDIT,
              _CREDIT_KIND, chart.LATE_FEE_RECEIVABLE]
    sql = "SELECT * FROM payments_post_one(" + ", ".join(["%s"] * len(params)) + ")"
    try:
        if connection.in_atomic_block:
            with transaction.atomic(), connection.cursor() as cursor:
                cursor.execute(sql, params)
                row = cursor.fetchone()
        else:
            with connection.cursor() as cursor:
                cursor.execute(sql, params)
                row = cursor.fetchone()
    except DatabaseError as exc:
        state = getattr(exc.__cause__, "sqlstate", None)
        if state == "UC001":
            raise Conflict("business_date", _("your shift of %(day)s is closed; payments go to the next day"),
                           day=day.isoformat()) from None
        if state == "UC002":
            raise Conflict("effective_date", _("the period %(period)s is closed; post into an open period"),
                           period=f"{day:%Y-%m}") from None
        raise
    created, payment_id, bill_ids, codes, amounts, credit = row
    if not created:  # posted before (or a concurrent twin won): the first outcome stands
        return _repeat(Payment.objects.select_related("collected_by").get(pk=payment_id), account_pk, value)
    payment = Payment(id=payment_id, company_id=company_id, node_id=node, account_id=account_pk, channel=channel,
                      external_ref=ref, amount=value, received_at=received, business_date=day, collected_by=clerk,
                      payer_name=payer_name, memo=memo, status="posted")
    payment._state.adding = False
    allocations = tuple(allocation.Allocation(b, c, m) for b, c, m in zip(bill_ids, codes, amounts, strict=True))
    return PaymentOutcome(payment, True, allocations, credit)


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
        customer_selectors.accounts_lock(account_ids=[payment.account_id])
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
    value = payment_amount(amount)
    ref = bank_ref.strip()
    if not ref:
        raise DomainError("bank_ref", _("give the deposit slip number"))
    company_id = node.company_id or node.pk
    with transaction.atomic(), audit_context(actor=actor, reason="bank deposit", source="payments"):
        if BankDeposit.objects.filter(company_id=company_id, bank_ref=ref).exists():
            raise Conflict("bank_ref", _("deposit slip %(ref)s is already recorded"), ref=ref)
        return BankDeposit.objects.create(company_id=company_id, node=node, business_date=business_date,
                                          amount=value, bank_ref=ref, recorded_by=acting_user(actor))
