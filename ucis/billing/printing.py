"""Pure rules of printed notices (缴款单, 催缴单): the amount in Chinese capital numerals (大写金额),
the payment reference printed on a notice and the text of its QR code. No Django, no clock.

``yuan_in_words`` follows the People's Bank of China rules for writing amounts
(《支付结算办法》附件《正确填写票据和结算凭证的基本规定》):

- financial numerals 零壹贰叁肆伍陆柒捌玖 with the units 拾佰仟万亿, always ``壹拾`` (never a bare
  ``拾``), so a figure cannot be prefixed or altered;
- a zero, or a run of zeros, inside the number is written as one 零 (1,004 → 壹仟零肆元), also
  across 万 (105,000 → 壹拾万零伍仟元); the zeros at the end of the number are not (10,000 → 壹万元);
- when the jiao digit is 0 and the fen digit is not, 零 is written after 元 (1.05 → 壹元零伍分);
- an amount without fen ends in 整 (100 → 壹佰元整, 100.50 → 壹佰元伍角整); zero is 零元整;
- below one yuan the 元 is left out (0.45 → 肆角伍分); a negative amount (a credit) starts with 负.
"""

from __future__ import annotations

from datetime import date
from decimal import Decimal

DIGITS = "零壹贰叁肆伍陆柒捌玖"
SMALL_UNITS = ("", "拾", "佰", "仟")
GROUP_UNITS = ("", "万", "亿")
LIMIT = Decimal(10) ** 12  # up to 9999,9999,9999.99 yuan (仟亿); more is not an amount a notice prints


def _integer_in_words(number: int) -> str:
    """A positive whole number in capital numerals, without a unit (12 → 壹拾贰)."""
    text = str(number)
    out: list[str] = []
    zero_pending = False
    group_has_digit = False
    for index, char in enumerate(text):
        position = len(text) - 1 - index
        small, group = position % 4, position // 4
        if char == "0":
            zero_pending = bool(out)
        else:
            if zero_pending:
                out.append("零")
                zero_pending = False
            out.append(DIGITS[int(char)] + SMALL_UNITS[small])
            group_has_digit = True
        if small == 0:
            if group and group_has_digit:
                out.append(GROUP_UNITS[group])
            group_has_digit = False
    return "".join(out)


def yuan_in_words(amount: Decimal) -> str:
    """The amount in Chinese capital numerals as printed on a notice: 123.45 → 壹佰贰拾叁元肆角伍分.

    The amount must already be in whole fen (rounded by ``ucis.kernel.money.round_yuan``); an amount
    with a smaller part, not finite or of a trillion yuan or more raises ``ValueError``.
    """
    if not isinstance(amount, Decimal) or not amount.is_finite():
        raise ValueError(f"not a finite Decimal amount: {amount!r}")
    fen_total = amount * 100
    if fen_total != fen_total.to_integral_value():
        raise ValueError(f"{amount} has a part smaller than one fen; round it with round_yuan first")
    if abs(amount) >= LIMIT:
        raise ValueError(f"{amount} is too large to write in words")
    fen_count = int(fen_total)
    sign = "负" if fen_count < 0 else ""
    yuan, rest = divmod(abs(fen_count), 100)
    jiao, fen = divmod(rest, 10)
    if yuan == 0 and rest == 0:
        return "零元整"
    parts = [sign]
    if yuan:
        parts.append(_integer_in_words(yuan) + "元")
    if jiao:
        parts.append(DIGITS[jiao] + "角")
    elif fen and yuan:
        parts.append("零")
    if fen:
        parts.append(DIGITS[fen] + "分")
    else:
        parts.append("整")
    return "".join(parts)


def _mod97(text: str) -> int:
    """The characters (0-9, A-Z) as one base-36 number, modulo the prime 97."""
    remainder = 0
    for char in text:
        remainder = (remainder * 36 + int(char, 36)) % 97
    return remainder


def payment_reference(account_no: str, period: date) -> str:
    """The reference a customer quotes to pay a bill: account number, month and two check digits,
    e.g. ``W0001234-202502-47``. The check is modulo 97 (a prime above 36) over the characters read
    in base 36, so every single wrong character and every swap of two neighbours is caught."""
    body = f"{account_no.strip().upper()}{period:%Y%m}"
    if not body.isalnum() or not body.isascii():
        raise ValueError(f"account number {account_no!r} has characters a reference cannot carry")
    check = (1 - _mod97(body) * 100) % 97
    return f"{account_no.strip().upper()}-{period:%Y%m}-{check:02d}"


def payment_reference_valid(reference: str) -> bool:
    """Whether a typed or scanned reference carries correct check digits."""
    parts = reference.strip().upper().split("-")
    if len(parts) != 3 or not all(p.isalnum() and p.isascii() for p in parts) or not parts[2].isdigit() \
            or len(parts[2]) != 2:
        return False
    return (_mod97(parts[0] + parts[1]) * 100 + int(parts[2])) % 97 == 1


def qr_payload(*, company_code: str, reference: str, amount: Decimal) -> str:
    """The text of a notice's QR code: ``UCISPAY:1|<company>|<reference>|<amount>`` — the counter's
    scanner and payment apps read the reference and the amount from it without typing."""
    return f"UCISPAY:1|{company_code}|{reference}|{amount:.2f}"
