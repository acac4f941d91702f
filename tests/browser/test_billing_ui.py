"""Bill runs in headless Chromium: a billing clerk starts a month's run, the run page's progress
bar (polled by htmx) reaches 100 %, another person approves and issues it, and a bill shows its
explained lines; a counter clerk simulates a bill with the company's tariff."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

import pytest
from playwright.sync_api import Page, expect

from tests.browser.test_staff_ui import login

pytestmark = pytest.mark.browser

TARIFF = """
code: BW-RES
name: 居民生活用水
company: BW
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
def billing_site(browser_org):
    """Three households of branch A on one route, read on 2025-02-10 (8, 15 and 25 m³), the tariff
    imported, and a billing clerk and an approver at the company."""
    from ucis.customers import services as customer_services
    from ucis.customers.services import AccountInput, CustomerInput
    from ucis.metering import services
    from ucis.metering.reads import ReadInput, meter_reads_record
    from ucis.org import services as org_services
    from ucis.platform.tenancy import SYSTEM
    from ucis.tariffs import services as tariff_services

    installed = date(2025, 1, 5)
    area = customer_services.address_area_get_or_create(actor=SYSTEM, levels=[("district", "BD01", "城东区")])
    points = []
    for n in range(3):
        premise = customer_services.premise_create(actor=SYSTEM, area_code=area.code, room=f"{n + 1}01")
        account = customer_services.account_open(
            actor=SYSTEM, customer_id=None, new_customer=CustomerInput(name=f"住户{n}", customer_type="resident"),
            data=AccountInput(node_id=browser_org.branch_a.pk, premise_id=premise.pk, commodities=("water",)),
            today=installed)
        point = account.agreements.get().service_point
        meter = customer_services.meter_register(actor=SYSTEM, node_id=browser_org.branch_a.pk, serial=f"BM{n:05d}",
                                                 commodity="water", meter_type="mechanical", dial_digits=5)
        customer_services.meter_install(actor=SYSTEM, meter_id=meter.pk, service_point_id=point.pk,
                                        installed_date=installed, install_reading=Decimal("0"))
        points.append(point)
    route = services.route_create(actor=SYSTEM, data=services.RouteInput(
        code="BR-A-01", name="城东区", node_id=browser_org.branch_a.pk, commodity="water"))
    services.route_stops_assign(actor=SYSTEM, route_id=route.pk, service_point_ids=[p.pk for p in points],
                                reason="new route")
    tariff = tariff_services.tariff_import(actor=SYSTEM, text=TARIFF, reason="price book").tariff
    services.read_cycle_open(actor=SYSTEM, company_id=browser_org.company.pk, period="2025-02")
    meter_reads_record(actor=SYSTEM, source="hand", today=date(2026, 11, 23), reads=[
        ReadInput("BM00000", date(2025, 2, 10), "8"), ReadInput("BM00001", date(2025, 2, 10), "15"),
        ReadInput("BM00002", date(2025, 2, 10), "25")])
    for username, roles in (("billing.bw", ["billing_clerk"]), ("approver.bw", ["billing_approver"])):
        org_services.staff_create(actor=SYSTEM, username=username, password=browser_org.password,
                                  node_id=browser_org.company.pk, roles=roles)
    return {"route": route, "tariff": tariff}


def test_start_a_bill_run_watch_it_finish_then_approve_and_issue(page: Page, billing_site, browser_org, settings):
    settings.UCIS_TASKS_IN_THREAD = True  # calculate in a server thread, as the demo does; the page polls
    login(page, "billing.bw", browser_org.password)
    page.click("[data-testid=nav-billing]")
    page.goto("/billing/runs/")
    form = page.locator("[data-testid=run-start]")
    form.locator("select[name=company_id]").select_option(str(browser_org.company.pk))
    form.locator("input[name=period]").fill("2025-02")
    form.locator("button.primary").click()
    progress = page.locator("[data-testid=run-progress]")
    expect(progress).to_be_visible()
    # The bar is polled until the run is calculated; then the page shows the totals.
    expect(page.locator("[data-testid=run-total]")).to_contain_text("171.60", timeout=30_000)
    expect(page.locator("[data-testid=run-progress]")).to_have_attribute("data-percent", "100")
    expect(page.locator("[data-testid=run-status]")).to_have_attribute("data-status", "calculated")
    expect(page.locator("[data-testid=run-bill]")).to_have_count(3)
    run_url = page.url

    page.context.clear_cookies()
    login(page, "approver.bw", browser_org.password)
    page.goto(run_url)
    page.click("[data-testid=run-approve]")
    expect(page.locator("[data-testid=run-status]")).to_have_attribute("data-status", "approved")
    page.click("[data-testid=run-issue]")
    expect(page.locator("[data-testid=run-status]")).to_have_attribute("data-status", "issued")
    page.locator("[data-testid=run-bill] a").last.click()
    expect(page.locator("[data-testid=bill-total]")).to_have_text("98.75")
    expect(page.locator("[data-testid=bill-line]")).to_have_count(4)


def test_simulation_form_shows_the_lines_and_the_total(page: Page, billing_site, browser_org):
    login(page, "admin.a", browser_org.password)
    page.goto(f"/tariffs/{billing_site['tariff'].pk}/simulate/")
    form = page.locator("[data-testid=simulate-form]")
    form.locator("input[name=period_from]").fill("2025-01-10")
    form.locator("input[name=period_to]").fill("2025-02-10")
    form.locator("input[name=total]").fill("15")
    form.locator("button.primary").click()
    expect(page.locator("[data-testid=simulate-line]")).to_have_count(3)
    expect(page.locator("[data-testid=simulate-total]")).to_have_text("49.25")
