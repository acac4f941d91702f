"""A month's bill run on a small route: select → calculate → review → approve → issue."""

from __future__ import annotations

from datetime import date
from decimal import Decimal as D

import pytest

from ucis.billing import services
from ucis.billing.models import Bill, BillLine, BillRunItem
from ucis.kernel.errors import Conflict, DomainError
from ucis.metering import services as metering_services
from ucis.metering.reads import ReadInput, meter_reads_record
from ucis.platform.tenancy import SYSTEM
from ucis.tariffs import services as tariff_services

from .conftest import make_site

pytestmark = pytest.mark.django_db
TODAY = date(2026, 11, 23)

TARIFF = """
code: TW-RES
name: 居民生活用水
company: TW
commodity: water
customer_types: [resident]
versions:
  - version: "2025"
    active_from: 2024-01-01
    active_to: null
    components:
      - kind: ladder
        code: water
        label: 水费
        basis: period
        blocks: [{upto: 10, price: "2.00"}, {upto: 20, price: "3.00"}, {price: "5.00"}]
      - {kind: flat, code: sewage, label: 污水处理费, price: "0.95", receivable: "ON_BEHALF:SEWAGE"}
"""


@pytest.fixture
def month(org):
    site = make_site(org)
    tariff_services.tariff_import(actor=SYSTEM, text=TARIFF, reason="price book")
    metering_services.read_cycle_open(actor=SYSTEM, company_id=org.water.pk, period="2025-02")
    meter_reads_record(actor=SYSTEM, source="hand", today=TODAY, reads=[
        ReadInput("WM00000", date(2025, 2, 10), "8"), ReadInput("WM00001", date(2025, 2, 10), "15"),
        ReadInput("WM00002", date(2025, 2, 10), "25.004")])
    return site


def test_a_month_is_billed_with_explained_lines(month, org):
    run = services.bill_run_start(actor=SYSTEM, company_id=org.water.pk, commodity="water", period="2025-02")
    assert run.items_total == 3
    services.bill_run_calculate(actor=SYSTEM, run_id=run.pk)
    run.refresh_from_db()
    assert run.status == "calculated" and run.items_done == 3 and run.exceptions == 0
    bills = {b.account_id: b for b in Bill.objects.filter(run=run)}
    first, second, third = (bills[a.pk] for a in month.accounts)
    assert (first.usage, first.total) == (D(8), D("23.60"))  # 8 × 2 + 8 × 0.95
    assert (second.usage, second.total) == (D(15), D("49.25"))  # 20 + 15 + 14.25
    assert (third.usage, third.total) == (D(25), D("98.75"))  # 20 + 30 + 25 + 23.75 (25.004 → 25.00)
    assert (first.period_from, first.period_to) == (date(2025, 1, 5), date(2025, 2, 10))
    lines = list(BillLine.objects.filter(bill=third).order_by("seq"))
    assert [(ln.code, ln.block, ln.amount, ln.receivable) for ln in lines] == [
        ("water", 1, D("20.00"), "RECEIVABLE"), ("water", 2, D("30.00"), "RECEIVABLE"),
        ("water", 3, D("25.00"), "RECEIVABLE"), ("sewage", 1, D("23.75"), "ON_BEHALF:SEWAGE")]
    assert lines[0].explanation["params"]["version"] == "2025"
    assert run.totals["receivables"] == {"ON_BEHALF:SEWAGE": "45.60", "RECEIVABLE": "126.00"}
    assert sum(ln.amount for ln in BillLine.objects.filter(bill__run=run)) == D(run.totals["total"])


def test_the_review_queue_gates_the_run(month, org):
    metering_services.read_cycle_open(actor=SYSTEM, company_id=org.water.pk, period="2025-03")
    meter_reads_record(actor=SYSTEM, source="hand", today=TODAY,
                       reads=[ReadInput("WM00000", date(2025, 3, 10), "3")])  # reverse running → pending
    run = services.bill_run_start(actor=SYSTEM, company_id=org.water.pk, commodity="water", period="2025-03")
    with pytest.raises(DomainError, match="still wait in the review queue"):
        services.bill_run_calculate(actor=SYSTEM, run_id=run.pk)


def test_exceptions_are_listed_never_zero_bills(month, org):
    from ucis.customers import services as customer_services

    customer_services.customer_update(actor=SYSTEM, customer_id=month.accounts[1].customer_id,
                                      changes={"customer_type": "industrial"}, reason="became a workshop",
                                      today=TODAY)
    run = services.bill_run_start(actor=SYSTEM, company_id=org.water.pk, commodity="water", period="2025-02")
    services.bill_run_calculate(actor=SYSTEM, run_id=run.pk)
    run.refresh_from_db()
    assert run.exceptions == 1 and Bill.objects.filter(run=run).count() == 2
    review = services.bill_run_review(actor=SYSTEM, run_id=run.pk)
    assert review["exceptions"] == [{"account_id": month.accounts[1].pk, "account_no": month.accounts[1].account_no,
                                     "reason": "no tariff for customer type industrial"}]


def test_approval_by_another_person_then_issue(month, org):
    from conftest import PASSWORD
    from ucis.org import services as org_services

    # The clerk may approve runs too, just not the ones they calculated.
    clerk, approver = (org_services.staff_create(actor=SYSTEM, username=name, password=PASSWORD, node_id=org.water.pk,
                                                 roles=roles)
                       for name, roles in (("billing.tw", ["billing_clerk", "billing_approver"]),
                                           ("approver.tw", ["billing_approver"])))
    run = services.bill_run_start(actor=clerk, company_id=org.water.pk, commodity="water", period="2025-02")
    services.bill_run_calculate(actor=clerk, run_id=run.pk)
    with pytest.raises(DomainError, match="someone other than who calculated"):
        services.bill_run_approve(actor=clerk, run_id=run.pk)
    with pytest.raises(Conflict):
        services.bill_run_issue(actor=approver, run_id=run.pk)
    services.bill_run_approve(actor=approver, run_id=run.pk)
    services.bill_run_issue(actor=approver, run_id=run.pk)
    assert set(Bill.objects.filter(run=run).values_list("status", flat=True)) == {"issued"}


def test_rerunning_neither_duplicates_nor_skips(month, org):
    run = services.bill_run_start(actor=SYSTEM, company_id=org.water.pk, commodity="water", period="2025-02")
    # A first attempt that wrote one chunk's bills and died before marking its items.
    from ucis.billing import services as billing_services

    original = billing_services._mark_items
    calls = {"n": 0}

    def dying(*args, **kwargs):
        calls["n"] += 1
        if calls["n"] == 2:  # the marking of the second chunk (one per chunk without exceptions)
            raise SystemExit("killed")
        return original(*args, **kwargs)

    billing_services._mark_items = dying
    try:
        with pytest.raises(SystemExit):
            services.bill_run_calculate(actor=SYSTEM, run_id=run.pk, chunk=1)
    finally:
        billing_services._mark_items = original
    assert Bill.objects.count() == 1  # the first chunk committed, the second rolled back
    services.bill_run_calculate(actor=SYSTEM, run_id=run.pk, chunk=2)
    assert Bill.objects.count() == 3
    assert set(BillRunItem.objects.values_list("status", flat=True)) == {"billed"}
    second = services.bill_run_start
    with pytest.raises(Conflict):
        second(actor=SYSTEM, company_id=org.water.pk, commodity="water", period="2025-02")


def test_a_meter_reader_cannot_run_bills(month, org):
    from django.core.exceptions import PermissionDenied

    with pytest.raises(PermissionDenied):
        services.bill_run_start(actor=month.reader, company_id=org.water.pk, commodity="water", period="2025-02")


def test_a_price_change_inside_the_period_is_split_at_the_special_read(org):
    """MTR-5: the reading taken on the change date splits the usage between the two prices."""
    make_site(org, households=1)
    two_versions = TARIFF.replace("    active_to: null\n", "    active_to: 2025-01-20\n") + """  - version: "2025-01-20"
    active_from: 2025-01-20
    active_to: null
    components:
      - {kind: flat, code: water, label: 水费, price: "4.00"}
"""
    tariff_services.tariff_import(actor=SYSTEM, text=two_versions, reason="price change on 20 January")
    schedule = metering_services.special_read_schedule(actor=SYSTEM, company_id=org.water.pk, commodity="water",
                                                       read_date=date(2025, 1, 20), reason="水价调整")
    # A wide window: the reader's visit on the change date belongs to the February cycle.
    metering_services.read_cycle_open(actor=SYSTEM, company_id=org.water.pk, period="2025-02", days_before=30)
    meter_reads_record(actor=SYSTEM, source="hand", today=TODAY, reads=[
        ReadInput("WM00000", date(2025, 1, 20), "12"), ReadInput("WM00000", date(2025, 2, 10), "30")])
    assert metering_services.special_reads_derive(actor=SYSTEM, schedule_id=schedule.pk, today=TODAY)["actual"] == 1
    run = services.bill_run_start(actor=SYSTEM, company_id=org.water.pk, commodity="water", period="2025-02")
    services.bill_run_calculate(actor=SYSTEM, run_id=run.pk)
    bill = Bill.objects.get(run=run)
    lines = [(ln.version, ln.code, ln.quantity, ln.amount) for ln in BillLine.objects.filter(bill=bill).order_by("seq")]
    # 12 m³ before the change (not 12.5 by days: 15 of 36 days) on the old ladder, whose period
    # bounds shrink to the segment's 15 days; 18 m³ after at the new price.
    water = {}
    for version, code, quantity, _amount in lines:
        if code == "water":
            water[version] = water.get(version, 0) + quantity
    assert water == {"2025": D(12), "2025-01-20": D(18)}
    assert lines[-1] == ("2025-01-20", "water", D(18), D("72.00"))
    assert ("2025", "sewage", D(12), D("11.40")) in lines


RICH_TARIFF = """
code: TW-RES
name: 居民生活用水
company: TW
commodity: water
customer_types: [resident]
versions:
  - version: "2025b"
    active_from: 2024-01-01
    active_to: null
    components:
      - kind: ladder
        code: water
        label: 水费
        basis: month
        blocks: [{upto: 10, price: "2.05"}, {upto: 20, price: "3.1"}, {price: "5.00"}]
      - {kind: flat, code: sewage, label: "污水\\\\处理费", price: "0.9500", receivable: "ON_BEHALF:SEWAGE"}
      - {kind: fixed, code: meter, label: 水表费, amount: "2.50", per: meter, by_size: {DN15: "1.50"}}
      - {kind: minimum, code: min, label: 最低消费, amount: "30.00", of: [water]}
"""


def test_every_line_the_run_writes_is_the_reference_engines(org):
    """The columnar path (integer rating, numpy-formatted COPY) writes exactly the lines, amounts,
    quantities, prices and explanations the Decimal reference gives."""
    from ucis.customers.models import Meter
    from ucis.tariffs import rating
    from ucis.tariffs import selectors as tariff_selectors

    site = make_site(org)
    Meter.objects.filter(serial="WM00001").update(size="DN15")  # priced by size
    sizes = {a.pk: "DN15" if n == 1 else "" for n, a in enumerate(site.accounts)}
    tariff_services.tariff_import(actor=SYSTEM, text=RICH_TARIFF, reason="price book")
    metering_services.read_cycle_open(actor=SYSTEM, company_id=org.water.pk, period="2025-02")
    meter_reads_record(actor=SYSTEM, source="hand", today=TODAY, reads=[
        ReadInput("WM00000", date(2025, 2, 10), "3"), ReadInput("WM00001", date(2025, 2, 10), "15.125"),
        ReadInput("WM00002", date(2025, 2, 10), "31.5")])
    run = services.bill_run_start(actor=SYSTEM, company_id=org.water.pk, commodity="water", period="2025-02")
    services.bill_run_calculate(actor=SYSTEM, run_id=run.pk)
    (_tariff, versions), = tariff_selectors.tariffs_by_type(company_id=org.water.pk, commodity="water")["resident"]
    for bill in Bill.objects.filter(run=run):
        expected = rating.rate(versions, rating.Account(bill.period_from, bill.period_to, {"total": bill.usage},
                                                        meter_size=sizes[bill.account_id]))
        lines = list(BillLine.objects.filter(bill=bill).order_by("seq"))
        assert [(ln.code, ln.label, ln.block, ln.quantity, ln.price, ln.amount, ln.receivable, ln.version)
                for ln in lines] == [(e.code, e.label, e.block, e.quantity, e.price, e.amount, e.receivable, e.version)
                                     for e in expected]
        assert bill.total == rating.total(expected) == sum(ln.amount for ln in lines)
        assert [ln.seq for ln in lines] == list(range(1, len(lines) + 1))
        for ln in lines:
            params = ln.explanation["params"]
            assert params["label"] == ln.label and params["version"] == "2025b"
            if ln.block:
                assert (params["block"], D(params["quantity"]), D(params["price"])) == (ln.block, ln.quantity,
                                                                                          ln.price)
                assert params["days"] == (bill.period_to - bill.period_from).days
    assert {ln.code for ln in BillLine.objects.filter(bill__run=run)} >= {"water", "sewage", "meter", "min"}
    assert sorted(BillLine.objects.filter(bill__run=run, code="meter").values_list("price", flat=True)) == [
        D("1.50"), D("2.50"), D("2.50")]


@pytest.mark.parametrize("read", [["WM00000"], []])
def test_accounts_without_a_read_are_exceptions(org, read):
    from ucis.billing import models

    site = make_site(org)
    tariff_services.tariff_import(actor=SYSTEM, text=TARIFF, reason="price book")
    metering_services.read_cycle_open(actor=SYSTEM, company_id=org.water.pk, period="2025-02")
    meter_reads_record(actor=SYSTEM, source="hand", today=TODAY,
                       reads=[ReadInput(serial, date(2025, 2, 10), "8") for serial in read])
    run = services.bill_run_start(actor=SYSTEM, company_id=org.water.pk, commodity="water", period="2025-02")
    done = services.bill_run_calculate(actor=SYSTEM, run_id=run.pk)
    assert done == {"billed": len(read), "exception": 3 - len(read)}
    unread = {a.pk for a in site.accounts[len(read):]}
    assert dict(BillRunItem.objects.filter(run=run, status="exception").values_list("account_id", "reason")) == {
        a: models.NO_READ for a in unread}
    assert set(Bill.objects.filter(run=run).values_list("account_id", flat=True)) == {
        a.pk for a in site.accounts[:len(read)]}
