"""The receivables screen of an account, a correction requested there and approved from the queue."""

from __future__ import annotations

import pytest

from conftest import PASSWORD
from ucis.ledger.models import CorrectionOrder
from ucis.org import services as org_services
from ucis.platform.tenancy import SYSTEM

pytestmark = pytest.mark.django_db


def test_request_on_the_account_then_approve_from_the_queue(billed, org, login, client):
    clerk = org_services.staff_create(actor=SYSTEM, username="bill.clerk", password=PASSWORD,
                                      node_id=org.branch_b.pk, roles=["billing_clerk"])
    approver = org_services.staff_create(actor=SYSTEM, username="approver", password=PASSWORD,
                                         node_id=org.branch_b.pk, roles=["billing_approver"])
    bill = billed.bills[2]
    c = login(clerk)
    page = c.get(f"/ledger/accounts/{bill.account_id}/")
    assert page.status_code == 200 and 'data-testid="owed">98.75<' in page.content.decode()
    r = c.post(f"/ledger/accounts/{bill.account_id}/", {"kind": "charge_adjust", "bill_id": bill.pk,
                                                        "amount": "-500", "reason": "退费"})
    assert r.status_code == 200 and "75.00" in str(r.context["form"].errors["amount"])
    r = c.post(f"/ledger/accounts/{bill.account_id}/", {"kind": "charge_adjust", "bill_id": bill.pk,
                                                        "amount": "-5", "reason": "退费"})
    order = CorrectionOrder.objects.get()
    assert r.status_code == 302 and r.url == f"/ledger/corrections/{order.pk}/"
    a = login(approver)
    assert str(order.pk) in a.get("/ledger/corrections/").content.decode()
    a.post(f"/ledger/corrections/{order.pk}/decide/", {"decision": "approve", "note": "同意"})
    page = a.get(f"/ledger/corrections/{order.pk}/").content.decode()
    assert 'data-testid="order-status">已审批并记账<' in page
    order.refresh_from_db()
    assert order.status == "posted"
    assert 'data-testid="owed">93.75<' in a.get(f"/ledger/accounts/{bill.account_id}/").content.decode()


def test_dunning_notices_and_home_collection_list_from_the_screen(billed, org, login):
    from datetime import timedelta

    client = login(org.group_admin)
    assert client.get("/billing/arrears-notices/").status_code == 200
    as_of = (billed.bills[0].due_date + timedelta(days=1)).isoformat()
    r = client.post("/billing/arrears-notices/", {"company_id": org.water.pk, "as_of": as_of, "kind": "dunning"})
    assert r.status_code == 200 and r["Content-Type"] == "application/pdf" and r.content.startswith(b"%PDF")
    from io import BytesIO

    from pypdf import PdfReader

    pages = PdfReader(BytesIO(r.content)).pages
    assert len(pages) == 3 and "住户2" in "".join(p.extract_text() for p in pages)
    r = client.post("/billing/arrears-notices/", {"company_id": org.water.pk, "as_of": as_of, "kind": "home"})
    assert r["Content-Type"] == "application/pdf"
    text = "".join(p.extract_text() for p in PdfReader(BytesIO(r.content)).pages)
    assert "住户" not in text  # none of these households is in the disabled category
