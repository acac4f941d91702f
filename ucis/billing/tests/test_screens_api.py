"""Bill-run screens and API: start → progress → calculated → approve by another person → issue, the
bill page with explained lines and messages; permissions and tenancy (another company's run or
another branch's bill is a 404)."""

from __future__ import annotations

import json
from datetime import date
from decimal import Decimal

import pytest

from ucis.billing.models import Bill, BillRun
from ucis.metering import services as metering_services
from ucis.metering.reads import ReadInput, meter_reads_record
from ucis.platform.tenancy import SYSTEM
from ucis.tariffs import services as tariff_services

from .conftest import make_site
from .test_bill_run import TARIFF, TODAY

pytestmark = pytest.mark.django_db


@pytest.fixture
def month(org):
    site = make_site(org)
    tariff_services.tariff_import(actor=SYSTEM, text=TARIFF, reason="price book")
    metering_services.read_cycle_open(actor=SYSTEM, company_id=org.water.pk, period="2025-02")
    meter_reads_record(actor=SYSTEM, source="hand", today=TODAY, reads=[
        ReadInput("WM00000", date(2025, 2, 10), "8"), ReadInput("WM00001", date(2025, 2, 10), "15"),
        ReadInput("WM00002", date(2025, 2, 10), "25.004")])
    return site


@pytest.fixture
def team(org):
    from conftest import PASSWORD
    from ucis.org import services as org_services

    def make(username, roles):
        return org_services.staff_create(actor=SYSTEM, username=username, password=PASSWORD, node_id=org.water.pk,
                                         roles=roles)
    return make("billing.tw", ["billing_clerk", "billing_approver"]), make("approver.tw", ["billing_approver"])


def test_the_bill_run_flow_through_the_pages(org, month, team, client, django_capture_on_commit_callbacks):
    clerk, approver = team
    client.force_login(clerk, backend="django.contrib.auth.backends.ModelBackend")
    page = client.get("/billing/runs/").content.decode()
    assert 'data-testid="run-start"' in page and month.route.code in page
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post("/billing/runs/", {"company_id": org.water.pk, "commodity": "water",
                                                  "period": "2025-02", "route_ids": [month.route.pk]})
    run = BillRun.objects.get()
    assert response.status_code == 302 and response["Location"] == f"/billing/runs/{run.pk}/"
    progress = client.get(f"/billing/runs/{run.pk}/progress/", HTTP_HX_REQUEST="true")
    assert 'data-percent="100"' in progress.content.decode() and progress["HX-Refresh"] == "true"
    run.refresh_from_db()
    assert run.status == "calculated" and run.calculated_by == clerk
    body = client.get(f"/billing/runs/{run.pk}/", HTTP_ACCEPT_LANGUAGE="en").content.decode()
    assert "3 bills, 171.60 yuan in all." in body and month.route.code in body
    assert "ON_BEHALF:SEWAGE" in body and "45.60" in body and "someone else must approve it" in body
    # The clerk who calculated it may not approve it: told so plainly.
    response = client.post(f"/billing/runs/{run.pk}/approve/", HTTP_ACCEPT_LANGUAGE="en", follow=True)
    assert "must be approved by someone other than who calculated it" in response.content.decode()
    run.refresh_from_db()
    assert run.status == "calculated"
    response = client.post(f"/billing/runs/{run.pk}/issue/", HTTP_ACCEPT_LANGUAGE="en", follow=True)
    assert "only an approved run can be issued" in response.content.decode()
    client.force_login(approver, backend="django.contrib.auth.backends.ModelBackend")
    response = client.post(f"/billing/runs/{run.pk}/approve/", follow=True, HTTP_ACCEPT_LANGUAGE="en")
    assert "Bill run approved." in response.content.decode() and 'data-testid="run-issue"' in response.content.decode()
    client.post(f"/billing/runs/{run.pk}/issue/")
    run.refresh_from_db()
    assert run.status == "issued" and set(Bill.objects.values_list("status", flat=True)) == {"issued"}
    assert "issued" in client.get("/billing/runs/?status=issued").content.decode().lower()


def test_a_run_held_by_the_review_queue_says_why_and_calculates_later(org, month, team, client,
                                                                      django_capture_on_commit_callbacks):
    clerk, _approver = team
    metering_services.read_cycle_open(actor=SYSTEM, company_id=org.water.pk, period="2025-03")
    meter_reads_record(actor=SYSTEM, source="hand", today=TODAY,
                       reads=[ReadInput("WM00000", date(2025, 3, 10), "3")])  # reverse running → review
    client.force_login(clerk, backend="django.contrib.auth.backends.ModelBackend")
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post("/billing/runs/", {"company_id": org.water.pk, "commodity": "water",
                                                  "period": "2025-03"}, HTTP_ACCEPT_LANGUAGE="en", follow=True)
    body = response.content.decode()
    assert "still wait in the review queue" in body and 'data-testid="run-calculate"' in body
    run = BillRun.objects.get()
    assert run.status == "created"
    progress = client.get(f"/billing/runs/{run.pk}/progress/").content.decode()
    assert "hx-trigger" in progress and 'data-percent="0"' in progress


def test_a_run_with_nothing_left_to_bill_is_calculated_not_stuck(org, month, team,
                                                                 django_capture_on_commit_callbacks):
    # Every account already billed: the run has no items; queueing it still finishes it (it used
    # to queue no task at all, leaving the run 'created' and its progress bar polling for ever).
    from ucis.billing import services, tasks

    first = services.bill_run_start(actor=SYSTEM, company_id=org.water.pk, commodity="water", period="2025-02")
    services.bill_run_calculate(actor=SYSTEM, run_id=first.pk)
    services.bill_run_approve(actor=SYSTEM, run_id=first.pk)
    services.bill_run_issue(actor=SYSTEM, run_id=first.pk)
    with django_capture_on_commit_callbacks(execute=True):
        run, waiting = tasks.bill_run_submit(actor=SYSTEM, company_id=org.water.pk, commodity="water",
                                             period="2025-02")
    run.refresh_from_db()
    assert waiting is None and run.items_total == 0 and run.status == "calculated"


def test_bill_page_shows_lines_explanations_and_messages(org, month, team, login):
    from ucis.billing import services
    from ucis.tariffs.services import DiscountInput

    tariff_services.discount_create(actor=SYSTEM, data=DiscountInput(
        code="LOW", label="困难家庭减免", company="TW", commodity="water", of=("water",), active_from=date(2025, 1, 1),
        active_to=None, free_volume=Decimal("5"), message="您享受困难家庭用水减免"), reason="policy",
        account_numbers=[month.accounts[2].account_no])
    run = services.bill_run_start(actor=SYSTEM, company_id=org.water.pk, commodity="water", period="2025-02")
    services.bill_run_calculate(actor=SYSTEM, run_id=run.pk)
    bill = Bill.objects.get(account=month.accounts[2])
    client = login(team[1])
    body = client.get(f"/billing/bills/{bill.pk}/", HTTP_ACCEPT_LANGUAGE="en").content.decode()
    assert "您享受困难家庭用水减免" in body and 'data-testid="bill-messages"' in body
    assert "水费 block 1" in body and body.count('data-testid="bill-line"') == bill.lines.count()
    assert "%(label)s" not in body
    api = client.get(f"/api/v1/billing/bills/{bill.pk}", HTTP_ACCEPT_LANGUAGE="en").json()
    assert api["messages"] == ["您享受困难家庭用水减免"] and api["total"] == str(bill.total)
    assert any(ln["explanation"].startswith("水费 block 1") for ln in api["lines"])
    assert "水费: 5.00 free (困难家庭减免)" in [ln["explanation"] for ln in api["lines"]]
    # A branch sees the bills of its own accounts only; another branch gets a 404.
    assert login(org.admin_b).get(f"/billing/bills/{bill.pk}/").status_code == 200
    assert login(org.admin_a).get(f"/billing/bills/{bill.pk}/").status_code == 404
    assert login(org.admin_a).get(f"/api/v1/billing/bills/{bill.pk}").status_code == 404


def test_pages_need_the_permissions(org, month, login):
    run = BillRun.objects.create(company=org.water, commodity="water", period=date(2025, 2, 1))
    clerk = login(org.clerk_b)  # a counter clerk: no bill runs
    assert clerk.get("/billing/runs/").status_code == 403
    assert clerk.get(f"/billing/runs/{run.pk}/").status_code == 403
    assert clerk.get("/api/v1/billing/runs").status_code == 403
    # A manager sees runs but cannot start one.
    manager = login(org.manager_b)
    assert manager.post("/billing/runs/", {"company_id": org.water.pk, "commodity": "water",
                                           "period": "2025-02"}).status_code == 403


def test_api_flow_and_tenancy(org, month, team, client, django_capture_on_commit_callbacks):
    clerk, approver = team
    other = BillRun.objects.create(company=org.power, commodity="electricity", period=date(2025, 2, 1))
    client.force_login(clerk, backend="django.contrib.auth.backends.ModelBackend")
    bad = client.post("/api/v1/billing/runs", json.dumps({"company_id": org.water.pk, "commodity": "water",
                                                          "period": "2025-2"}), content_type="application/json")
    assert bad.status_code == 422 and bad.json()["errors"][0]["field"] == "period"
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post("/api/v1/billing/runs", json.dumps({"company_id": org.water.pk, "commodity": "water",
                                                                   "period": "2025-02"}),
                               content_type="application/json")
    assert response.status_code == 201 and response.json()["waiting"] == []
    run_id = response.json()["id"]
    detail = client.get(f"/api/v1/billing/runs/{run_id}").json()
    assert detail["status"] == "calculated" and detail["progress"] == 100 and detail["totals"]["total"] == "171.60"
    assert detail["exception_list"] == [] and [r["id"] for r in client.get("/api/v1/billing/runs").json()] == [run_id]
    assert client.get(f"/api/v1/billing/runs/{other.pk}").status_code == 404
    assert client.post(f"/api/v1/billing/runs/{other.pk}/approve").status_code == 404
    refused = client.post(f"/api/v1/billing/runs/{run_id}/approve", HTTP_ACCEPT_LANGUAGE="en")
    assert refused.status_code == 422 and "someone other" in refused.json()["errors"][0]["reason"]
    client.force_login(approver, backend="django.contrib.auth.backends.ModelBackend")
    assert client.post(f"/api/v1/billing/runs/{run_id}/issue").status_code == 422  # not approved yet
    assert client.post(f"/api/v1/billing/runs/{run_id}/approve").json()["status"] == "approved"
    issued = client.post(f"/api/v1/billing/runs/{run_id}/issue").json()
    assert issued["status"] == "issued" and issued["issued_by"] == "approver.tw"
    assert client.post("/api/v1/billing/runs", json.dumps({"company_id": org.water.pk, "commodity": "water",
                                                           "period": "2025-03"}),
                       content_type="application/json").status_code == 403  # approvers do not calculate


def test_exception_reasons_are_shown_translated(monkeypatch):
    from ucis.billing import selectors

    monkeypatch.setattr(selectors, "gettext", lambda t: {"no tariff for customer type %(type)s":
                                                         "客户类别 %(type)s 没有价格"}.get(t, t))
    assert selectors.exception_text("no tariff for customer type industrial") == "客户类别 industrial 没有价格"
    assert selectors.exception_text("negative usage -3.00 for the period") == "negative usage -3.00 for the period"
    assert selectors.exception_text("usage: something else") == "usage: something else"


def test_the_run_page_lists_exceptions(org, month, team, login):
    from ucis.billing import services
    from ucis.customers import services as customer_services

    customer_services.customer_update(actor=SYSTEM, customer_id=month.accounts[1].customer_id,
                                      changes={"customer_type": "industrial"}, reason="became a workshop",
                                      today=TODAY)
    run = services.bill_run_start(actor=SYSTEM, company_id=org.water.pk, commodity="water", period="2025-02")
    services.bill_run_calculate(actor=SYSTEM, run_id=run.pk)
    body = login(team[0]).get(f"/billing/runs/{run.pk}/", HTTP_ACCEPT_LANGUAGE="en").content.decode()
    assert body.count('data-testid="run-exception"') == 1 and month.accounts[1].account_no in body
    assert "no tariff for customer type industrial" in body
