"""Metering benchmarks, one function per measurement.

    python bench/metering.py N [--only validation] [--customers C]

``validation``: validate N reads straight from the database (binary COPY into numpy, bases and
history baselines rebuilt, ``validate_reads``, flags counted) — ``reads_revalidate``. When the
database holds fewer than N reads, the demo city is (re)generated first with enough customers
(about 28 reads per customer: 2.15 meters × 13 reads) and the reads phase of that load is reported
too. Uses DATABASE_URL (or the embedded database); the database is RESET when data is generated:
use a bench database. Target: 10,000,000 reads in ≤ 10 s (≥ 1,000,000 reads/s).

Last line: the key=value pairs of every measurement run, e.g.
``reads_per_s=… load_s=… validate_s=… reads=…``.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from datetime import date
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

READS_PER_CUSTOMER = 27.9  # 1 + 0.7 + 0.45 meters per customer, 13 reads each (less the no-reads)
TODAY = date(2026, 11, 23)


def _setup() -> None:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings.base")
    from ucis.platform.embedded_db import ensure_database_url

    ensure_database_url()
    import django

    django.setup()


def _ensure_reads(n: int, customers: int | None) -> dict[str, str]:
    """Demo data holding at least ``n`` reads; the figures of the load when one was needed."""
    from django.core.management import call_command
    from django.db import connection

    from ucis.demo import generator

    call_command("migrate", verbosity=0)
    with connection.cursor() as cursor:
        cursor.execute("SELECT count(*) FROM metering_meterread")
        stored = cursor.fetchone()[0]
    if stored >= n and customers is None:
        return {}
    size = customers or max(100, int(n / READS_PER_CUSTOMER * 1.02) + 1)
    generator.demo_reset()
    started = time.perf_counter()
    result = generator.demo_data_load(customers=size, seed=2026, password="bench-Passw0rd!", today=TODAY)
    total = time.perf_counter() - started
    with connection.cursor() as cursor:
        cursor.execute("VACUUM ANALYZE metering_meterread")
    print(f"demo load: {size:,} customers, {result['meters']:,} meters, {result['reads']:,} reads in {total:.1f} s; "
          f"reads phase {result['reads_s']:.1f} s (plan {result['reads_plan_s']:.1f} s, validate "
          f"{result['validate_s']:.1f} s, write {result['write_s']:.1f} s), {result['flagged']:,} flagged, "
          f"{result['open_reviews']:,} open reviews")
    return {"demo_reads": str(result["reads"]), "demo_reads_s": f"{result['reads_s']:.1f}",
            "demo_reads_per_s": f"{result['reads'] / result['reads_s']:.0f}"}


def measure_validation(n: int, *, customers: int | None = None) -> dict[str, str]:
    from ucis.metering import bulkload

    figures = _ensure_reads(n, customers)
    bulkload.reads_revalidate(today=TODAY, limit=min(n, 10_000))  # warm the catalog and caches
    result = bulkload.reads_revalidate(today=TODAY, limit=n)
    seconds = result.load_s + result.validate_s
    print(f"validation: {result.reads:,} reads in {seconds:.2f} s (load {result.load_s:.2f} s, validate "
          f"{result.validate_s:.2f} s) = {result.reads / seconds:,.0f} reads/s; {result.needs_review:,} need "
          f"review, {result.changed:,} differ from the stored flags")
    print("  flags: " + ", ".join(f"{k} {v:,}" for k, v in sorted(result.flag_counts.items())))
    return {"reads_per_s": f"{result.reads / seconds:.0f}", "load_s": f"{result.load_s:.2f}",
            "validate_s": f"{result.validate_s:.2f}", "reads": str(result.reads), **figures}


MEASUREMENTS = {"validation": measure_validation}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("n", type=int, nargs="?", default=1_000_000, help="reads to validate")
    parser.add_argument("--only", choices=sorted(MEASUREMENTS), action="append",
                        help="run only this measurement (repeatable)")
    parser.add_argument("--customers", type=int, help="regenerate the demo city with this many customers")
    args = parser.parse_args()
    _setup()
    pairs: dict[str, str] = {}
    for name, measure in MEASUREMENTS.items():
        if args.only and name not in args.only:
            continue
        kwargs = {"customers": args.customers} if name == "validation" else {}
        pairs.update(measure(args.n, **kwargs))
    print(" ".join(f"{k}={v}" for k, v in pairs.items()))


if __name__ == "__main__":
    main()
