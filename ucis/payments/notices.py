"""What the payment channels' notice checks share: one rejection error and key loading.

Pure (no Django, no clock). A notice from WeChat Pay or Alipay that fails any check raises
``NoticeRejected`` with a stable machine ``code`` (for the security log, metrics and tests) and a
plain reason (an English template, translated where it is shown). Nothing may be posted for a
rejected notice.
"""

from __future__ import annotations

from decimal import Decimal
from functools import lru_cache
from typing import Any, Protocol

from cryptography.hazmat.primitives.asymmetric.rsa import RSAPublicKey
from cryptography.hazmat.primitives.serialization import load_der_public_key, load_pem_public_key

from ucis.kernel.errors import DomainError, FieldProblem
from ucis.kernel.errors import gettext_noop as _

# The machine codes a rejection can carry.
UNKNOWN_SERIAL = "unknown_serial"  # WeChat: the Wechatpay-Serial names no platform key we hold
BAD_SIGNATURE = "bad_signature"  # the signature does not verify (forged or tampered)
STALE_TIMESTAMP = "stale_timestamp"  # WeChat: signed 5 minutes or more before/after now (replay)
MALFORMED = "malformed"  # a header, parameter or body field is missing or unreadable
DECRYPT_FAILED = "decrypt_failed"  # WeChat: the resource does not decrypt with our APIv3 key
UNSUPPORTED_ALGORITHM = "unsupported_algorithm"  # a signature type or cipher we do not accept
WRONG_APP_ID = "wrong_app_id"  # Alipay: the notice is for another application
WRONG_SELLER_ID = "wrong_seller_id"  # Alipay: the notice is for another seller account
BAD_AMOUNT = "bad_amount"  # the amount is not a positive amount in the channel's exact format
ORDER_MISMATCH = "order_mismatch"  # a genuine notice, but not for the order we expected
AMOUNT_MISMATCH = "amount_mismatch"  # a genuine notice whose amount is not the order's amount

CODES = frozenset({UNKNOWN_SERIAL, BAD_SIGNATURE, STALE_TIMESTAMP, MALFORMED, DECRYPT_FAILED,
                   UNSUPPORTED_ALGORITHM, WRONG_APP_ID, WRONG_SELLER_ID, BAD_AMOUNT, ORDER_MISMATCH,
                   AMOUNT_MISMATCH})


class NoticeRejected(DomainError):
    """A payment notice failed a check. ``code`` is one of ``CODES``; ``reason`` says why."""

    def __init__(self, code: str, reason: str, **params: Any) -> None:
        if code not in CODES:
            raise ValueError(f"unknown rejection code {code!r}")
        self.code = code
        super().__init__(problems=[FieldProblem("notice", reason, params)])

    @property
    def reason(self) -> str:
        return self.problems[0].reason

    def __reduce__(self) -> tuple[Any, ...]:  # picklable for Celery
        return (_rebuild, (self.code, self.problems[0].template, dict(self.problems[0].params)))


def _rebuild(code: str, template: str, params: dict[str, Any]) -> NoticeRejected:
    return NoticeRejected(code, template, **params)


PublicKeyInput = RSAPublicKey | str | bytes


def load_rsa_public_key(key: PublicKeyInput, *, field: str = "public_key") -> RSAPublicKey:
    """An RSA public key from a key object, PEM text (with or without the BEGIN/END lines, as
    the merchant platforms show it) or DER bytes. A bad key is a configuration error."""
    if isinstance(key, RSAPublicKey):
        return key
    return _load_key(key.encode("ascii", "replace") if isinstance(key, str) else bytes(key), field)


@lru_cache(maxsize=64)  # the same configured key is parsed once, not for every notice
def _load_key(raw: bytes, field: str) -> RSAPublicKey:
    text = raw.strip()
    try:
        if text.startswith(b"-----BEGIN"):
            loaded = load_pem_public_key(text)
        elif text[:1] == b"\x30":  # DER SEQUENCE
            loaded = load_der_public_key(text)
        else:  # the bare base64 body the WeChat/Alipay consoles display
            body = b"".join(text.split())
            lines = b"\n".join(body[i:i + 64] for i in range(0, len(body), 64))
            loaded = load_pem_public_key(b"-----BEGIN PUBLIC KEY-----\n" + lines + b"\n-----END PUBLIC KEY-----\n")
    except ValueError as exc:
        raise DomainError(field, _("this is not a readable public key")) from exc
    if not isinstance(loaded, RSAPublicKey):
        raise DomainError(field, _("the public key must be an RSA key"))
    return loaded


class ChannelNotice(Protocol):
    """What every verified notice offers the payment service (WechatNotice, AlipayNotice)."""

    @property
    def order_no(self) -> str: ...  # our order (out_trade_no)

    @property
    def external_ref(self) -> str: ...  # the platform's payment number: posted once

    @property
    def amount_yuan(self) -> Decimal: ...

    @property
    def paid(self) -> bool: ...


def match_order(notice: ChannelNotice, *, order_no: str, amount: Decimal) -> None:
    """A verified notice must be for ``order_no`` and for exactly ``amount`` yuan; else
    ``NoticeRejected`` (``order_mismatch`` / ``amount_mismatch``): nothing is posted."""
    if notice.order_no != order_no:
        raise NoticeRejected(ORDER_MISMATCH, _("the notice is for order %(got)s, not %(expected)s"),
                             got=notice.order_no, expected=order_no)
    if notice.amount_yuan != amount:
        raise NoticeRejected(AMOUNT_MISMATCH, _("the notice pays %(got)s yuan, the order is for %(expected)s"),
                             got=f"{notice.amount_yuan:.2f}", expected=f"{amount:.2f}")
