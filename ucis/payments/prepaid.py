"""Prepaid IC-card meters (BIL-5): buy volume, write the card, re-write a failed write, replace a card.

A purchase is money in (a counter payment, exactly once per key), turned into volume by the
account's tariff (the most volume the amount buys, ``rating.volume_for_amount``: annual ladders count
this year's purchases), and a sale in the ledger (the customer's credit pays revenue and the fees
for others). It gets the meter's next purchase number and is committed *before* the card is
written: if the write fails, the purchase stays "not yet written" and *re-write* puts the same
purchase on the card later — the card device module reads the card first, so a purchase that
reached the card although the reader reported a failure is never loaded twice, and no purchase is
ever charged twice. A new purchase waits until an unwritten one is re-written.
"""

from __future__ import annotations

import hashlib
import hmac
from collections import defaultdict
from dataclasses import dataclass
from datetime import date, timedelta
from decimal import Decimal
from typing import Any

from django.conf import settings
from django.db import transaction
from django.db.models import Max, Sum
from django.utils import timezone

from ucis.customers import selectors as customer_selectors
from ucis.kernel.errors import Conflict, DomainError, reason_required
from ucis.kernel.errors import gettext_noop as _
from ucis.ledger import chart
from ucis.ledger import services as ledger_services
from ucis.payments import carddevice, services
from ucis.payments.models import CardPurchase, PrepaidCard
from ucis.platform.audit import audit_context
from ucis.platform.permissions import require
from ucis.platform.tenancy import access_by_id, acting_user
from ucis.tariffs import rating
from ucis.tariffs import selectors as tariff_selectors


def card_key(company_code: str) -> bytes:
    """The company's card key (HMAC of ``UCIS_CARD_KEY`` and the company code)."""
    return hmac.new(settings.UCIS_CARD_KEY.encode(), company_code.encode(), hashlib.sha256).digest()


def _card(actor: Any, card_id: Any, *, for_update: bool = False) -> PrepaidCard:
    return access_by_id(PrepaidCard.objects.select_related("meter", "account__company"), actor, card_id,
                        for_update=for_update, company_wide=True)


def card_issue(*, actor: Any, account_id: Any, meter_serial: str, card_no: str,
               device: carddevice.CardDevice) -> PrepaidCard:
    """Issue a card for the account's IC-card meter and write it blank (开卡)."""
    require(actor, "payments.collect_payment")
    account = customer_selectors.account_get(actor=actor, account_id=account_id)
    meter = customer_selectors.meter_by_serial(actor=actor, serial=meter_serial)
    if meter.meter_type != "ic_prepaid":
        raise DomainError("meter_serial", _("meter %(serial)s is not an IC-card meter"), serial=meter_serial)
    if not card_no.isdigit() or len(card_no) > 16:
        raise DomainError("card_no", _("a card number is up to 16 digits"))
    with transaction.atomic(), audit_context(actor=actor, reason="issue card", source="payments"):
        if PrepaidCard.objects.filter(meter=meter, status="active").exists():
            raise Conflict("meter_serial", _("meter %(serial)s already has a card; replace it instead"),
                           serial=meter_serial)
        card = PrepaidCard.objects.create(card_no=card_no, account=account, meter=meter)
        device.write(carddevice.blank_card(card_no=card_no, meter_serial=meter.serial,
                                           key=card_key(account.company.code)))
    return card


@dataclass(frozen=True)
class PurchaseOutcome:
    purchase: CardPurchase
    written: bool
    message: str
    params: dict[str, Any]


def _volume(account: Any, meter: Any, amount: Decimal, today: date) -> tuple[Decimal, list[rating.Line]]:
    ctype = customer_selectors.account_customer_types(account_ids=[account.pk]).get(account.pk, "")
    found = tariff_selectors.tariffs_by_type(company_id=account.company_id, commodity=meter.commodity).get(ctype, [])
    if len(found) != 1:
        raise DomainError("account", _("no single tariff for customer type %(type)s"), type=ctype)
    year_start = today.replace(month=1, day=1)
    ytd = (CardPurchase.objects.filter(meter=meter, created_at__date__gte=year_start)
           .aggregate(v=Sum("volume"))["v"] or Decimal("0"))
    template = rating.Account(today, today + timedelta(days=1), {"total": Decimal(0)}, year_to_date=ytd)
    return rating.volume_for_amount(found[0][1], template, amount)


def card_purchase(*, actor: Any, card_id: Any, amount: Any, device: carddevice.CardDevice,
                  idempotency_key: str | None = None) -> PurchaseOutcome:
    """Sell volume for ``amount`` and write it to the card in ``device`` (购气/购水 and 上量)."""
    value = services.payment_amount(amount)
    today = timezone.localdate()
    card = _card(actor, card_id)
    if card.status != "active":
        raise Conflict("card", _("card %(card)s is %(status)s"), card=card.card_no, status=card.status)
    account = card.account
    key = f"card:{idempotency_key}" if idempotency_key else None
    with transaction.atomic(), audit_context(actor=actor, reason="card purchase", source="payments"):
        customer_selectors.accounts_lock(account_ids=[account.pk])
        if key:
            done = CardPurchase.objects.filter(payment__channel="counter", payment__external_ref=key).first()
            if done is not None:
                return PurchaseOutcome(done, done.status == "written", _("this purchase was already made"), {})
        pending = CardPurchase.objects.filter(meter=card.meter, status="pending").order_by("sequence").first()
        if pending is not None:
            raise Conflict("card", _("purchase %(sequence)s is paid but not on the card yet: re-write it first"),
                           sequence=pending.sequence)
        volume, lines = _volume(account, card.meter, value, today)
        paid = services.payment_post(actor=actor, account_id=account.pk, amount=value, channel="counter",
                                     external_ref=key, memo=f"IC card {card.card_no}")
        sold = sum((ln.amount for ln in lines), Decimal("0.00"))
        by_receivable: dict[str, Decimal] = defaultdict(Decimal)
        for ln in lines:
            by_receivable[chart.bill_line_accounts(ln.receivable, card.meter.commodity)[1]] += ln.amount
        postings = [ledger_services.Posting(chart.CUSTOMER_CREDIT, sold, account.pk)]
        postings += [ledger_services.Posting(code, -amt, None) for code, amt in by_receivable.items() if amt]
        ledger_services.journal_post(actor=actor, company_id=account.company_id, node_id=paid.payment.node_id,
                                     kind="prepaid", effective_date=today, lines=postings,
                                     idempotency_key=f"prepaid:{paid.payment.pk}", source_type="payment",
                                     source_id=paid.payment.pk, memo=f"IC card {card.card_no} {volume}")
        sequence = (CardPurchase.objects.filter(meter=card.meter).aggregate(m=Max("sequence"))["m"] or 0) + 1
        purchase = CardPurchase.objects.create(
            company_id=account.company_id, node_id=paid.payment.node_id, account=account, meter=card.meter,
            card=card, sequence=sequence, payment=paid.payment, amount=sold, volume=volume,
            lines=[{"label": ln.label, "quantity": str(ln.quantity), "price": str(ln.price), "amount": str(ln.amount)}
                   for ln in lines], created_by=acting_user(actor))
    return _write(purchase, card, device)


def _write(purchase: CardPurchase, card: PrepaidCard, device: carddevice.CardDevice) -> PurchaseOutcome:
    """Put the committed purchase on the card; a failure leaves it pending for a re-write."""
    try:
        outcome = carddevice.load_purchase(device, sequence=purchase.sequence, volume=purchase.volume,
                                           key=card_key(card.account.company.code), meter_serial=card.meter.serial,
                                           card_no=card.card_no)
    except carddevice.CardError as exc:
        CardPurchase.objects.filter(pk=purchase.pk).update(write_attempts=purchase.write_attempts + 1,
                                                           last_error=exc.problems[0].reason[:200])
        purchase.refresh_from_db()
        return PurchaseOutcome(purchase, False, _("the card was not written (%(error)s): the purchase is kept; "
                                                  "re-write the card"), {"error": exc.problems[0].reason})
    CardPurchase.objects.filter(pk=purchase.pk).update(status="written", written_at=timezone.now(),
                                                       write_attempts=purchase.write_attempts + 1, last_error="")
    purchase.refresh_from_db()
    return PurchaseOutcome(purchase, True, outcome.template, dict(outcome.params))


def card_rewrite(*, actor: Any, purchase_id: Any, device: carddevice.CardDevice) -> PurchaseOutcome:
    """Write a paid purchase that did not reach the card — never charging or loading it twice."""
    require(actor, "payments.collect_payment")
    purchase = access_by_id(CardPurchase.objects.select_related("card__meter", "card__account__company"), actor,
                            purchase_id, company_wide=True)
    if purchase.status == "written":
        return PurchaseOutcome(purchase, True, _("purchase %(sequence)s is already on the card"),
                               {"sequence": purchase.sequence})
    card = PrepaidCard.objects.select_related("meter", "account__company").get(meter=purchase.meter, status="active")
    return _write(purchase, card, device)


def card_replace(*, actor: Any, card_id: Any, new_card_no: str, reason: str,
                 device: carddevice.CardDevice) -> PrepaidCard:
    """Replace a lost or broken card (补卡): the new card continues the meter's purchase numbers, so
    the meter accepts the next purchase and never one it already loaded; unwritten purchases can be
    re-written onto it."""
    require(actor, "payments.collect_payment")
    text = reason_required(reason)
    if not new_card_no.isdigit() or len(new_card_no) > 16:
        raise DomainError("new_card_no", _("a card number is up to 16 digits"))
    with transaction.atomic(), audit_context(actor=actor, reason=text, source="payments"):
        old = _card(actor, card_id, for_update=True)
        if old.status != "active":
            raise Conflict("card", _("card %(card)s is %(status)s"), card=old.card_no, status=old.status)
        old.status = "replaced"
        old.save(update_fields=["status"])
        new = PrepaidCard.objects.create(card_no=new_card_no, account=old.account, meter=old.meter, replaces=old)
        written = CardPurchase.objects.filter(meter=old.meter, status="written")
        last = written.aggregate(m=Max("sequence"))["m"] or 0
        cumulative = written.aggregate(v=Sum("volume"))["v"] or Decimal("0")
        device.write(carddevice.seal(card_no=new_card_no, meter_serial=old.meter.serial, sequence=last,
                                     credit=Decimal("0"), cumulative=cumulative,
                                     key=card_key(old.account.company.code)))
    return new
