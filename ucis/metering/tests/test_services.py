"""Routes, cycles, the review queue gating billing, estimation and its true-up, special reads, apportionment."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

import pytest
from django.http import Http404

from ucis.kernel.errors import DomainError
from ucis.metering import review, services
from ucis.metering.models import (
    ApportionShare,
    MeterRead,
    ReadCycle,
    ReadReview,
    RereadOrder,
    Route,
    RouteStop,
)
from ucis.metering.reads import ReadInput, meter_reads_record
from ucis.platform.tenancy import SYSTEM

from .conftest import TODAY

pytestmark = pytest.mark.django_db


def record(actor, *reads, source="hand", today=TODAY):
    return meter_reads_record(actor=actor, reads=list(reads), source=source, today=today)


def monthly_history(site, serial="WM00000", months=range(2, 13), step=Decimal(10), year=2025):
    reading = Decimal(0)
    for month in months:
        reading += step
        assert record(SYSTEM, ReadInput(serial, date(year, month, 5), str(reading))).stored == 1
    return reading


# --- routes -------------------------------------------------------------------------------------------


def test_split_merge_and_reassign_keep_walking_order(site, org):
    route = site.route
    points = [p.pk for p in site.points]
    new = services.route_split(actor=SYSTEM, route_id=route.pk, from_service_point_id=points[1], code="R-B-002",
                               name="3幢东", reason="too long for one day")
    assert list(route.stops.order_by("sequence").values_list("service_point_id", flat=True)) == points[:1]
    assert list(new.stops.order_by("sequence").values_list("service_point_id", flat=True)) == points[1:]
    assert new.reader_id == site.reader.pk
    services.route_merge(actor=SYSTEM, target_id=new.pk, source_id=route.pk, reason="reader left")
    assert list(new.stops.order_by("sequence").values_list("service_point_id", flat=True)) == points[1:] + points[:1]
    assert not Route.objects.get(pk=route.pk).active
    services.route_reorder(actor=SYSTEM, route_id=new.pk, service_point_ids=points, reason="new walking order")
    assert list(new.stops.order_by("sequence").values_list("service_point_id", flat=True)) == points
    services.route_reassign(actor=SYSTEM, route_ids=[new.pk], reader_id=org.clerk_b.pk, reason="holiday cover")
    assert Route.objects.get(pk=new.pk).reader_id == org.clerk_b.pk


def test_route_changes_need_a_reason_and_stay_in_the_subtree(site, org):
    with pytest.raises(DomainError) as err:
        services.route_reorder(actor=SYSTEM, route_id=site.route.pk, service_point_ids=[], reason=" ")
    assert err.value.problems[0].field == "reason"
    with pytest.raises(Http404):
        services.route_reassign(actor=org.admin_a, route_ids=[site.route.pk], reader_id=None, reason="x")
    with pytest.raises(DomainError) as err:
        services.route_reorder(actor=SYSTEM, route_id=site.route.pk, service_point_ids=[site.points[0].pk],
                               reason="x")
    assert "every stop" in err.value.problems[0].reason


def test_a_service_point_moves_between_routes_not_onto_two(site, org):
    other = services.route_create(actor=SYSTEM, data=services.RouteInput(
        code="R-B-009", name="别的", node_id=org.station_b.pk, commodity="water"))
    services.route_stops_assign(actor=SYSTEM, route_id=other.pk, service_point_ids=[site.points[2].pk], reason="move")
    assert RouteStop.objects.get(service_point_id=site.points[2].pk).route_id == other.pk
    assert site.route.stops.count() == 2


def test_wrong_commodity_cannot_join_a_route(site, org):
    power_route = services.route_create(actor=SYSTEM, data=services.RouteInput(
        code="R-E-001", name="电", node_id=org.power.pk, commodity="electricity"))
    with pytest.raises(DomainError) as err:
        services.route_stops_assign(actor=SYSTEM, route_id=power_route.pk, service_point_ids=[site.points[0].pk],
                                    reason="x")
    assert err.value.problems[0].field == "service_point_ids[0]"


# --- cycles and the review queue -------------------------------------------------------------------------


def test_cycles_open_for_due_routes_and_reads_outside_the_window_are_flagged(site, org):
    bimonthly = services.route_create(actor=SYSTEM, data=services.RouteInput(
        code="R-B-002", name="双月", node_id=org.station_b.pk, commodity="water", cycle_months=2, cycle_parity=0))
    cycles = services.read_cycle_open(actor=SYSTEM, company_id=org.water.pk, period="2025-03")
    assert [c.route_id for c in cycles] == [site.route.pk]  # March is odd: the even-month route waits
    assert services.read_cycle_open(actor=SYSTEM, company_id=org.water.pk, period="2025-03") == cycles
    cycle = cycles[0]
    assert (cycle.scheduled_date, cycle.window_from, cycle.window_to) == (
        date(2025, 3, 10), date(2025, 3, 7), date(2025, 3, 18))
    assert {c.route_id for c in services.read_cycle_open(actor=SYSTEM, company_id=org.water.pk, period="2025-04")} == {
        site.route.pk, bimonthly.pk}
    result = record(site.reader, ReadInput("WM00000", date(2025, 3, 25), "10"))
    read = MeterRead.objects.get(pk=result.outcomes[0].read_id)
    assert "OUT_OF_CYCLE" in result.outcomes[0].codes and read.status == "pending"


def test_closing_a_cycle_queues_missing_reads_and_new_business(site, org):
    from ucis.customers import services as customer_services

    record(site.reader, *(ReadInput(f"WM0000{n}", date(2025, 1, 10), "1") for n in range(3)))
    cycle = services.read_cycle_open(actor=SYSTEM, company_id=org.water.pk, period="2025-02")[0]
    record(site.reader, ReadInput("WM00000", date(2025, 2, 9), "10"), ReadInput("WM00001", date(2025, 2, 10), "10"))
    spare = customer_services.meter_register(actor=SYSTEM, node_id=org.station_b.pk, serial="WM77777",
                                             commodity="water", meter_type="smart")
    customer_services.meter_replace(actor=SYSTEM, meter_id=site.meters[1].pk, new_meter_id=spare.pk,
                                    replaced_date=date(2025, 2, 12), removal_reading=Decimal(12),
                                    install_reading=Decimal(0), reason="broken glass")
    counts = services.read_cycle_close(actor=SYSTEM, cycle_ids=[cycle.pk], today=TODAY)
    assert counts == {"no_read": 1, "new_business": 1}
    queue = {r.service_point_id: r.reasons for r in ReadReview.objects.filter(status="open")}
    assert queue == {site.points[2].pk: ["no_read"], site.points[1].pk: ["new_business"]}
    assert ReadCycle.objects.get(pk=cycle.pk).status == "closed"
    with pytest.raises(DomainError) as err:
        review.billing_gate_check(period=date(2025, 2, 1))
    assert "2 service point(s) still wait in the review queue for 2025-02" in err.value.problems[0].reason
    review.billing_gate_check(period=date(2025, 2, 1), service_point_ids=[site.points[0].pk])


def test_review_accept_then_the_gate_opens(site):
    monthly_history(site, months=range(2, 6))
    result = record(site.reader, ReadInput("WM00000", date(2025, 6, 5), "200"))
    assert "HIGH" in result.outcomes[0].codes
    entry = ReadReview.objects.get(status="open")
    with pytest.raises(DomainError):
        review.billing_gate_check(period=date(2025, 6, 1))
    with pytest.raises(DomainError) as err:
        services.read_review_decide(actor=SYSTEM, review_ids=[entry.pk], action="accept", note="", today=TODAY)
    assert err.value.problems[0].field == "reason"
    services.read_review_decide(actor=SYSTEM, review_ids=[entry.pk], action="accept", note="pool filled",
                                today=TODAY)
    review.billing_gate_check(period=date(2025, 6, 1))
    assert MeterRead.objects.get(pk=entry.read_id).status == "accepted"
    with pytest.raises(DomainError) as err:
        services.read_review_decide(actor=SYSTEM, review_ids=[entry.pk], action="accept", note="again", today=TODAY)
    assert "already decided" in err.value.problems[0].reason


def test_review_correct_supersedes_the_read(site):
    monthly_history(site, months=range(2, 6))
    record(site.reader, ReadInput("WM00000", date(2025, 6, 5), "400"))
    entry = ReadReview.objects.get(status="open")
    services.read_review_decide(actor=SYSTEM, review_ids=[entry.pk], action="correct", note="typo, 4 for 5",
                                reading="50", today=TODAY)
    old = MeterRead.objects.get(reading=400)
    new = MeterRead.objects.get(reading=50)
    assert old.status == "superseded" and new.status == "accepted" and new.supersedes_id == old.pk
    assert new.usage == Decimal(10) and new.source == "review"
    entry.refresh_from_db()
    assert entry.status == "corrected" and entry.read_id == new.pk


def test_review_reread_creates_an_order_that_a_new_read_closes(site):
    monthly_history(site, months=range(2, 6))
    record(site.reader, ReadInput("WM00000", date(2025, 6, 5), "41"))  # LOW: 1 in a month
    entry = ReadReview.objects.get(status="open")
    services.read_review_decide(actor=SYSTEM, review_ids=[entry.pk], action="reread", note="check the dial",
                                today=date(2025, 6, 6), due_date=date(2025, 6, 9))
    order = RereadOrder.objects.get()
    assert order.status == "open" and order.reader_id == site.reader.pk and order.due_date == date(2025, 6, 9)
    assert MeterRead.objects.get(pk=entry.read_id).status == "rejected"
    record(site.reader, ReadInput("WM00000", date(2025, 6, 8), "50"))
    order.refresh_from_db()
    assert order.status == "done" and order.read.reading == 50


def test_estimate_then_true_up_when_the_real_read_arrives(site, org):
    monthly_history(site, months=range(2, 6))  # 10 a month, Feb to May
    cycle = services.read_cycle_open(actor=SYSTEM, company_id=org.water.pk, period="2025-06")[0]
    services.read_cycle_close(actor=SYSTEM, cycle_ids=[cycle.pk], today=date(2025, 6, 20))
    entry = ReadReview.objects.get(service_point=site.points[0], status="open")
    assert entry.reasons == ["no_read"]
    services.read_review_decide(actor=SYSTEM, review_ids=[entry.pk], action="estimate", note="gate locked",
                                today=date(2025, 6, 20))
    estimate = MeterRead.objects.get(kind="estimated")
    assert estimate.read_date == date(2025, 6, 10) and estimate.status == "accepted"
    assert estimate.usage == Decimal("12.135")  # 36 days × 30 / 89 days, the last three months
    assert estimate.findings[0]["code"] == "ESTIMATED"
    # July's real read replaces the June estimate; the estimate was billed, so it is carried back.
    services.read_cycle_open(actor=SYSTEM, company_id=org.water.pk, period="2025-07")
    result = record(site.reader, ReadInput("WM00000", date(2025, 7, 10), "61"))
    real = MeterRead.objects.get(pk=result.outcomes[0].read_id)
    assert real.previous_reading == 40 and real.usage == Decimal(21)
    assert real.carried_usage == Decimal("-12.135")
    assert real.usage + real.carried_usage == Decimal("8.865")
    assert MeterRead.objects.get(pk=estimate.pk).status == "superseded"
    assert real.findings[-1]["code"] == "TRUE_UP"


def test_a_late_read_in_the_same_cycle_replaces_the_estimate_without_carrying(site, org):
    monthly_history(site, months=range(2, 6))
    cycle = services.read_cycle_open(actor=SYSTEM, company_id=org.water.pk, period="2025-06")[0]
    services.read_cycle_close(actor=SYSTEM, cycle_ids=[cycle.pk], today=date(2025, 6, 20))
    entry = ReadReview.objects.get(service_point=site.points[0], status="open")
    services.read_review_decide(actor=SYSTEM, review_ids=[entry.pk], action="estimate", note="gate locked",
                                today=date(2025, 6, 20))
    result = record(site.reader, ReadInput("WM00000", date(2025, 6, 15), "51"))
    real = MeterRead.objects.get(pk=result.outcomes[0].read_id)
    assert real.carried_usage == 0 and real.usage == 11
    assert MeterRead.objects.get(kind="estimated").status == "superseded"


def test_bill_corrected_accounts_are_queued_for_the_next_cycle(site):
    review.read_review_require(service_points=[(site.points[0].pk, site.org.station_b.pk)],
                               period=date(2025, 7, 1), reason="bill_corrected")
    record(site.reader, ReadInput("WM00000", date(2025, 7, 10), "10"))
    entry = ReadReview.objects.get()
    # A clean read does not clear a reason that needs a person.
    assert entry.status == "open" and entry.reasons == ["bill_corrected"] and entry.read is not None


# --- special reads (MTR-5) -------------------------------------------------------------------------------


def test_special_read_on_a_tariff_change_date_is_actual_or_derived_by_days(site, org):
    record(SYSTEM, ReadInput("WM00000", date(2025, 6, 1), "100"), ReadInput("WM00000", date(2025, 7, 1), "130"),
           ReadInput("WM00001", date(2025, 6, 1), "100"), ReadInput("WM00001", date(2025, 6, 16), "118"),
           ReadInput("WM00001", date(2025, 7, 1), "130"))
    schedule = services.special_read_schedule(actor=SYSTEM, company_id=org.water.pk, commodity="water",
                                              read_date=date(2025, 6, 16), reason="水价调整 2025-06-16")
    counts = services.special_reads_derive(actor=SYSTEM, schedule_id=schedule.pk, today=TODAY)
    assert counts == {"actual": 1, "derived": 1, "waiting": 1}
    points = {p.service_point_id: p for p in schedule.points.all()}
    assert points[site.points[1].pk].reading == 118 and not points[site.points[1].pk].derived
    derived = points[site.points[0].pk]
    assert derived.derived and derived.reading == Decimal("115.000")  # 15 of 30 days of 30
    assert services.special_reads_derive(actor=SYSTEM, schedule_id=schedule.pk, today=TODAY)["derived"] == 0
    with pytest.raises(DomainError):
        services.special_read_schedule(actor=SYSTEM, company_id=org.water.pk, commodity="water",
                                       read_date=date(2025, 6, 16), reason="again")


# --- apportionment (MTR-6) -------------------------------------------------------------------------------


def test_booster_pump_cost_is_shared_by_usage_exactly(site, org):
    from ucis.customers import services as customer_services

    master_premise = customer_services.premise_create(actor=SYSTEM, area_code="D01-S01-C01", room="泵房")
    pump = customer_services.account_open(
        actor=SYSTEM, customer_id=None,
        new_customer=customer_services.CustomerInput(name="幸福小区物业", customer_type="non_resident"),
        data=customer_services.AccountInput(node_id=org.station_b.pk, premise_id=master_premise.pk,
                                            commodities=("water",)), today=date(2025, 1, 1))
    master = pump.agreements.get().service_point
    group = services.apportion_group_create(
        actor=SYSTEM, name="3幢二次加压", master_service_point_id=master.pk, method="usage",
        line_label="二次加压电费", members=[services.MemberInput(p.pk) for p in site.points], today=TODAY,
        reason="pump commissioned")
    cycle = services.read_cycle_open(actor=SYSTEM, company_id=org.water.pk, period="2025-02")[0]
    record(SYSTEM, ReadInput("WM00000", date(2025, 2, 10), "10"), ReadInput("WM00001", date(2025, 2, 10), "10"),
           ReadInput("WM00002", date(2025, 2, 10), "10"))
    assert MeterRead.objects.filter(cycle=cycle).count() == 3
    shares = services.apportion_run(actor=SYSTEM, group_id=group.pk, period="2025-02", cost="100.00",
                                    reason="February pump bill")
    assert [s.amount for s in shares] == [Decimal("33.34"), Decimal("33.33"), Decimal("33.33")]
    assert sum(s.amount for s in shares) == Decimal("100.00")
    assert shares[0].account_id == site.accounts[0].pk
    again = services.apportion_run(actor=SYSTEM, group_id=group.pk, period="2025-02", cost="100.00", reason="x")
    assert [s.pk for s in again] == [s.pk for s in shares] and ApportionShare.objects.count() == 3


def test_apportion_by_area_needs_areas_and_equal_shares_split_the_odd_fen(site, org):
    group = services.apportion_group_create(
        actor=SYSTEM, name="公摊", master_service_point_id=site.points[0].pk, method="area", line_label="公摊水费",
        members=[services.MemberInput(p.pk) for p in site.points[1:]], today=TODAY, reason="shared meter")
    shares = services.apportion_run(actor=SYSTEM, group_id=group.pk, period="2025-02", cost="10", reason="x")
    # floor areas 70 and 80 m²
    assert [s.amount for s in shares] == [Decimal("4.67"), Decimal("5.33")]
    with pytest.raises(DomainError) as err:
        services.apportion_group_create(actor=SYSTEM, name="x", master_service_point_id=site.points[0].pk,
                                        method="volume", line_label="x", members=[], today=TODAY, reason="x")
    assert err.value.problems[0].field == "method"
