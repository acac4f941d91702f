"""Prepaid IC cards: volume by the tariff, the card written once per purchase, a failed write
re-written without charging or loading twice, a replaced card continuing the purchase numbers."""

from __future__ import annotations

from datetime import date
from decimal import Decimal as D

import pytest

from ucis.customers import services as customer_services
from ucis.customers.services import AccountInput, CustomerInput
from ucis.kernel.errors import Conflict
from ucis.ledger import selectors as ledger_selectors
from ucis.ledger.models import JournalEntry
from ucis.payments import carddevice, prepaid
from ucis.payments.models import CardPurchase, Payment
from ucis.platform.tenancy import SYSTEM
from ucis.tariffs import services as tariff_services

pytestmark = pytest.mark.django_db

TARIFF = """
code: TW-IC
name: IC卡居民用水
company: TW
commodity: water
customer_types: [resident]
versions:
  - version: "2025"
    active_from: 2024-01-01
    active_to: null
    components:
      - kind: ladder
        code: water
        label: 水费
        basis: year
        blocks: [{upto: 180, price: "3.00"}, {price: "4.50"}]
      - {kind: flat, code: sewage, label: 污水处理费, price: "1.00", receivable: "ON_BEHALF:SEWAGE"}
"""


@pytest.fixture
def ic(org):
    tariff_services.tariff_import(actor=SYSTEM, text=TARIFF, reason="IC price")
    area = customer_services.address_area_get_or_create(actor=SYSTEM, levels=[
        ("district", "D02", "城西区"), ("street", "D02-S01", "人民路街道"), ("community", "D02-S01-C01", "和平小区")])
    premise = customer_services.premise_create(actor=SYSTEM, area_code=area.code, room="101", residents=3)
    account = customer_services.account_open(
        actor=SYSTEM, customer_id=None, new_customer=CustomerInput(name="卡表户", customer_type="resident",
                                                                    phone="13900001111"),
        data=AccountInput(node_id=org.station_b.pk, premise_id=premise.pk, commodities=("water",)),
        today=date(2025, 1, 5))
    meter = customer_services.meter_register(actor=SYSTEM, node_id=org.station_b.pk, serial="IC00000001",
                                             commodity="water", meter_type="ic_prepaid", dial_digits=6)
    customer_services.meter_install(actor=SYSTEM, meter_id=meter.pk,
                                    service_point_id=account.agreements.get().service_point.pk,
                                    installed_date=date(2025, 1, 5), install_reading=D("0"))
    device = carddevice.SimulatedCardDevice(key=prepaid.card_key("TW"))
    device.insert(carddevice.blank_card(card_no="8800000000000001", meter_serial="IC00000001",
                                        key=prepaid.card_key("TW")))
    card = prepaid.card_issue(actor=SYSTEM, account_id=account.pk, meter_serial="IC00000001",
                              card_no="8800000000000001", device=device)
    return account, card, device


def test_a_purchase_buys_volume_by_the_tariff_and_writes_the_card(ic):
    account, card, device = ic
    out = prepaid.card_purchase(actor=SYSTEM, card_id=card.pk, amount="100.00", device=device, idempotency_key="k1")
    # 4.00 a m³ (3.00 water + 1.00 sewage) in the first block: 25 m³ for exactly 100.00.
    assert out.written and (out.purchase.volume, out.purchase.amount, out.purchase.sequence) == (D("25"), D("100.00"), 1)
    assert device.read().sequence == 1 and device.read().credit == D("25.00")
    balance = ledger_selectors.account_balance(account_id=account.pk)
    assert (balance.owed, balance.credit) == (D("0.00"), D("0.00"))
    sale = JournalEntry.objects.get(kind="prepaid")
    assert {ln.ledger_account.code: ln.amount for ln in sale.lines.all()} == {
        "CUSTOMER_CREDIT": D("100.00"), "REVENUE:WATER": D("-75.00"), "PAYABLE:ON_BEHALF:SEWAGE": D("-25.00")}
    again = prepaid.card_purchase(actor=SYSTEM, card_id=card.pk, amount="100.00", device=device, idempotency_key="k1")
    assert again.purchase.pk == out.purchase.pk and Payment.objects.count() == 1
    # 10.00 more buys 2.5 m³; what cannot buy a whole 0.01 m³ stays as the customer's credit.
    odd = prepaid.card_purchase(actor=SYSTEM, card_id=card.pk, amount="10.03", device=device)
    assert (odd.purchase.volume, odd.purchase.amount) == (D("2.50"), D("10.00"))
    assert ledger_selectors.account_balance(account_id=account.pk).credit == D("0.03")


def test_a_failed_write_is_rewritten_once_never_charged_twice(ic):
    account, card, device = ic
    device.fail_next_write()
    out = prepaid.card_purchase(actor=SYSTEM, card_id=card.pk, amount="40.00", device=device)
    assert not out.written and out.purchase.status == "pending" and device.read().sequence == 0
    with pytest.raises(Conflict, match="re-write it first"):
        prepaid.card_purchase(actor=SYSTEM, card_id=card.pk, amount="40.00", device=device)
    done = prepaid.card_rewrite(actor=SYSTEM, purchase_id=out.purchase.pk, device=device)
    assert done.written and device.read().credit == D("10.00") and Payment.objects.count() == 1
    # A write whose bytes landed although the reader reported failure is not written again.
    device.fail_next_write(after_writing=True)
    out = prepaid.card_purchase(actor=SYSTEM, card_id=card.pk, amount="40.00", device=device)
    assert not out.written and device.read().sequence == 2
    writes = device.writes
    done = prepaid.card_rewrite(actor=SYSTEM, purchase_id=out.purchase.pk, device=device)
    assert done.written and device.writes == writes and device.read().credit == D("20.00")
    # The meter loads each purchase once.
    register = carddevice.MeterRegister("IC00000001")
    register, _card, loaded = carddevice.meter_accept(register, device.read(), key=prepaid.card_key("TW"))
    register, _card, again = carddevice.meter_accept(register, device.read(), key=prepaid.card_key("TW"))
    assert (loaded, again) == (D("20.00"), D("0.00"))


def test_a_replaced_card_continues_the_purchase_numbers(ic):
    account, card, device = ic
    prepaid.card_purchase(actor=SYSTEM, card_id=card.pk, amount="40.00", device=device)
    new_device = carddevice.SimulatedCardDevice(key=prepaid.card_key("TW"))
    new_device.insert(carddevice.blank_card(card_no="8800000000000002", meter_serial="IC00000001",
                                            key=prepaid.card_key("TW")))
    new = prepaid.card_replace(actor=SYSTEM, card_id=card.pk, new_card_no="8800000000000002", reason="卡丢失",
                               device=new_device)
    assert new_device.read().sequence == 1 and new_device.read().credit == D("0.00")
    with pytest.raises(Conflict):
        prepaid.card_purchase(actor=SYSTEM, card_id=card.pk, amount="4.00", device=device)
    out = prepaid.card_purchase(actor=SYSTEM, card_id=new.pk, amount="4.00", device=new_device)
    assert out.written and out.purchase.sequence == 2 and CardPurchase.objects.count() == 2
