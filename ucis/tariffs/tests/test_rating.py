"""The rating engine, table-driven, and the integer path held to the Decimal reference."""

from __future__ import annotations

from datetime import date
from decimal import Decimal as D

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ucis.kernel.errors import DomainError
from ucis.tariffs import rating
from ucis.tariffs.rating import Account, Block, Charge, FixedCharge, MinimumCharge, Reduction, Season, Version

LADDER = (Block(D(10), D("2.00")), Block(D(20), D("3.00")), Block(None, D("5.00")))


def version(*components, name="v1", start=date(2020, 1, 1), end=None):
    return Version("WATER-RES", name, start, end, tuple(components))


def water(blocks=LADDER, **kw):
    return Charge("water", "水费", blocks, **kw)


def month(usage, start=date(2026, 3, 10), end=date(2026, 4, 10), **kw):
    return Account(start, end, {"total": D(usage)}, **kw)


def amounts(lines):
    return [(ln.code, ln.block, ln.quantity, ln.amount) for ln in lines]


@pytest.mark.parametrize(("usage", "expected"), [
    ("0", []),
    ("10", [("water", 1, D(10), D("20.00"))]),  # exactly at the first bound
    ("10.01", [("water", 1, D(10), D("20.00")), ("water", 2, D("0.01"), D("0.03"))]),  # one above
    ("20", [("water", 1, D(10), D("20.00")), ("water", 2, D(10), D("30.00"))]),
    ("25.5", [("water", 1, D(10), D("20.00")), ("water", 2, D(10), D("30.00")), ("water", 3, D("5.5"), D("27.50"))]),
])
def test_block_boundaries(usage, expected):
    assert amounts(rating.rate([version(water())], month(usage))) == expected


def test_annual_ladder_across_the_new_year():
    annual = water(blocks=(Block(D(180), D("3.00")), Block(D(260), D("4.00")), Block(None, D("6.00"))), basis="year")
    # 22 of 31 days fall in December: 22 m³ continue last year's 170, the other 9 start again from 0.
    lines = rating.rate([version(annual)], month("31", date(2026, 12, 10), date(2027, 1, 10),
                                                 year_to_date=D(170)))
    assert amounts(lines) == [("water", 1, D(10), D("30.00")), ("water", 2, D(12), D("48.00")),
                              ("water", 1, D(9), D("27.00"))]
    assert rating.total(lines) == D("105.00")


def test_large_households_get_wider_blocks():
    widened = water(widen_per_person=(D(5), D(5)), base_residents=4)
    lines = rating.rate([version(widened)], month("30", residents=6))
    assert amounts(lines) == [("water", 1, D(20), D("40.00")), ("water", 2, D(10), D("30.00"))]


def test_monthly_bounds_double_for_a_two_month_period():
    lines = rating.rate([version(water(basis="month"))], month("30", date(2026, 3, 10), date(2026, 5, 10)))
    assert amounts(lines) == [("water", 1, D(20), D("40.00")), ("water", 2, D(10), D("30.00"))]


def test_price_change_split_by_the_special_read_or_by_days():
    old = version(water(blocks=(Block(None, D("2.00")),)), name="2025", end=date(2026, 6, 16))
    new = version(water(blocks=(Block(None, D("2.50")),)), name="2026-06", start=date(2026, 6, 16))
    by_read = rating.rate([old, new], month("30", date(2026, 6, 1), date(2026, 7, 1),
                                            usage_at={date(2026, 6, 16): D(18)}))
    assert [(ln.version, ln.quantity, ln.amount) for ln in by_read] == [("2025", D(18), D("36.00")),
                                                                         ("2026-06", D(12), D("30.00"))]
    by_days = rating.rate([old, new], month("30", date(2026, 6, 1), date(2026, 7, 1)))
    assert [(ln.version, ln.quantity, ln.amount) for ln in by_days] == [("2025", D(15), D("30.00")),
                                                                        ("2026-06", D(15), D("37.50"))]
    assert "2026-06-01 to 2026-06-15, version 2025" in by_days[0].explanation


def test_period_bounds_shrink_with_the_segment():
    old = version(water(), name="a", end=date(2026, 6, 16))
    new = version(water(), name="b", start=date(2026, 6, 16))
    lines = rating.rate([old, new], month("30", date(2026, 6, 1), date(2026, 7, 1)))
    # each half has bounds 5 and 10: 15 m³ = 5 × 2 + 5 × 3 + 5 × 5 per half
    assert [ln.amount for ln in lines] == [D("10.00"), D("15.00"), D("25.00")] * 2


def test_seasonal_blocks_and_time_of_use_registers():
    summer = Season(frozenset({7, 8, 9}), (Block(D(260), D("0.5283")), Block(None, D("0.5783"))))
    energy = Charge("energy", "电费", (Block(D(200), D("0.5283")), Block(None, D("0.5783"))), seasons=(summer,))
    v = version(energy)
    august = Account(date(2026, 7, 10), date(2026, 8, 10), {"total": D(250)})
    march = Account(date(2026, 2, 10), date(2026, 3, 10), {"total": D(250)})
    assert amounts(rating.rate([v], august)) == [("energy", 1, D(250), D("132.08"))]
    assert amounts(rating.rate([v], march)) == [("energy", 1, D(200), D("105.66")), ("energy", 2, D(50), D("28.92"))]
    # Time of use: each register read separately and priced on its own (峰谷分时).
    peak = Charge("peak", "峰时段电费", (Block(None, D("0.5680")),), register="peak")
    valley = Charge("valley", "谷时段电费", (Block(None, D("0.2880")),), register="valley")
    tou = Account(date(2026, 7, 10), date(2026, 8, 10), {"total": D(250), "peak": D(150), "valley": D(100)})
    assert amounts(rating.rate([version(peak, valley)], tou)) == [("peak", 1, D(150), D("85.20")),
                                                                  ("valley", 1, D(100), D("28.80"))]


def test_surcharges_are_their_own_lines_and_receivables():
    sewage = Charge("sewage", "污水处理费", (Block(None, D("0.95")),), receivable="ON_BEHALF:SEWAGE")
    lines = rating.rate([version(water(), sewage)], month("12"))
    assert [(ln.code, ln.receivable, ln.amount) for ln in lines] == [
        ("water", "RECEIVABLE", D("20.00")), ("water", "RECEIVABLE", D("6.00")), ("sewage", "ON_BEHALF:SEWAGE", D("11.40"))]


def test_fixed_and_minimum_charges():
    meter_fee = FixedCharge("meter", "水表维护费", D("1.50"), per="meter", by_size={"DN25": D("4.00")})
    minimum = MinimumCharge("minimum", "最低收费", D("5.00"), of=("water",))
    v = version(water(), meter_fee, minimum)
    lines = rating.rate([v], month("1", meters=2))
    assert amounts(lines) == [("water", 1, D(1), D("2.00")), ("meter", 0, D(2), D("3.00")),
                              ("minimum", 0, D(1), D("3.00"))]
    assert rating.total(rating.rate([v], month("1", meter_size="DN25"))) == D("9.00")


def test_free_volume_and_a_policy_discount():
    relief = Reduction("dibao", "低保减免", of=("water",), active_from=date(2020, 1, 1), free_volume=D(5))
    salt_tide = Reduction("salt", "咸潮补偿", of=("water",), active_from=date(2026, 3, 25), active_to=date(2026, 5, 1),
                          percent=D(50), message="受咸潮影响，水费减半")
    lines = rating.rate([version(water())], month("12", reductions=(relief, salt_tide)))
    assert amounts(lines) == [("water", 1, D(5), D("0.00")), ("water", 1, D(5), D("10.00")),
                              ("water", 2, D(2), D("6.00")), ("salt", 0, D(1), D("-4.13"))]  # 16 × 50% × 16/31


@pytest.mark.parametrize(("blocks", "field", "reason"), [
    ((Block(D(20), D(2)), Block(D(10), D(3)), Block(None, D(5))), "water.blocks[1].upto", "blocks must ascend"),
    ((Block(None, D(-1)),), "water.blocks[0].price", "must not be negative"),
    ((Block(D(10), D(2)),), "water.blocks[0].upto", "the last block must be open-ended"),
])
def test_bad_definitions_are_refused(blocks, field, reason):
    with pytest.raises(DomainError) as err:
        water(blocks=blocks)
    assert err.value.problems[0].field == field and reason in err.value.problems[0].reason


def test_overlaps_gaps_and_missing_versions():
    a = version(water(), name="a", end=date(2026, 6, 1))
    with pytest.raises(DomainError, match="overlaps"):
        rating.check_versions([a, version(water(), name="b", start=date(2026, 5, 1))])
    with pytest.raises(DomainError, match="gap"):
        rating.check_versions([a, version(water(), name="b", start=date(2026, 6, 2))])
    with pytest.raises(DomainError, match="no tariff version is in force on 2026-06-01"):
        rating.rate([a], month("3", date(2026, 5, 10), date(2026, 6, 10)))


# --- the integer path equals the reference ----------------------------------------------------------------

volumes = st.integers(min_value=0, max_value=200_000).map(lambda c: D(c) / 100)
prices = st.integers(min_value=0, max_value=99_999).map(lambda p: D(p) / 10000)


@st.composite
def ladders(draw):
    bounds = sorted(set(draw(st.lists(st.integers(min_value=1, max_value=50_000), min_size=0, max_size=3))))
    blocks = [Block(D(b) / 100, draw(prices)) for b in bounds]
    return tuple(blocks) + (Block(None, draw(prices)),)


@st.composite
def cases(draw):
    basis = draw(st.sampled_from(rating.BASES))
    blocks = draw(ladders())
    seasons = ()
    if draw(st.booleans()):
        seasons = (Season(frozenset({6, 7, 8}), draw(ladders())),)
    widen = tuple(D(draw(st.integers(0, 2000))) / 100 for _ in blocks[:-1])
    comps = [Charge("c", "c", blocks, basis=basis, seasons=seasons, widen_per_person=widen,
                    base_residents=draw(st.sampled_from([0, 3, 4])))]
    if draw(st.booleans()):
        comps.append(Charge("s", "s", (Block(None, draw(prices)),), receivable="ON_BEHALF:SEWAGE"))
    if draw(st.booleans()):
        by_size = {size: D(draw(st.integers(0, 9000))) / 100 for size in draw(st.sets(st.sampled_from(["DN15", "DN20",
                                                                                                      "DN50"])))}
        comps.append(FixedCharge("f", "f", D(draw(st.integers(0, 5000))) / 100,
                                 per=draw(st.sampled_from(["account", "meter"])), by_size=by_size))
    if draw(st.booleans()):
        comps.append(MinimumCharge("m", "m", D(draw(st.integers(0, 5000))) / 100, of=("c",)))
    v = Version("T", "v", date(2020, 1, 1), None, tuple(comps))
    accounts = []
    for _ in range(draw(st.integers(1, 6))):
        start = date(2026, draw(st.integers(1, 10)), draw(st.integers(1, 28)))
        days = draw(st.sampled_from([28, 30, 31, 61]))
        from datetime import timedelta

        end = start + timedelta(days=days)
        accounts.append(Account(start, end, {"total": draw(volumes)}, residents=draw(st.integers(0, 8)),
                                year_to_date=draw(volumes) if basis == "year" else D(0), meters=draw(st.integers(1, 3)),
                                meter_size=draw(st.sampled_from(["", "DN15", "DN20", "DN25"]))))
    return v, accounts


@settings(max_examples=300, deadline=None)
@given(cases())
def test_integer_path_equals_the_reference(case):
    v, accounts = case
    batch, others = rating.rate_batch(v, accounts)
    codes = [c.code for c in v.components]
    got: dict[int, list] = {i: [] for i in range(len(accounts))}
    for a, c, b, amount in zip(batch.account, batch.component, batch.block, batch.amount_fen, strict=True):
        got[int(a)].append((codes[int(c)], int(b), int(amount)))
    for i, account in enumerate(accounts):
        expected = [(ln.code, ln.block, int(ln.amount * 100)) for ln in rating.rate([v], account)]
        actual = ([(ln.code, ln.block, int(ln.amount * 100)) for ln in others[i]] if i in others else got[i])
        assert sorted(actual) == sorted(expected)


@settings(max_examples=200, deadline=None)
@given(cases(), volumes)
def test_more_usage_never_costs_less(case, extra):
    v, accounts = case
    prices_positive = all(b.price >= 0 for c in v.components if isinstance(c, Charge) for b in c.blocks)
    assert prices_positive
    for account in accounts:
        more = Account(account.period_from, account.period_to, {"total": account.usage["total"] + extra},
                       residents=account.residents, year_to_date=account.year_to_date, meters=account.meters,
                       meter_size=account.meter_size)
        assert rating.total(rating.rate([v], more)) >= rating.total(rating.rate([v], account))


@settings(max_examples=60, deadline=None)
@given(amount=st.integers(min_value=1, max_value=2_000_000).map(lambda f: D(f) / 100),
       ytd=st.integers(min_value=0, max_value=40_000).map(lambda h: D(h) / 100))
def test_volume_for_amount_buys_the_most_the_amount_pays_for(amount, ytd):
    """Prepaid: what is sold costs at most the amount; 0.01 more would cost more than it."""
    versions = [version(water(basis="year"),
                        Charge("sewage", "污水处理费", (Block(None, D("0.95")),), receivable="ON_BEHALF:SEWAGE"))]
    template = Account(date(2026, 5, 1), date(2026, 5, 2), {"total": D(0)}, year_to_date=ytd)
    try:
        volume, lines = rating.volume_for_amount(versions, template, amount)
    except DomainError:
        assert amount < D("0.06")  # not even 0.01 m³ (0.03 in the first block, 0.06 in the last)
        return
    cost = sum((ln.amount for ln in lines), D("0.00"))
    more = rating.rate(versions, Account(date(2026, 5, 1), date(2026, 5, 2), {"total": volume + D("0.01")},
                                         year_to_date=ytd))
    assert cost <= amount < sum((ln.amount for ln in more), D("0.00"))


def test_months_of_equals_months_in():
    days = np.arange(1, 800, dtype=np.int64)
    assert rating.months_of(days).tolist() == [rating.months_in(int(d)) for d in days]


@settings(max_examples=300, deadline=None)
@given(st.dates(date(2024, 1, 1), date(2027, 12, 31)), st.integers(1, 400), st.booleans(), st.booleans())
def test_covers_equals_the_per_account_rule(start, days, bounded, annual):
    from datetime import timedelta

    comps = (Charge("c", "c", (Block(None, D("1.00")),), basis="year" if annual else "period"),)
    v = Version("T", "v", date(2025, 3, 1), date(2026, 7, 1) if bounded else None, comps)
    end = start + timedelta(days=days)
    got = rating.covers(v, np.array([start], dtype="datetime64[D]"), np.array([end], dtype="datetime64[D]"))
    assert bool(got[0]) == rating._integer_path_covers(v, Account(start, end, {"total": D(1)}))
