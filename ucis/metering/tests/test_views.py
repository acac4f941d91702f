"""The staff screens of meter reading: routes, cycles, hand entry (htmx rows and the whole sheet),
the review queue, re-read orders — with tenancy (another branch's ids are 404) and permissions."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from ucis.metering import services
from ucis.metering.models import MeterRead, ReadCycle, ReadReview, RereadOrder, Route, RouteStop
from ucis.platform.tenancy import SYSTEM

from .conftest import monthly_history, open_cycle

pytestmark = pytest.mark.django_db


@pytest.fixture
def today():
    return timezone.localdate()


@pytest.fixture
def cycle(site, today):
    monthly_history(site, today=today)
    return open_cycle(site, today=today)


@pytest.fixture
def clerk(org):
    from conftest import PASSWORD
    from ucis.org import services as org_services

    return org_services.staff_create(actor=SYSTEM, username="billing.b", password=PASSWORD,
                                     node_id=org.branch_b.pk, roles=["billing_clerk"])


def row_post(client, cycle, sp, reading, **extra):
    data = {"service_point_id": sp, f"reading-{sp}": reading, **{f"{k}-{sp}": v for k, v in extra.items()}}
    return client.post(f"/metering/cycles/{cycle.pk}/entry/row/", data, HTTP_HX_REQUEST="true",
                       HTTP_ACCEPT_LANGUAGE="en")


def test_pages_render_with_the_nav_for_staff_who_may_see_them(site, cycle, org, login):
    client = login(org.admin_b)
    home = client.get("/").content.decode()
    assert 'data-testid="nav-metering"' in home
    for url in ("/metering/routes/", f"/metering/routes/{site.route.pk}/", "/metering/cycles/",
                f"/metering/cycles/{cycle.pk}/entry/", "/metering/review/", "/metering/review/?status=decided",
                "/metering/rereads/", "/metering/rereads/?all=1", "/metering/routes/new/"):
        response = client.get(url)
        assert response.status_code == 200, url
    detail = client.get(f"/metering/routes/{site.route.pk}/").content.decode()
    assert detail.index("WM00000") < detail.index("WM00001") < detail.index("WM00002")
    assert "住户0" in detail and "幸福小区" in detail
    # A counter clerk has no meter-reading permission: no link, no page.
    clerk = login(org.clerk_b)
    assert 'data-testid="nav-metering"' not in clerk.get("/").content.decode()
    assert clerk.get("/metering/routes/").status_code == 403


def test_another_branch_gets_404_for_routes_cycles_and_reviews(site, cycle, org, login, today):
    services.read_cycle_close(actor=SYSTEM, cycle_ids=[cycle.pk], today=today)
    review = ReadReview.objects.first()
    client = login(org.admin_a)
    for url in (f"/metering/routes/{site.route.pk}/", f"/metering/cycles/{cycle.pk}/entry/",
                f"/metering/review/{review.pk}/correct/"):
        assert client.get(url).status_code == 404, url
        assert client.post(url, {"action": "merge", "reason": "x", "target_id": site.route.pk}).status_code == 404
    assert row_post(client, cycle, site.points[0].pk, "50").status_code == 404
    # Lists hold only the branch's own data.
    assert "R-B-001" not in client.get("/metering/routes/").content.decode()
    assert "R-B-001" not in client.get("/metering/cycles/").content.decode()
    assert "幸福小区" not in client.get("/metering/review/").content.decode()
    assert not MeterRead.objects.filter(cycle=cycle).exists()


def test_hand_entry_row_round_trip_shows_usage_flags_and_refusals(site, cycle, login):
    client = login(site.reader)
    sheet = client.get(f"/metering/cycles/{cycle.pk}/entry/", HTTP_ACCEPT_LANGUAGE="en").content.decode()
    assert "hand-entry.js" in sheet and 'hx-trigger="rowsave"' in sheet and "140.000" in sheet
    sp0, sp1, sp2 = (p.pk for p in site.points)
    normal = row_post(client, cycle, sp0, "145").content.decode()
    assert "usage 5.000" in normal and "Accepted" in normal and "refused" not in normal
    high = row_post(client, cycle, sp1, "400", note="leak?").content.decode()
    assert "Waiting for review" in high and "<strong>HIGH</strong>" in high and "more than 2 times" in high
    assert MeterRead.objects.get(service_point_id=sp1, cycle=cycle).note == "leak?"
    # Saving the same row again is harmless; a different reading for the day is refused plainly.
    again = row_post(client, cycle, sp0, "145").content.decode()
    assert "already saved" in again and MeterRead.objects.filter(service_point_id=sp0, cycle=cycle).count() == 1
    changed = row_post(client, cycle, sp0, "146").content.decode()
    assert 'data-testid="entry-refused"' in changed and "correct it through the review queue" in changed
    bad = row_post(client, cycle, sp2, "12a").content.decode()
    assert 'data-testid="entry-refused"' in bad and "12a is not a number" in bad
    zh = client.post(f"/metering/cycles/{cycle.pk}/entry/row/", {"service_point_id": sp2, f"reading-{sp2}": "12a"},
                     HTTP_ACCEPT_LANGUAGE="zh-hans").content.decode()
    assert 'data-testid="entry-refused"' in zh
    assert ReadReview.objects.get(service_point_id=sp1).reasons == ["flagged"]


def test_whole_sheet_submit_saves_every_row_and_reports(site, cycle, login):
    client = login(site.reader)
    sp0, sp1, sp2 = (p.pk for p in site.points)
    data = {"sp": [sp0, sp1, sp2], f"reading-{sp0}": "145", f"reading-{sp1}": "", f"reading-{sp2}": "-1"}
    page = client.post(f"/metering/cycles/{cycle.pk}/entry/", data, HTTP_ACCEPT_LANGUAGE="en").content.decode()
    assert "1 read(s) saved" in page and "1 refused" in page and "the reading -1 is negative" in page
    assert MeterRead.objects.filter(cycle=cycle).count() == 1
    again = client.post(f"/metering/cycles/{cycle.pk}/entry/", data, HTTP_ACCEPT_LANGUAGE="en").content.decode()
    assert "1 already saved" in again


def test_readers_enter_reads_but_cannot_decide_reviews_or_manage_routes(site, cycle, login, today):
    row_post(login(site.reader), cycle, site.points[1].pk, "400")
    review = ReadReview.objects.get()
    client = login(site.reader)
    assert client.get("/metering/review/").status_code == 200
    assert client.post("/metering/review/", {"review_ids": [review.pk], "action": "accept",
                                             "note": "ok"}).status_code == 403
    assert client.get(f"/metering/review/{review.pk}/correct/").status_code == 403
    assert client.post(f"/metering/routes/{site.route.pk}/", {"action": "reader", "reason": "x"}).status_code == 403
    assert client.get("/metering/routes/new/").status_code == 403
    assert client.post("/metering/cycles/", {"action": "open", "period": "2026-01"}).status_code == 403
    assert ReadReview.objects.get().status == "open"


def test_review_batch_accept_reread_estimate_and_correct(site, cycle, clerk, login, today):
    reader = login(site.reader)
    for n, reading in enumerate(("400", "500", "600")):
        row_post(reader, cycle, site.points[n].pk, reading)
    reviews = list(ReadReview.objects.order_by("service_point_id"))
    assert len(reviews) == 3 and all(r.status == "open" for r in reviews)
    client = login(clerk)
    queue = client.get("/metering/review/", {"flag": "HIGH"}, HTTP_ACCEPT_LANGUAGE="en").content.decode()
    assert queue.count('data-testid="review-row"') == 3 and "more than 2 times" in queue and "<polyline" in queue
    assert client.get("/metering/review/", {"reason": "no_read"}).content.decode().count('data-testid="review-row"') == 0
    assert "not a month" in client.get("/metering/review/", {"period": "soon"},
                                       HTTP_ACCEPT_LANGUAGE="en").content.decode()
    # A decision needs a reason.
    client.post("/metering/review/", {"review_ids": [reviews[0].pk], "action": "accept", "note": ""})
    assert ReadReview.objects.get(pk=reviews[0].pk).status == "open"
    client.post("/metering/review/", {"review_ids": [reviews[0].pk], "action": "accept", "note": "tap left open"})
    accepted = ReadReview.objects.get(pk=reviews[0].pk)
    assert accepted.status == "accepted" and accepted.read.status == "accepted" and accepted.decided_by == clerk
    due = (today + timedelta(days=5)).isoformat()
    client.post("/metering/review/", {"review_ids": [reviews[1].pk], "action": "reread", "note": "check dial",
                                      "due_date": due})
    order = RereadOrder.objects.get()
    assert order.reader == site.reader and order.due_date.isoformat() == due and order.status == "open"
    mine = login(site.reader).get("/metering/rereads/").content.decode()
    assert mine.count('data-testid="reread-row"') == 1 and "check dial" in mine
    client = login(clerk)
    page = client.get(f"/metering/review/{reviews[2].pk}/correct/")
    assert page.status_code == 200
    client.post(f"/metering/review/{reviews[2].pk}/correct/", {"reading": "146", "reason": "typo: 146 not 600"})
    corrected = ReadReview.objects.get(pk=reviews[2].pk)
    assert corrected.status == "corrected" and corrected.read.reading == 146 and corrected.read.status == "accepted"
    decided = client.get("/metering/review/", {"status": "decided"}).content.decode()
    assert decided.count('data-testid="review-row"') == 3 and "typo: 146 not 600" in decided


def test_estimate_from_the_queue(site, cycle, clerk, login, today):
    services.read_cycle_close(actor=SYSTEM, cycle_ids=[cycle.pk], today=today)
    reviews = list(ReadReview.objects.filter(reasons__contains=["no_read"]))
    assert len(reviews) == 3
    client = login(clerk)
    client.post("/metering/review/", {"review_ids": [r.pk for r in reviews], "action": "estimate",
                                      "note": "no access"})
    assert set(ReadReview.objects.values_list("status", flat=True)) == {"estimated"}
    assert MeterRead.objects.filter(kind="estimated").count() == 3


def test_cycles_open_list_progress_and_close(site, org, login, today):
    monthly_history(site, today=today)
    Route.objects.filter(pk=site.route.pk).update(read_day=min(today.day, 28))
    client = login(org.manager_b)
    period = today.strftime("%Y-%m")
    client.post("/metering/cycles/", {"action": "open", "node_id": org.branch_b.pk, "period": period})
    cycle = ReadCycle.objects.get()
    assert cycle.period == today.replace(day=1) and cycle.status == "open"
    client.post("/metering/cycles/", {"action": "open", "node_id": org.branch_b.pk, "period": period})
    assert ReadCycle.objects.count() == 1
    bad = client.post("/metering/cycles/", {"action": "open", "node_id": org.branch_b.pk, "period": "someday"},
                      HTTP_ACCEPT_LANGUAGE="en", follow=True).content.decode()
    assert "someday is not a month (YYYY-MM)" in bad
    row_post(login(site.reader), cycle, site.points[0].pk, "145")
    row_post(login(site.reader), cycle, site.points[1].pk, "400")
    client = login(org.manager_b)
    listing = client.get("/metering/cycles/", {"period": period}).content.decode()
    assert "2 / 3" in listing
    client.post("/metering/cycles/", {"action": "close", "cycle_ids": [cycle.pk]})
    assert ReadCycle.objects.get().status == "closed"
    assert ReadReview.objects.filter(reasons__contains=["no_read"]).count() == 1


def test_route_management_asks_reasons_and_keeps_history(site, org, login):
    client = login(org.manager_b)
    url = f"/metering/routes/{site.route.pk}/"
    sp0, sp1, sp2 = (p.pk for p in site.points)
    # Reorder by ↑ (a reason is required) and by typed positions.
    page = client.post(url, {"action": "reorder", "move": f"up:{sp2}", "reason": ""}, follow=True,
                       HTTP_ACCEPT_LANGUAGE="en").content.decode()
    assert "give a reason" in page
    client.post(url, {"action": "reorder", "move": f"up:{sp2}", "reason": "stairs first"})
    order = list(RouteStop.objects.filter(route=site.route).order_by("sequence").values_list("service_point_id",
                                                                                             flat=True))
    assert order == [sp0, sp2, sp1]
    client.post(url, {"action": "reorder", "reason": "walk back", f"pos-{sp0}": "3", f"pos-{sp2}": "2",
                      f"pos-{sp1}": "1"})
    order = list(RouteStop.objects.filter(route=site.route).order_by("sequence").values_list("service_point_id",
                                                                                             flat=True))
    assert order == [sp1, sp2, sp0]
    # Create a second route, assign by building code, then by ids; split; merge back.
    client.post("/metering/routes/new/", {"code": "R-B-002", "name": "二号本", "node_id": org.station_b.pk,
                                          "commodity": "water", "reader_id": "", "cycle_months": 1,
                                          "cycle_parity": 1, "read_day": 12, "reason": "new estate"})
    second = Route.objects.get(code="R-B-002")
    client.post(f"/metering/routes/{second.pk}/", {"action": "assign", "area_code": "D01-S01-C01-B03",
                                                   "reason": "whole building"})
    assert RouteStop.objects.filter(route=second).count() == 3
    client.post(url, {"action": "assign", "service_point_ids": f"{sp0}, {sp1}", "reason": "back"})
    assert RouteStop.objects.filter(route=site.route).count() == 2
    client.post(url, {"action": "split", "from_service_point_id": sp1, "code": "R-B-003", "name": "三号本",
                      "reason": "too long"})
    third = Route.objects.get(code="R-B-003")
    assert list(RouteStop.objects.filter(route=third).values_list("service_point_id", flat=True)) == [sp1]
    client.post(f"/metering/routes/{third.pk}/", {"action": "merge", "target_id": site.route.pk,
                                                  "reason": "reader left"})
    assert not Route.objects.get(pk=third.pk).active and RouteStop.objects.filter(route=site.route).count() == 2
    # Batch reassignment from the list; the route's page shows the reason in its history.
    client.post("/metering/routes/", {"route_ids": [site.route.pk, second.pk], "reader_id": "",
                                      "reason": "reader on leave"})
    assert Route.objects.filter(pk__in=[site.route.pk, second.pk], reader__isnull=True).count() == 2
    assert "reader on leave" in client.get(url).content.decode()
    listing = client.get("/metering/routes/", {"reader_id": site.reader.pk}).content.decode()
    assert 'data-testid="route-row"' not in listing


def test_stop_changes_keep_their_reason_in_the_route_history(site, org, login):
    client = login(org.manager_b)
    url = f"/metering/routes/{site.route.pk}/"
    sp2 = site.points[2].pk
    client.post(url, {"action": "reorder", "move": f"up:{sp2}", "reason": "stairwell B first"})
    page = client.get(url, HTTP_ACCEPT_LANGUAGE="en").content.decode()
    history = page[page.index('data-testid="history"'):]
    assert "stairwell B first" in history and "manager.b" in history and f"service point {sp2}" in history
    assert "new route" in history  # the stops assigned when the route was made
