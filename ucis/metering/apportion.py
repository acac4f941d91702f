"""Apportionment (分摊) of a master meter's cost over the households behind it.

Pure: Decimal yuan and weights in, one share per household out; no Django.

Each household's exact share is ``cost × weight / total weight``; it is rounded half-up to the fen
(the rule of ``ucis.kernel.money.round_yuan``, applied here to exact fractions). Rounding can leave
the shares a few fen off the cost, so the difference is settled one fen at a time: missing fen go to
the households whose exact share lost most in rounding, surplus fen are taken from those whose share
gained most; ties go by household id, the lowest ids keeping the odd fen. The shares therefore always add up to the cost exactly.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from decimal import Decimal
from fractions import Fraction
from typing import TypeVar

from ucis.kernel.errors import DomainError
from ucis.kernel.errors import gettext_noop as _
from ucis.kernel.money import fen, round_yuan, to_decimal

K = TypeVar("K", int, str)


def _half_up(value: Fraction) -> int:
    """Round to an integer, halves away from zero, as ``ROUND_HALF_UP`` does."""
    magnitude = (2 * abs(value.numerator) + value.denominator) // (2 * value.denominator)
    return magnitude if value >= 0 else -magnitude


def apportion(cost: Decimal, weights: Mapping[K, Decimal | int]) -> dict[K, Decimal]:
    """``cost`` split in proportion to ``weights``; the shares sum exactly to ``round_yuan(cost)``."""
    if not weights:
        raise DomainError("households", _("there are no households to share the cost"))
    parsed = {k: to_decimal(w, field="weight") for k, w in weights.items()}
    for key, weight in parsed.items():
        if weight < 0:
            raise DomainError("weight", _("household %(household)s has a negative weight %(weight)s"),
                              household=key, weight=str(weight))
    total_weight = sum((Fraction(w) for w in parsed.values()), Fraction(0))
    if total_weight == 0:
        raise DomainError("weight", _("the weights add up to zero, so there is nothing to share by"))
    cost_fen = fen(round_yuan(cost))
    exact = {k: cost_fen * Fraction(w) / total_weight for k, w in parsed.items()}
    shares = {k: _half_up(v) for k, v in exact.items()}
    gap = cost_fen - sum(shares.values())
    if gap:
        step = 1 if gap > 0 else -1
        # Missing fen go first to who lost most in rounding, lowest id first; surplus fen are taken
        # first from who gained most, highest id first, so the lowest ids keep the odd fen either way.
        if step > 0:
            order = sorted(exact, key=lambda k: (shares[k] - exact[k], k))
        else:
            order = sorted(exact, key=lambda k: (shares[k] - exact[k], k), reverse=True)
        for key in order[:abs(gap)]:
            shares[key] += step
    return {k: (Decimal(v) / 100).quantize(Decimal("0.01")) for k, v in shares.items()}


def by_usage(cost: Decimal, usages: Mapping[K, Decimal | int]) -> dict[K, Decimal]:
    """Shares in proportion to each household's metered usage."""
    return apportion(cost, usages)


def equally(cost: Decimal, households: Iterable[K]) -> dict[K, Decimal]:
    """Equal shares; the odd fen go to the lowest household ids."""
    return apportion(cost, {k: 1 for k in households})


def by_area(cost: Decimal, areas: Mapping[K, Decimal | int]) -> dict[K, Decimal]:
    """Shares in proportion to floor area (m²)."""
    return apportion(cost, areas)
