"""Variable-width COPY columns (choice, decimal, concat): what PostgreSQL reads back is exactly the
value given, for every sign, scale and padding — and JSON built from the pieces is valid JSON."""

from __future__ import annotations

import json
from decimal import Decimal

import numpy as np
from django.db import connection, transaction
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ucis.platform.bulk import Column, copy_chunks, format_columns


def _round_trip(columns: list[Column], count: int) -> list[tuple]:
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute("CREATE TEMP TABLE IF NOT EXISTS probe (a numeric, b numeric, c text, d jsonb, e bigint)")
        cursor.execute("TRUNCATE probe")
        copy_chunks("probe", [c.name for c in columns], format_columns(columns, count))
        cursor.execute("SELECT a, b, c, d, e FROM probe ORDER BY e")
        return cursor.fetchall()


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.lists(st.integers(min_value=-10**15, max_value=10**15), min_size=1, max_size=40),
       st.integers(min_value=0, max_value=4))
def test_decimals_choices_and_json_round_trip(db, values, scale):
    n = len(values)
    ints = np.array(values, dtype=np.int64)
    choices = ["plain", 'quote " and \\ backslash', "tab\tnewline\n", "水费", None]
    picked = np.arange(n) % len(choices)
    label_json = [json.dumps(c, ensure_ascii=False) for c in choices]
    nulls = ints % 3 == 0
    columns = [
        Column("a", "decimal", (ints, scale, min(scale, 2))),
        Column("b", "decimal", (ints, 4, 0, nulls)),
        Column("c", "choice", (picked, choices)),
        Column("d", "concat", [Column("", "text", '{"label": '), Column("", "choice", (picked, label_json)),
                               Column("", "text", ', "q": "'), Column("", "decimal", (ints, scale, 0)),
                               Column("", "text", '"}')]),
        Column("e", "int", np.arange(n)),
    ]
    rows = _round_trip(columns, n)
    for k, (a, b, c, raw, e) in enumerate(rows):
        d = json.loads(raw) if isinstance(raw, str) else raw
        exact = Decimal(values[k]).scaleb(-scale)
        assert a == exact
        assert b == (None if nulls[k] else Decimal(values[k]).scaleb(-4))
        assert c == choices[picked[k]]
        assert d["label"] == choices[picked[k]]
        assert Decimal(d["q"]) == exact and d["q"] == (str(Decimal(values[k]) / 10 ** scale) if scale else
                                                       str(values[k]))
        assert e == k


def test_an_empty_choice_is_refused():
    import pytest

    with pytest.raises(ValueError, match="empty choice"):
        list(format_columns([Column("c", "choice", (np.zeros(1, dtype=np.int64), [""]))], 1))


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.lists(st.integers(min_value=-10**15, max_value=10**16 - 1), min_size=1, max_size=40))
def test_binary_copy_round_trip(db, values):
    """``copy_binary``: numerics from thousandths (every sign and size), dates, ints, constant text."""
    from datetime import date, timedelta

    from ucis.platform.bulk import copy_binary

    n = len(values)
    milli = np.array(values, dtype=np.int64)
    days = np.datetime64("2026-11-23") - np.arange(n)
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute("CREATE TEMP TABLE IF NOT EXISTS probe_bin (a numeric(16,3), b bigint, c integer, d date, "
                       "e varchar(10), f text)")
        cursor.execute("TRUNCATE probe_bin")
        copy_binary("probe_bin", [Column("a", "milli", milli), Column("b", "int", np.arange(n) - 2**40),
                                  Column("c", "int", np.arange(n)), Column("d", "date", days),
                                  Column("e", "text", "水费 x"), Column("f", "text", "")], n)
        cursor.execute("SELECT a, b, c, d, e, f FROM probe_bin ORDER BY c")
        rows = cursor.fetchall()
    assert rows == [(Decimal(v).scaleb(-3), k - 2**40, k, date(2026, 11, 23) - timedelta(days=k), "水费 x", "")
                    for k, v in enumerate(values)]
