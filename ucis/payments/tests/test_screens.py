"""The counter, the clerk's day with the shift close, and the settlement centre's day."""

from __future__ import annotations

from decimal import Decimal as D

import pytest
from django.utils import timezone

from ucis.kernel.errors import Conflict, DomainError
from ucis.payments import services
from ucis.payments.models import Payment, ShiftClose

pytestmark = pytest.mark.django_db


def test_counter_finds_the_customer_takes_the_money_and_prints_a_receipt(billed, org, login):
    client = login(org.clerk_b)
    account = billed.site.accounts[2]
    page = client.get("/payments/counter/", {"q": account.account_no})
    assert page.status_code == 200 and f"/payments/counter/accounts/{account.pk}/" in page.content.decode()
    page = client.get(f"/payments/counter/accounts/{account.pk}/")
    html = page.content.decode()
    assert 'data-testid="owed">98.75<' in html and page.context["form"].initial["amount"] == D("98.75")
    key = page.context["form"].initial["idempotency_key"]
    post = {"amount": "100.00", "payer_name": "住户2", "idempotency_key": key}
    r = client.post(f"/payments/counter/accounts/{account.pk}/", post)
    assert r.status_code == 302
    # A double click sends the same form again: still one payment, same receipt.
    again = client.post(f"/payments/counter/accounts/{account.pk}/", post)
    assert again.status_code == 302 and again.url == r.url and Payment.objects.count() == 1
    receipt = client.get(r.url).content.decode()
    assert "住户2" in receipt and 'data-testid="receipt-credit">1.25<' in receipt


def test_a_bad_amount_stays_on_the_form_with_the_reason(billed, org, login):
    client = login(org.clerk_b)
    account = billed.site.accounts[0]
    r = client.post(f"/payments/counter/accounts/{account.pk}/", {"amount": "12.345", "idempotency_key": "k1"})
    assert r.status_code == 200 and list(r.context["form"].errors) == ["amount"]
    assert Payment.objects.count() == 0


def test_shift_close_counts_the_drawer_then_the_day_is_closed(billed, org, login):
    today = timezone.localdate()
    clerk = org.clerk_b
    services.payment_post(actor=clerk, account_id=billed.site.accounts[0].pk, amount="23.60", channel="counter")
    services.payment_post(actor=clerk, account_id=billed.site.accounts[1].pk, amount="50", channel="counter")
    with pytest.raises(DomainError, match="differs from the takings by -0.60") as err:
        services.shift_close(actor=clerk, business_date=today, counted_cash="73.00")
    assert err.value.problems[0].field == "note"
    client = login(clerk)
    r = client.post("/payments/my-day/", {"counted_cash": "73.00", "note": "短款0.6元，已补"})
    assert r.status_code == 302
    close = ShiftClose.objects.get()
    assert (close.expected_cash, close.counted_cash, close.payments) == (D("73.60"), D("73.00"), 2)
    assert 'data-testid="shift-closed"' in client.get("/payments/my-day/").content.decode()
    with pytest.raises(Conflict, match="shift of .* is closed"):
        services.payment_post(actor=clerk, account_id=billed.site.accounts[2].pk, amount="1", channel="counter")


def test_settlement_centre_consolidates_units_and_deposits(billed, org, login):
    today = timezone.localdate()
    services.payment_post(actor=org.clerk_b, account_id=billed.site.accounts[0].pk, amount="23.60", channel="counter")
    from conftest import PASSWORD
    from ucis.org import services as org_services
    from ucis.platform.tenancy import SYSTEM

    clerk_a = org_services.staff_create(actor=SYSTEM, username="clerk.a", password=PASSWORD, node_id=org.branch_a.pk,
                                        roles=["counter_clerk"])
    services.payment_post(actor=clerk_a, account_id=billed.site.accounts[1].pk, amount="49.25", channel="counter")

    services.payment_post(actor=SYSTEM, account_id=billed.site.accounts[2].pk, amount="98.75", channel="wechat",
                          external_ref="4200009999")
    services.deposit_record(actor=org.group_admin, node_id=org.branch_b.pk, business_date=today, amount="23.60",
                            bank_ref="DEP-001")
    with pytest.raises(Conflict, match="already recorded"):
        services.deposit_record(actor=org.group_admin, node_id=org.branch_b.pk, business_date=today, amount="1",
                                bank_ref="DEP-001")
    client = login(org.group_admin)
    page = client.get("/payments/settlement/", {"company": org.water.pk, "day": today.isoformat()})
    report = page.context["report"]
    assert report["total"] == D("171.60")
    assert {r["channel"]: r["total"] for r in report["by_channel"]} == {"counter": D("72.85"), "wechat": D("98.75")}
    cash = {c["node"]: (c["taken"], c["deposited"], c["difference"]) for c in report["cash"]}
    assert cash[f"{org.branch_b.code} {org.branch_b.name}"] == (D("23.60"), D("23.60"), D("0.00"))
    assert cash[f"{org.branch_a.code} {org.branch_a.name}"] == (D("49.25"), D("0.00"), D("-49.25"))
    # A branch manager sees only the branch's part; a counter clerk no settlement at all.
    assert login(org.clerk_b).get("/payments/settlement/").status_code == 403
