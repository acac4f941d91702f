"""Agent screen benchmark: the 95598 pop-up for a ringing call, server time on a city-sized database.

    python bench/agent_screen.py N [--reuse] [--calls K] [--months M]

N customers of the demo city (about 2.15 accounts each); uses DATABASE_URL or the embedded
database, which is RESET: use a bench database. --reuse keeps what an earlier run left (the city,
then the bills and postings, then the work orders: each stage is skipped when its data is there).

Data. The registry, the routes and a year of reads come from the demo generator
(``demo_data_load(bills=False)``: registry + reads, the cheapest path that gives meters with live
reads). Then, set-based in SQL: M (default 12) months of issued bills for each customer's main
account (its first) and the last 3 months for its other accounts — about 12 bills per customer,
the issue's "1M customers with 12M bills" — one bill run per company-month, and their ledger
postings so balances are real: per bill one entry (receivable debit with account and bill,
revenue credit) and, for most bills, a payment entry (cash debit, receivable credit); the
statement triggers (entries balance, exact line count, period open) check every statement. The
foreign keys and secondary indexes of the bill and journal tables are dropped for the load and
put back after it (validated by PostgreSQL in one pass each). 2 % of customers get the phone
number of another customer (shared numbers), work orders for 20 % of customers (0.2 × N; 80 %
of them tied to the customer, the rest only to the caller's phone hash; 10 % still open) over the
last year, and a few outages over communities now.

Measured: K (default 2,000) calls — the phones of random customers with a water account (decrypted
from the registry), 5 % of them shared numbers and 5 % unknown numbers — ``GET
/service/agent/?phone=…`` through ``django.test.Client`` in-process (every middleware, the
session, the view, the template) as the demo hotline agent of the water company, after 100
warm-up calls. Server time = the request's time in-process; DB time = the sum over its queries
(``connection.execute_wrapper``, so it includes the round trips); CPU = the request thread's own
CPU time (``time.thread_time``: the Django work, whatever the other processes on the machine do).

Output: the phases (stderr), then the last line: p50_ms=… p95_ms=… p99_ms=… and the details
(cpu and db ms p50/p95, queries per call, customers, accounts, bills, journal_lines, work_orders,
calls by outcome).
Target (issue #8): p95 ≤ 20 ms on 1,000,000 customers with 12M bills.
"""

from __future__ import annotations

import argparse
import os
import random
import statistics
import sys
import time
from datetime import timedelta
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

AGENT = "water.kf.hotline-agent1"
COMMODITY = {"LJW": "water", "LJE": "electricity", "LJG": "gas"}
PRICE = {"LJW": "3.45", "LJE": "0.58", "LJG": "2.61"}
USAGE = {"LJW": (6, 30), "LJE": (80, 420), "LJG": (8, 45)}
OTHER_MONTHS = 3  # months billed for a customer's accounts other than the main one
BILL_TABLES = ("billing_bill", "ledger_journalentry", "ledger_journalline")


def _sql(sql: str, params: Any = None) -> list[tuple[Any, ...]]:
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        return cursor.fetchall() if cursor.description else []


def _one(sql: str, params: Any = None) -> Any:
    return _sql(sql, params)[0][0]


def _log(text: str) -> None:
    print(text, file=sys.stderr, flush=True)


# --- the data ---------------------------------------------------------------------------------------


def city(n: int, *, reuse: bool) -> float | None:
    """The demo registry and reads for ``n`` customers; the seconds it took (None when reused)."""
    from ucis.demo import generator

    if reuse and generator.demo_present():
        return None
    generator.demo_reset()
    started = time.perf_counter()
    counts = generator.demo_data_load(customers=n, seed=2026, password="bench-Passw0rd!", bills=False)
    _sql("VACUUM ANALYZE")
    seconds = time.perf_counter() - started
    _log(f"city: {n:,} customers, {counts['accounts']:,} accounts, {counts['meters']:,} meters, "
         f"{counts['reads']:,} reads in {seconds:.1f} s")
    return seconds


class _KeysDropped:
    """Drop the foreign keys, unique constraints and secondary indexes of ``tables`` (not their
    primary keys), and put them back — the same definitions, validated in one pass each — on exit."""

    def __init__(self, tables: tuple[str, ...]) -> None:
        self.tables = list(tables)

    def __enter__(self) -> _KeysDropped:
        self.constraints = _sql(
            "SELECT conrelid::regclass::text, conname, pg_get_constraintdef(oid), contype FROM pg_constraint"
            " WHERE conrelid::regclass::text = ANY(%s) AND contype IN ('f', 'u') ORDER BY contype DESC",
            [self.tables])
        self.indexes = _sql(
            "SELECT i.indexrelid::regclass::text, pg_get_indexdef(i.indexrelid) FROM pg_index i"
            " WHERE i.indrelid::regclass::text = ANY(%s) AND NOT i.indisprimary"
            " AND NOT EXISTS (SELECT 1 FROM pg_constraint c WHERE c.conindid = i.indexrelid)", [self.tables])
        for table, name, _definition, _kind in self.constraints:
            _sql(f'ALTER TABLE {table} DROP CONSTRAINT "{name}"')
        for name, _definition in self.indexes:
            _sql(f"DROP INDEX {name}")
        return self

    def __exit__(self, *exc: Any) -> None:
        for _name, definition in self.indexes:
            _sql(definition)
        for table, name, definition, _kind in self.constraints:  # unique ones first, then the keys
            _sql(f'ALTER TABLE {table} ADD CONSTRAINT "{name}" {definition}')


def bills(*, months: int, reuse: bool) -> float | None:
    """``months`` months of issued bills (main accounts; the last 3 for the others) with their ledger
    postings and payments, set-based; the seconds it took (None when reused)."""
    from django.db import transaction
    from django.utils import timezone

    from ucis.kernel.periods import month_start
    from ucis.ledger import chart
    from ucis.ledger.services import ledger_account_ids
    from ucis.org.models import OrgNode

    # Reused only when an earlier load finished: its keys and indexes are back on.
    if reuse and _one("SELECT EXISTS (SELECT 1 FROM ledger_journalline) AND EXISTS (SELECT 1 FROM pg_constraint"
                      " WHERE conname = 'journalline_seq_unique')"):
        return None
    started = time.perf_counter()
    _sql("TRUNCATE ledger_journalline, ledger_journalentry, billing_billline, billing_bill, billing_billrunitem, "
         "billing_billrun, service_workorder CASCADE")
    # Each customer's main account (its first) and its others; what a bill needs of them.
    _sql("DROP TABLE IF EXISTS bench_accounts")
    _sql("""CREATE UNLOGGED TABLE bench_accounts AS
            SELECT a.id, a.company_id, a.node_id,
                   a.id = min(a.id) OVER (PARTITION BY a.customer_id) AS main,
                   ('x' || substr(md5(a.id::text), 1, 8))::bit(32)::int AS h
              FROM customers_account a""")
    _sql("CREATE INDEX ON bench_accounts (company_id)")
    _sql("ANALYZE bench_accounts")
    latest = month_start(timezone.localdate().replace(day=1) - timedelta(days=1))
    periods = [latest]
    for _i in range(months - 1):
        periods.append(month_start(periods[-1] - timedelta(days=1)))
    bill_count = 0
    with _KeysDropped(BILL_TABLES):
        for code, commodity in COMMODITY.items():
            company = OrgNode.objects.get(code=code)
            receivable, revenue = chart.bill_line_accounts("RECEIVABLE", commodity)
            cash = chart.cash_account("bank")
            ids = ledger_account_ids(company_id=company.pk, codes=[receivable, revenue, cash])
            low, high = USAGE[code]
            for age, period in enumerate(periods):
                issued = month_start(period + timedelta(days=32))
                with transaction.atomic():
                    run = _one(
                        "INSERT INTO billing_billrun (company_id, commodity, period, route_ids, status, items_total,"
                        " items_done, exceptions, totals, created_at, calculated_at, approved_at, issued_at)"
                        " VALUES (%s, %s, %s, '{}', 'issued', 0, 0, 0, '{\"bench\": true}', %s, %s, %s, %s)"
                        " RETURNING id", [company.pk, commodity, period, issued, issued, issued, issued])
                    # The bills: usage varies by account and month; amounts are never zero.
                    made = _one(
                        """WITH b AS (
                             INSERT INTO billing_bill (run_id, account_id, company_id, node_id, period, period_from,
                                                       period_to, usage, total, status, messages, created_at,
                                                       issued_at, due_date)
                             SELECT %(run)s, a.id, a.company_id, a.node_id, %(period)s, %(period)s, %(issued)s, u.usage,
                                    round(u.usage * %(price)s::numeric, 2), 'issued', '{}', %(issued)s, %(issued)s,
                                    %(issued)s::date + 20
                               FROM bench_accounts a
                              CROSS JOIN LATERAL (SELECT (%(low)s + abs(a.h::bigint + %(age)s * 7919) %% (%(span)s * 100)
                                                          / 100.0)::numeric(14, 2) AS usage) u
                              WHERE a.company_id = %(company)s AND (a.main OR %(age)s < %(other)s)
                             RETURNING 1)
                           SELECT count(*) FROM b""",
                        {"run": run, "period": period, "issued": issued, "price": PRICE[code], "low": low,
                         "span": high - low, "age": age, "company": company.pk, "other": OTHER_MONTHS})
                    _sql("UPDATE billing_billrun SET items_total = %s, items_done = %s WHERE id = %s", [made, made, run])
                    # One entry per bill: receivable debit (account, bill), revenue credit (bill).
                    _sql("""WITH e AS (
                              INSERT INTO ledger_journalentry (company_id, node_id, kind, effective_date, posted_at,
                                                               line_count, idempotency_key, source_type, source_id,
                                                               memo)
                              SELECT b.company_id, b.node_id, 'bill', %(issued)s, %(issued)s, 2, 'bill:' || b.id,
                                     'bill', b.id, ''
                                FROM billing_bill b WHERE b.run_id = %(run)s
                              RETURNING id, source_id)
                            INSERT INTO ledger_journalline (entry_id, seq, ledger_account_id, account_id, bill_id, amount)
                            SELECT e.id, v.seq, CASE v.seq WHEN 1 THEN %(debit)s ELSE %(credit)s END,
                                   CASE v.seq WHEN 1 THEN b.account_id END, b.id,
                                   CASE v.seq WHEN 1 THEN b.total ELSE -b.total END
                              FROM e JOIN billing_bill b ON b.id = e.source_id CROSS JOIN (VALUES (1), (2)) v(seq)""",
                         {"issued": issued, "run": run, "debit": ids[receivable], "credit": ids[revenue]})
                    # Payments: 95 % of older bills are paid in full ten days after issue, 40 % of the
                    # newest; each a cash debit and a receivable credit against the bill.
                    _sql("""WITH e AS (
                              INSERT INTO ledger_journalentry (company_id, node_id, kind, effective_date, posted_at,
                                                               line_count, idempotency_key, source_type, source_id,
                                                               memo)
                              SELECT b.company_id, b.node_id, 'payment', %(paid)s, %(paid)s, 2,
                                     'bench-payment:' || b.id, 'bench', b.id, 'bank batch'
                                FROM billing_bill b
                               WHERE b.run_id = %(run)s AND abs(b.account_id * 31 + %(age)s) %% 100 < %(share)s
                              RETURNING id, source_id)
                            INSERT INTO ledger_journalline (entry_id, seq, ledger_account_id, account_id, bill_id, amount)
                            SELECT e.id, v.seq, CASE v.seq WHEN 1 THEN %(cash)s ELSE %(receivable)s END,
                                   CASE v.seq WHEN 2 THEN b.account_id END, CASE v.seq WHEN 2 THEN b.id END,
                                   CASE v.seq WHEN 1 THEN b.total ELSE -b.total END
                              FROM e JOIN billing_bill b ON b.id = e.source_id CROSS JOIN (VALUES (1), (2)) v(seq)""",
                         {"paid": issued + timedelta(days=10), "run": run, "age": age, "share": 40 if age == 0 else 95,
                          "cash": ids[cash], "receivable": ids[receivable]})
                bill_count += made
            _log(f"  bills {code}: {time.perf_counter() - started:.0f} s so far, {bill_count:,} bills")
    _log(f"  keys and indexes back on: {time.perf_counter() - started:.0f} s so far")
    _sql("DROP TABLE bench_accounts")
    for table in (*BILL_TABLES, "billing_billrun"):
        _sql(f"VACUUM ANALYZE {table}")
    seconds = time.perf_counter() - started
    _log(f"bills: {bill_count:,} bills with their postings in {seconds:.1f} s")
    return seconds


def contacts(*, reuse: bool) -> float | None:
    """Shared phone numbers, work orders over the last year and outages now; seconds (None when reused)."""
    from django.db import transaction
    from django.utils import timezone

    from ucis.customers.models import AddressArea
    from ucis.org.models import OrgNode
    from ucis.platform.tenancy import SYSTEM
    from ucis.service import services
    from ucis.service.models import Outage

    if reuse and _one("SELECT EXISTS (SELECT 1 FROM service_workorder)"):
        return None
    started = time.perf_counter()
    now = timezone.now()
    _sql("TRUNCATE service_workorder, service_outage CASCADE")
    _bulk_history = ("SELECT set_config('pgtrigger.ignore', '{}', true), set_config('pghistory.context_id',"
                     " gen_random_uuid()::text, true), set_config('pghistory.context_metadata',"
                     " '{\"reason\": \"bench agent screen\"}', true)")
    # The history triggers run per row: with their settings present they do not raise and catch an
    # error per row (a subtransaction each, which overflows and slows the whole insert to a crawl).
    with transaction.atomic():
        _sql(_bulk_history)
        # 2 % of customers share the number of the customer before them (families, a landlord's phone).
        _sql("""UPDATE customers_customer c SET phone = p.phone, phone_hash = p.phone_hash
                  FROM customers_customer p WHERE p.id = c.id - 1 AND c.id %% 50 = 1 AND p.phone_hash <> ''""", [])
        _sql("ANALYZE customers_customer")
        _sql("""INSERT INTO service_workorder (
                  order_no, company_id, node_id, order_type, channel, urgency, status, subject, description, caller_name,
                  caller_phone, caller_phone_hash, contact_private, customer_id, account_id, commodity, location,
                  landmark, skill, routing_note, external_ref, clock, sla_note, escalation_level, feedback, reply,
                  visit_note, review_note, created_at, updated_at, accepted_at, complete_due_at, done_at, archived_at)
                SELECT 'BW' || lpad((row_number() OVER ())::text, 9, '0'), a.company_id, a.node_id, t.order_type,
                       'hotline', 'normal', s.status, t.subject, '', left(c.name, 60), c.phone, c.phone_hash, false,
                       CASE WHEN k.i %% 5 <> 4 THEN c.id END, CASE WHEN k.i %% 5 <> 4 THEN a.id END,
                       %(commodity)s, '', '', '', '', '', 'business', '', 0, '', '', '', '', w.at, w.at,
                       w.at + interval '1 hour', w.at + interval '3 days',
                       CASE WHEN s.status = 'archived' THEN w.at + interval '1 day' END,
                       CASE WHEN s.status = 'archived' THEN w.at + interval '2 days' END
                  FROM customers_customer c
                  JOIN (SELECT DISTINCT ON (customer_id) customer_id, id, company_id, node_id FROM customers_account
                         ORDER BY customer_id, id) a ON a.customer_id = c.id
                 CROSS JOIN generate_series(1, 2) k(i)
                 CROSS JOIN LATERAL (SELECT %(now)s - (abs(c.id * 17 + k.i * 101) %% 365) * interval '1 day'
                                            - (abs(c.id * 7 + k.i) %% 600) * interval '1 minute' AS at) w
                 CROSS JOIN LATERAL (SELECT (ARRAY['repair', 'bill_inquiry', 'consultation', 'complaint', 'help'])
                                            [1 + abs(c.id + k.i) %% 5] AS order_type,
                                            (ARRAY['水表漏水', '账单查询', '用水咨询', '服务投诉', '求助'])
                                            [1 + abs(c.id + k.i) %% 5] AS subject) t
                 CROSS JOIN LATERAL (SELECT CASE WHEN abs(c.id * 13 + k.i) %% 10 = 0
                                            THEN (ARRAY['registered', 'dispatched', 'accepted'])[1 + k.i]
                                            ELSE 'archived' END AS status) s
                 WHERE c.id %% 10 = 3 AND c.phone_hash <> ''""", {"now": now, "commodity": "water"})
    _sql("VACUUM ANALYZE service_workorder")
    # Outages now: two communities per company, one street of the water company.
    communities = list(AddressArea.objects.filter(level="community").order_by("id").values_list("code", flat=True))
    streets = list(AddressArea.objects.filter(level="street").order_by("id").values_list("code", flat=True))
    rng = random.Random(8)
    for code, commodity in COMMODITY.items():
        company = OrgNode.objects.get(code=code)
        for area in rng.sample(communities, 2):
            services.outage_create(actor=SYSTEM, node_id=company.pk, commodity=commodity, kind="planned",
                                   starts_at=now - timedelta(hours=1), ends_at=now + timedelta(days=2),
                                   reason="管网检修", area_codes=[area])
    services.outage_create(actor=SYSTEM, node_id=OrgNode.objects.get(code="LJW").pk, commodity="water",
                           kind="unplanned", starts_at=now - timedelta(hours=2), ends_at=now + timedelta(hours=6),
                           reason="主管爆裂抢修", area_codes=[rng.choice(streets)])
    seconds = time.perf_counter() - started
    _log(f"contacts: {_one('SELECT count(*) FROM service_workorder'):,} work orders, "
         f"{Outage.objects.count()} outages in {seconds:.1f} s")
    return seconds


# --- the measurement ---------------------------------------------------------------------------------


def callers(k: int, *, seed: int = 1) -> list[str]:
    """``k`` phone numbers as the switch passes them: random water customers' (a few of them shared
    by several customers) and 5 % unknown ones."""
    from ucis.platform import crypto

    rng = random.Random(seed)
    top = _one("SELECT max(id) FROM customers_customer")
    ids = sorted({rng.randint(1, top) for _i in range(k * 2)})
    rows = _sql("""SELECT c.phone, c.phone_hash, c.id %% 50 IN (0, 1) AS shared FROM customers_customer c
                    WHERE c.id = ANY(%s) AND c.phone <> ''
                      AND EXISTS (SELECT 1 FROM customers_account a JOIN org_orgnode n ON n.id = a.company_id
                                   WHERE a.customer_id = c.id AND n.code = 'LJW')""", [ids])
    shared = [crypto.decrypt(p) for p, _h, s in rows if s]
    single = [crypto.decrypt(p) for p, _h, s in rows if not s]
    rng.shuffle(shared)
    rng.shuffle(single)
    unknown = [f"170{rng.randint(0, 99_999_999):08d}" for _i in range(k // 20)]
    phones = shared[:k // 20] + unknown + single[:k - k // 20 - len(unknown)]
    rng.shuffle(phones)
    return phones


def measure(phones: list[str], *, warmup: int = 100) -> dict[str, Any]:
    from django.db import connection
    from django.test import Client

    from ucis.org.models import User

    agent = User.objects.get(username=AGENT)
    client = Client()
    client.force_login(agent)
    queries: list[float] = []

    def timed(execute: Any, sql: str, params: Any, many: bool, context: Any) -> Any:
        t = time.perf_counter()
        try:
            return execute(sql, params, many, context)
        finally:
            queries.append(time.perf_counter() - t)

    rng = random.Random(2)
    for _i in range(warmup):
        response = client.get("/service/agent/", {"phone": rng.choice(phones)})
        assert response.status_code == 200, response.status_code
    times, cpu, db, counts, kinds = [], [], [], [], {"one": 0, "several": 0, "unknown": 0}
    with connection.execute_wrapper(timed):
        for phone in phones:
            queries.clear()
            c, t = time.thread_time(), time.perf_counter()
            response = client.get("/service/agent/", {"phone": phone})
            times.append((time.perf_counter() - t) * 1000)
            cpu.append((time.thread_time() - c) * 1000)
            assert response.status_code == 200, response.status_code
            db.append(sum(queries) * 1000)
            counts.append(len(queries))
            body = response.content
            kinds["several" if b'data-testid="agent-candidates"' in body else
                  "one" if b'data-testid="agent-customer"' in body else "unknown"] += 1
    return {"times": times, "cpu": cpu, "db": db, "counts": counts, "kinds": kinds}


def _pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(q * len(ordered)) - 1))]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("n", type=int, nargs="?", default=100_000)
    parser.add_argument("--reuse", action="store_true")
    parser.add_argument("--calls", type=int, default=2_000)
    parser.add_argument("--months", type=int, default=12)
    args = parser.parse_args()
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings.base")
    from ucis.platform.embedded_db import ensure_database_url

    ensure_database_url()
    import django

    django.setup()
    from django.core.management import call_command

    call_command("migrate", verbosity=0)
    city_s = city(args.n, reuse=args.reuse)
    bills_s = bills(months=args.months, reuse=args.reuse and city_s is None)
    contacts_s = contacts(reuse=args.reuse and bills_s is None)
    phones = callers(args.calls)
    result = measure(phones)
    times, db, counts = result["times"], result["db"], result["counts"]
    figures = {
        "p50_ms": round(statistics.median(times), 2), "p95_ms": round(_pct(times, 0.95), 2),
        "p99_ms": round(_pct(times, 0.99), 2), "max_ms": round(max(times), 1),
        "cpu_p50_ms": round(statistics.median(result["cpu"]), 2), "cpu_p95_ms": round(_pct(result["cpu"], 0.95), 2),
        "db_p50_ms": round(statistics.median(db), 2), "db_p95_ms": round(_pct(db, 0.95), 2),
        "db_share": round(sum(db) / sum(times), 2), "queries": round(statistics.mean(counts), 1),
        "queries_max": max(counts), "calls": len(times),
        **{f"calls_{k}": v for k, v in result["kinds"].items()},
        "customers": _one("SELECT count(*) FROM customers_customer"),
        "accounts": _one("SELECT count(*) FROM customers_account"),
        "bills": _one("SELECT count(*) FROM billing_bill"),
        "journal_lines": _one("SELECT count(*) FROM ledger_journalline"),
        "work_orders": _one("SELECT count(*) FROM service_workorder"),
    }
    for name, seconds in (("city_s", city_s), ("bills_s", bills_s), ("contacts_s", contacts_s)):
        if seconds is not None:
            figures[name] = round(seconds, 1)
    print(" ".join(f"{k}={v}" for k, v in figures.items()))


if __name__ == "__main__":
    main()
