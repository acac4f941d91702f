"""WeChat Pay API v3 payment notifications (支付通知): verify, decrypt, parse. Pure.

A notification is an HTTP POST whose headers carry the platform's signature and whose JSON body
carries the payment as an AES-256-GCM encrypted ``resource``:

1. ``Wechatpay-Serial`` names the platform key (platform public key id ``PUB_KEY_ID_…`` or the
   serial of a platform certificate); a serial we do not hold is refused (``unknown_serial``).
2. ``Wechatpay-Timestamp`` (Unix seconds) must be less than 5 minutes from ``now`` in either
   direction — the SDK does not check this, so we do (``stale_timestamp``; a replay).
3. ``Wechatpay-Signature`` is base64 RSA-SHA256 (PKCS#1 v1.5) over
   ``timestamp\\nnonce\\nbody\\n`` with the raw body bytes (``bad_signature``).
4. The body's ``resource`` is decrypted with the merchant's APIv3 key (32 bytes), the resource's
   ``nonce`` and ``associated_data`` (``decrypt_failed``), and the transaction parsed
   (``malformed`` for anything missing or of the wrong type).

Why not the ``wechatpayv3`` library: see docs/architecture.md, "Decisions".
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

from cryptography.exceptions import InvalidSignature, InvalidTag
from cryptography.hazmat.primitives.asymmetric.padding import PKCS1v15
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.hashes import SHA256

from ucis.kernel.errors import gettext_noop as _
from ucis.payments.notices import (
    BAD_AMOUNT,
    BAD_SIGNATURE,
    DECRYPT_FAILED,
    MALFORMED,
    STALE_TIMESTAMP,
    UNKNOWN_SERIAL,
    UNSUPPORTED_ALGORITHM,
    NoticeRejected,
    PublicKeyInput,
    load_rsa_public_key,
)

SIGNATURE_TYPE = "WECHATPAY2-SHA256-RSA2048"
CIPHER = "AEAD_AES_256_GCM"
WINDOW = timedelta(minutes=5)
PAID_STATE = "SUCCESS"


@dataclass(frozen=True)
class WechatNotice:
    """A verified, decrypted payment notification. ``amount_total`` is in fen."""

    notice_id: str  # the notification's id (通知ID); a resent notice keeps it
    event_type: str  # e.g. TRANSACTION.SUCCESS
    out_trade_no: str  # our order number (商户订单号)
    transaction_id: str  # WeChat's payment number (微信支付订单号): the external reference
    trade_state: str  # SUCCESS, REFUND, NOTPAY, CLOSED, REVOKED, USERPAYING, PAYERROR
    amount_total: int  # fen
    currency: str
    appid: str
    mchid: str
    success_time: datetime | None  # aware; present when the trade succeeded
    signed_at: datetime  # the Wechatpay-Timestamp, aware UTC
    payer_total: int | None = None  # fen actually paid by the payer (after coupons)
    payer_openid: str | None = None

    @property
    def paid(self) -> bool:
        return self.trade_state == PAID_STATE

    @property
    def order_no(self) -> str:
        return self.out_trade_no

    @property
    def external_ref(self) -> str:
        return self.transaction_id

    @property
    def amount_yuan(self) -> Decimal:
        """The amount in yuan, exactly (fen / 100; no rounding)."""
        return Decimal(self.amount_total).scaleb(-2)

    @property
    def paid_at(self) -> datetime | None:
        return self.success_time


def _header(headers: Mapping[str, str], name: str) -> str:
    """A header by case-insensitive name; Django's META spelling (HTTP_WECHATPAY_…) works too."""
    wanted = name.lower()
    meta = "http_" + wanted.replace("-", "_")
    for key, value in headers.items():
        if key.lower() in (wanted, meta):
            return str(value).strip()
    raise NoticeRejected(MALFORMED, _("the header %(name)s is missing"), name=name)


def _public_key(platform_keys: Mapping[str, PublicKeyInput], serial: str) -> Any:
    for key_serial, key in platform_keys.items():
        # certificate serials are hex and compared case-insensitively; key ids exactly
        if key_serial == serial or key_serial.upper() == serial.upper():
            return load_rsa_public_key(key, field="platform_keys")
    raise NoticeRejected(UNKNOWN_SERIAL, _("no platform key with serial %(serial)s is configured"),
                         serial=serial[:64])


def signing_message(timestamp: str, nonce: str, body: bytes) -> bytes:
    """The bytes the platform signs: ``timestamp\\nnonce\\nbody\\n``."""
    return timestamp.encode("ascii") + b"\n" + nonce.encode("utf-8") + b"\n" + body + b"\n"


def _check_time(timestamp: str, now: datetime, window: timedelta) -> datetime:
    if now.tzinfo is None or now.utcoffset() is None:
        raise ValueError("now must be an aware datetime")
    if not timestamp.isascii() or not timestamp.isdigit() or len(timestamp) > 12:
        raise NoticeRejected(MALFORMED, _("the timestamp %(value)s is not a number of seconds"),
                             value=timestamp[:32])
    signed_at = datetime.fromtimestamp(int(timestamp), UTC)
    if abs(now - signed_at) >= window:
        raise NoticeRejected(STALE_TIMESTAMP, _("the notice was signed at %(signed)s, %(minutes)s minutes "
                                                "or more from now (%(now)s): refused as a replay"),
                             signed=signed_at.isoformat(), now=now.astimezone(UTC).isoformat(),
                             minutes=int(window.total_seconds() // 60))
    return signed_at


def _b64(value: Any, code: str, reason: str) -> bytes:
    if not isinstance(value, str):
        raise NoticeRejected(code, reason)
    try:
        return base64.b64decode(value, validate=True)
    except (binascii.Error, ValueError) as exc:
        raise NoticeRejected(code, reason) from exc


def _text(data: Mapping[str, Any], key: str, *, required: bool = True) -> str:
    value = data.get(key)
    if value is None and not required:
        return ""
    if not isinstance(value, str) or (required and not value):
        raise NoticeRejected(MALFORMED, _("the field %(field)s is missing or not text"), field=key)
    return value


def _time(value: Any, field: str) -> datetime:
    if not isinstance(value, str):
        raise NoticeRejected(MALFORMED, _("the field %(field)s is missing or not text"), field=field)
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError as exc:
        raise NoticeRejected(MALFORMED, _("%(field)s is not an RFC 3339 time: %(value)s"),
                             field=field, value=value[:40]) from exc
    if parsed.tzinfo is None:
        raise NoticeRejected(MALFORMED, _("%(field)s has no time zone: %(value)s"), field=field, value=value[:40])
    return parsed


def _fen(value: Any, field: str, *, positive: bool) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 0 or (positive and value == 0):
        raise NoticeRejected(BAD_AMOUNT, _("%(field)s must be a positive whole number of fen, not %(value)s"),
                             field=field, value=repr(value)[:40])
    return value


def decrypt_resource(resource: Mapping[str, Any], api_v3_key: bytes | str) -> bytes:
    """The plaintext of an ``encrypt-resource`` (AEAD_AES_256_GCM with the APIv3 key)."""
    key = api_v3_key.encode("utf-8") if isinstance(api_v3_key, str) else bytes(api_v3_key)
    if len(key) != 32:
        raise ValueError("the APIv3 key must be 32 bytes")
    algorithm = resource.get("algorithm")
    if algorithm != CIPHER:
        raise NoticeRejected(UNSUPPORTED_ALGORITHM, _("the resource cipher %(value)s is not supported"),
                             value=str(algorithm)[:40])
    nonce = _text(resource, "nonce")
    associated = _text(resource, "associated_data", required=False)
    ciphertext = _b64(resource.get("ciphertext"), MALFORMED, _("the ciphertext is not base64 text"))
    try:
        return AESGCM(key).decrypt(nonce.encode("utf-8"), ciphertext, associated.encode("utf-8"))
    except (InvalidTag, ValueError) as exc:
        raise NoticeRejected(DECRYPT_FAILED, _("the resource does not decrypt with our APIv3 key")) from exc


def verify_notice(*, headers: Mapping[str, str], body: bytes, platform_keys: Mapping[str, PublicKeyInput],
                  api_v3_key: bytes | str, now: datetime, window: timedelta = WINDOW) -> WechatNotice:
    """Verify and decrypt one payment notification, or raise ``NoticeRejected``.

    ``platform_keys`` maps serial → platform public key (PEM text, bare base64 or key object);
    hold both keys while WeChat rotates them. ``now`` is the time of receipt (aware).
    """
    if not isinstance(body, bytes | bytearray):
        raise TypeError("body must be the raw request bytes")
    body = bytes(body)
    serial = _header(headers, "Wechatpay-Serial")
    signature_text = _header(headers, "Wechatpay-Signature")
    timestamp = _header(headers, "Wechatpay-Timestamp")
    nonce = _header(headers, "Wechatpay-Nonce")
    signature_type = next((str(v).strip() for k, v in headers.items()
                           if k.lower() in ("wechatpay-signature-type", "http_wechatpay_signature_type")), "")
    if signature_type and signature_type != SIGNATURE_TYPE:
        raise NoticeRejected(UNSUPPORTED_ALGORITHM, _("the signature type %(value)s is not supported"),
                             value=signature_type[:40])
    public_key = _public_key(platform_keys, serial)
    signed_at = _check_time(timestamp, now, window)
    signature = _b64(signature_text, BAD_SIGNATURE, _("the signature is not base64 text"))
    try:
        public_key.verify(signature, signing_message(timestamp, nonce, body), PKCS1v15(), SHA256())
    except (InvalidSignature, ValueError) as exc:
        raise NoticeRejected(BAD_SIGNATURE, _("the signature does not match the notice")) from exc

    try:
        envelope = json.loads(body.decode("utf-8"))
    except (UnicodeDecodeError, ValueError) as exc:
        raise NoticeRejected(MALFORMED, _("the body is not JSON")) from exc
    if not isinstance(envelope, dict):
        raise NoticeRejected(MALFORMED, _("the body is not a JSON object"))
    notice_id = _text(envelope, "id")
    event_type = _text(envelope, "event_type")
    if envelope.get("resource_type") != "encrypt-resource" or not isinstance(envelope.get("resource"), dict):
        raise NoticeRejected(MALFORMED, _("the body carries no encrypted resource"))
    plaintext = decrypt_resource(envelope["resource"], api_v3_key)
    try:
        data = json.loads(plaintext.decode("utf-8"))
    except (UnicodeDecodeError, ValueError) as exc:
        raise NoticeRejected(MALFORMED, _("the decrypted resource is not JSON")) from exc
    if not isinstance(data, dict):
        raise NoticeRejected(MALFORMED, _("the decrypted resource is not a JSON object"))

    amount = data.get("amount")
    if not isinstance(amount, dict):
        raise NoticeRejected(MALFORMED, _("the field %(field)s is missing or not text"), field="amount")
    trade_state = _text(data, "trade_state")
    success_time = None
    if data.get("success_time") is not None or trade_state == PAID_STATE:
        success_time = _time(data.get("success_time"), "success_time")
    payer = data.get("payer")
    payer = payer if isinstance(payer, dict) else {}
    payer_total = amount.get("payer_total")
    currency = _text(amount, "currency", required=False) or "CNY"
    if currency != "CNY":
        raise NoticeRejected(BAD_AMOUNT, _("the currency %(value)s is not CNY"), value=currency[:10])
    return WechatNotice(
        notice_id=notice_id,
        event_type=event_type,
        out_trade_no=_text(data, "out_trade_no"),
        transaction_id=_text(data, "transaction_id"),
        trade_state=trade_state,
        amount_total=_fen(amount.get("total"), "amount.total", positive=True),
        currency=currency,
        appid=_text(data, "appid"),
        mchid=_text(data, "mchid"),
        success_time=success_time,
        signed_at=signed_at,
        payer_total=None if payer_total is None else _fen(payer_total, "amount.payer_total", positive=False),
        payer_openid=payer.get("openid") if isinstance(payer.get("openid"), str) else None,
    )


JSON = "application/json; charset=utf-8"


def reply_success() -> tuple[int, bytes, str]:
    """The answer that stops WeChat resending: HTTP 200 (or 204); a body is optional."""
    return 200, json.dumps({"code": "SUCCESS", "message": "成功"}, ensure_ascii=False).encode("utf-8"), JSON


def reply_failure(reason: str, *, status: int = 500) -> tuple[int, bytes, str]:
    """A refusal: a 4XX/5XX status with ``{"code": "FAIL", "message": …}``; WeChat resends later
    (up to 15 times over 24 h 4 m), so a lost posting is retried by the platform itself."""
    if not 400 <= status <= 599:
        raise ValueError("a failure reply needs a 4XX or 5XX status")
    body = json.dumps({"code": "FAIL", "message": reason[:200]}, ensure_ascii=False).encode("utf-8")
    return status, body, JSON
