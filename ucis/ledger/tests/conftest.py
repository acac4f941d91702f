"""A billed month: three households of one route, their February bills issued into the ledger.

Every test of the ledger and payments ends with the invariant checker: whatever a test did, the
books must still balance.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

import pytest

from ucis.billing import services as billing
from ucis.billing.models import Bill
from ucis.billing.tests.test_bill_run import TARIFF, TODAY
from ucis.ledger.checks import assert_ledger_consistent
from ucis.metering import services as metering_services
from ucis.metering.reads import ReadInput, meter_reads_record
from ucis.metering.tests.conftest import make_site
from ucis.platform.tenancy import SYSTEM
from ucis.tariffs import services as tariff_services


@dataclass
class Billed:
    site: object
    run: object
    bills: list  # in the order of site.accounts: 23.60, 49.25, 98.75


def bill_month(site, org, *, period: str, readings: tuple[str, ...], read_date: date):
    metering_services.read_cycle_open(actor=SYSTEM, company_id=org.water.pk, period=period)
    meter_reads_record(actor=SYSTEM, source="hand", today=TODAY, reads=[
        ReadInput(m.serial, read_date, r) for m, r in zip(site.meters, readings, strict=True)])
    run = billing.bill_run_start(actor=SYSTEM, company_id=org.water.pk, commodity="water", period=period)
    billing.bill_run_calculate(actor=SYSTEM, run_id=run.pk)
    billing.bill_run_approve(actor=SYSTEM, run_id=run.pk)
    billing.bill_run_issue(actor=SYSTEM, run_id=run.pk)
    by_account = {b.account_id: b for b in Bill.objects.filter(run=run)}
    return run, [by_account[a.pk] for a in site.accounts]


@pytest.fixture
def billed(org) -> Billed:
    site = make_site(org)
    tariff_services.tariff_import(actor=SYSTEM, text=TARIFF, reason="price book")
    run, bills = bill_month(site, org, period="2025-02", readings=("8", "15", "25.004"), read_date=date(2025, 2, 10))
    return Billed(site, run, bills)


@pytest.fixture(autouse=True)
def ledger_invariants(django_db_blocker):
    yield
    with django_db_blocker.unblock():
        assert_ledger_consistent()
