"""Online payments (WeChat Pay, Alipay): orders, platform notices, and the reconciler.

A notice is checked by the pure channel modules (signature, timestamp window, decryption, app and
seller), matched against our order (number and amount), and posted through ``payment_post`` with
the platform's payment number as the external reference — so the 15 retries of a WeChat notice,
or 16 threads delivering the same one at once, post one payment. Every refusal is written to the
security log and answered as the platform expects (WeChat: HTTP 500 ``FAIL``; Alipay: ``failure``).
The reconciler asks the platform about orders still open after a while and posts what was paid
but never notified (a lost notice).
"""

from __future__ import annotations

import functools
import secrets
from collections.abc import Callable, Mapping
from datetime import datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from ucis.customers import selectors as customer_selectors
from ucis.kernel.errors import Conflict, DomainError
from ucis.kernel.errors import gettext_noop as _
from ucis.payments import alipay, notices, sandbox, services, wechat
from ucis.payments.models import OnlineOrder, SecurityEvent
from ucis.platform.audit import audit_context
from ucis.platform.tenancy import SYSTEM

ONLINE = ("wechat", "alipay")


@functools.cache
def sandboxes() -> tuple[sandbox.WechatSandbox, sandbox.AlipaySandbox]:
    """The platforms ucis plays in sandbox mode (one key set per process)."""
    return sandbox.WechatSandbox(), sandbox.AlipaySandbox()


def _read(path: str) -> str:
    return Path(path.strip()).read_text(encoding="utf-8")


def wechat_keys() -> tuple[dict[str, Any], bytes]:
    if settings.UCIS_PAYMENT_SANDBOX:
        box = sandboxes()[0]
        return box.platform_keys, box.api_v3_key
    pairs = [p.split("=", 1) for p in settings.UCIS_WECHAT_PLATFORM_KEYS.split(",") if "=" in p]
    return {serial.strip(): _read(path) for serial, path in pairs}, settings.UCIS_WECHAT_API_V3_KEY.encode()


def alipay_keys() -> tuple[Any, str, str]:
    if settings.UCIS_PAYMENT_SANDBOX:
        box = sandboxes()[1]
        return box.public_key, box.app_id, box.seller_id
    key = _read(settings.UCIS_ALIPAY_PUBLIC_KEY) if settings.UCIS_ALIPAY_PUBLIC_KEY else ""
    return key, settings.UCIS_ALIPAY_APP_ID, settings.UCIS_ALIPAY_SELLER_ID


def online_order_create(*, actor: Any, account_id: Any, amount: Any, channel: str) -> OnlineOrder:
    """An order to pay online (the portal's "pay now"): a fresh order number the notice must name."""
    if channel not in ONLINE:
        raise DomainError("channel", _("online payment is by wechat or alipay"))
    value = services.payment_amount(amount)
    account = customer_selectors.account_get(actor=actor, account_id=account_id)
    now = timezone.localtime()
    number = f"UC{now:%Y%m%d%H%M%S}{secrets.randbelow(10 ** 12):012d}"
    with transaction.atomic(), audit_context(actor=actor, reason="online order", source="payments"):
        return OnlineOrder.objects.create(out_trade_no=number, channel=channel, company_id=account.company_id,
                                          account_id=account.pk, amount=value)


def _log(channel: str, exc: notices.NoticeRejected, remote_addr: str, detail: Mapping[str, Any]) -> None:
    SecurityEvent.objects.create(channel=channel, code=exc.code, reason=exc.reason[:300], remote_addr=remote_addr[:64],
                                 detail=dict(detail))


def _post(channel: str, notice: Any) -> None:
    """Match a verified, paid notice to its order and post it (exactly once)."""
    order = OnlineOrder.objects.filter(out_trade_no=notice.order_no, channel=channel).first()
    if order is None:
        raise notices.NoticeRejected("order_mismatch", _("no %(channel)s order %(order)s"), channel=channel,
                                     order=notice.order_no)
    notices.match_order(notice, order_no=order.out_trade_no, amount=order.amount)
    with transaction.atomic():
        outcome = services.payment_post(actor=SYSTEM, account_id=order.account_id, amount=order.amount,
                                        channel=channel, external_ref=notice.external_ref,
                                        business_date=timezone.localdate(notice.paid_at) if notice.paid_at else None,
                                        received_at=notice.paid_at, memo=f"order {order.out_trade_no}")
        OnlineOrder.objects.filter(pk=order.pk, status="open").update(status="paid", payment=outcome.payment,
                                                                      paid_at=notice.paid_at or timezone.now())


def wechat_notice_handle(*, headers: Mapping[str, str], body: bytes, remote_addr: str = "",
                         now: datetime | None = None) -> tuple[int, bytes, str]:
    """Handle one WeChat Pay notification; returns (status, body, content type) to answer with."""
    keys, api_v3_key = wechat_keys()
    try:
        notice = wechat.verify_notice(headers=headers, body=body, platform_keys=keys, api_v3_key=api_v3_key,
                                      now=now or timezone.now())
        if notice.paid:
            _post("wechat", notice)
    except notices.NoticeRejected as exc:
        _log("wechat", exc, remote_addr, {"serial": headers.get("Wechatpay-Serial", ""),
                                          "timestamp": headers.get("Wechatpay-Timestamp", "")})
        return wechat.reply_failure(exc.reason, status=400)
    except Conflict as exc:  # the same payment number for another account or amount
        _log("wechat", notices.NoticeRejected("reference_conflict", exc.problems[0].reason), remote_addr, {})
        return wechat.reply_failure(exc.problems[0].reason, status=400)
    return wechat.reply_success()


def alipay_notify_handle(*, params: Mapping[str, str], remote_addr: str = "") -> tuple[int, bytes, str]:
    """Handle one Alipay async notify; the body is exactly ``success`` or ``failure``."""
    key, app_id, seller_id = alipay_keys()
    try:
        notice = alipay.verify_notify(params=params, alipay_public_key=key, app_id=app_id, seller_id=seller_id)
        if notice.paid:
            _post("alipay", notice)
    except notices.NoticeRejected as exc:
        _log("alipay", exc, remote_addr, {"out_trade_no": str(params.get("out_trade_no", ""))[:64],
                                          "notify_id": str(params.get("notify_id", ""))[:64]})
        return 200, b"failure", "text/plain"
    except Conflict as exc:
        _log("alipay", notices.NoticeRejected("reference_conflict", exc.problems[0].reason), remote_addr, {})
        return 200, b"failure", "text/plain"
    return 200, b"success", "text/plain"


def online_orders_reconcile(*, query: Callable[[str, str], Any], older_than: timedelta = timedelta(minutes=15),
                            now: datetime | None = None) -> int:
    """Find lost notices: ask the platform (``query(channel, out_trade_no)`` → a verified notice
    or None) about every order still open after ``older_than`` and post what was paid. Returns the
    payments posted."""
    cutoff = (now or timezone.now()) - older_than
    posted = 0
    for order in OnlineOrder.objects.filter(status="open", created_at__lt=cutoff).order_by("created_at")[:10_000]:
        notice = query(order.channel, order.out_trade_no)
        if notice is not None and notice.paid:
            try:
                _post(order.channel, notice)
                posted += 1
            except (notices.NoticeRejected, Conflict) as exc:
                _log(order.channel, exc if isinstance(exc, notices.NoticeRejected)
                     else notices.NoticeRejected("reference_conflict", exc.problems[0].reason), "reconciler", {})
    return posted


# Sandbox mode: the trades the played platforms took, by (channel, order number) — what a
# platform's order-query API answers.
_SANDBOX_TRADES: dict[tuple[str, str], tuple[datetime, Any]] = {}


def sandbox_pay(order: OnlineOrder, *, at: datetime | None = None) -> Any:
    """Sandbox mode: the customer pays ``order``; returns what the platform sends — (headers, body)
    for WeChat, the form parameters for Alipay — for the demo and tests to deliver (or lose)."""
    when = at or timezone.now()
    wechat_box, alipay_box = sandboxes()
    if order.channel == "wechat":
        sent: Any = wechat_box.notice(out_trade_no=order.out_trade_no, amount_fen=int(order.amount * 100), at=when)
    else:
        sent = alipay_box.notify(out_trade_no=order.out_trade_no, total_amount=Decimal(order.amount), at=when)
    _SANDBOX_TRADES[(order.channel, order.out_trade_no)] = (when, sent)
    return sent


def sandbox_query(channel: str, out_trade_no: str) -> Any:
    """The played platform's order query: the verified trade, or None if it was never paid."""
    found = _SANDBOX_TRADES.get((channel, out_trade_no))
    if found is None:
        return None
    when, sent = found
    if channel == "wechat":
        keys, api_v3_key = wechat_keys()
        headers, body = sent
        return wechat.verify_notice(headers=headers, body=body, platform_keys=keys, api_v3_key=api_v3_key, now=when)
    key, app_id, seller_id = alipay_keys()
    return alipay.verify_notify(params=sent, alipay_public_key=key, app_id=app_id, seller_id=seller_id)
