"""Alipay asynchronous payment notifications (异步通知): RSA2 verification and parsing. Pure.

Alipay POSTs the notice as form parameters. The signed content is every parameter except ``sign``
and ``sign_type`` whose value is not empty, sorted by name (byte order), joined as
``k=v&k=v`` with the URL-decoded values, encoded in the notice's ``charset`` (utf-8 unless given);
``sign`` is base64 SHA256withRSA (PKCS#1 v1.5) by Alipay's key (RSA2). Then the notice must be for
our ``app_id`` and our ``seller_id``, and ``total_amount`` must be a positive amount of yuan with
exactly two decimals. Only TRADE_SUCCESS and TRADE_FINISHED mean paid; other states are returned
with ``paid`` false. The reply that stops Alipay resending is the body ``success`` exactly.

Why not python-alipay-sdk: see docs/architecture.md, "Decisions".
"""

from __future__ import annotations

import base64
import binascii
import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from decimal import Decimal

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.padding import PKCS1v15
from cryptography.hazmat.primitives.hashes import SHA256

from ucis.kernel.errors import gettext_noop as _
from ucis.payments.notices import (
    BAD_AMOUNT,
    BAD_SIGNATURE,
    MALFORMED,
    UNSUPPORTED_ALGORITHM,
    WRONG_APP_ID,
    WRONG_SELLER_ID,
    NoticeRejected,
    PublicKeyInput,
    load_rsa_public_key,
)

PAID_STATUSES = frozenset({"TRADE_SUCCESS", "TRADE_FINISHED"})
STATUSES = PAID_STATUSES | {"WAIT_BUYER_PAY", "TRADE_CLOSED"}
BEIJING = timezone(timedelta(hours=8), "Asia/Shanghai")
_AMOUNT = re.compile(r"(0|[1-9][0-9]{0,11})\.[0-9]{2}")
_CHARSETS = {"utf-8": "utf-8", "utf8": "utf-8", "gbk": "gbk", "gb2312": "gbk"}


@dataclass(frozen=True)
class AlipayNotice:
    out_trade_no: str  # our order number (商户订单号)
    trade_no: str  # Alipay's trade number (支付宝交易号): the external reference
    total_amount: Decimal  # yuan, two decimals
    trade_status: str
    paid: bool  # TRADE_SUCCESS or TRADE_FINISHED
    gmt_payment: datetime | None  # aware (Beijing time), present once paid
    notify_id: str
    notify_time: datetime | None
    app_id: str
    seller_id: str
    buyer_id: str | None = None
    receipt_amount: Decimal | None = None

    @property
    def order_no(self) -> str:
        return self.out_trade_no

    @property
    def external_ref(self) -> str:
        return self.trade_no

    @property
    def amount_yuan(self) -> Decimal:
        return self.total_amount

    @property
    def paid_at(self) -> datetime | None:
        return self.gmt_payment


def signing_content(params: Mapping[str, str]) -> str:
    """The string Alipay signs: non-empty parameters other than sign/sign_type, sorted, k=v&…"""
    return "&".join(f"{key}={params[key]}" for key in sorted(params)
                    if key not in ("sign", "sign_type") and params[key] != "")


def _required(params: Mapping[str, str], key: str) -> str:
    value = params.get(key)
    if not isinstance(value, str) or not value.strip():
        raise NoticeRejected(MALFORMED, _("the parameter %(field)s is missing"), field=key)
    return value.strip()


def parse_amount(value: str, *, field: str = "total_amount", zero: bool = False) -> Decimal:
    """A positive amount of yuan written with exactly two decimals (``88.00``); anything else —
    ``88``, ``88.0``, ``88.001``, ``-1.00``, ``0.00`` (unless ``zero``), ``1e2`` — is refused."""
    if not _AMOUNT.fullmatch(value):
        raise NoticeRejected(BAD_AMOUNT, _("%(field)s must be yuan with exactly two decimals, not %(value)s"),
                             field=field, value=value[:40])
    amount = Decimal(value)
    if amount <= 0 and not (zero and amount == 0):
        raise NoticeRejected(BAD_AMOUNT, _("%(field)s must be more than zero"), field=field)
    return amount


def _time(params: Mapping[str, str], key: str) -> datetime | None:
    value = params.get(key)
    if not value:
        return None
    try:
        return datetime.strptime(value, "%Y-%m-%d %H:%M:%S").replace(tzinfo=BEIJING)
    except ValueError as exc:
        raise NoticeRejected(MALFORMED, _("%(field)s is not a time like 2026-11-23 10:00:00: %(value)s"),
                             field=key, value=value[:40]) from exc


def verify_notify(*, params: Mapping[str, str], alipay_public_key: PublicKeyInput, app_id: str,
                  seller_id: str) -> AlipayNotice:
    """Verify one async notify (the form parameters, URL-decoded) or raise ``NoticeRejected``."""
    if any(not isinstance(k, str) or not isinstance(v, str) for k, v in params.items()):
        raise NoticeRejected(MALFORMED, _("every parameter must be text"))
    sign_type = params.get("sign_type", "RSA2")
    if sign_type != "RSA2":
        raise NoticeRejected(UNSUPPORTED_ALGORITHM, _("the signature type %(value)s is not supported"),
                             value=str(sign_type)[:40])
    sign = _required(params, "sign")
    charset = _CHARSETS.get(params.get("charset", "utf-8").lower())
    if charset is None:
        raise NoticeRejected(MALFORMED, _("the charset %(value)s is not supported"),
                             value=params.get("charset", "")[:40])
    try:
        # base64 has no spaces: a space is a "+" that a form decoder turned into one
        signature = base64.b64decode("".join(sign.replace(" ", "+").split()), validate=True)
        message = signing_content(params).encode(charset)
    except (binascii.Error, ValueError, UnicodeEncodeError) as exc:
        raise NoticeRejected(BAD_SIGNATURE, _("the signature does not match the notice")) from exc
    key = load_rsa_public_key(alipay_public_key, field="alipay_public_key")
    try:
        key.verify(signature, message, PKCS1v15(), SHA256())
    except (InvalidSignature, ValueError) as exc:
        raise NoticeRejected(BAD_SIGNATURE, _("the signature does not match the notice")) from exc

    got_app = _required(params, "app_id")
    if got_app != app_id:
        raise NoticeRejected(WRONG_APP_ID, _("the notice is for application %(got)s, not ours (%(ours)s)"),
                             got=got_app[:40], ours=app_id)
    got_seller = _required(params, "seller_id")
    if got_seller != seller_id:
        raise NoticeRejected(WRONG_SELLER_ID, _("the notice is for seller %(got)s, not ours (%(ours)s)"),
                             got=got_seller[:40], ours=seller_id)
    status = _required(params, "trade_status")
    if status not in STATUSES:
        raise NoticeRejected(MALFORMED, _("the trade status %(value)s is unknown"), value=status[:40])
    receipt = params.get("receipt_amount")
    return AlipayNotice(
        out_trade_no=_required(params, "out_trade_no"),
        trade_no=_required(params, "trade_no"),
        total_amount=parse_amount(_required(params, "total_amount")),
        trade_status=status,
        paid=status in PAID_STATUSES,
        gmt_payment=_time(params, "gmt_payment"),
        notify_id=_required(params, "notify_id"),
        notify_time=_time(params, "notify_time"),
        app_id=got_app,
        seller_id=got_seller,
        buyer_id=params.get("buyer_id") or None,
        # what the merchant actually receives: 0.00 when coupons paid it all
        receipt_amount=parse_amount(receipt, field="receipt_amount", zero=True) if receipt else None,
    )


TEXT = "text/plain; charset=utf-8"


def reply_success() -> tuple[int, bytes, str]:
    """Exactly ``success``: anything else and Alipay resends (8 times over about 25 hours)."""
    return 200, b"success", TEXT


def reply_failure(reason: str = "") -> tuple[int, bytes, str]:
    """``failure``; Alipay resends later. The reason is for our log only, never in the body."""
    return 200, b"failure", TEXT
