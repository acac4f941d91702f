"""WeChat Pay v3 notices: genuine ones verify and decrypt; every forgery and replay is refused
with its code; the 5-minute window holds at the boundary in both directions."""

import json
from datetime import timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ucis.payments import notices, wechat
from ucis.payments.notices import NoticeRejected
from ucis.payments.sandbox import WechatSandbox, utc

AT = utc(2026, 11, 23, 2, 30, 0)
SANDBOX = WechatSandbox()  # one RSA key for the module (generating one takes a while)


def verify(headers, body, *, now=AT, sandbox=SANDBOX, **kwargs):
    return wechat.verify_notice(headers=headers, body=body, platform_keys=sandbox.platform_keys,
                                api_v3_key=sandbox.api_v3_key, now=now, **kwargs)


def rejected_code(headers, body, **kwargs):
    with pytest.raises(NoticeRejected) as caught:
        verify(headers, body, **kwargs)
    assert caught.value.code in notices.CODES
    assert caught.value.reason  # a plain reason for the security log
    return caught.value.code


def test_a_genuine_notice_verifies_and_decrypts():
    headers, body = SANDBOX.notice(out_trade_no="W202611230001", amount_fen=12_345,
                                   transaction_id="4200001234202611230000000001", at=AT, notice_id="EV-1")
    notice = verify(headers, body)
    assert notice.out_trade_no == "W202611230001"
    assert notice.transaction_id == "4200001234202611230000000001"
    assert notice.amount_total == 12_345 and isinstance(notice.amount_total, int)
    assert notice.currency == "CNY"
    assert notice.trade_state == "SUCCESS" and notice.paid
    assert (notice.appid, notice.mchid) == (SANDBOX.appid, SANDBOX.mchid)
    assert notice.notice_id == "EV-1" and notice.event_type == "TRANSACTION.SUCCESS"
    assert notice.success_time == AT and notice.success_time.utcoffset() == timedelta(hours=8)
    assert notice.signed_at == AT
    with pytest.raises(AttributeError):
        notice.amount_total = 1  # frozen


def test_a_notice_that_is_not_a_success_is_returned_unpaid():
    headers, body = SANDBOX.notice(out_trade_no="W2", amount_fen=100, trade_state="CLOSED", at=AT)
    notice = verify(headers, body)
    assert not notice.paid and notice.success_time is None and notice.trade_state == "CLOSED"


FORGERIES = list(SANDBOX.forgeries(out_trade_no="W3", amount_fen=5_000, at=AT))


def test_the_sandbox_makes_every_kind_of_forgery():
    assert {f.code for f in FORGERIES} >= {notices.UNKNOWN_SERIAL, notices.BAD_SIGNATURE, notices.STALE_TIMESTAMP,
                                           notices.MALFORMED, notices.DECRYPT_FAILED, notices.BAD_AMOUNT}


@pytest.mark.parametrize("forgery", FORGERIES, ids=[f.kind for f in FORGERIES])
def test_every_forgery_is_rejected_with_its_code(forgery):
    assert rejected_code(forgery.headers, forgery.body) == forgery.code


@pytest.mark.parametrize(("offset", "accepted"), [
    (timedelta(minutes=4, seconds=59), True),
    (timedelta(minutes=5), False),
    (-timedelta(minutes=4, seconds=59), True),
    (-timedelta(minutes=5), False),
    (timedelta(hours=24), False),
])
def test_the_five_minute_window_at_the_boundary_both_ways(offset, accepted):
    headers, body = SANDBOX.notice(out_trade_no="W4", amount_fen=1, at=AT)
    now = AT + offset  # offset > 0: received late (a replay); < 0: signed "in the future"
    if accepted:
        assert verify(headers, body, now=now).out_trade_no == "W4"
    else:
        assert rejected_code(headers, body, now=now) == notices.STALE_TIMESTAMP


def test_a_resent_notice_verifies_again_within_the_window_and_not_after():
    # WeChat resends the same notice; the ledger (not this module) makes the repeat post nothing.
    headers, body = SANDBOX.notice(out_trade_no="W5", amount_fen=300, at=AT, notice_id="same")
    assert verify(headers, body).notice_id == verify(headers, body, now=AT + timedelta(minutes=1)).notice_id
    assert rejected_code(headers, body, now=AT + timedelta(minutes=10)) == notices.STALE_TIMESTAMP


def test_a_narrower_window_can_be_configured():
    headers, body = SANDBOX.notice(out_trade_no="W6", amount_fen=1, at=AT)
    assert rejected_code(headers, body, now=AT + timedelta(minutes=2), window=timedelta(minutes=1)) \
        == notices.STALE_TIMESTAMP


def test_both_keys_verify_while_the_platform_rotates_its_key():
    old, new = WechatSandbox(), WechatSandbox()
    new.api_v3_key = old.api_v3_key  # one merchant, one APIv3 key
    keys = {**old.platform_keys, **new.platform_keys}
    for sandbox in (old, new):
        headers, body = sandbox.notice(out_trade_no="W7", amount_fen=10, at=AT)
        assert wechat.verify_notice(headers=headers, body=body, platform_keys=keys, api_v3_key=old.api_v3_key,
                                    now=AT).amount_total == 10
    headers, body = new.notice(out_trade_no="W7", amount_fen=10, at=AT)
    with pytest.raises(NoticeRejected) as caught:
        wechat.verify_notice(headers=headers, body=body, platform_keys=old.platform_keys,
                             api_v3_key=old.api_v3_key, now=AT)
    assert caught.value.code == notices.UNKNOWN_SERIAL


def test_headers_are_found_in_any_case_and_in_django_meta_spelling():
    headers, body = SANDBOX.notice(out_trade_no="W8", amount_fen=1, at=AT)
    lower = {k.lower(): v for k, v in headers.items()}
    meta = {"HTTP_" + k.upper().replace("-", "_"): v for k, v in headers.items()}
    assert verify(lower, body).out_trade_no == verify(meta, body).out_trade_no == "W8"


def test_a_key_given_as_the_bare_base64_of_the_console_works():
    headers, body = SANDBOX.notice(out_trade_no="W9", amount_fen=1, at=AT)
    bare = "".join(SANDBOX.public_key_pem.strip().splitlines()[1:-1])
    notice = wechat.verify_notice(headers=headers, body=body, platform_keys={SANDBOX.serial: bare},
                                  api_v3_key=SANDBOX.api_v3_key.decode(), now=AT)
    assert notice.out_trade_no == "W9"


def test_another_signature_type_is_refused():
    headers, body = SANDBOX.notice(out_trade_no="W10", amount_fen=1, at=AT)
    assert rejected_code({**headers, "Wechatpay-Signature-Type": "WECHATPAY2-SM2-WITH-SM3"}, body) \
        == notices.UNSUPPORTED_ALGORITHM


def test_a_signed_body_with_a_missing_field_is_malformed():
    resource = SANDBOX.transaction(out_trade_no="W11", amount_fen=1, at=AT)
    del resource["transaction_id"]
    body = SANDBOX.envelope(resource, at=AT)
    assert rejected_code(SANDBOX.sign(body, at=AT), body) == notices.MALFORMED
    resource = SANDBOX.transaction(out_trade_no="W11", amount_fen=1, at=AT)
    resource["amount"] = {"total": "100", "currency": "CNY"}  # a string is not fen
    body = SANDBOX.envelope(resource, at=AT)
    assert rejected_code(SANDBOX.sign(body, at=AT), body) == notices.BAD_AMOUNT


def test_the_clock_must_be_aware():
    headers, body = SANDBOX.notice(out_trade_no="W12", amount_fen=1, at=AT)
    with pytest.raises(ValueError):
        verify(headers, body, now=AT.replace(tzinfo=None))


@settings(max_examples=40, deadline=None)
@given(position=st.integers(min_value=0), bit=st.integers(min_value=0, max_value=7))
def test_any_flipped_bit_in_the_body_is_refused(position, bit):
    headers, body = SANDBOX.notice(out_trade_no="W13", amount_fen=777, at=AT)
    position %= len(body)
    forged = body[:position] + bytes([body[position] ^ (1 << bit)]) + body[position + 1:]
    assert rejected_code(headers, forged) == notices.BAD_SIGNATURE


def test_the_replies_are_what_wechat_expects():
    status, body, content_type = wechat.reply_success()
    assert status == 200 and json.loads(body) == {"code": "SUCCESS", "message": "成功"}
    assert content_type.startswith("application/json")
    status, body, _ = wechat.reply_failure("签名错误")
    assert status == 500 and json.loads(body) == {"code": "FAIL", "message": "签名错误"}
    assert wechat.reply_failure("x", status=401)[0] == 401
    with pytest.raises(ValueError):
        wechat.reply_failure("x", status=200)


def test_a_verified_notice_is_matched_against_its_order():
    from decimal import Decimal

    headers, body = SANDBOX.notice(out_trade_no="W14", amount_fen=12_345, at=AT)
    notice = verify(headers, body)
    assert (notice.order_no, notice.amount_yuan, notice.paid_at) == ("W14", Decimal("123.45"), notice.success_time)
    assert notice.external_ref == notice.transaction_id
    notices.match_order(notice, order_no="W14", amount=Decimal("123.45"))
    for kwargs, code in (({"order_no": "W15", "amount": Decimal("123.45")}, notices.ORDER_MISMATCH),
                         ({"order_no": "W14", "amount": Decimal("123.44")}, notices.AMOUNT_MISMATCH)):
        with pytest.raises(NoticeRejected) as caught:
            notices.match_order(notice, **kwargs)
        assert caught.value.code == code


def test_a_currency_other_than_cny_is_refused():
    resource = SANDBOX.transaction(out_trade_no="W16", amount_fen=100, at=AT)
    resource["amount"] = {"total": 100, "currency": "USD"}
    body = SANDBOX.envelope(resource, at=AT)
    assert rejected_code(SANDBOX.sign(body, at=AT), body) == notices.BAD_AMOUNT


def test_one_forgery_can_be_asked_for_by_kind():
    forgery = SANDBOX.forge("replayed_old", out_trade_no="W17", amount_fen=1, at=AT)
    assert forgery.code == notices.STALE_TIMESTAMP and rejected_code(forgery.headers, forgery.body) == forgery.code
    with pytest.raises(KeyError):
        SANDBOX.forge("no_such_kind", out_trade_no="W17", amount_fen=1, at=AT)
