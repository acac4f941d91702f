"""Payments benchmark: single payments through the API, and bank-file lines applied.

    python bench/payments.py N [--customers C] [--clients K] [--workers W] [--reuse]

Uses DATABASE_URL (or the embedded database), which is RESET unless --reuse finds a city: use a
bench database. A demo city of C customers (default 5,000) is generated with its two billed months,
so payments allocate to real open bills.

``api``: N payments ``POST /api/v1/payments`` (each with its own Idempotency-Key, all guarantees on:
session auth with CSRF, tenancy, the account row lock, the unique (channel, reference), oldest-first
allocation, the balanced journal entry) from K client threads (default 16) against W server
processes (default 2: ``ucis serve`` = waitress, 8 threads each). Every 10th request is a retry of
the one before, which must come back 200 with the same payment. Target ≥ 2,000/s.

``bank``: a GBK collection file of 10 × N lines over the city's accounts, parsed, checked and
applied (COPY + set-based allocation and posting), then applied again (must post nothing).
Target ≥ 100,000 lines/s.

Last line: api_payments_per_s=… bank_lines_per_s=… then the details.
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import random
import resource
import secrets
import socket
import subprocess
import sys
import threading
import time
from datetime import date
from decimal import Decimal
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _wait(port: int, timeout: float = 60) -> None:
    deadline = time.time() + timeout
    while time.time() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1):
                return
        except OSError:
            time.sleep(0.2)
    raise SystemExit(f"server on {port} did not start")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("n", type=int, nargs="?", default=10_000)
    parser.add_argument("--customers", type=int, default=5_000)
    parser.add_argument("--clients", type=int, default=16)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--reuse", action="store_true")
    args = parser.parse_args()
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings.base")
    from ucis.platform.embedded_db import ensure_database_url

    ensure_database_url()
    import django

    django.setup()
    from django.conf import settings
    from django.contrib.auth import BACKEND_SESSION_KEY, HASH_SESSION_KEY, SESSION_KEY
    from django.contrib.sessions.backends.db import SessionStore
    from django.core.management import call_command
    from django.db import connection
    from django.utils import timezone

    from ucis.demo import generator
    from ucis.org import selectors as org_selectors
    from ucis.payments import bankapply, bankfile
    from ucis.platform.tenancy import SYSTEM

    call_command("migrate", verbosity=0)
    if not (args.reuse and generator.demo_present()):
        generator.demo_reset()
        started = time.perf_counter()
        generator.demo_data_load(customers=args.customers, seed=2026, password="bench-Passw0rd!")
        with connection.cursor() as cursor:
            cursor.execute("VACUUM ANALYZE")
        print(f"city: {args.customers:,} customers in {time.perf_counter() - started:.1f} s", file=sys.stderr)

    clerk = org_selectors.staff_list(actor=SYSTEM, q="water.01.counter-clerk1").get(username="water.01.counter-clerk1")
    company = org_selectors.org_node_by_code(actor=SYSTEM, code="LJW")
    with connection.cursor() as cursor:
        cursor.execute("SELECT id, account_no FROM customers_account WHERE company_id = %s ORDER BY id", [company.pk])
        accounts = cursor.fetchall()
    rng = random.Random(7)

    # --- api -------------------------------------------------------------------------------------
    session = SessionStore()
    session[SESSION_KEY] = str(clerk.pk)
    session[BACKEND_SESSION_KEY] = "django.contrib.auth.backends.ModelBackend"
    session[HASH_SESSION_KEY] = clerk.get_session_auth_hash()
    session.create()
    csrf = secrets.token_hex(16)
    cookie = f"{settings.SESSION_COOKIE_NAME}={session.session_key}; {settings.CSRF_COOKIE_NAME}={csrf}"
    port = _free_port()
    env = {**os.environ, "UCIS_TASKS_IN_THREAD": "0"}
    servers = []
    # Several waitress processes share one listening port (SO_REUSEPORT is not needed: a parent
    # socket would be; simpler, each worker gets its own port and the clients spread over them).
    ports = [port] + [_free_port() for _ in range(args.workers - 1)]
    for p in ports:
        servers.append(subprocess.Popen([sys.executable, "-m", "ucis.cli", "serve", "--port", str(p), "--threads", "8"],
                                        env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))
    try:
        for p in ports:
            _wait(p)
        per_client = args.n // args.clients
        statuses: dict[int, int] = {}
        lock = threading.Lock()
        retries_ok = [0]
        errors: list[str] = []

        def client(k: int) -> None:
            conn = http.client.HTTPConnection("127.0.0.1", ports[k % len(ports)], timeout=60)
            local_rng = random.Random(k)
            last: tuple[str, bytes, int] | None = None
            for i in range(per_client):
                if i % 10 == 9 and last is not None:
                    key, body, first_id = last
                else:
                    account_id, _no = accounts[local_rng.randrange(len(accounts))]
                    key = f"bench-{k}-{i}-{secrets.token_hex(4)}"
                    body = json.dumps({"account_id": account_id,
                                       "amount": f"{local_rng.randint(100, 30000) / 100:.2f}"}).encode()
                    first_id = 0
                conn.request("POST", "/api/v1/payments", body=body, headers={
                    "Content-Type": "application/json", "Cookie": cookie, "X-CSRFToken": csrf,
                    "Idempotency-Key": key, "Referer": f"http://127.0.0.1:{ports[0]}/"})
                resp = conn.getresponse()
                data = resp.read()
                with lock:
                    statuses[resp.status] = statuses.get(resp.status, 0) + 1
                if resp.status == 201:
                    last = (key, body, json.loads(data)["id"])
                elif resp.status == 200 and first_id:
                    if json.loads(data)["id"] == first_id:
                        with lock:
                            retries_ok[0] += 1
                    last = None
                else:
                    with lock:
                        errors.append(f"{resp.status} {data[:200]!r}")
            conn.close()

        threads = [threading.Thread(target=client, args=(k,)) for k in range(args.clients)]
        started = time.perf_counter()
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        api_s = time.perf_counter() - started
    finally:
        for s in servers:
            s.terminate()
        for s in servers:
            s.wait(timeout=30)
    requests = sum(statuses.values())
    if errors:
        print(f"errors: {len(errors)}, e.g. {errors[:3]}", file=sys.stderr)
    print(f"api: {requests:,} requests ({statuses}) in {api_s:.1f} s, {retries_ok[0]:,} retries answered with "
          f"the first payment", file=sys.stderr)

    # --- bank ------------------------------------------------------------------------------------
    m = args.n * 10
    today = timezone.localdate()
    rows = []
    batch = f"{time.time_ns() % 10**9}"  # in the serials too: with --reuse, a fixed serial was posted by a former run
    for i in range(m):
        _id, no = accounts[rng.randrange(len(accounts))]
        rows.append(bankfile.BankRow(f"B{batch}-{i:09d}", no, "客户", Decimal(rng.randint(100, 30000)) / 100, today))
    data = bankfile.write_bank_file(header=bankfile.BankHeader("ICBC", "LJW", today, batch), rows=rows)
    started = time.perf_counter()
    parsed = bankfile.parse_collection_file(data)
    parse_s = time.perf_counter() - started
    started = time.perf_counter()
    out = bankapply.bank_file_apply(actor=SYSTEM, data=data)
    bank_s = time.perf_counter() - started
    assert not out.problems and out.applied == m, (out.problems[:3], out.applied)
    started = time.perf_counter()
    again = bankapply.bank_file_apply(actor=SYSTEM, data=data)
    again_s = time.perf_counter() - started
    assert again.applied == 0
    from ucis.ledger.checks import ledger_problems

    problems = ledger_problems()
    assert not problems, problems
    print(f"bank: {m:,} lines ({len(parsed.lines):,} parsed in {parse_s:.2f} s) applied in {bank_s:.2f} s; "
          f"the same file again in {again_s:.2f} s posted nothing; ledger invariants hold", file=sys.stderr)
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"api_payments_per_s={requests / api_s:.0f} bank_lines_per_s={m / bank_s:.0f} api_requests={requests} "
          f"api_s={api_s:.2f} retries_ok={retries_ok[0]} errors={len(errors)} bank_lines={m} bank_s={bank_s:.2f} "
          f"bank_parse_s={parse_s:.2f} peak_rss_mb={peak:.0f} day={date.today().isoformat()}")


if __name__ == "__main__":
    main()
