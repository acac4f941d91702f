"""Money is ``Decimal`` yuan; ``round_yuan`` is the one rounding rule (half-up to 0.01 yuan).

Mass paths may compute in exact integers (fen, or 1/10000 yuan); ``yuan_from_ten_thousandths``
applies the same half-up rule to those integers so both paths agree to the fen.
"""

from __future__ import annotations

from decimal import ROUND_HALF_UP, Decimal, InvalidOperation

from ucis.kernel.errors import DomainError
from ucis.kernel.errors import gettext_noop as _

FEN = Decimal("0.01")


def to_decimal(value: object, *, field: str = "amount") -> Decimal:
    """Parse ``value`` as an exact decimal; floats are refused because they are not exact."""
    if isinstance(value, bool) or isinstance(value, float):
        raise DomainError(field, _("money must be given as a decimal string or integer, not a float"))
    try:
        result = Decimal(str(value)) if not isinstance(value, Decimal) else value
    except (InvalidOperation, ValueError) as exc:
        raise DomainError(field, _("not a number: %(value)s"), value=repr(value)) from exc
    if not result.is_finite():
        raise DomainError(field, _("must be a finite number"))
    return result


def round_yuan(value: Decimal | int | str) -> Decimal:
    """The only rounding rule for money: half-up to 0.01 yuan."""
    return to_decimal(value).quantize(FEN, rounding=ROUND_HALF_UP)


def yuan_from_ten_thousandths(units: int) -> Decimal:
    """Round an exact amount in 1/10000 yuan to yuan with the same half-up rule as ``round_yuan``."""
    sign = -1 if units < 0 else 1
    fen, rest = divmod(abs(units), 100)
    if rest >= 50:
        fen += 1
    return (Decimal(sign * fen) / 100).quantize(FEN)


def fen(value: Decimal) -> int:
    """Yuan (already rounded) to integer fen."""
    rounded = round_yuan(value)
    return int(rounded * 100)
