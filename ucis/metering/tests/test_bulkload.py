"""The vectorised history baselines against the scalar rule, and the numpy COPY helpers."""

from datetime import date, timedelta
from decimal import Decimal

import numpy as np
import pytest
from django.db import connection

from ucis.metering import bulkload, validation
from ucis.metering.reads import HISTORY_DAYS
from ucis.platform import bulk


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_history_baselines_equal_usage_baselines_read_by_read(seed):
    rng = np.random.default_rng(seed)
    rules = validation.ReadRules(recent_periods=int(rng.integers(1, 4)))
    rows = []
    for group in range(40):
        day = date(2024, 1, 1) + timedelta(days=int(rng.integers(0, 60)))
        for _ in range(int(rng.integers(1, 20))):
            start = day
            day = day + timedelta(days=int(rng.choice([0, 1, 15, 29, 31, 61, 200])))
            rows.append((group, start, day, int(rng.integers(-500, 90_000)), bool(rng.random() < 0.8)))
    group = np.array([r[0] for r in rows], np.int64)
    got = bulkload.history_baselines(
        group=group, read_on=np.array([r[2] for r in rows], "datetime64[D]"),
        period_from=np.array([r[1] for r in rows], "datetime64[D]"), usage=np.array([r[3] for r in rows], np.int64),
        valid=np.array([r[4] for r in rows]), rules=rules)
    for i, (g, _start, end, _usage, _valid) in enumerate(rows):
        # As meter_reads_record sees it: the reads dated before this one, within HISTORY_DAYS.
        history = [validation.UsagePeriod(s, e, Decimal(u).scaleb(-3), not v) for gg, s, e, u, v in rows
                   if gg == g and end - timedelta(days=HISTORY_DAYS) <= e < end]
        expected = validation.usage_baselines(history, end, recent_periods=rules.recent_periods)
        assert (int(got["last_year_usage"][i]), int(got["last_year_days"][i]), int(got["recent_usage"][i]),
                int(got["recent_days"][i]), int(got["history_count"][i])) == (
            int(expected.last_year_usage * 1000), expected.last_year_days, int(expected.recent_usage * 1000),
            expected.recent_days, expected.history_count), i


def test_copy_columns_and_copy_out_columns_round_trip(db):
    with connection.cursor() as cursor:
        cursor.execute("CREATE TEMP TABLE bulk_probe (id int8, amount numeric(16,3), day date, label text)")
    ids = np.array([1, 2, 10_000_000_000, 7], np.int64)
    amounts = np.array([0, -1, 123_456_789, -987_654], np.int64)
    days = np.array(["2026-11-23", "1999-12-31", "2000-01-01", "2026-02-28"], "datetime64[D]")
    assert bulk.copy_columns("bulk_probe", [bulk.Column("id", "int", ids), bulk.Column("amount", "milli", amounts),
                                            bulk.Column("day", "date", days), bulk.Column("label", "text", "a b")],
                             4) == 4
    with connection.cursor() as cursor:
        cursor.execute("SELECT id, amount, day, label FROM bulk_probe ORDER BY id")
        assert cursor.fetchall() == [(1, Decimal("0.000"), date(2026, 11, 23), "a b"),
                                     (2, Decimal("-0.001"), date(1999, 12, 31), "a b"),
                                     (7, Decimal("-987.654"), date(2026, 2, 28), "a b"),
                                     (10_000_000_000, Decimal("123456.789"), date(2000, 1, 1), "a b")]
    out = bulk.copy_out_columns("SELECT id, (amount * 1000)::int8, day, label = 'a b' FROM bulk_probe ORDER BY id",
                                [], [("id", "int8"), ("amount", "int8"), ("day", "date"), ("same", "bool")])
    order = np.argsort(ids)
    assert out["id"].tolist() == ids[order].tolist() and out["amount"].tolist() == amounts[order].tolist()
    assert out["day"].tolist() == days[order].tolist() and out["same"].all()
    with pytest.raises(ValueError, match="NULL"):
        bulk.copy_out_columns("SELECT NULL::int8", [], [("x", "int8")])
    fetched = bulk.fetch_columns("FROM bulk_probe WHERE id > %s", [1], [
        ("id", "id", "int8"), ("amount", "(amount * 1000)::int8", "int8"), ("day", "day", "date"),
        ("same", "label = 'a b'", "bool")])
    assert sorted(zip(fetched["id"].tolist(), fetched["amount"].tolist(), fetched["day"].tolist(), strict=True)) == [
        (2, -1, date(1999, 12, 31)), (7, -987_654, date(2026, 2, 28)), (10_000_000_000, 123_456_789, date(2000, 1, 1))]
    assert fetched["same"].tolist() == [True] * 3
    assert bulk.fetch_columns("FROM bulk_probe WHERE false", [], [("id", "id", "int8")])["id"].size == 0
    with pytest.raises(ValueError, match="NULL"):
        bulk.fetch_columns("FROM bulk_probe", [], [("x", "NULLIF(id, 7)", "int8")])


@pytest.mark.parametrize("seed", [4, 5, 6])
def test_revalidation_in_runs_of_whole_service_points_equals_one_pass(seed, monkeypatch):
    """reads_revalidate checks the sorted reads in runs cut at service point boundaries: every run
    gives exactly the flags one pass over all reads gives."""
    rng = np.random.default_rng(seed)
    rows = []
    for point in range(300):
        meter_id, day, reading = int(rng.integers(1, 40)), int(rng.integers(9000, 9400)), int(rng.integers(0, 10**6))
        for _ in range(int(rng.integers(1, 30))):
            start, base = day, reading
            day += int(rng.choice([0, 1, 28, 31, 61, 90]))
            reading = int(rng.choice([base + int(rng.integers(0, 90_000)), base - int(rng.integers(1, 500)),
                                      int(rng.integers(0, 10**8))]))
            flags = int(rng.choice([0, 0, 0, int(validation.ReadFlag.WRONG_BASE),
                                    int(validation.ReadFlag.METER_REPLACED)]))
            rows.append((point, meter_id, int(rng.integers(0, 6)), day, start, reading, base,
                         reading - base, flags))
    cols = np.array(rows, np.int64).T.copy()
    cycles = {"id": np.arange(1, 6), "window_from": np.array(["2024-09-01"] * 5, "datetime64[D]")
              + np.arange(5) * 30, "window_to": np.array(["2024-10-15"] * 5, "datetime64[D]") + np.arange(5) * 30}
    digits = np.array(rng.integers(4, 9, 40))
    lookups = {"cycle_from": bulkload._lookup_table(cycles["id"], cycles["window_from"], np.datetime64("0001-01-01")),
               "cycle_to": bulkload._lookup_table(cycles["id"], cycles["window_to"], np.datetime64("9999-12-31")),
               "digits": bulkload._lookup_table(np.arange(40), digits, validation.MAX_DIGITS + 1)}
    rules = validation.ReadRules(recent_periods=int(rng.integers(1, 4)))
    whole = bulkload._check_reads(cols, today=date(2025, 6, 1), rules=rules, **lookups)
    bounds = bulkload._chunk_bounds(lambda a, b: cols[bulkload._SP, a:b], cols.shape[1], int(rng.integers(5, 200)))
    assert bounds[0] == 0 and bounds[-1] == cols.shape[1] and bounds == sorted(set(bounds))
    # Every cut is at the first read of a service point.
    assert all(cols[bulkload._SP, b - 1] != cols[bulkload._SP, b] for b in bounds[1:-1])
    runs = np.concatenate([bulkload._check_reads(cols[:, a:b], today=date(2025, 6, 1), rules=rules, **lookups)
                           for a, b in zip(bounds, bounds[1:], strict=False)])
    assert runs.tolist() == whole.tolist()
    assert (whole != 0).any()


def test_rows_in_table_order_whatever_order_the_parts_arrive():
    rows = bulkload._Rows(capacity=7)
    for part, size in [(2, 3), (0, 2), (1, 4), (3, 1)]:  # part 1 no longer fits: an array of its own
        rows.claim(part, size)[:] = np.arange(size)[:, None] + 10 * part
    matrix, selected = rows.table_order(None)
    taken = matrix[selected] if selected is not None else matrix
    assert taken[:, 0].tolist() == [0, 1, 10, 11, 12, 13, 20, 21, 22, 30]
    matrix, selected = rows.table_order(5)
    assert matrix[selected][:, 0].tolist() == [0, 1, 10, 11, 12]
    together = bulkload._Rows(capacity=10)
    for part, size in [(0, 2), (1, 3)]:
        together.claim(part, size)[:] = part
    matrix, selected = together.table_order(None)
    assert selected is None and matrix[:, 0].tolist() == [0, 0, 1, 1, 1]


def test_fetch_rows_reads_integer_rows_as_one_matrix(db):
    with connection.cursor() as cursor:
        cursor.execute("CREATE TEMP TABLE rows_probe (id int8, amount numeric(16,3), day date, n int4)")
        cursor.execute("INSERT INTO rows_probe VALUES (1, 1.5, '2026-11-23', 3), (10000000000, -0.001, "
                       "'1999-12-31', -2), (7, 123456789.123, '2000-01-01', 0)")
    out = bulk.fetch_rows("FROM rows_probe WHERE id > %s", [0],
                          ["id", "amount * 1000", "day - DATE '2000-01-01'", "n"])
    assert out.dtype == np.int64 and sorted(out.tolist()) == [
        [1, 1500, 9823, 3], [7, 123456789123, 0, 0], [10000000000, -1, -1, -2]]
    assert bulk.fetch_rows("FROM rows_probe WHERE false", [], ["id", "n"]).shape == (0, 2)
    with pytest.raises(ValueError, match="NULL"):
        bulk.fetch_rows("FROM rows_probe", [], ["id", "NULLIF(n, 0)"])
