"""Meter reading in headless Chromium: fast keyboard hand entry of a route sheet (Enter/↓/↑ move
between rows, each row saved by htmx on leaving it, usage and flags shown at once) and a batch
accept in the review queue. Assertions use ``data-testid`` hooks, numbers and flag codes."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from decimal import Decimal
from typing import Any

import pytest
from playwright.sync_api import Page, expect

from tests.browser.test_staff_ui import login

pytestmark = pytest.mark.browser


@dataclass
class ReadingSite:
    reader: Any
    route: Any
    cycle: Any
    points: list
    today: Any


@pytest.fixture
def reading_site(browser_org) -> ReadingSite:
    """Three water households of branch A on one route read by reader.a, with a year of monthly
    reads (10 each) and this month's cycle open."""
    from django.utils import timezone

    from ucis.customers import services as customer_services
    from ucis.customers.services import AccountInput, CustomerInput
    from ucis.metering import services
    from ucis.metering.reads import ReadInput, meter_reads_record
    from ucis.org import services as org_services
    from ucis.platform.tenancy import SYSTEM

    today = timezone.localdate()
    reader = org_services.staff_create(actor=SYSTEM, username="reader.a", password=browser_org.password,
                                       node_id=browser_org.branch_a.pk, roles=["meter_reader"])
    area = customer_services.address_area_get_or_create(actor=SYSTEM, levels=[
        ("district", "BD01", "城东区"), ("community", "BD01-C01", "幸福小区")])
    points, reads = [], []
    installed = today - timedelta(days=500)
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
        reads += [ReadInput(meter.serial, today - timedelta(days=30 * k), str(10 * (15 - k))) for k in range(14, 0, -1)]
    meter_reads_record(actor=SYSTEM, reads=reads, source="handheld", today=today)
    route = services.route_create(actor=SYSTEM, data=services.RouteInput(
        code="BR-A-01", name="幸福小区", node_id=browser_org.branch_a.pk, commodity="water", reader_id=reader.pk,
        read_day=min(today.day, 28)))
    services.route_stops_assign(actor=SYSTEM, route_id=route.pk, service_point_ids=[p.pk for p in points],
                                reason="new route")
    cycle = services.read_cycle_open(actor=SYSTEM, company_id=browser_org.company.pk, period=today.replace(day=1))[0]
    return ReadingSite(reader=reader, route=route, cycle=cycle, points=points, today=today)


def _row(page: Page, n: int):
    return page.locator("[data-testid=entry-row]").nth(n)


def test_fast_keyboard_hand_entry_saves_rows_and_shows_usage_and_flags(page: Page, reading_site, browser_org):
    from ucis.metering.models import MeterRead

    login(page, "reader.a", browser_org.password)
    page.goto(f"/metering/cycles/{reading_site.cycle.pk}/entry/")
    first = _row(page, 0).locator("input.reading")
    expect(first).to_be_focused()  # the sheet starts at the first stop without a reading

    page.keyboard.type("145")
    page.keyboard.press("Enter")
    expect(_row(page, 1).locator("input.reading")).to_be_focused()
    expect(_row(page, 0).locator("[data-testid=entry-usage]")).to_contain_text("5.000")
    expect(_row(page, 0).locator("[data-testid=entry-flags]")).to_have_count(0)

    page.keyboard.type("400")
    page.keyboard.press("ArrowDown")
    expect(_row(page, 2).locator("input.reading")).to_be_focused()
    flags = _row(page, 1).locator("[data-testid=entry-flags]")
    expect(flags).to_contain_text("HIGH")
    expect(_row(page, 1).locator("[data-testid=entry-usage]")).to_contain_text("260.000")

    page.keyboard.press("ArrowUp")
    expect(_row(page, 1).locator("input.reading")).to_be_focused()
    page.keyboard.press("ArrowDown")  # unchanged row: left without saving again
    page.keyboard.type("12a")
    page.keyboard.press("Enter")  # the last row: saved in place
    refused = _row(page, 2).locator("[data-testid=entry-refused]")
    expect(refused).to_be_visible()
    assert refused.evaluate("el => getComputedStyle(el).color") == "rgb(180, 35, 24)"  # shown in red

    reads = {r.service_point_id: r for r in MeterRead.objects.filter(cycle=reading_site.cycle)}
    assert set(reads) == {reading_site.points[0].pk, reading_site.points[1].pk}
    assert reads[reading_site.points[0].pk].usage == Decimal(5)
    assert reads[reading_site.points[1].pk].status == "pending"

    # Reloading shows the saved rows; pressing through them again stores nothing twice.
    page.reload()
    expect(_row(page, 1).locator("[data-testid=entry-flags]")).to_contain_text("HIGH")
    expect(_row(page, 2).locator("input.reading")).to_be_focused()
    assert MeterRead.objects.filter(cycle=reading_site.cycle).count() == 2

    # A save that never reaches the server is shown, and retried when the row is left again.
    page.route("**/entry/row/", lambda route: route.abort())
    page.keyboard.type("150")
    page.keyboard.press("ArrowUp")
    expect(_row(page, 2).locator("[data-testid=entry-not-saved]")).to_be_visible()
    page.unroute("**/entry/row/")
    page.keyboard.press("ArrowDown")
    page.keyboard.press("ArrowUp")
    expect(_row(page, 2).locator("[data-testid=entry-usage]")).to_contain_text("10.000")
    assert MeterRead.objects.filter(cycle=reading_site.cycle).count() == 3


def test_review_queue_batch_accept(page: Page, reading_site, browser_org):
    from ucis.metering import services
    from ucis.metering.models import MeterRead, ReadReview

    services.cycle_reads_enter(actor=reading_site.reader, cycle_id=reading_site.cycle.pk, today=reading_site.today,
                               entries=[services.HandEntry(p.pk, r) for p, r in
                                        zip(reading_site.points[:2], ("400", "500"), strict=True)])
    assert ReadReview.objects.filter(status="open").count() == 2
    login(page, "admin.a", browser_org.password)
    page.goto("/metering/review/")
    rows = page.locator("[data-testid=review-row]")
    expect(rows).to_have_count(2)
    expect(page.locator("[data-testid=review-flags]").first).to_contain_text("HIGH")
    expect(page.locator("svg.sparkline").first).to_be_visible()
    page.locator("[data-testid=review-select-all]").check()
    page.locator("[data-testid=review-action]").select_option("accept")
    page.locator("[data-testid=review-note]").fill("swimming pool filled")
    page.locator("[data-testid=review-decide]").click()
    expect(page.locator("[data-testid=review-empty]")).to_be_visible()
    assert set(ReadReview.objects.values_list("status", flat=True)) == {"accepted"}
    assert set(MeterRead.objects.filter(cycle=reading_site.cycle).values_list("status", flat=True)) == {"accepted"}
    page.goto("/metering/review/?status=decided")
    expect(page.locator("[data-testid=review-row]")).to_have_count(2)
    expect(page.locator("[data-testid=review-decided]")).to_contain_text("swimming pool filled")
