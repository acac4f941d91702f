"""WeChat Pay and Alipay notices end to end: checked, matched, posted exactly once; every forgery
refused, logged and answered as the platform expects; lost notices found by the reconciler."""

from __future__ import annotations

import threading
from datetime import date, timedelta
from decimal import Decimal as D

import pytest
from django.db import connection
from django.utils import timezone

from ucis.ledger import selectors as ledger_selectors
from ucis.ledger.models import JournalEntry
from ucis.payments import online
from ucis.payments.models import OnlineOrder, Payment, SecurityEvent
from ucis.platform.tenancy import SYSTEM

pytestmark = pytest.mark.django_db


def test_a_wechat_notice_posts_once_however_often_it_comes(billed, client):
    account = billed.site.accounts[2]
    order = online.online_order_create(actor=SYSTEM, account_id=account.pk, amount="98.75", channel="wechat")
    headers, body = online.sandbox_pay(order)
    for _ in range(3):
        r = client.post("/payments/notify/wechat/", body, content_type="application/json",
                        headers={k: v for k, v in headers.items()})
        assert r.status_code == 200 and r.json()["code"] == "SUCCESS"
    assert Payment.objects.filter(channel="wechat").count() == 1
    order.refresh_from_db()
    assert order.status == "paid" and ledger_selectors.account_balance(account_id=account.pk).owed == D("0.00")


def test_an_alipay_notify_answers_exactly_success(billed, client):
    account = billed.site.accounts[0]
    order = online.online_order_create(actor=SYSTEM, account_id=account.pk, amount="23.60", channel="alipay")
    params = online.sandbox_pay(order)
    for _ in range(2):
        r = client.post("/payments/notify/alipay/", params)
        assert r.status_code == 200 and r.content == b"success"
    assert Payment.objects.get(channel="alipay").external_ref == params["trade_no"]


def test_every_forgery_is_refused_logged_and_posts_nothing(billed, client):
    account = billed.site.accounts[1]
    now = timezone.now()
    wechat_box, alipay_box = online.sandboxes()
    w_order = online.online_order_create(actor=SYSTEM, account_id=account.pk, amount="49.25", channel="wechat")
    kinds = 0
    for forgery in wechat_box.forgeries(out_trade_no=w_order.out_trade_no, amount_fen=4925, at=now):
        r = client.post("/payments/notify/wechat/", forgery.body, content_type="application/json",
                        headers=forgery.headers)
        assert r.status_code == 400 and r.json()["code"] == "FAIL", forgery.kind
        assert SecurityEvent.objects.filter(channel="wechat").latest("at").code == forgery.code, forgery.kind
        kinds += 1
    # A genuine notice for an amount other than the order's is refused too.
    headers, body = wechat_box.notice(out_trade_no=w_order.out_trade_no, amount_fen=4924, at=now)
    r = client.post("/payments/notify/wechat/", body, content_type="application/json", headers=headers)
    assert r.status_code == 400 and SecurityEvent.objects.latest("at").code == "amount_mismatch"
    a_order = online.online_order_create(actor=SYSTEM, account_id=account.pk, amount="49.25", channel="alipay")
    for forgery in alipay_box.forgeries(out_trade_no=a_order.out_trade_no, total_amount=D("49.25"), at=now):
        r = client.post("/payments/notify/alipay/", forgery.headers)
        assert r.content == b"failure", forgery.kind
        kinds += 1
    assert kinds >= 20 and Payment.objects.count() == 0
    assert SecurityEvent.objects.count() == kinds + 1


def test_the_reconciler_posts_a_paid_order_whose_notice_was_lost(billed):
    account = billed.site.accounts[2]
    order = online.online_order_create(actor=SYSTEM, account_id=account.pk, amount="98.75", channel="wechat")
    online.sandbox_pay(order)  # the customer paid; the notice never arrives
    assert online.online_orders_reconcile(query=online.sandbox_query, older_than=timedelta(0),
                                          now=timezone.now() + timedelta(seconds=1)) == 1
    order.refresh_from_db()
    assert order.status == "paid" and Payment.objects.count() == 1
    # The late notice then arrives: success, nothing more posted.
    assert online.online_orders_reconcile(query=online.sandbox_query, older_than=timedelta(0)) == 0


@pytest.mark.django_db(transaction=True)
def test_10000_duplicate_notices_in_1000_groups_by_16_threads_post_1000_payments(org):
    from ucis.billing.tests.test_bill_run import TARIFF
    from ucis.ledger.tests.conftest import bill_month
    from ucis.metering.tests.conftest import make_site
    from ucis.tariffs import services as tariff_services

    site = make_site(org, households=10)
    tariff_services.tariff_import(actor=SYSTEM, text=TARIFF, reason="price book")
    bill_month(site, org, period="2025-02", readings=tuple(str(5 + n) for n in range(10)), read_date=date(2025, 2, 10))
    orders = [online.online_order_create(actor=SYSTEM, account_id=site.accounts[n % 10].pk, amount="1.00",
                                         channel="wechat" if n % 2 else "alipay") for n in range(1000)]
    sent = [(o.channel, online.sandbox_pay(o)) for o in orders]
    work = [item for item in sent for _ in range(10)]
    errors: list[BaseException] = []

    def deliver(part):
        try:
            for channel, message in part:
                if channel == "wechat":
                    status, body, _ = online.wechat_notice_handle(headers=message[0], body=message[1])
                    assert status == 200, body
                else:
                    status, body, _ = online.alipay_notify_handle(params=message)
                    assert body == b"success", body
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)
        finally:
            connection.close()

    import random

    random.Random(7).shuffle(work)
    threads = [threading.Thread(target=deliver, args=(work[i::16],)) for i in range(16)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    assert Payment.objects.count() == 1000
    assert JournalEntry.objects.filter(kind="payment").count() == 1000
    assert OnlineOrder.objects.filter(status="paid").count() == 1000
