"""Customer registry benchmark: generator throughput and search latency per search kind.

    python bench/customers.py N        (N customers; uses DATABASE_URL or the embedded database —
                                        the database is RESET: use a bench database)

Last line: customers_per_s=… <kind>_p95_ms=… for each search kind (target p95 ≤ 50 ms at N=1M).
"""

from __future__ import annotations

import os
import random
import statistics
import sys
import time
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

    from ucis.customers import selectors
    from ucis.customers.models import Account, Customer, Meter
    from ucis.demo import generator
    from ucis.org.models import User

    call_command("migrate", verbosity=0)
    generator.demo_reset()
    started = time.perf_counter()
    result = generator.demo_data_load(customers=n, seed=2026, password="bench-Passw0rd!")
    load_s = time.perf_counter() - started
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("VACUUM ANALYZE")
    clerk = User.objects.get(username="water.01.counter-clerk1")
    rng = random.Random(1)
    ids = list(Customer.objects.values_list("id", flat=True)[:: max(1, n // 2000)])
    sample = list(Customer.objects.filter(id__in=rng.sample(ids, min(200, len(ids)))))
    accounts = {a.customer_id: a.account_no for a in Account.objects.filter(customer__in=sample, company__code="LJW")}
    meters = dict(Meter.objects.filter(installations__service_point__agreements__account__customer__in=sample,
                                       commodity="water").values_list(
        "installations__service_point__agreements__account__customer_id", "serial"))
    kinds = {
        "number": lambda c: c.customer_no,
        "name": lambda c: c.name[:2],
        "initials": lambda c: c.name_initials,
        "phone": lambda c: c.phone,
        "id_number": lambda c: c.id_number or None,
        "account": lambda c: accounts.get(c.id),
        "meter": lambda c: meters.get(c.id),
        "address": lambda c: None,
    }
    figures = {"customers_per_s": round(n / load_s), "load_s": round(load_s, 1),
               "rows": sum(v for k, v in result.items() if isinstance(v, int))}
    for kind, value_of in kinds.items():
        if kind == "address":
            values = list(__import__("ucis.customers.models", fromlist=["AddressArea"]).AddressArea.objects
                          .filter(level="community").values_list("name", flat=True)[:200])
        else:
            values = [v for v in (value_of(c) for c in sample) if v]
        times = []
        for value in values:
            t = time.perf_counter()
            selectors.customer_search(actor=clerk, q=value, kind=kind, limit=20)
            times.append((time.perf_counter() - t) * 1000)
        times.sort()
        figures[f"{kind}_p50_ms"] = round(statistics.median(times), 2)
        figures[f"{kind}_p95_ms"] = round(times[int(len(times) * 0.95) - 1], 2)
    print(" ".join(f"{k}={v}" for k, v in figures.items()))


if __name__ == "__main__":
    main()
