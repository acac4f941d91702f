"""Payments: allocated oldest bill first, the rest kept as credit, each reference posted once."""

from __future__ import annotations

import threading
from datetime import date
from decimal import Decimal as D

import pytest
from django.db import connection

from ucis.kernel.errors import Conflict, DomainError
from ucis.ledger import selectors as ledger_selectors
from ucis.ledger.models import JournalEntry
from ucis.payments import services
from ucis.payments.models import Payment
from ucis.platform.tenancy import SYSTEM

from .conftest import bill_month

pytestmark = pytest.mark.django_db


def test_oldest_bill_first_then_credit(billed, org):
    site = billed.site
    _run, march = bill_month(site, org, period="2025-03", readings=("16", "30", "50"), read_date=date(2025, 3, 10))
    feb = billed.bills[0]
    assert (feb.total, march[0].total) == (D("23.60"), D("23.60"))
    # 30.00 pays February in full (water, then sewage) and 6.40 of March's water charge.
    out = services.payment_post(actor=SYSTEM, account_id=feb.account_id, amount="30.00", channel="counter",
                                external_ref="R-1")
    assert out.created and out.credit == D("0.00")
    assert [(a.bill_id, a.ledger_account, a.amount) for a in out.allocations] == [
        (feb.pk, "RECEIVABLE:WATER", D("16.00")), (feb.pk, "RECEIVABLE:ON_BEHALF:SEWAGE", D("7.60")),
        (march[0].pk, "RECEIVABLE:WATER", D("6.40"))]
    out = services.payment_post(actor=SYSTEM, account_id=feb.account_id, amount="100", channel="counter",
                                external_ref="R-2")
    assert out.credit == D("82.80")  # 100 − the 17.20 still open in March
    balance = ledger_selectors.account_balance(account_id=feb.account_id)
    assert (balance.owed, balance.credit) == (D("0.00"), D("82.80"))


def test_a_repeated_reference_posts_nothing(billed):
    bill = billed.bills[1]
    first = services.payment_post(actor=SYSTEM, account_id=bill.account_id, amount="20.00", channel="wechat",
                                  external_ref="4200001234")
    again = services.payment_post(actor=SYSTEM, account_id=bill.account_id, amount="20.00", channel="wechat",
                                  external_ref="4200001234")
    assert again.payment.pk == first.payment.pk and not again.created
    assert again.allocations == first.allocations
    assert JournalEntry.objects.filter(kind="payment").count() == 1
    with pytest.raises(Conflict, match="already posted as another payment"):
        services.payment_post(actor=SYSTEM, account_id=bill.account_id, amount="20.01", channel="wechat",
                              external_ref="4200001234")
    # The same reference on another channel is another payment.
    services.payment_post(actor=SYSTEM, account_id=bill.account_id, amount="20.00", channel="alipay",
                          external_ref="4200001234")
    assert Payment.objects.count() == 2


@pytest.mark.parametrize(("amount", "reason"), [("-5", "greater than zero"), ("0", "greater than zero"),
                                                ("1.001", "two decimals"), ("abc", "not a number"),
                                                (1.5, "not a float")])
def test_bad_amounts_are_refused(billed, amount, reason):
    with pytest.raises(DomainError, match=reason) as err:
        services.payment_post(actor=SYSTEM, account_id=billed.bills[0].account_id, amount=amount, channel="counter")
    assert err.value.problems[0].field == "amount"
    assert Payment.objects.count() == 0


def test_chosen_bills_are_checked_against_their_open_amount(billed, org):
    site = billed.site
    _run, march = bill_month(site, org, period="2025-03", readings=("16", "30", "50"), read_date=date(2025, 3, 10))
    account_id = billed.bills[0].account_id
    with pytest.raises(DomainError, match="above the bill's open amount 23.60") as err:
        services.payment_post(actor=SYSTEM, account_id=account_id, amount="30", channel="counter",
                              bills=[(march[0].pk, "25.00")])
    assert err.value.problems[0].field == "allocations[0].amount"
    assert Payment.objects.count() == 0
    out = services.payment_post(actor=SYSTEM, account_id=account_id, amount="30", channel="counter",
                                bills=[(march[0].pk, "23.60")])
    assert {a.bill_id for a in out.allocations} == {march[0].pk} and out.credit == D("6.40")


def test_reversing_a_payment_reopens_the_bill(billed):
    bill = billed.bills[0]
    out = services.payment_post(actor=SYSTEM, account_id=bill.account_id, amount="23.60", channel="bank",
                                external_ref="B-77")
    assert ledger_selectors.account_balance(account_id=bill.account_id).owed == D("0.00")
    services.payment_reverse(actor=SYSTEM, payment_id=out.payment.pk, reason="returned by the bank")
    assert ledger_selectors.account_balance(account_id=bill.account_id).owed == D("23.60")
    with pytest.raises(Conflict):
        services.payment_reverse(actor=SYSTEM, payment_id=out.payment.pk, reason="again")


def test_a_branch_clerk_collects_for_any_account_of_the_company(billed, org):
    from conftest import PASSWORD
    from ucis.org import services as org_services

    clerk = org_services.staff_create(actor=SYSTEM, username="counter.a", password=PASSWORD,
                                      node_id=org.station_a.pk, roles=["counter_clerk"])
    out = services.payment_post(actor=clerk, account_id=billed.bills[2].account_id, amount="98.75",
                                channel="counter")
    assert out.payment.node_id == org.station_a.pk and out.payment.collected_by_id == clerk.pk
    reader = org_services.staff_create(actor=SYSTEM, username="reader.x", password=PASSWORD,
                                       node_id=org.station_b.pk, roles=["meter_reader"])
    from django.core.exceptions import PermissionDenied

    with pytest.raises(PermissionDenied):
        services.payment_post(actor=reader, account_id=billed.bills[2].account_id, amount="1", channel="counter")


@pytest.mark.django_db(transaction=True)
def test_concurrent_payments_on_one_account_lose_nothing(org):
    """16 threads pay one account at once: every payment posts, none allocates money twice."""
    from ucis.billing.tests.test_bill_run import TARIFF
    from ucis.metering.tests.conftest import make_site
    from ucis.tariffs import services as tariff_services

    site = make_site(org)
    tariff_services.tariff_import(actor=SYSTEM, text=TARIFF, reason="price book")
    bill_month(site, org, period="2025-02", readings=("8", "15", "25.004"), read_date=date(2025, 2, 10))
    account_id = site.accounts[2].pk  # owes 98.75
    errors: list[BaseException] = []

    def pay(n: int) -> None:
        try:
            services.payment_post(actor=SYSTEM, account_id=account_id, amount="10.00", channel="kiosk",
                                  external_ref=f"K-{n}")
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=pay, args=(n,)) for n in range(16)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    balance = ledger_selectors.account_balance(account_id=account_id)
    assert (balance.owed, balance.credit) == (D("0.00"), D("61.25"))  # 160 − 98.75


@pytest.mark.parametrize("amount", ["0.01", "16.00", "23.61", "30.00", "47.20", "500"])
def test_the_posting_function_allocates_like_allocate_oldest_first(billed, org, amount):
    """``payments_post_one`` (SQL) and ``allocation.allocate_oldest_first`` (Python) agree, and the
    entry's lines are exactly the outcome: cash, the allocations in order, the credit."""
    from ucis.ledger import allocation

    site = billed.site
    bill_month(site, org, period="2025-03", readings=("16", "30", "50"), read_date=date(2025, 3, 10))
    account_id = billed.bills[0].account_id
    expected = allocation.allocate_oldest_first(D(amount), ledger_selectors.open_items(account_id=account_id))
    out = services.payment_post(actor=SYSTEM, account_id=account_id, amount=amount, channel="counter",
                                external_ref=f"EQ-{amount}")
    assert (out.allocations, out.credit) == (expected.allocations, expected.credit)
    entry = JournalEntry.objects.get(idempotency_key=f"payment:{out.payment.pk}")
    lines = [(line.ledger_account.code, line.bill_id, line.amount)
             for line in entry.lines.select_related("ledger_account").order_by("seq")]
    assert lines == ([("CASH:counter", None, D(amount))]
                     + [(a.ledger_account, a.bill_id, -a.amount) for a in expected.allocations]
                     + ([("CUSTOMER_CREDIT", None, -expected.credit)] if expected.credit else []))
    assert entry.line_count == len(lines)


def test_no_payment_posts_into_a_closed_period(billed, org):
    from ucis.ledger.models import LedgerPeriod

    LedgerPeriod.objects.create(company_id=org.water.pk, period=date(2025, 2, 1), closed_at="2025-03-02T00:00Z")
    with pytest.raises(Conflict, match="period 2025-02 is closed"):
        services.payment_post(actor=SYSTEM, account_id=billed.bills[0].account_id, amount="5.00", channel="counter",
                              external_ref="LATE-1", business_date=date(2025, 2, 20))
    assert not Payment.objects.filter(external_ref="LATE-1").exists()
