from decimal import Decimal as D

import pytest
from hypothesis import given
from hypothesis import strategies as st

from ucis.kernel.errors import DomainError
from ucis.kernel.money import round_yuan
from ucis.metering.apportion import apportion, by_area, by_usage, equally


def test_equal_split_gives_odd_fen_to_lowest_ids():
    assert equally(D("100.00"), ["b", "a", "c"]) == {"a": D("33.34"), "b": D("33.33"), "c": D("33.33")}
    assert equally(D("0.02"), [3, 1, 2]) == {1: D("0.01"), 2: D("0.01"), 3: D("0.00")}


def test_by_usage_and_area():
    assert by_usage(D("90"), {"a": D("10"), "b": D("20"), "c": D("0")}) == {"a": D("30.00"), "b": D("60.00"),
                                                                            "c": D("0.00")}
    shares = by_area(D("1000"), {101: D("89.5"), 102: D("120.25"), 103: D("60")})
    assert sum(shares.values()) == D("1000.00")
    assert shares == {101: D("331.79"), 102: D("445.78"), 103: D("222.43")}


def test_surplus_from_half_up_is_taken_back():
    # Each exact share is 0.005 → rounds up to 0.01; two fen too many.
    shares = apportion(D("0.02"), {"a": 1, "b": 1, "c": 1, "d": 1})
    assert sum(shares.values()) == D("0.02")
    assert shares == {"a": D("0.01"), "b": D("0.01"), "c": D("0.00"), "d": D("0.00")}


def test_negative_cost_credit_is_split_too():
    shares = equally(D("-10"), ["a", "b", "c"])
    assert sum(shares.values()) == D("-10.00")


@pytest.mark.parametrize("weights", [{}, {"a": 0}, {"a": D(-1), "b": D(2)}])
def test_refused(weights):
    with pytest.raises(DomainError):
        apportion(D("10"), weights)


@given(st.decimals(min_value=-10**7, max_value=10**7, places=2),
       st.dictionaries(st.integers(1, 10**6), st.decimals(min_value=0, max_value=10**6, places=3),
                       min_size=1, max_size=40).filter(lambda w: sum(w.values()) > 0))
def test_shares_always_sum_to_the_cost(cost, weights):
    shares = apportion(cost, weights)
    assert set(shares) == set(weights)
    assert sum(shares.values()) == round_yuan(cost)
    total = sum(weights.values())
    for key, share in shares.items():
        exact = cost * weights[key] / total
        assert abs(share - exact) < D("0.01") + D("1e-12")
        assert share == share.quantize(D("0.01"))
