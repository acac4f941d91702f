"""The pure rules of printed notices: amounts in capital numerals (大写金额), payment references."""

from __future__ import annotations

import re
from datetime import date
from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from ucis.billing.printing import payment_reference, payment_reference_valid, qr_payload, yuan_in_words

CASES = [
    ("0", "零元整"),
    ("0.00", "零元整"),
    ("123.45", "壹佰贰拾叁元肆角伍分"),
    ("1", "壹元整"),
    ("10", "壹拾元整"),
    ("15", "壹拾伍元整"),
    ("100", "壹佰元整"),
    ("100.50", "壹佰元伍角整"),
    ("0.45", "肆角伍分"),
    ("0.05", "伍分"),
    ("0.40", "肆角整"),
    ("1.05", "壹元零伍分"),
    ("10.05", "壹拾元零伍分"),
    ("1.40", "壹元肆角整"),
    ("120.05", "壹佰贰拾元零伍分"),
    ("1004", "壹仟零肆元整"),
    ("1010", "壹仟零壹拾元整"),
    ("1680.32", "壹仟陆佰捌拾元叁角贰分"),
    ("1409.50", "壹仟肆佰零玖元伍角整"),
    ("6007.14", "陆仟零柒元壹角肆分"),
    ("16409.02", "壹万陆仟肆佰零玖元零贰分"),
    ("325.04", "叁佰贰拾伍元零肆分"),
    ("10000", "壹万元整"),
    ("10001", "壹万零壹元整"),
    ("100500", "壹拾万零伍佰元整"),
    ("105000", "壹拾万零伍仟元整"),
    ("107000.53", "壹拾万零柒仟元伍角叁分"),  # the PBOC example, its second form
    ("1000500", "壹佰万零伍佰元整"),
    ("10001000", "壹仟万零壹仟元整"),
    ("100000000", "壹亿元整"),
    ("100000001", "壹亿零壹元整"),
    ("100100000", "壹亿零壹拾万元整"),
    ("999999999999.99", "玖仟玖佰玖拾玖亿玖仟玖佰玖拾玖万玖仟玖佰玖拾玖元玖角玖分"),
    ("-58.20", "负伍拾捌元贰角整"),
    ("171.60", "壹佰柒拾壹元陆角整"),
]


@pytest.mark.parametrize(("amount", "words"), CASES)
def test_yuan_in_words(amount, words):
    assert yuan_in_words(Decimal(amount)) == words


@pytest.mark.parametrize("amount", ["0.001", "12.345", "1000000000000", "-1000000000000", "NaN", "Infinity"])
def test_amounts_that_cannot_be_written_are_refused(amount):
    with pytest.raises(ValueError):
        yuan_in_words(Decimal(amount))


def test_a_float_is_refused():
    with pytest.raises(ValueError):
        yuan_in_words(12.5)  # type: ignore[arg-type]


NUMERAL = {c: n for n, c in enumerate("零壹贰叁肆伍陆柒捌玖")}
SMALL = {"拾": 10, "佰": 100, "仟": 1000}


def _section(text: str) -> int:
    total, digit = 0, 0
    for char in text:
        if char in SMALL:
            total += digit * SMALL[char]
            digit = 0
        else:
            digit = NUMERAL[char]
    return total + digit


def _read_words(words: str) -> Decimal:
    """An independent reader of capital numerals (the inverse of ``yuan_in_words``)."""
    sign = -1 if words.startswith("负") else 1
    words = words.removeprefix("负").removesuffix("整")
    yuan_part, _, small = words.rpartition("元") if "元" in words else ("", "", words)
    yuan = 0
    rest = yuan_part
    for unit, factor in (("亿", 10**8), ("万", 10**4)):
        if unit in rest:
            head, rest = rest.split(unit)
            yuan += _section(head) * factor
    yuan += _section(rest)
    jiao = re.search(r"(.)角", small)
    fen = re.search(r"(.)分", small)
    cents = (NUMERAL[jiao.group(1)] * 10 if jiao else 0) + (NUMERAL[fen.group(1)] if fen else 0)
    return sign * (Decimal(yuan) + Decimal(cents) / 100)


amounts = st.decimals(min_value=Decimal("-999999999999.99"), max_value=Decimal("999999999999.99"), places=2,
                      allow_nan=False, allow_infinity=False)


@given(amounts)
def test_words_read_back_to_the_amount(amount):
    words = yuan_in_words(amount)
    assert _read_words(words) == amount


@given(amounts)
def test_words_have_the_shape_of_a_written_amount(amount):
    words = yuan_in_words(amount)
    assert set(words) <= set("负零壹贰叁肆伍陆柒捌玖拾佰仟万亿元角分整")
    assert "零零" not in words and "零元" not in words.replace("零元整", "") and "零万" not in words
    assert "零亿" not in words and not re.search(r"零[角整]", words)
    assert words.endswith("整") == (amount * 100 % 10 == 0)
    # Every 拾 follows a numeral: never a bare 拾 that a figure could be written in front of.
    assert not re.search(r"(^|[^壹贰叁肆伍陆柒捌玖])拾", words.removeprefix("负"))
    assert ("元" in words) == (abs(amount) >= 1 or amount == 0)


def test_payment_references_carry_check_digits():
    reference = payment_reference("W0001234", date(2025, 2, 1))
    assert re.fullmatch(r"W0001234-202502-\d\d", reference)
    assert payment_reference_valid(reference)
    assert payment_reference_valid(reference.lower())
    body, month, check = reference.split("-")
    assert not payment_reference_valid(f"{body}-202503-{check}")
    assert not payment_reference_valid(f"W0001243-{month}-{check}")
    assert not payment_reference_valid("W0001234-202502")
    with pytest.raises(ValueError):
        payment_reference("W 12/3", date(2025, 2, 1))


@given(st.text(alphabet="ABCDEFGHJKLMNPQRSTUVWXYZ0123456789", min_size=4, max_size=16),
       st.integers(min_value=0, max_value=15), st.sampled_from("0123456789ABCDEFGHJKLMNPQRSTUVWXYZ"))
def test_any_single_changed_character_is_caught(account_no, position, replacement):
    reference = payment_reference(account_no, date(2025, 11, 1))
    assert payment_reference_valid(reference)
    position %= len(account_no)
    if account_no[position] != replacement:
        typo = account_no[:position] + replacement + account_no[position + 1:]
        assert not payment_reference_valid(typo + reference[len(account_no):])


def test_qr_payload():
    assert qr_payload(company_code="LJW", reference="W1-202502-47", amount=Decimal("171.6")) == \
        "UCISPAY:1|LJW|W1-202502-47|171.60"
