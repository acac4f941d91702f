"""Customer registry benchmark: generator throughput and search latency per search kind.

    python bench/customers.py N [M]    (N customers, then a legacy import of M rows, default 100,000,
                                        none when M is 0; uses DATABASE_URL or the embedded database —
                                        the database is RESET: use a bench database)

The load is the registry of the demo city (``demo_data_load(reads=False)``): the reads and bills
have benchmarks of their own (bench/metering.py, bench/bill_run.py).

Last line: customers_per_s=… <kind>_p95_ms=… for each search kind (target p95 ≤ 50 ms at N=1M), then
import_rows_per_s=… import_check_s=… import_apply_s=… for a GBK CSV legacy file of M rows checked
(dry run) and applied (target: 100,000 rows in < 60 s).
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
    result = generator.demo_data_load(customers=n, seed=2026, password="bench-Passw0rd!", reads=False)
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
    rows = int(sys.argv[2]) if len(sys.argv) > 2 else 100_000
    if rows:
        figures.update(_import_figures(rows))
    print(" ".join(f"{k}={v}" for k, v in figures.items()))


def legacy_file(rows: int, units: list[str], stations: list[str]) -> bytes:
    """A legacy billing system's export as the import reads it: GBK CSV, one row per account+meter."""
    import csv
    import io
    from datetime import date, timedelta

    from ucis.customers import exchange, identity

    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(["客户编号", "户名", "客户类型", "证件类型", "证件号码", "联系电话", "户号", "营业单位", "缴费方式",
                     "账单投递方式", "开户日期", "地址编号", "地址编码", "房号", "建筑面积", "人口数", "业务类别", "表号",
                     "表类型", "表位数", "倍率", "生产厂家", "型号", "装表日期", "装表读数", "IC卡号"])
    surnames, given = "王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗", "伟芳娜敏静丽强磊军洋勇艳杰娟涛明超秀霞平刚桂英"
    for i in range(rows):
        birth = date(1950, 1, 1) + timedelta(days=i // 999)
        first17 = f"330106{birth:%Y%m%d}{i % 999 + 1:03d}"
        prepaid = i % 5 == 0
        writer.writerow([
            f"LG-C{i:07d}", surnames[i % 20] + given[i % 23] + given[(i // 23) % 23], "居民", "身份证",
            first17 + identity.resident_id_check_char(first17), f"139{i:08d}", f"LG-A{i:07d}",
            stations[i % len(stations)], "微信" if i % 3 else "银行代扣", "短信", "2015-06-01", f"LG-P{i:07d}",
            units[i % len(units)], f"{i % 18 + 1}{i % 4 + 1:02d}", "89.50", "3", "水", f"LGW{i:08d}",
            "IC卡表" if prepaid else "机械表", "5", "1", "宁波水表", "LXS-15", "2015-06-02", "12.50",
            f"LGK{i:08d}" if prepaid else ""])
    assert exchange.decode_text(out.getvalue().encode("gbk"))[1] == "gb18030"
    return out.getvalue().encode("gbk")


def _import_figures(rows: int) -> dict[str, float]:
    from ucis.customers import imports
    from ucis.customers.models import AddressArea
    from ucis.org.models import OrgNode
    from ucis.platform.tenancy import SYSTEM

    units = list(AddressArea.objects.filter(level="unit").order_by("code").values_list("code", flat=True)[:2000])
    stations = list(OrgNode.objects.filter(kind="station", company__code="LJW").values_list("code", flat=True))
    content = legacy_file(rows, units, stations)
    started = time.perf_counter()
    checked = imports.registry_import_check(actor=SYSTEM, content=content, filename="bench.csv")
    check_s = time.perf_counter() - started
    assert checked.clean, checked.problems[:5]
    started = time.perf_counter()
    applied = imports.registry_import_apply(actor=SYSTEM, content=content, filename="bench.csv")
    apply_s = time.perf_counter() - started
    assert applied.applied and applied.counts["new"] == rows, applied.counts
    started = time.perf_counter()
    again = imports.registry_import_check(actor=SYSTEM, content=content, filename="bench.csv")
    recheck_s = time.perf_counter() - started
    assert again.counts["unchanged"] == rows, again.counts
    return {"import_rows": rows, "import_mb": round(len(content) / 1e6, 1),
            "import_check_s": round(check_s, 1), "import_apply_s": round(apply_s, 1),
            "import_recheck_s": round(recheck_s, 1), "import_rows_per_s": round(rows / (check_s + apply_s))}


if __name__ == "__main__":
    main()
