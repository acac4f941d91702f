"""Bill run benchmark: a month of bills for a generated city, end to end on PostgreSQL.

    python bench/bill_run.py N        (N customers of the demo city — about 2.15 accounts each; uses
                                       DATABASE_URL or the embedded database, which is RESET: use a
                                       bench database)

The city is generated (registry, routes, a year of validated reads, the price book), then every
company's bill run for last month is started and calculated over the routes the review queue has
released: accepted reads in, usage per account, every tariff rule (annual ladders with year-to-date,
surcharges, fixed and minimum charges, reductions), bills and bill lines written with COPY and
committed. Measured in the same run, the floor: the time PostgreSQL needs just to COPY the same bill
and line rows into tables of the same shape.

Last line: accounts_per_s=… peak_rss_mb=… floor_ratio=… (run seconds / floor seconds), then the
details. Targets: 1,000,000 accounts in ≤ 30 s, peak RSS ≤ 2 GB, within 4× of the floor.
"""

from __future__ import annotations

import io
import os
import resource
import sys
import time
from datetime import timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))


def main() -> None:
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 100_000
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings.base")
    from ucis.platform.embedded_db import ensure_database_url

    ensure_database_url()
    import django

    django.setup()
    from django.core.management import call_command
    from django.db import connection
    from django.utils import timezone

    from ucis.billing import services as billing
    from ucis.demo import billingdemo, generator
    from ucis.metering import usage
    from ucis.org import selectors as org_selectors
    from ucis.platform.tenancy import SYSTEM

    call_command("migrate", verbosity=0)
    generator.demo_reset()
    started = time.perf_counter()
    counts = generator.demo_data_load(customers=n, seed=2026, password="bench-Passw0rd!", bills=False)
    today = timezone.localdate()
    with connection.cursor() as cursor:
        cursor.execute("VACUUM ANALYZE")
    print(f"city: {n:,} customers, {counts['accounts']:,} accounts, {counts['reads']:,} reads in "
          f"{time.perf_counter() - started:.1f} s", file=sys.stderr)
    period = (today.replace(day=1) - timedelta(days=1)).replace(day=1)
    run_started = time.perf_counter()
    billed = exceptions = 0
    for code, commodity, _prefix in billingdemo.COMPANIES:
        company = org_selectors.org_node_by_code(actor=SYSTEM, code=code)
        routes = usage.routes_ready(company_id=company.pk, commodity=commodity, period=period)
        if not routes:
            continue
        run = billing.bill_run_start(actor=SYSTEM, company_id=company.pk, commodity=commodity, period=period,
                                     route_ids=routes)
        done = billing.bill_run_calculate(actor=SYSTEM, run_id=run.pk)
        billed += done["billed"]
        exceptions += done["exception"]
    run_s = time.perf_counter() - run_started
    peak_rss_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    floor_s, bills, lines = _copy_floor(connection)
    print(f"bill run: {billed:,} bills ({exceptions:,} exceptions) in {run_s:.1f} s; floor: COPY {bills:,} bills + "
          f"{lines:,} lines in {floor_s:.1f} s", file=sys.stderr)
    print(f"accounts_per_s={billed / run_s:.0f} peak_rss_mb={peak_rss_mb:.0f} floor_ratio={run_s / floor_s:.2f} "
          f"run_s={run_s:.1f} floor_s={floor_s:.2f} bills={billed} lines={lines} exceptions={exceptions}")


def _copy_floor(connection) -> tuple[float, int, int]:
    """COPY the run's output rows again into fresh tables of the same shape (indexes and all)."""
    with connection.cursor() as cursor:
        raw = cursor.cursor
        buffers = {}
        for table in ("billing_bill", "billing_billline"):
            buf = io.BytesIO()
            with raw.copy(f"COPY {table} TO STDOUT") as copy:
                for chunk in copy:
                    buf.write(chunk)
            buffers[table] = buf.getvalue()
            cursor.execute(f"DROP TABLE IF EXISTS bench_{table}")
            cursor.execute(f"CREATE TABLE bench_{table} (LIKE {table} INCLUDING DEFAULTS INCLUDING CONSTRAINTS "
                           "INCLUDING INDEXES)")
        cursor.execute("SELECT (SELECT count(*) FROM billing_bill), (SELECT count(*) FROM billing_billline)")
        bills, lines = cursor.fetchone()
        started = time.perf_counter()
        for table, data in buffers.items():
            with raw.copy(f"COPY bench_{table} FROM STDIN") as copy:
                for offset in range(0, len(data), 1 << 20):
                    copy.write(data[offset:offset + (1 << 20)])
        floor_s = time.perf_counter() - started
        for table in buffers:
            cursor.execute(f"DROP TABLE bench_{table}")
    return floor_s, bills, lines


if __name__ == "__main__":
    main()
