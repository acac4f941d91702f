"""The meter-reading JSON API: routes, the cycle sheet, hand entry and raw read batches (idempotent),
the review queue and decisions — 422 with field and reason, 404 across branches, 403 without the
permission."""

from __future__ import annotations

import json

import pytest
from django.utils import timezone

from ucis.metering import services
from ucis.metering.models import MeterRead, ReadReview
from ucis.platform.tenancy import SYSTEM

from .conftest import monthly_history, open_cycle

pytestmark = pytest.mark.django_db
API = "/api/v1/metering"


@pytest.fixture
def today():
    return timezone.localdate()


@pytest.fixture
def cycle(site, today):
    monthly_history(site, today=today)
    return open_cycle(site, today=today)


def post(client, url, body):
    return client.post(url, data=json.dumps(body), content_type="application/json", HTTP_ACCEPT_LANGUAGE="en")


def test_routes_list_detail_and_sheet(site, cycle, org, login):
    client = login(org.admin_b)
    routes = client.get(f"{API}/routes", {"commodity": "water"}).json()
    assert [r["code"] for r in routes] == ["R-B-001"] and routes[0]["stop_count"] == 3
    assert routes[0]["reader"] == "reader.b"
    assert client.get(f"{API}/routes", {"reader_id": org.admin_b.pk}).json() == []
    detail = client.get(f"{API}/routes/{site.route.pk}").json()
    assert [s["meter_serial"] for s in detail["stops"]] == ["WM00000", "WM00001", "WM00002"]
    assert detail["stops"][0]["customer_name"] == "住户0" and detail["stops"][0]["position"] == 1
    sheet = client.get(f"{API}/cycles/{cycle.pk}/sheet").json()
    assert sheet["route_code"] == "R-B-001" and len(sheet["rows"]) == 3
    assert sheet["rows"][0]["last_reading"] == "140.000" and sheet["rows"][0]["read"] is None


def test_hand_entry_batch_gives_one_outcome_per_row(site, cycle, login):
    client = login(site.reader)
    sp0, sp1, sp2 = (p.pk for p in site.points)
    body = {"entries": [{"service_point_id": sp0, "reading": "145"}, {"service_point_id": sp1, "reading": "400"},
                        {"service_point_id": sp2, "reading": "x"}, {"service_point_id": 999999, "reading": "1"}]}
    out = post(client, f"{API}/cycles/{cycle.pk}/reads", body).json()
    assert (out["stored"], out["pending"], out["rejected"]) == (2, 1, 2)
    by_row = {o["row"]: o for o in out["outcomes"]}
    assert by_row[str(sp0)]["usage"] == "5.000" and by_row[str(sp0)]["read_status"] == "accepted"
    assert "HIGH" in by_row[str(sp1)]["flags"] and by_row[str(sp1)]["read_status"] == "pending"
    assert by_row[str(sp2)]["problems"] == [{"field": "reading", "reason": "x is not a number"}]
    assert by_row["999999"]["problems"] == [{"field": "entries[3].service_point_id",
                                             "reason": "service point 999999 is not on this route"}]
    again = post(client, f"{API}/cycles/{cycle.pk}/reads", body).json()
    assert again["stored"] == 0 and again["duplicates"] == 2
    sheet = client.get(f"{API}/cycles/{cycle.pk}/sheet").json()
    flagged = sheet["rows"][1]["read"]
    assert flagged["status"] == "pending" and flagged["findings"][0]["code"] == "HIGH"
    assert "倍" in flagged["findings"][0]["reason"]  # translated for a Chinese client
    english = client.get(f"{API}/cycles/{cycle.pk}/sheet", HTTP_ACCEPT_LANGUAGE="en").json()
    assert "more than 2 times" in english["rows"][1]["read"]["findings"][0]["reason"]


def test_raw_reads_are_idempotent_and_validated(site, login, today):
    client = login(site.reader)
    body = {"source": "handheld", "reads": [
        {"meter": "WM00000", "read_date": today.isoformat(), "reading": "12", "external_ref": "hh-1:1"},
        {"meter": "NOPE", "read_date": today.isoformat(), "reading": "1", "row": "line 2"}]}
    first = post(client, f"{API}/reads", body).json()
    assert first["stored"] == 1 and first["outcomes"][1] == {
        "row": "line 2", "meter": "NOPE", "status": "rejected", "read_id": None, "usage": None, "read_status": "",
        "flags": [], "problems": [{"field": "meter", "reason": "there is no meter NOPE in your area"}]}
    assert post(client, f"{API}/reads", body).json()["duplicates"] == 1
    assert MeterRead.objects.count() == 1
    bad = post(client, f"{API}/reads", {"reads": [{"meter": "WM00000", "read_date": "tomorrow", "reading": "1"}]})
    assert bad.status_code == 422 and bad.json()["errors"][0]["field"].startswith("reads.0.read_date")


def test_review_queue_and_decisions(site, cycle, org, login):
    reader = login(site.reader)
    post(reader, f"{API}/cycles/{cycle.pk}/reads", {"entries": [
        {"service_point_id": p.pk, "reading": r} for p, r in zip(site.points, ("400", "500", "600"), strict=True)]})
    # A reader sees the queue but may not decide.
    listed = reader.get(f"{API}/reviews", {"flag": "high"}).json()
    assert len(listed) == 3 and listed[0]["reasons"] == ["flagged"] and listed[0]["usage"] == "260.000"
    assert len(listed[0]["history"]) == 6 and listed[0]["findings"][0]["code"] == "HIGH"
    ids = [r["id"] for r in listed]
    denied = post(reader, f"{API}/reviews/decide", {"review_ids": ids, "action": "accept", "note": "fine"})
    assert denied.status_code == 403
    client = login(org.admin_b)
    assert post(client, f"{API}/reviews/decide", {"review_ids": ids, "action": "accept", "note": ""}).json() == {
        "errors": [{"field": "reason", "reason": "give a reason; it is kept in the history"}]}
    assert post(client, f"{API}/reviews/decide", {"review_ids": ids[:2], "action": "correct", "note": "x",
                                                  "reading": "150"}).status_code == 422
    assert post(client, f"{API}/reviews/decide", {"review_ids": ids[:2], "action": "accept",
                                                  "note": "pool filled"}).json() == {"decided": 2}
    assert post(client, f"{API}/reviews/decide", {"review_ids": ids[2:], "action": "correct", "note": "typo",
                                                  "reading": "150"}).json() == {"decided": 1}
    again = post(client, f"{API}/reviews/decide", {"review_ids": ids[:1], "action": "accept", "note": "again"})
    assert again.status_code == 422 and "already decided" in again.json()["errors"][0]["reason"]
    decided = client.get(f"{API}/reviews", {"status": "decided"}).json()
    assert {r["status"] for r in decided} == {"accepted", "corrected"}
    assert client.get(f"{API}/reviews").json() == []
    assert client.get(f"{API}/reviews", {"flag": "NOPE"}).status_code == 422


def test_other_branches_get_404_and_nothing_changes(site, cycle, org, login, today):
    services.read_cycle_close(actor=SYSTEM, cycle_ids=[cycle.pk], today=today)
    review = ReadReview.objects.first()
    client = login(org.admin_a)
    assert client.get(f"{API}/routes/{site.route.pk}").status_code == 404
    assert client.get(f"{API}/cycles/{cycle.pk}/sheet").status_code == 404
    assert post(client, f"{API}/cycles/{cycle.pk}/reads", {"entries": [
        {"service_point_id": site.points[0].pk, "reading": "150"}]}).status_code == 404
    assert post(client, f"{API}/reviews/decide", {"review_ids": [review.pk], "action": "accept",
                                                  "note": "x"}).status_code == 404
    assert client.get(f"{API}/routes").json() == [] and client.get(f"{API}/reviews").json() == []
    assert ReadReview.objects.get(pk=review.pk).status == "open"
    assert not MeterRead.objects.filter(cycle=cycle).exists()


def test_decide_locks_entries_with_and_without_a_read(site, cycle, today):
    """Regression: deciding used SELECT … FOR UPDATE over the nullable read/cycle joins, which
    PostgreSQL refuses; entries with and without a read are decided in one batch."""
    services.cycle_reads_enter(actor=site.reader, cycle_id=cycle.pk, today=today,
                               entries=[services.HandEntry(site.points[0].pk, "400")])
    services.read_cycle_close(actor=SYSTEM, cycle_ids=[cycle.pk], today=today)
    flagged = ReadReview.objects.get(service_point_id=site.points[0].pk)
    missing = ReadReview.objects.exclude(pk=flagged.pk)
    assert flagged.read_id and all(r.read_id is None for r in missing)
    result = services.read_review_decide(actor=SYSTEM, review_ids=[flagged.pk, *[r.pk for r in missing]],
                                         action="estimate", note="no access", today=today)
    assert result == {"decided": 3}
