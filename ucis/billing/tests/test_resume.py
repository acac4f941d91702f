"""A bill run process killed mid-way (SIGKILL) and resumed: 0 duplicate bills, 0 missing."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from datetime import date
from pathlib import Path

import pytest
from django.db import connection

from ucis.billing.models import Bill, BillRun, BillRunItem
from ucis.metering import services as metering_services
from ucis.metering.reads import ReadInput, meter_reads_record
from ucis.platform.tenancy import SYSTEM
from ucis.tariffs import services as tariff_services

from .conftest import make_site
from .test_bill_run import TARIFF, TODAY

ROOT = Path(__file__).resolve().parents[3]
HOUSEHOLDS = 60


def _command(*args: str) -> list[str]:
    return [sys.executable, str(ROOT / "manage.py"), "bill_run", *args]


def _env() -> dict[str, str]:
    db = connection.settings_dict
    env = dict(os.environ)
    env["DATABASE_URL"] = f"postgres://{db['USER']}@{db['HOST'] or '127.0.0.1'}:{db['PORT'] or 5432}/{db['NAME']}"
    env["DJANGO_SETTINGS_MODULE"] = "config.settings.base"
    env.pop("UCIS_TEST_DATABASE", None)
    return env


@pytest.mark.django_db(transaction=True)
def test_a_killed_run_resumes_without_duplicates_or_gaps(org):
    make_site(org, households=HOUSEHOLDS)
    tariff_services.tariff_import(actor=SYSTEM, text=TARIFF, reason="price book")
    metering_services.read_cycle_open(actor=SYSTEM, company_id=org.water.pk, period="2025-02")
    meter_reads_record(actor=SYSTEM, source="hand", today=TODAY, reads=[
        ReadInput(f"WM{n:05d}", date(2025, 2, 10), str(5 + n % 20)) for n in range(HOUSEHOLDS)])
    proc = subprocess.Popen(_command("--company", "TW", "--period", "2025-02", "--chunk", "1"), env=_env(),
                            cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    deadline = time.monotonic() + 120
    killed_at = None
    while time.monotonic() < deadline and proc.poll() is None:
        count = Bill.objects.count()
        if count >= 5:
            proc.send_signal(signal.SIGKILL)
            killed_at = count
            break
        time.sleep(0.01)
    proc.wait(timeout=30)
    assert killed_at is not None and proc.returncode == -signal.SIGKILL, proc.stderr.read().decode()[-2000:]
    written = Bill.objects.count()
    assert 5 <= written < HOUSEHOLDS  # really killed mid-way
    run = BillRun.objects.get()
    assert run.status == "calculating"
    resumed = subprocess.run(_command("--resume", str(run.pk)), env=_env(), cwd=ROOT, capture_output=True,
                             timeout=300)
    assert resumed.returncode == 0, resumed.stderr.decode()[-2000:]
    assert Bill.objects.count() == HOUSEHOLDS
    with connection.cursor() as cursor:
        cursor.execute("SELECT count(*) FROM (SELECT account_id FROM billing_bill GROUP BY account_id, period "
                       "HAVING count(*) > 1) d")
        assert cursor.fetchone()[0] == 0
    assert set(BillRunItem.objects.values_list("status", flat=True)) == {"billed"}
    run.refresh_from_db()
    assert run.status == "calculated" and run.items_done == HOUSEHOLDS
