"""The payments and ledger API: Idempotency-Key makes retries safe; errors name the field."""

from __future__ import annotations

import pytest

pytestmark = pytest.mark.django_db


@pytest.fixture
def clerk_client(org, login):
    return login(org.clerk_b)


def test_post_with_idempotency_key_twice_is_one_payment(billed, clerk_client):
    account_id = billed.bills[0].account_id
    body = {"account_id": account_id, "amount": "30.00"}
    first = clerk_client.post("/api/v1/payments", body, content_type="application/json",
                              headers={"Idempotency-Key": "till-7-0001"})
    assert first.status_code == 201, first.content
    again = clerk_client.post("/api/v1/payments", body, content_type="application/json",
                              headers={"Idempotency-Key": "till-7-0001"})
    assert again.status_code == 200 and again.json()["id"] == first.json()["id"]
    data = first.json()
    assert data["allocations"] == [
        {"bill_id": billed.bills[0].pk, "receivable": "RECEIVABLE:WATER", "amount": "16.00"},
        {"bill_id": billed.bills[0].pk, "receivable": "RECEIVABLE:ON_BEHALF:SEWAGE", "amount": "7.60"}]
    assert data["credit"] == "6.40" and data["collected_by"] == "clerk.b"
    balance = clerk_client.get(f"/api/v1/ledger/accounts/{account_id}/balance").json()
    assert (balance["owed"], balance["credit"], balance["open_items"]) == ("0.00", "6.40", [])
    statement = clerk_client.get(f"/api/v1/ledger/accounts/{account_id}/statement").json()
    assert {r["kind"] for r in statement} == {"bill", "payment"}


def test_bad_input_names_the_field(billed, clerk_client):
    account_id = billed.bills[0].account_id
    r = clerk_client.post("/api/v1/payments", {"account_id": account_id, "amount": "-3"},
                          content_type="application/json")
    assert r.status_code == 422 and r.json()["errors"][0]["field"] == "amount"
    r = clerk_client.post("/api/v1/payments", {"account_id": account_id, "amount": "50",
                                               "bills": [{"bill_id": billed.bills[0].pk, "amount": "99.00"}]},
                          content_type="application/json")
    assert r.status_code == 422 and r.json()["errors"][0]["field"] == "allocations[0].amount"
    assert clerk_client.post("/api/v1/payments", {"account_id": 10 ** 9, "amount": "5"},
                             content_type="application/json").status_code == 404


def test_trial_balance_and_period_close(billed, org, login):
    admin_client = login(org.group_admin)
    rows = admin_client.get(f"/api/v1/ledger/trial-balance?company_id={org.water.pk}").json()
    assert sum(float(r["balance"]) for r in rows) == 0 and {r["code"] for r in rows} >= {"RECEIVABLE:WATER"}
    r = admin_client.post("/api/v1/ledger/periods/close", {"company_id": org.water.pk, "period": "2025-01"},
                          content_type="application/json")
    assert r.status_code == 200 and r.json()["closed_at"]
    r = admin_client.post("/api/v1/ledger/periods/close", {"company_id": org.water.pk, "period": "2025-01"},
                          content_type="application/json")
    assert r.status_code == 422 and r.json()["errors"][0]["field"] == "period"
