"""Tariff screens and API: the price book, import with every problem at its path, export,
simulation, policy discounts, reductions and late-fee policies; permissions and tenancy."""

from __future__ import annotations

import json
from datetime import date

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

from ucis.platform.tenancy import SYSTEM
from ucis.tariffs import services
from ucis.tariffs.models import Discount, LateFeePolicy, StandingReduction, Tariff

pytestmark = pytest.mark.django_db

TARIFF = """
code: TW-RES
name: 居民生活用水
company: TW
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
      - {kind: fixed, code: meter, label: 水表维护费, amount: "1.00", per: meter, by_size: {DN40: "8.00"}}
"""

POWER = """
code: TE-RES
name: 居民生活用电
company: TE
commodity: electricity
customer_types: [resident]
versions:
  - version: "2025"
    active_from: 2024-01-01
    active_to: null
    components:
      - {kind: flat, code: power, label: 电费, price: "0.56"}
"""

BAD = """
code: TW-BAD
name: 错误
company: TW
commodity: water
customer_types: [resident]
versions:
  - version: "1"
    active_from: 2024-01-01
    components:
      - kind: ladder
        code: water
        label: 水费
        blocks: [{upto: 20, price: "2.00"}, {upto: 10, price: "3.00"}, {price: "5.00"}]
      - {kind: flat, code: sewage, label: 污水处理费, price: "abc"}
"""


@pytest.fixture
def staff(org):
    from conftest import PASSWORD
    from ucis.org import services as org_services

    def make(username, roles, node=None):
        return org_services.staff_create(actor=SYSTEM, username=username, password=PASSWORD,
                                         node_id=(node or org.water).pk, roles=roles)
    return make


@pytest.fixture
def tariffs(org):
    water = services.tariff_import(actor=SYSTEM, text=TARIFF, reason="price book").tariff
    power = services.tariff_import(actor=SYSTEM, text=POWER, reason="price book").tariff
    return water, power


def test_list_and_detail_show_versions_and_blocks(org, login, staff, tariffs):
    water, power = tariffs
    client = login(staff("admin.tw", ["administrator"]))
    body = client.get("/tariffs/", HTTP_ACCEPT_LANGUAGE="en").content.decode()
    assert "TW-RES" in body and "TE-RES" not in body and "2025" in body
    body = client.get(f"/tariffs/{water.pk}/", HTTP_ACCEPT_LANGUAGE="en").content.decode()
    assert 'data-testid="ladder-blocks"' in body and "and above" in body and "ON_BEHALF:SEWAGE" in body
    assert "DN40" in body and "per meter and month" in body
    assert client.get(f"/tariffs/{power.pk}/").status_code == 404  # another company
    assert client.get(f"/tariffs/{power.pk}/export/").status_code == 404
    assert client.post(f"/tariffs/{power.pk}/simulate/", {}).status_code == 404


def test_a_branch_clerk_sees_and_simulates_the_company_prices(org, login, tariffs):
    # A company's prices serve all its units: the branch's counter clerk answers customers with them.
    water, power = tariffs
    client = login(org.clerk_b)
    assert "TW-RES" in client.get("/tariffs/").content.decode()
    response = client.post(f"/tariffs/{water.pk}/simulate/", {
        "period_from": "2025-01-10", "period_to": "2025-02-10", "total": "25", "residents": "3",
        "year_to_date": "0", "meters": "1"}, HTTP_ACCEPT_LANGUAGE="en")
    body = response.content.decode()
    assert response.status_code == 200 and 'data-testid="simulate-total">99.75<' in body  # 20+30+25+23.75+1
    assert "水费 block 3 (20.00–∞ per billing period)" in body and "version 2025" in body
    assert client.get("/tariffs/import/").status_code == 403  # clerks do not import prices
    assert client.get(f"/tariffs/{power.pk}/").status_code == 404


def test_simulation_from_the_menu_chooses_the_tariff_first(org, login, tariffs):
    water, _power = tariffs
    client = login(org.clerk_b)
    body = client.get("/tariffs/simulate/").content.decode()
    assert "TW-RES" in body and "TE-RES" not in body and "/tariffs/simulate/" in body
    assert client.get(f"/tariffs/simulate/?tariff={water.pk}")["Location"] == f"/tariffs/{water.pk}/simulate/"
    assert login(org.manager_b).get("/").status_code == 200


def test_simulation_reports_bad_input_at_the_field(org, login, tariffs):
    water, _power = tariffs
    body = login(org.clerk_b).post(f"/tariffs/{water.pk}/simulate/", {
        "period_from": "2025-01-10", "period_to": "2025-02-10", "total": "-3", "residents": "0",
        "year_to_date": "0", "meters": "1"}, HTTP_ACCEPT_LANGUAGE="en").content.decode()
    assert "a volume is a non-negative number" in body and "simulate-lines" not in body


def test_import_shows_every_problem_at_its_path_and_stores_nothing(org, login, staff):
    client = login(staff("admin.tw", ["administrator"]))
    response = client.post("/tariffs/import/", {"text": BAD, "fmt": "yaml", "reason": "new prices"},
                           HTTP_ACCEPT_LANGUAGE="en")
    body = response.content.decode()
    assert response.status_code == 200 and body.count('data-testid="import-problem"') >= 2
    assert "versions[0].components[0].blocks[1].upto" in body and "blocks must ascend" in body
    assert "versions[0].components[1].price" in body
    assert not Tariff.objects.filter(code="TW-BAD").exists()


def test_import_an_uploaded_file_then_export_it(org, login, staff):
    client = login(staff("admin.tw", ["administrator"]))
    upload = SimpleUploadedFile("tw-res.yaml", TARIFF.encode())
    response = client.post("/tariffs/import/", {"file": upload, "fmt": "yaml", "reason": "price book"})
    tariff = Tariff.objects.get(code="TW-RES")
    assert response.status_code == 302 and response["Location"] == f"/tariffs/{tariff.pk}/"
    exported = client.get(f"/tariffs/{tariff.pk}/export/?fmt=json")
    assert exported["Content-Disposition"].endswith('.json"')
    doc = json.loads(exported.content)
    assert doc["code"] == "TW-RES" and doc["versions"][0]["components"][0]["blocks"][2] == {"price": "5.00"}
    yaml_text = client.get(f"/tariffs/{tariff.pk}/export/?fmt=yaml").content.decode()
    again = services.tariff_import(actor=SYSTEM, text=yaml_text, reason="round trip")
    assert again.versions_added == [] and not again.created


def test_discount_by_area_and_numbers_with_unknown_numbers_named(org, login, staff):
    from ucis.billing.tests.conftest import make_site

    site = make_site(org)
    client = login(staff("admin.tw", ["administrator"]))
    form = {"code": "LOWINC-2025", "label": "困难家庭减免", "company": "TW", "commodity": "water", "of": "water",
            "free_volume": "5", "active_from": "2025-01-01", "message": "您享受困难家庭用水减免",
            "reason": "municipal policy 2025-3", "area_codes": "", "account_numbers": "NOPE-1\nNOPE-2"}
    body = client.post("/tariffs/discounts/", form, HTTP_ACCEPT_LANGUAGE="en").content.decode()
    assert 'data-testid="unknown-accounts"' in body and "NOPE-1" in body and "NOPE-2" in body
    assert not Discount.objects.exists()
    upload = SimpleUploadedFile("list.csv", f"户号\n{site.accounts[2].account_no},x\n".encode())
    response = client.post("/tariffs/discounts/", {**form, "account_numbers": "", "area_codes": "D01-S01-C01-B03",
                                                   "account_file": upload}, HTTP_ACCEPT_LANGUAGE="en", follow=True)
    assert "it reaches 3 account(s)" in response.content.decode()
    discount = Discount.objects.get()
    assert discount.members.count() == 3 and discount.free_volume == 5
    assert login(org.clerk_b).post("/tariffs/discounts/", form).status_code == 403


def test_reduction_and_late_fee_forms(org, login, staff):
    client = login(staff("admin.tw", ["administrator"]))
    response = client.post("/tariffs/policies/", {
        "kind": "reduction", "r-company": "TW", "r-commodity": "water", "r-category": "dibao", "r-label": "低保减免",
        "r-of": "water, sewage", "r-free_volume": "5", "r-active_from": "2025-01-01", "r-reason": "policy"})
    assert response.status_code == 302
    assert StandingReduction.objects.get().of == ["water", "sewage"]
    response = client.post("/tariffs/policies/", {
        "kind": "latefee", "f-company": "TW", "f-commodity": "water", "f-grace_days": "15",
        "f-rates": "resident, 0.001, 0.003\nindustrial 0.002 0.003", "f-minimum": "1.00",
        "f-active_from": "2025-01-01", "f-reason": "policy"})
    assert response.status_code == 302
    assert LateFeePolicy.objects.get().rates == {"resident": ["0.001", "0.003"], "industrial": ["0.002", "0.003"]}
    body = client.get("/tariffs/policies/").content.decode()
    assert "低保减免" in body and "0.001" in body
    # A second policy may not start before the current one.
    body = client.post("/tariffs/policies/", {
        "kind": "latefee", "f-company": "TW", "f-commodity": "water", "f-grace_days": "15",
        "f-rates": "resident, 0.001, 0.003", "f-minimum": "1.00", "f-active_from": "2024-06-01",
        "f-reason": "policy"}, HTTP_ACCEPT_LANGUAGE="en").content.decode()
    assert "a new one must start later" in body


# --- API -------------------------------------------------------------------------------------------------


def test_api_list_detail_export_and_tenancy(org, login, staff, tariffs):
    water, power = tariffs
    client = login(staff("admin.tw", ["administrator"]))
    rows = client.get("/api/v1/tariffs").json()
    assert [r["code"] for r in rows] == ["TW-RES"] and rows[0]["current_version"] == "2025"
    detail = client.get(f"/api/v1/tariffs/{water.pk}").json()
    assert detail["versions"][0]["components"][0]["kind"] == "ladder"
    assert client.get(f"/api/v1/tariffs/{power.pk}").status_code == 404
    assert client.get(f"/api/v1/tariffs/{power.pk}/export?fmt=json").status_code == 404
    text = client.get(f"/api/v1/tariffs/{water.pk}/export?fmt=yaml").content.decode()
    assert text.startswith("code: TW-RES")
    assert client.post(f"/api/v1/tariffs/{power.pk}/simulate", json.dumps({
        "period_from": "2025-01-10", "period_to": "2025-02-10", "usage": {"total": "5"}}),
        content_type="application/json").status_code == 404


def test_api_import_problems_are_422_at_their_paths(org, login, staff):
    client = login(staff("admin.tw", ["administrator"]))
    response = client.post("/api/v1/tariffs/import", json.dumps({"text": BAD, "format": "yaml", "reason": "x"}),
                           content_type="application/json", HTTP_ACCEPT_LANGUAGE="en")
    assert response.status_code == 422
    fields = {e["field"] for e in response.json()["errors"]}
    assert {"versions[0].components[0].blocks[1].upto", "versions[0].components[1].price"} <= fields
    response = client.post("/api/v1/tariffs/import", json.dumps({"text": TARIFF, "reason": "price book"}),
                           content_type="application/json")
    assert response.status_code == 200 and response.json()["versions_added"] == ["2025"]
    assert login(org.clerk_b).post("/api/v1/tariffs/import", json.dumps({"text": TARIFF, "reason": "x"}),
                                   content_type="application/json").status_code == 403


def test_api_simulate_and_discount(org, login, staff, tariffs):
    from ucis.billing.tests.conftest import make_site

    water, _power = tariffs
    site = make_site(org)
    client = login(staff("admin.tw", ["administrator"]))
    result = client.post(f"/api/v1/tariffs/{water.pk}/simulate", json.dumps({
        "period_from": "2025-01-10", "period_to": "2025-02-10", "usage": {"total": "8"}}),
        content_type="application/json", HTTP_ACCEPT_LANGUAGE="en").json()
    assert result["total"] == "24.60"  # 16 + 7.60 + 1
    assert result["lines"][0]["explanation"].startswith("水费 block 1")
    bad = client.post(f"/api/v1/tariffs/{water.pk}/simulate", json.dumps({
        "period_from": "2025-01-10", "period_to": "2025-02-10", "usage": {"peak": "8"}}),
        content_type="application/json")
    assert bad.status_code == 422 and bad.json()["errors"][0]["field"] == "usage.total"
    payload = {"code": "D1", "label": "减免", "company": "TW", "commodity": "water", "of": ["water"],
               "percent": "50", "active_from": "2025-01-01", "reason": "policy",
               "account_numbers": [site.accounts[0].account_no, "NOPE-9"]}
    response = client.post("/api/v1/tariffs/discounts", json.dumps(payload), content_type="application/json")
    assert response.status_code == 422
    assert response.json()["errors"][0]["field"] == "accounts[1]" and "NOPE-9" in response.json()["errors"][0]["reason"]
    payload["account_numbers"] = [site.accounts[0].account_no]
    response = client.post("/api/v1/tariffs/discounts", json.dumps(payload), content_type="application/json")
    assert response.status_code == 201 and response.json()["accounts"] == 1
    assert client.get("/api/v1/tariffs/discounts").json()[0]["code"] == "D1"
    assert Discount.objects.get().active_from == date(2025, 1, 1)
