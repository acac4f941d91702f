"""Alipay async notify: RSA2 verification of the sorted parameters, app_id/seller_id, the exact
amount format, paid states; every forgery refused with its code; the reply is exactly `success`."""

from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from ucis.payments import alipay, notices
from ucis.payments.notices import NoticeRejected
from ucis.payments.sandbox import AlipaySandbox, utc

AT = utc(2026, 11, 23, 2, 30, 0)
SANDBOX = AlipaySandbox()


def verify(params, sandbox=SANDBOX):
    return alipay.verify_notify(params=params, alipay_public_key=sandbox.public_key, app_id=sandbox.app_id,
                                seller_id=sandbox.seller_id)


def test_a_genuine_notify_verifies():
    params = SANDBOX.notify(out_trade_no="A202611230001", total_amount=Decimal("88.80"),
                            trade_no="2026112322001400001", at=AT, notify_id="N-1")
    notice = verify(params)
    assert (notice.out_trade_no, notice.trade_no, notice.notify_id) == ("A202611230001", "2026112322001400001", "N-1")
    assert notice.total_amount == Decimal("88.80") and notice.paid
    assert notice.trade_status == "TRADE_SUCCESS"
    assert notice.gmt_payment == AT and str(notice.gmt_payment.utcoffset()) == "8:00:00"
    assert (notice.app_id, notice.seller_id) == (SANDBOX.app_id, SANDBOX.seller_id)


@pytest.mark.parametrize(("status", "paid"), [("TRADE_SUCCESS", True), ("TRADE_FINISHED", True),
                                              ("WAIT_BUYER_PAY", False), ("TRADE_CLOSED", False)])
def test_only_success_and_finished_are_paid(status, paid):
    notice = verify(SANDBOX.notify(out_trade_no="A2", total_amount=Decimal("1.00"), at=AT, trade_status=status))
    assert notice.paid is paid and notice.trade_status == status
    assert (notice.gmt_payment is not None) is paid


def test_an_unknown_status_is_malformed():
    params = SANDBOX.sign({**SANDBOX.params(out_trade_no="A3", total_amount=Decimal("1.00"), at=AT),
                           "trade_status": "TRADE_MAYBE"})
    with pytest.raises(NoticeRejected) as caught:
        verify(params)
    assert caught.value.code == notices.MALFORMED


FORGERIES = list(SANDBOX.forgeries(out_trade_no="A4", total_amount=Decimal("50.00"), at=AT))


@pytest.mark.parametrize("forgery", FORGERIES, ids=[f.kind for f in FORGERIES])
def test_every_forgery_is_rejected_with_its_code(forgery):
    with pytest.raises(NoticeRejected) as caught:
        verify(forgery.headers)
    assert caught.value.code == forgery.code


def test_the_signed_content_is_sorted_without_sign_sign_type_and_empty_values():
    assert alipay.signing_content({"b": "2", "a": "1", "sign": "x", "sign_type": "RSA2", "c": "",
                                   "subject": "水费"}) == "a=1&b=2&subject=水费"
    # an empty parameter added on the way is not part of the signature (Alipay's rule)
    params = SANDBOX.notify(out_trade_no="A5", total_amount=Decimal("2.00"), at=AT)
    assert verify({**params, "passback_params": ""}).out_trade_no == "A5"


def test_a_gbk_notify_is_verified_in_gbk():
    params = SANDBOX.sign({**SANDBOX.params(out_trade_no="A6", total_amount=Decimal("3.00"), at=AT),
                           "charset": "GBK", "subject": "燃气费"})
    assert verify(params).out_trade_no == "A6"
    with pytest.raises(NoticeRejected) as caught:  # the same content read as UTF-8 does not verify
        verify({**params, "charset": "utf-8"})
    assert caught.value.code == notices.BAD_SIGNATURE


def test_the_key_may_be_the_bare_base64_of_the_console():
    bare = "".join(SANDBOX.public_key.strip().splitlines()[1:-1])
    params = SANDBOX.notify(out_trade_no="A7", total_amount=Decimal("4.00"), at=AT)
    notice = alipay.verify_notify(params=params, alipay_public_key=bare, app_id=SANDBOX.app_id,
                                  seller_id=SANDBOX.seller_id)
    assert notice.total_amount == Decimal("4.00")


def test_a_genuine_notify_for_another_merchant_is_refused_even_when_signed():
    other = AlipaySandbox(app_id="2021000100000002", seller_id="2088000000000002")
    params = other.notify(out_trade_no="A8", total_amount=Decimal("5.00"), at=AT)
    with pytest.raises(NoticeRejected) as caught:  # signed by another key: Alipay signs with one key
        verify(params)
    assert caught.value.code == notices.BAD_SIGNATURE


@given(st.decimals(min_value=Decimal("0.01"), max_value=Decimal("999999999.99"), places=2))
def test_any_positive_two_decimal_amount_reads_back_exactly(amount):
    assert alipay.parse_amount(f"{amount:.2f}") == amount


@given(st.text(max_size=12))
def test_text_that_is_not_a_two_decimal_amount_is_refused(text):
    import re
    if re.fullmatch(r"(0|[1-9][0-9]{0,11})\.[0-9]{2}", text) and text != "0.00":
        return
    with pytest.raises(NoticeRejected) as caught:
        alipay.parse_amount(text)
    assert caught.value.code == notices.BAD_AMOUNT


def test_the_reply_is_exactly_success_or_failure():
    assert alipay.reply_success() == (200, b"success", "text/plain; charset=utf-8")
    assert alipay.reply_failure("bad signature")[1] == b"failure"


def test_a_verified_notify_is_matched_against_its_order():
    notice = verify(SANDBOX.notify(out_trade_no="A9", total_amount=Decimal("66.60"), trade_no="T9", at=AT))
    assert (notice.order_no, notice.external_ref, notice.amount_yuan) == ("A9", "T9", Decimal("66.60"))
    notices.match_order(notice, order_no="A9", amount=Decimal("66.60"))
    with pytest.raises(NoticeRejected) as caught:
        notices.match_order(notice, order_no="A9", amount=Decimal("66.61"))
    assert caught.value.code == notices.AMOUNT_MISMATCH
    forgery = SANDBOX.forge("wrong_seller_id", out_trade_no="A9", total_amount=Decimal("1.00"), at=AT)
    with pytest.raises(NoticeRejected) as caught:
        verify(forgery.headers)
    assert caught.value.code == notices.WRONG_SELLER_ID


def test_a_signature_whose_plus_signs_became_spaces_still_verifies():
    params = next(p for p in (SANDBOX.notify(out_trade_no="A10", total_amount=Decimal("7.00"), at=AT)
                              for _ in range(50)) if "+" in p["sign"])
    mangled = {**params, "sign": params["sign"].replace("+", " ")}
    assert verify(mangled).out_trade_no == "A10"


def test_a_receipt_amount_of_zero_is_read_but_the_total_must_be_positive():
    params = SANDBOX.sign({**SANDBOX.params(out_trade_no="A11", total_amount=Decimal("7.00"), at=AT),
                           "receipt_amount": "0.00"})
    assert verify(params).receipt_amount == Decimal("0.00")


def test_a_parameter_that_is_not_text_is_malformed():
    params = SANDBOX.notify(out_trade_no="A12", total_amount=Decimal("7.00"), at=AT)
    with pytest.raises(NoticeRejected) as caught:
        verify({**params, "charset": None})
    assert caught.value.code == notices.MALFORMED
