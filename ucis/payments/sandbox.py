"""Local stand-ins for the WeChat Pay and Alipay platforms: they sign (and encrypt) notices exactly
as the real platforms do, with keys generated here. Pure; used by tests, the demo (sandbox mode)
and load tests. Also makes every kind of forgery a test needs.

Nothing here is a secret: the keys live only in memory and are new for every sandbox.
"""

from __future__ import annotations

import base64
import json
import secrets
import string
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal

from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.hazmat.primitives.asymmetric.padding import PKCS1v15
from cryptography.hazmat.primitives.asymmetric.rsa import RSAPrivateKey, RSAPublicKey
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.hashes import SHA256
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from ucis.payments import notices
from ucis.payments.alipay import BEIJING, signing_content
from ucis.payments.wechat import SIGNATURE_TYPE, signing_message

_ALNUM = string.ascii_letters + string.digits


def _new_key() -> RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


_FOREIGN: list[RSAPrivateKey] = []


def _foreign_key() -> RSAPrivateKey:
    """A key that is not the platform's (one per process: generating keys is slow)."""
    if not _FOREIGN:
        _FOREIGN.append(_new_key())
    return _FOREIGN[0]


def _pem(key: RSAPublicKey) -> str:
    return key.public_bytes(Encoding.PEM, PublicFormat.SubjectPublicKeyInfo).decode("ascii")


def _sign(key: RSAPrivateKey, message: bytes) -> str:
    return base64.b64encode(key.sign(message, PKCS1v15(), SHA256())).decode("ascii")


def _token(n: int) -> str:
    return "".join(secrets.choice(_ALNUM) for _ in range(n))


@dataclass(frozen=True)
class Forgery:
    """A notice that must be refused, with the rejection code it must get."""

    kind: str
    code: str
    headers: dict[str, str]
    body: bytes


def _pick(forgeries: Iterator[Forgery], kind: str) -> Forgery:
    for forgery in forgeries:
        if forgery.kind == kind:
            return forgery
    raise KeyError(kind)


class WechatSandbox:
    """Plays the WeChat Pay platform for one merchant: a platform key pair and its serial, and
    the merchant's APIv3 key (shared secret). ``platform_keys`` and ``api_v3_key`` are what
    ``verify_notice`` takes."""

    def __init__(self, *, mchid: str = "1900000109", appid: str = "wxd678efh567hg6787") -> None:
        self.mchid = mchid
        self.appid = appid
        self._key = _new_key()
        self.serial = "PUB_KEY_ID_" + secrets.token_hex(16).upper()
        self.api_v3_key = _token(32).encode("ascii")

    @property
    def public_key_pem(self) -> str:
        return _pem(self._key.public_key())

    @property
    def platform_keys(self) -> dict[str, str]:
        return {self.serial: self.public_key_pem}

    def transaction(self, *, out_trade_no: str, amount_fen: int, transaction_id: str | None = None,
                    trade_state: str = "SUCCESS", at: datetime) -> dict[str, object]:
        """The decrypted resource of a payment notification."""
        paid_at = at.astimezone(BEIJING).replace(microsecond=0).isoformat()
        return {
            "appid": self.appid, "mchid": self.mchid, "out_trade_no": out_trade_no,
            "transaction_id": transaction_id or "4200" + str(secrets.randbelow(10 ** 24)).zfill(24),
            "trade_type": "NATIVE", "trade_state": trade_state, "trade_state_desc": "支付成功",
            "bank_type": "OTHERS", "attach": "",
            **({"success_time": paid_at} if trade_state == "SUCCESS" else {}),
            "payer": {"openid": "oUpF8uMuAJO_M2pxb1Q9zNjWeS6o"},
            "amount": {"total": amount_fen, "payer_total": amount_fen, "currency": "CNY", "payer_currency": "CNY"},
        }

    def envelope(self, resource: dict[str, object], *, at: datetime, notice_id: str | None = None,
                 api_v3_key: bytes | None = None) -> bytes:
        """The notification body: the resource encrypted with the APIv3 key (AES-256-GCM)."""
        nonce = _token(12)
        associated = "transaction"
        plaintext = json.dumps(resource, ensure_ascii=False, separators=(",", ":")).encode("utf-8")
        cipher = AESGCM(api_v3_key or self.api_v3_key).encrypt(nonce.encode(), plaintext, associated.encode())
        trade_state = resource.get("trade_state")
        body = {
            "id": notice_id or secrets.token_hex(18),
            "create_time": at.astimezone(BEIJING).replace(microsecond=0).isoformat(),
            "resource_type": "encrypt-resource",
            "event_type": "TRANSACTION.SUCCESS" if trade_state == "SUCCESS" else "TRANSACTION.CLOSED",
            "summary": "支付成功",
            "resource": {"original_type": "transaction", "algorithm": "AEAD_AES_256_GCM",
                         "ciphertext": base64.b64encode(cipher).decode("ascii"),
                         "associated_data": associated, "nonce": nonce},
        }
        return json.dumps(body, ensure_ascii=False, separators=(",", ":")).encode("utf-8")

    def sign(self, body: bytes, *, at: datetime, serial: str | None = None,
             key: RSAPrivateKey | None = None) -> dict[str, str]:
        """The headers the platform sends with ``body`` signed at ``at``."""
        timestamp = str(int(at.timestamp()))
        nonce = _token(32)
        return {
            "Wechatpay-Serial": serial or self.serial,
            "Wechatpay-Timestamp": timestamp,
            "Wechatpay-Nonce": nonce,
            "Wechatpay-Signature": _sign(key or self._key, signing_message(timestamp, nonce, body)),
            "Wechatpay-Signature-Type": SIGNATURE_TYPE,
            "Content-Type": "application/json",
        }

    def notice(self, *, out_trade_no: str, amount_fen: int, transaction_id: str | None = None,
               trade_state: str = "SUCCESS", at: datetime, notice_id: str | None = None
               ) -> tuple[dict[str, str], bytes]:
        """A genuine payment notification sent at ``at``: (headers, body)."""
        resource = self.transaction(out_trade_no=out_trade_no, amount_fen=amount_fen,
                                    transaction_id=transaction_id, trade_state=trade_state, at=at)
        body = self.envelope(resource, at=at, notice_id=notice_id)
        return self.sign(body, at=at), body

    # --- forgeries ---------------------------------------------------------------------------

    def forgeries(self, *, out_trade_no: str, amount_fen: int, at: datetime,
                  transaction_id: str | None = None) -> Iterator[Forgery]:
        """Every kind of bad notice, each as it would arrive at ``at`` (verify with now=at)."""
        headers, body = self.notice(out_trade_no=out_trade_no, amount_fen=amount_fen,
                                    transaction_id=transaction_id, at=at)
        yield Forgery("tampered_body", notices.BAD_SIGNATURE, headers, body.replace(b'"id":"', b'"id":"X', 1))
        # the amount re-encrypted by someone holding the APIv3 key but not the platform's private key
        bigger = self.transaction(out_trade_no=out_trade_no, amount_fen=amount_fen * 100,
                                  transaction_id=transaction_id, at=at)
        yield Forgery("tampered_amount", notices.BAD_SIGNATURE, headers, self.envelope(bigger, at=at))
        yield Forgery("wrong_serial", notices.UNKNOWN_SERIAL,
                      {**headers, "Wechatpay-Serial": "PUB_KEY_ID_" + secrets.token_hex(16).upper()}, body)
        yield Forgery("foreign_key", notices.BAD_SIGNATURE, self.sign(body, at=at, key=_foreign_key()), body)
        yield Forgery("replayed_old", notices.STALE_TIMESTAMP, self.sign(body, at=at - timedelta(minutes=6)), body)
        yield Forgery("from_the_future", notices.STALE_TIMESTAMP,
                      self.sign(body, at=at + timedelta(minutes=6)), body)
        yield Forgery("signature_not_base64", notices.BAD_SIGNATURE,
                      {**headers, "Wechatpay-Signature": "not*base64"}, body)
        missing = {k: v for k, v in headers.items() if k != "Wechatpay-Nonce"}
        yield Forgery("missing_header", notices.MALFORMED, missing, body)
        other_key = self.envelope(self.transaction(out_trade_no=out_trade_no, amount_fen=amount_fen, at=at),
                                  at=at, api_v3_key=_token(32).encode("ascii"))
        yield Forgery("wrong_api_v3_key", notices.DECRYPT_FAILED, self.sign(other_key, at=at), other_key)
        garbage = b"<xml>not json</xml>"
        yield Forgery("not_json", notices.MALFORMED, self.sign(garbage, at=at), garbage)
        zero = self.envelope(self.transaction(out_trade_no=out_trade_no, amount_fen=0, at=at), at=at)
        yield Forgery("zero_amount", notices.BAD_AMOUNT, self.sign(zero, at=at), zero)

    def forge(self, kind: str, *, out_trade_no: str, amount_fen: int, at: datetime,
              transaction_id: str | None = None) -> Forgery:
        """One forgery by kind: tampered_body, tampered_amount, wrong_serial, foreign_key,
        replayed_old, from_the_future, signature_not_base64, missing_header, wrong_api_v3_key,
        not_json, zero_amount."""
        return _pick(self.forgeries(out_trade_no=out_trade_no, amount_fen=amount_fen, at=at,
                                    transaction_id=transaction_id), kind)


class AlipaySandbox:
    """Plays Alipay for one application: Alipay's key pair (``public_key`` is what the merchant
    configures), the ``app_id`` and the ``seller_id`` (the merchant's Alipay user id, 2088…)."""

    def __init__(self, *, app_id: str = "2021000117600001", seller_id: str = "2088102177000001") -> None:
        self.app_id = app_id
        self.seller_id = seller_id
        self._key = _new_key()

    @property
    def public_key(self) -> str:
        return _pem(self._key.public_key())

    def sign(self, params: dict[str, str], *, key: RSAPrivateKey | None = None) -> dict[str, str]:
        """``params`` with ``sign`` and ``sign_type`` added, as Alipay posts them."""
        unsigned = {k: v for k, v in params.items() if k not in ("sign", "sign_type")}
        charset = "gbk" if unsigned.get("charset", "utf-8").lower() in ("gbk", "gb2312") else "utf-8"
        signature = _sign(key or self._key, signing_content(unsigned).encode(charset))
        return {**unsigned, "sign": signature, "sign_type": "RSA2"}

    def params(self, *, out_trade_no: str, total_amount: Decimal | str, trade_no: str | None = None,
               at: datetime, trade_status: str = "TRADE_SUCCESS", notify_id: str | None = None,
               app_id: str | None = None, seller_id: str | None = None) -> dict[str, str]:
        """The unsigned parameters of an async notify."""
        when = at.astimezone(BEIJING).strftime("%Y-%m-%d %H:%M:%S")
        amount = total_amount if isinstance(total_amount, str) else f"{total_amount:.2f}"
        params = {
            "notify_time": when, "notify_type": "trade_status_sync",
            "notify_id": notify_id or "ac05099524730693a8b330c5ecf72da" + str(secrets.randbelow(10 ** 9)),
            "charset": "utf-8", "version": "1.0", "app_id": app_id or self.app_id,
            "trade_no": trade_no or at.astimezone(BEIJING).strftime("%Y%m%d") + str(secrets.randbelow(10 ** 20)).zfill(20),
            "out_trade_no": out_trade_no, "seller_id": seller_id or self.seller_id,
            "buyer_id": "2088102177846880", "buyer_logon_id": "159****5620",
            "trade_status": trade_status, "total_amount": amount, "receipt_amount": amount,
            "subject": "水费", "gmt_create": when,
        }
        if trade_status in ("TRADE_SUCCESS", "TRADE_FINISHED"):
            params["gmt_payment"] = when
        return params

    def notify(self, *, out_trade_no: str, total_amount: Decimal, trade_no: str | None = None, at: datetime,
               trade_status: str = "TRADE_SUCCESS", notify_id: str | None = None) -> dict[str, str]:
        """A genuine async notify, signed: the form parameters as Alipay POSTs them (URL-decoded)."""
        return self.sign(self.params(out_trade_no=out_trade_no, total_amount=total_amount, trade_no=trade_no,
                                     at=at, trade_status=trade_status, notify_id=notify_id))

    def forgeries(self, *, out_trade_no: str, total_amount: Decimal, at: datetime,
                  trade_no: str | None = None) -> Iterator[Forgery]:
        """Every kind of bad notify; ``headers`` holds the parameters, ``body`` is empty."""
        base = self.params(out_trade_no=out_trade_no, total_amount=total_amount, trade_no=trade_no, at=at)
        good = self.sign(base)

        def forged(kind: str, code: str, params: dict[str, str]) -> Forgery:
            return Forgery(kind, code, params, b"")

        yield forged("tampered_amount", notices.BAD_SIGNATURE,
                     {**good, "total_amount": f"{total_amount * 100:.2f}"})
        yield forged("tampered_order", notices.BAD_SIGNATURE, {**good, "out_trade_no": out_trade_no + "9"})
        yield forged("added_parameter", notices.BAD_SIGNATURE, {**good, "refund_fee": "1.00"})
        yield forged("foreign_key", notices.BAD_SIGNATURE, self.sign(base, key=_foreign_key()))
        yield forged("missing_sign", notices.MALFORMED, {k: v for k, v in good.items() if k != "sign"})
        yield forged("rsa1_sign_type", notices.UNSUPPORTED_ALGORITHM, {**good, "sign_type": "RSA"})
        yield forged("wrong_app_id", notices.WRONG_APP_ID, self.sign({**base, "app_id": "2021000999999999"}))
        yield forged("wrong_seller_id", notices.WRONG_SELLER_ID,
                     self.sign({**base, "seller_id": "2088999999999999"}))
        for bad in ("100", "100.0", "100.001", "-1.00", "0.00", "1e2", "１００.00"):
            yield forged(f"bad_amount {bad}", notices.BAD_AMOUNT,
                         self.sign({**base, "total_amount": bad, "receipt_amount": f"{total_amount:.2f}"}))

    def forge(self, kind: str, *, out_trade_no: str, total_amount: Decimal, at: datetime,
              trade_no: str | None = None) -> Forgery:
        """One forgery by kind: tampered_amount, tampered_order, added_parameter, foreign_key,
        missing_sign, rsa1_sign_type, wrong_app_id, wrong_seller_id, "bad_amount 100.0", …"""
        return _pick(self.forgeries(out_trade_no=out_trade_no, total_amount=total_amount, at=at,
                                    trade_no=trade_no), kind)


def utc(year: int, month: int, day: int, hour: int = 0, minute: int = 0, second: int = 0) -> datetime:
    """An aware UTC time, for tests and the demo."""
    return datetime(year, month, day, hour, minute, second, tzinfo=UTC)
