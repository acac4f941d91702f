"""Fixtures of the metering tests: water service points of one station with meters, on one route."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal

import pytest

from ucis.customers import services as customer_services
from ucis.customers.services import AccountInput, CustomerInput
from ucis.metering import services
from ucis.platform.tenancy import SYSTEM

TODAY = date(2026, 11, 23)


@dataclass
class Site:
    org: object
    reader: object
    route: object
    accounts: list = field(default_factory=list)
    points: list = field(default_factory=list)
    meters: list = field(default_factory=list)


def make_site(org, *, households: int = 3, installed: date = date(2025, 1, 5), digits: int = 5) -> Site:
    from conftest import PASSWORD
    from ucis.org import services as org_services

    reader = org_services.staff_create(actor=SYSTEM, username="reader.b", password=PASSWORD,
                                       node_id=org.station_b.pk, roles=["meter_reader"])
    area = customer_services.address_area_get_or_create(actor=SYSTEM, levels=[
        ("district", "D01", "城东区"), ("street", "D01-S01", "解放路街道"), ("community", "D01-S01-C01", "幸福小区"),
        ("building", "D01-S01-C01-B03", "3幢")])
    site = Site(org=org, reader=reader, route=None)
    for n in range(households):
        premise = customer_services.premise_create(actor=SYSTEM, area_code=area.code, room=f"{n + 1}01",
                                                   floor_area=Decimal(60 + 10 * n), residents=3)
        account = customer_services.account_open(
            actor=SYSTEM, customer_id=None,
            new_customer=CustomerInput(name=f"住户{n}", customer_type="resident", phone=f"1381234{n:04d}"),
            data=AccountInput(node_id=org.station_b.pk, premise_id=premise.pk, commodities=("water",)),
            today=installed)
        point = account.agreements.get().service_point
        meter = customer_services.meter_register(actor=SYSTEM, node_id=org.station_b.pk, serial=f"WM{n:05d}",
                                                 commodity="water", meter_type="mechanical", dial_digits=digits)
        customer_services.meter_install(actor=SYSTEM, meter_id=meter.pk, service_point_id=point.pk,
                                        installed_date=installed, install_reading=Decimal("0"))
        site.accounts.append(account)
        site.points.append(point)
        site.meters.append(meter)
    site.route = services.route_create(actor=SYSTEM, data=services.RouteInput(
        code="R-B-001", name="幸福小区3幢", node_id=org.station_b.pk, commodity="water", reader_id=reader.pk))
    services.route_stops_assign(actor=SYSTEM, route_id=site.route.pk, service_point_ids=[p.pk for p in site.points],
                                reason="new route")
    return site


@pytest.fixture
def site(org) -> Site:
    return make_site(org)


def monthly_history(site: Site, *, today: date, months: int = 14, usage: int = 10) -> None:
    """Accepted reads every 30 days up to 30 days before ``today`` (``usage`` each), so validation
    has a year of history: a normal read after them is clean, one far above is HIGH."""
    from datetime import timedelta

    from ucis.metering.reads import ReadInput, meter_reads_record

    reads = [ReadInput(meter.serial, today - timedelta(days=30 * k), str(usage * (months + 1 - k)))
             for meter in site.meters for k in range(months, 0, -1)]
    result = meter_reads_record(actor=SYSTEM, reads=reads, source="handheld", today=today)
    assert result.stored == len(reads), result.rejected


def open_cycle(site: Site, *, today: date):
    """This month's cycle of the site's route, its reading day set to today (so reads are in it)."""
    from ucis.metering.models import Route

    Route.objects.filter(pk=site.route.pk).update(read_day=min(today.day, 28))
    return services.read_cycle_open(actor=SYSTEM, company_id=site.org.water.pk, period=today.replace(day=1))[0]
