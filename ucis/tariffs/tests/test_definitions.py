"""Tariff files: the documented example parses, round-trips, and every problem is reported at its path."""

from __future__ import annotations

import re
from datetime import date
from decimal import Decimal as D
from pathlib import Path

import pytest

from ucis.kernel.errors import DomainError
from ucis.tariffs import definitions, rating

DOC = Path(__file__).resolve().parents[3] / "docs" / "tariff-format.md"


def example() -> str:
    return re.search(r"```yaml\n(.*?)```", DOC.read_text(encoding="utf-8"), re.S).group(1)


def test_the_documented_example_parses_and_rates():
    defn = definitions.load_text(example())
    assert (defn.code, defn.company, defn.commodity, defn.customer_types) == ("LJW-RES", "LJW", "water", ("resident",))
    assert [v.version for v in defn.versions] == ["2025", "2026-07"]
    account = rating.Account(date(2026, 6, 16), date(2026, 7, 16), {"total": D(30)}, residents=3)
    lines = rating.rate(defn.versions, account)
    assert {ln.version for ln in lines} == {"2025", "2026-07"}
    assert {ln.receivable for ln in lines} == {"RECEIVABLE", "ON_BEHALF:SEWAGE", "ON_BEHALF:WATER_RESOURCE"}


@pytest.mark.parametrize("fmt", ["yaml", "json"])
def test_round_trip(fmt):
    defn = definitions.load_text(example())
    again = definitions.load_text(definitions.dump_text(defn, fmt=fmt), fmt=fmt)
    assert again == defn


def test_every_problem_is_reported_at_its_path():
    text = example().replace('{upto: 300, price: "3.85"}', '{upto: 100, price: "3.85"}').replace(
        'price: "0.95"', 'price: "-0.95"').replace("kind: fixed", "kind: rebate").replace(
        "active_from: 2026-07-01", "active_from: 2026-13-01")
    with pytest.raises(DomainError) as err:
        definitions.load_text(text)
    got = {p.field: p.reason for p in err.value.problems}
    assert "blocks must ascend" in got["versions[0].components[0].blocks[1].upto"]
    assert "must not be negative" in got["versions[0].components[1].blocks[0].price"]
    assert got["versions[0].components[3].kind"].startswith("unknown component kind rebate")
    assert got["versions[1].active_from"] == "2026-13-01 is not a date (YYYY-MM-DD)"


def test_overlapping_versions_and_bad_files():
    text = example().replace("active_to: 2026-07-01", "active_to: 2026-08-01")
    with pytest.raises(DomainError, match="overlaps"):
        definitions.load_text(text)
    with pytest.raises(DomainError, match="not valid YAML"):
        definitions.load_text("code: [unclosed")
    with pytest.raises(DomainError) as err:
        definitions.load_text("{}", fmt="json")
    assert {p.field for p in err.value.problems} >= {"code", "name", "company", "commodity", "versions"}


def test_yaml_floats_are_read_as_written():
    text = example().replace('price: "2.90"', "price: 2.9")
    assert definitions.load_text(text).versions[0].components[0].blocks[0].price == D("2.9")
