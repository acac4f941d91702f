"""Regression: the route, cycle, special-read and apportionment services lock rows with
SELECT … FOR UPDATE; outside a transaction (a web request, the command line) that used to raise
TransactionManagementError. They now open their own transaction."""

from __future__ import annotations

from datetime import date

import pytest

from ucis.metering import services
from ucis.metering.models import ReadCycle, Route, RouteStop
from ucis.platform.tenancy import SYSTEM

pytestmark = pytest.mark.django_db(transaction=True)


def test_route_and_cycle_services_work_in_autocommit(site):
    sp0, sp1, sp2 = (p.pk for p in site.points)
    services.route_reorder(actor=SYSTEM, route_id=site.route.pk, service_point_ids=[sp2, sp1, sp0], reason="back")
    new = services.route_split(actor=SYSTEM, route_id=site.route.pk, from_service_point_id=sp0, code="R-B-009",
                               name="split", reason="long")
    services.route_merge(actor=SYSTEM, target_id=site.route.pk, source_id=new.pk, reason="short again")
    services.route_stops_assign(actor=SYSTEM, route_id=site.route.pk, service_point_ids=[sp2], reason="end")
    order = list(RouteStop.objects.filter(route=site.route).order_by("sequence").values_list("service_point_id",
                                                                                             flat=True))
    assert order == [sp1, sp0, sp2] and not Route.objects.get(pk=new.pk).active
    cycle = services.read_cycle_open(actor=SYSTEM, company_id=site.org.water.pk, period="2026-11")[0]
    services.read_cycle_close(actor=SYSTEM, cycle_ids=[cycle.pk], today=date(2026, 11, 23))
    assert ReadCycle.objects.get().status == "closed"
