from datetime import date
from decimal import Decimal

import numpy as np
from django.db import connection

from ucis.demo import generator
from ucis.demo.readplan import MeterTable, plan_reads
from ucis.metering.models import MeterRead, ReadCycle, ReadReview, Route
from ucis.metering.validation import NEEDS_REVIEW, ReadFlag

TODAY = date(2026, 11, 23)


def _meters(n: int) -> MeterTable:
    rng = np.random.default_rng(5)
    return MeterTable(node_code=[f"LJW-01-0{1 + i % 2}" for i in range(n)], commodity=rng.integers(0, 3, n),
                      meter_type=rng.integers(0, 3, n), customer_type=rng.integers(0, 5, n),
                      dial_digits=np.full(n, 5), install_reading=rng.integers(0, 50_000, n),
                      installed=np.full(n, np.datetime64("2020-03-01")),
                      commodities=("water", "electricity", "gas"), meter_types=("mechanical", "smart", "ic_prepaid"),
                      customer_types=("resident", "non_resident", "special", "industrial", "public"))


def test_read_plan_is_repeatable_and_reads_in_cycle_order():
    kwargs = dict(meters=_meters(3600), readers={"LJW-01": ["water.01.meter-reader1", "water.01.meter-reader2"]},
                  node_names={}, seed=4, today=TODAY)
    a, b = plan_reads(**kwargs), plan_reads(**kwargs)
    assert a.routes == b.routes and np.array_equal(a.reading, b.reading) and np.array_equal(a.read_date, b.read_date)
    assert {r.reader for r in a.routes} == {"water.01.meter-reader1", "water.01.meter-reader2"}
    assert all(200 <= np.sum(a.stop_route == i) <= 400 for i in range(len(a.routes)))
    assert {r.cycle_months for r in a.routes if r.commodity == "water"} == {1}
    # Reads are sorted by meter and date, never in the future, in their cycle's window.
    key = a.read_row * 100_000 + a.read_date.astype(np.int64)
    assert np.all(np.diff(key) > 0) and a.read_date.max() <= np.datetime64(TODAY)
    inside = (a.read_date >= a.cycle_from[a.read_cycle]) & (a.read_date < a.cycle_to[a.read_cycle])
    newest = np.append(a.read_row[1:] != a.read_row[:-1], True)
    ok = inside | ((a.anomaly[a.read_row] == "out_of_cycle") & newest)
    assert ok.all()
    assert set(a.anomaly) >= {"rollover", "reverse", "wrong_base", "high", "low", "zero", "out_of_cycle"}


def test_demo_reads_are_a_consistent_validated_history(db, settings):
    result = generator.demo_data_load(customers=300, seed=3, password=settings.UCIS_DEMO_PASSWORD, today=TODAY)
    assert result["reads"] == MeterRead.objects.count() > 12 * 600
    with connection.cursor() as cursor:
        # Every installed meter has at least 12 reads.
        cursor.execute("""SELECT i.meter_id, count(r.id) FROM customers_meterinstallation i
                            LEFT JOIN metering_meterread r ON r.meter_id = i.meter_id
                           WHERE i.removed_date IS NULL GROUP BY i.meter_id""")
        counts = [c for _m, c in cursor.fetchall()]
        assert counts and min(counts) >= 12
        # The chain: each read's previous reading and date are the read before it (the first:
        # the installation), and usage is the difference, across the wrap for a rollover.
        cursor.execute("""
            WITH chain AS (
              SELECT r.*, m.dial_digits, i.install_reading, i.installed_date,
                     lag(r.reading) OVER w AS prior_reading, lag(r.read_date) OVER w AS prior_date
                FROM metering_meterread r JOIN customers_meter m ON m.id = r.meter_id
                JOIN customers_meterinstallation i ON i.meter_id = r.meter_id
              WINDOW w AS (PARTITION BY r.meter_id ORDER BY r.read_date))
            SELECT count(*) FILTER (WHERE previous_reading <> COALESCE(prior_reading, install_reading)
                                       OR previous_date <> COALESCE(prior_date, installed_date)),
                   count(*) FILTER (WHERE usage <> reading - previous_reading
                                      + CASE WHEN flags & 1 = 1 THEN power(10::numeric, dial_digits) ELSE 0 END),
                   count(*) FILTER (WHERE cycle_id IS NULL), count(*)
              FROM chain""")
        broken_chain, wrong_usage, no_cycle, total = cursor.fetchone()
    assert (broken_chain, wrong_usage, no_cycle) == (0, 0, 0) and total == result["reads"]
    every = 0
    for flags in MeterRead.objects.values_list("flags", flat=True):
        every |= flags
    for flag in (ReadFlag.ROLLOVER, ReadFlag.REVERSE, ReadFlag.WRONG_BASE, ReadFlag.HIGH, ReadFlag.LOW,
                 ReadFlag.ZERO, ReadFlag.OUT_OF_CYCLE):
        assert every & flag, flag.name
    # Flagged reads carry their findings; those needing review in the newest cycle wait in the queue.
    assert not MeterRead.objects.exclude(flags=0).filter(findings__isnull=True).exists()
    assert not MeterRead.objects.filter(flags=0).exclude(findings__isnull=True).exists()
    pending = MeterRead.objects.filter(status="pending")
    assert pending.count() == result["open_reviews"] > 7
    assert all(r.flags & NEEDS_REVIEW for r in pending)
    # The demo's correction orders also queue their accounts (bill_corrected, no read yet).
    corrected = ReadReview.objects.filter(status="open", reasons__contains=["bill_corrected"])
    assert not corrected.exclude(read__isnull=True).exists()
    open_reviews = ReadReview.objects.filter(status="open").exclude(pk__in=corrected)
    assert set(open_reviews.values_list("read_id", flat=True)) == set(pending.values_list("id", flat=True))
    assert all(r.reasons == ["flagged"] for r in open_reviews)
    wrong_base = pending.filter(flags__gte=0).extra(where=["flags & 4 = 4"]).first()
    finding = next(f for f in wrong_base.findings if f["code"] == "WRONG_BASE")
    assert finding["params"]["stated"] != finding["params"]["expected"] == str(wrong_base.previous_reading)
    rollover = MeterRead.objects.extra(where=["flags & 1 = 1"]).first()
    assert rollover.status == "accepted" and rollover.findings[0]["code"] == "ROLLOVER"
    # Routes of ~300 stops with a reader; the current month's cycles open, older closed.
    assert Route.objects.filter(reader__isnull=True).count() == 0
    assert set(ReadCycle.objects.filter(status="open").values_list("period", flat=True)) == {date(2026, 11, 1)}
    assert ReadCycle.objects.filter(status="closed", period__gte=date(2026, 11, 1)).count() == 0
    assert MeterRead.objects.filter(read_date__gt=TODAY).count() == 0
    assert {s for s in MeterRead.objects.values_list("source", flat=True).distinct()} == {
        "hand", "handheld", "remote"}
    generator.demo_reset()
    assert MeterRead.objects.count() == Route.objects.count() == 0


def test_revalidation_from_the_database_agrees_with_the_stored_flags(db, settings):
    from ucis.metering import bulkload
    from ucis.metering.validation import ReadRules

    generator.demo_data_load(customers=120, seed=5, password=settings.UCIS_DEMO_PASSWORD, today=TODAY)
    again = bulkload.reads_revalidate(today=TODAY)
    assert again.reads == MeterRead.objects.count() and again.changed == 0
    assert again.flag_counts["HIGH"] == MeterRead.objects.extra(where=["flags & 8 = 8"]).count() > 0
    stricter = bulkload.reads_revalidate(today=TODAY, rules=ReadRules(high_ratio=Decimal("1.1")))
    assert stricter.flag_counts["HIGH"] > again.flag_counts["HIGH"] and stricter.changed > 0
    assert bulkload.reads_revalidate(today=TODAY, limit=100).reads == 100
