"""Extra fields and attachments (CUS-4) against PostgreSQL: define → set → query, forms, exports,
uploads with their refusals, tenancy and audit."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest
from django.core.exceptions import PermissionDenied
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db import connection
from django.http import Http404

from ucis.customers import extras, selectors, services
from ucis.customers.extras import ExtraFieldInput
from ucis.customers.models import Customer, CustomerAttachment, ExtraFieldDefinition
from ucis.customers.services import AccountInput, CustomerInput, PremiseInput
from ucis.customers.tests.conftest import TODAY
from ucis.kernel.errors import DomainError
from ucis.platform.tenancy import SYSTEM

PDF = b"%PDF-1.7\n1 0 obj << >> endobj\ntrailer << >>\n%%EOF\n"
PNG = b"\x89PNG\r\n\x1a\n" + bytes(range(64))


def problems(exc) -> dict[str, str]:
    return {p.field: p.reason for p in exc.value.problems}


@pytest.fixture
def media(settings, tmp_path) -> Path:
    settings.MEDIA_ROOT = tmp_path / "media"
    return settings.MEDIA_ROOT


def stored_files(media: Path) -> list[Path]:
    return [p for p in media.rglob("*") if p.is_file()] if media.exists() else []


@pytest.fixture
def company_admin(org):
    """An administrator at the water company node: defines the company's fields."""
    from ucis.org import services as org_services

    return org_services.staff_create(actor=SYSTEM, username="admin.water", password="Corr3ct-Horse-Battery",
                                     node_id=org.water.pk, roles=["administrator"])


@pytest.fixture
def fields(org, company_admin):
    """Group-wide: contract number (text, pattern), pets (boolean). Water: meter box (choice,
    required), floors (integer 1–99), guarantee (decimal), inspected (date). Power: a required
    field nobody at the water company is asked for."""
    group = [ExtraFieldInput("customer", "contract_no", "合同号", "text", pattern=r"HT\d{4}"),
             ExtraFieldInput("customer", "pets", "有宠物", "boolean")]
    water = [ExtraFieldInput("customer", "meter_box", "表箱位置", "choice", required=True, choices=("室内", "室外"),
                             display_order=1),
             ExtraFieldInput("customer", "floors", "楼层", "integer", min_value="1", max_value="99"),
             ExtraFieldInput("customer", "guarantee", "保证金", "decimal", min_value="0"),
             ExtraFieldInput("customer", "inspected", "检查日期", "date"),
             ExtraFieldInput("premise", "pipe", "管材", "choice", choices=("PE", "钢管"))]
    defined = {d.code: extras.extra_field_define(actor=org.group_admin, data=d) for d in group}
    defined |= {d.code: extras.extra_field_define(actor=company_admin, company_id=org.water.pk, data=d) for d in water}
    defined["power_only"] = extras.extra_field_define(
        actor=SYSTEM, company_id=org.power.pk,
        data=ExtraFieldInput("customer", "power_only", "电力字段", "text", required=True))
    return defined


# --- definitions ------------------------------------------------------------------------------


def test_define_checks_scope_code_and_rules(org, company_admin, fields):
    assert fields["meter_box"].company_id == org.water.pk and fields["pets"].company_id is None
    with pytest.raises(DomainError) as caught:  # a code is unique per entity across the group
        extras.extra_field_define(actor=SYSTEM, company_id=org.power.pk,
                                  data=ExtraFieldInput("customer", "pets", "宠物", "text"))
    assert "already an extra field pets" in problems(caught)["code"]
    with pytest.raises(DomainError) as caught:  # company staff do not define group-wide fields
        extras.extra_field_define(actor=company_admin, data=ExtraFieldInput("customer", "x1", "x", "text"))
    assert list(problems(caught)) == ["company_id"]
    with pytest.raises(Http404):  # nor another company's
        extras.extra_field_define(actor=company_admin, company_id=org.power.pk,
                                  data=ExtraFieldInput("customer", "x2", "x", "text"))
    with pytest.raises(Http404):  # a branch administrator does not administer the company's fields
        extras.extra_field_define(actor=org.admin_b, company_id=org.water.pk,
                                  data=ExtraFieldInput("customer", "x3", "x", "text"))
    with pytest.raises(DomainError) as caught:
        extras.extra_field_define(actor=company_admin, company_id=org.branch_a.pk,
                                  data=ExtraFieldInput("customer", "x4", "x", "text"))
    assert "not a company" in problems(caught)["company_id"]
    with pytest.raises(DomainError) as caught:
        extras.extra_field_define(actor=company_admin, company_id=org.water.pk,
                                  data=ExtraFieldInput("customer", "x5", "x", "text", pattern="(a+)+"))
    assert list(problems(caught)) == ["pattern"]
    with pytest.raises(PermissionDenied):
        extras.extra_field_define(actor=org.clerk_b, company_id=org.water.pk,
                                  data=ExtraFieldInput("customer", "x6", "x", "text"))
    assert not ExtraFieldDefinition.objects.filter(code__startswith="x").exists()


def test_update_keeps_code_and_type_and_is_audited(org, company_admin, fields):
    from ucis.platform.audit import object_history

    box = fields["meter_box"]
    extras.extra_field_update(actor=company_admin, extra_field_id=box.pk, choices=["室内", "室外", "楼道"],
                              reason="new location")
    with pytest.raises(DomainError) as caught:
        extras.extra_field_update(actor=company_admin, extra_field_id=box.pk, field_type="text")
    assert list(problems(caught)) == ["field_type"]
    with pytest.raises(DomainError):
        extras.extra_field_update(actor=company_admin, extra_field_id=box.pk, choices=[])
    with pytest.raises(Http404):  # group-wide fields are administered from the top only
        extras.extra_field_update(actor=company_admin, extra_field_id=fields["pets"].pk, label="x")
    extras.extra_field_deactivate(actor=company_admin, extra_field_id=fields["inspected"].pk, reason="not used")
    history = object_history(ExtraFieldDefinition.objects.get(pk=box.pk))
    assert [e.label for e in history] == ["insert", "update"] and history[-1].reason == "new location"
    assert history[-1].actor == "admin.water"
    codes = [d.code for d in selectors.extra_field_definitions(actor=org.admin_b, entity="customer",
                                                               company_ids=[org.water.pk])]
    assert codes == ["contract_no", "floors", "guarantee", "pets", "meter_box"]  # display order, then code


# --- values -----------------------------------------------------------------------------------


def test_set_then_query_by_containment(org, account, fields):
    customer = extras.customer_extra_set(actor=org.admin_b, customer_id=account.customer_id, values={
        "meter_box": "室外", "floors": "12", "guarantee": "300.50", "inspected": "2026-11-01", "pets": "是",
        "contract_no": "HT0042"})
    assert Customer.objects.get(pk=customer.pk).extra == {
        "meter_box": "室外", "floors": 12, "guarantee": "300.5", "inspected": "2026-11-01", "pets": True,
        "contract_no": "HT0042"}
    found = selectors.customer_list(actor=org.admin_b, extra={"floors": "12", "guarantee": "300.500"})
    assert list(found) == [customer]
    assert not selectors.customer_list(actor=org.admin_b, extra={"floors": "13"}).exists()
    # Branch A sees neither the customer nor, through the filter, anything about it.
    assert not selectors.customer_list(actor=org.admin_a, extra={"floors": "12"}).exists()
    assert selectors.customer_search(actor=org.admin_b, q="张", extra={"pets": "yes"}) == [customer]
    assert selectors.customer_search(actor=org.admin_b, q="", extra={"meter_box": "室外"}) == [customer]
    with pytest.raises(DomainError) as caught:
        selectors.customer_list(actor=org.admin_b, extra={"floors": "lots", "nope": "1"})
    assert set(problems(caught)) == {"extra.floors", "extra.nope"}
    # The containment query is answered from the GIN index once the planner must choose.
    with connection.cursor() as cursor:
        cursor.execute("SET LOCAL enable_seqscan = off")
        cursor.execute("EXPLAIN SELECT id FROM customers_customer WHERE extra @> %s::jsonb", ['{"floors": 12}'])
        plan = " ".join(row[0] for row in cursor.fetchall())
    assert "customer_extra_gin" in plan


def test_required_choice_pattern_and_bounds_name_the_field_and_change_nothing(org, account, fields):
    before = Customer.objects.get(pk=account.customer_id).extra
    with pytest.raises(DomainError) as caught:
        extras.customer_extra_set(actor=org.admin_b, customer_id=account.customer_id, values={
            "floors": "0", "guarantee": "-1", "contract_no": "12", "pets": "maybe", "inspected": "yesterday",
            "power_only": "x"})
    found = problems(caught)
    assert set(found) == {"extra.floors", "extra.guarantee", "extra.contract_no", "extra.pets", "extra.inspected",
                          "extra.power_only", "extra.meter_box"}
    assert found["extra.meter_box"] == "is required" and "no extra field power_only" in found["extra.power_only"]
    with pytest.raises(DomainError) as caught:
        extras.customer_extra_set(actor=org.admin_b, customer_id=account.customer_id, values={"meter_box": "屋顶"})
    assert "not one of 室内, 室外" in problems(caught)["extra.meter_box"]
    assert Customer.objects.get(pk=account.customer_id).extra == before
    with pytest.raises(Http404):
        extras.customer_extra_set(actor=org.admin_a, customer_id=account.customer_id, values={"meter_box": "室内"})


def test_account_opening_takes_extra_values_and_enforces_required(org, premise, fields):
    new = CustomerInput(name="李四", customer_type="resident", extra={"floors": "5"})
    with pytest.raises(DomainError) as caught:
        services.account_open(actor=org.admin_b, customer_id=None, new_customer=new,
                              data=AccountInput(node_id=org.station_b.pk, premise_id=premise.pk), today=TODAY)
    assert problems(caught) == {"extra.meter_box": "is required"}
    assert not Customer.objects.filter(name="李四").exists()
    account = services.account_open(
        actor=org.admin_b, customer_id=None,
        new_customer=CustomerInput(name="李四", customer_type="resident", extra={"floors": "5", "meter_box": "室内"}),
        data=AccountInput(node_id=org.station_b.pk, commodities=("water",), new_premise=PremiseInput(
            area_code=premise.area.code, room="1", extra={"pipe": "PE"})),
        today=TODAY)
    assert account.customer.extra == {"floors": 5, "meter_box": "室内"}
    assert account.billing_premise.extra == {"pipe": "PE"}
    with pytest.raises(DomainError) as caught:
        services.account_open(
            actor=org.admin_b, customer_id=account.customer_id, new_customer=None,
            data=AccountInput(node_id=org.station_b.pk, new_premise=PremiseInput(
                area_code=premise.area.code, room="2", extra={"pipe": "铜管"})), today=TODAY)
    assert list(problems(caught)) == ["premise.extra.pipe"]
    premise_after = extras.premise_extra_set(actor=org.admin_b, premise_id=account.billing_premise_id,
                                             values={"pipe": "钢管"})
    assert premise_after.extra == {"pipe": "钢管"}
    assert list(selectors.premise_list(actor=org.admin_b, extra={"pipe": "钢管"})) == [premise_after]


def test_bulk_loads_leave_extra_to_the_database_default(org):
    from ucis.customers.services import RegistryBatch, registry_bulk_load

    registry_bulk_load(actor=SYSTEM, reason="test", batch=RegistryBatch(
        areas=[("BD", "北区", "district", None)], customers=[("c1", "王五", "resident", "", "", "", "C")],
        categories=[], premises=[("p1", "BD", "1", None, None)],
        accounts=[("a1", "c1", "TW-B-1", "p1", "counter", "sms", TODAY, ("water",))], meters=[], appliances=[]))
    assert Customer.objects.get(name="王五").extra == {}


# --- screens, export and API ------------------------------------------------------------------


def test_detail_page_shows_and_edits_extra_fields(org, login, account, fields):
    client = login(org.admin_b)
    page = client.get(f"/customers/{account.customer_id}/").content.decode()
    assert "表箱位置" in page and 'data-testid="edit-extra"' in page and "电力字段" not in page
    form = client.get(f"/customers/{account.customer_id}/extra/").content.decode()
    assert 'name="extra.meter_box"' in form and "<option value=\"室外\">" in form
    assert 'type="date"' in form and "表箱位置 *" in form
    bad = client.post(f"/customers/{account.customer_id}/extra/", {"extra.floors": "100"},
                      HTTP_ACCEPT_LANGUAGE="en")
    assert bad.status_code == 200
    text = bad.content.decode()
    assert "must be at most 99" in text and "is required" in text
    good = client.post(f"/customers/{account.customer_id}/extra/",
                       {"extra.floors": "7", "extra.meter_box": "室内", "extra.pets": "false", "reason": "visit"})
    assert good.status_code == 302
    assert Customer.objects.get(pk=account.customer_id).extra == {"floors": 7, "meter_box": "室内", "pets": False}
    page = client.get(f"/customers/{account.customer_id}/").content.decode()
    assert 'data-code="floors">7<' in page
    # The search page filters by an extra field and keeps the filter for the export link.
    found = client.get("/customers/", {"extra.meter_box": "室内"}).content.decode()
    assert account.customer.customer_no in found and "export.csv?extra.meter_box=" in found
    none = client.get("/customers/", {"extra.meter_box": "室外"}, HTTP_HX_REQUEST="true").content.decode()
    assert account.customer.customer_no not in none


def test_open_account_form_has_extra_fields_and_attaches_a_scan(org, login, premise, fields, media):
    client = login(org.admin_b)
    page = client.get("/customers/open-account/").content.decode()
    assert 'name="extra.meter_box"' in page and 'name="premise.extra.pipe"' in page and 'name="id_scan"' in page
    form = {"node": org.station_b.pk, "name": "赵六", "customer_type": "resident", "area_code": premise.area.code,
            "room": "601", "commodities": ["water"], "payment_method": "counter", "bill_delivery": "sms",
            "extra.meter_box": "室外", "premise.extra.pipe": "PE"}
    refused = client.post("/customers/open-account/", {
        **form, "id_scan": SimpleUploadedFile("id.jpg", b"<html>not an image</html>", "image/jpeg")},
        HTTP_ACCEPT_LANGUAGE="en")
    assert refused.status_code == 200 and "judged by its content" in refused.content.decode()
    assert not Customer.objects.filter(name="赵六").exists() and stored_files(media) == []
    missing = client.post("/customers/open-account/", {**form, "extra.meter_box": ""}, HTTP_ACCEPT_LANGUAGE="en")
    assert missing.status_code == 200 and "is required" in missing.content.decode()
    done = client.post("/customers/open-account/", {**form, "id_scan": SimpleUploadedFile("id.png", PNG, "image/png")})
    assert done.status_code == 302, done.content.decode()[-2000:]
    customer = Customer.objects.get(name="赵六")
    assert customer.extra == {"meter_box": "室外"}
    assert [(a.kind, a.content_type) for a in customer.attachments.all()] == [("id_scan", "image/png")]


def test_export_has_a_column_per_active_field(org, login, account, fields):
    extras.customer_extra_set(actor=org.admin_b, customer_id=account.customer_id,
                              values={"meter_box": "室内", "guarantee": "12.50", "pets": True})
    client = login(org.manager_b)
    response = client.get("/customers/export.csv")
    body = b"".join(response.streaming_content).decode("utf-8-sig").splitlines()
    header = body[0].split(",")
    assert header[-6:] == ["extra.contract_no", "extra.floors", "extra.guarantee", "extra.inspected", "extra.pets",
                           "extra.meter_box"]
    row = dict(zip(header, body[1].split(","), strict=True))
    assert row["customer_no"] == account.customer.customer_no and row["extra.guarantee"] == "12.5"
    assert row["extra.pets"] == "1" and row["extra.meter_box"] == "室内" and row["phone"] == "13812345678"
    filtered = client.get("/customers/export.csv", {"extra.meter_box": "室外"})
    assert len(b"".join(filtered.streaming_content).decode("utf-8-sig").splitlines()) == 1
    assert login(org.clerk_b).get("/customers/export.csv").status_code == 403
    assert "张三" not in b"".join(login(org.admin_a).get("/customers/export.csv").streaming_content).decode()


def test_admin_page_defines_fields(org, login, company_admin, fields):
    client = login(company_admin)
    page = client.get("/customers/extra-fields/").content.decode()
    assert "meter_box" in page and "power_only" not in page and "The whole group" not in page
    bad = client.post("/customers/extra-fields/", {
        "entity": "customer", "company": org.water.pk, "code": "Bad Code", "label": "x", "field_type": "text",
        "display_order": 0, "pattern": "(x+)+"}, HTTP_ACCEPT_LANGUAGE="en")
    assert bad.status_code == 200 and "lower-case" in bad.content.decode() and "forever" in bad.content.decode()
    good = client.post("/customers/extra-fields/", {
        "entity": "premise", "company": org.water.pk, "code": "valve", "label": "阀门", "field_type": "choice",
        "choices": "有\n无\n", "display_order": 2})
    assert good.status_code == 302
    valve = ExtraFieldDefinition.objects.get(code="valve")
    assert valve.choices == ["有", "无"] and valve.company_id == org.water.pk
    edit = client.post(f"/customers/extra-fields/{valve.pk}/", {
        "label": "阀门状态", "choices": "有\n无", "display_order": 3, "reason": "rename",
        "code": "changed", "field_type": "text"})
    assert edit.status_code == 302
    valve.refresh_from_db()
    assert (valve.label, valve.code, valve.field_type, valve.is_active) == ("阀门状态", "valve", "choice", False)
    assert login(org.admin_b).get(f"/customers/extra-fields/{valve.pk}/").status_code == 404
    assert login(org.clerk_b).get("/customers/extra-fields/").status_code == 403


def test_api_defines_sets_and_filters(org, login, company_admin, account, fields):
    admin = login(company_admin)
    created = admin.post("/api/v1/registry/extra-fields", {
        "entity": "customer", "company_id": org.water.pk, "code": "heating", "label": "采暖", "field_type": "boolean"},
        content_type="application/json")
    assert created.status_code == 201 and created.json()["code"] == "heating"
    client = login(org.admin_b)
    listed = [f["code"] for f in client.get("/api/v1/registry/extra-fields").json()]
    assert "heating" in listed and "power_only" not in listed
    url = f"/api/v1/registry/customers/{account.customer_id}/extra"
    bad = client.patch(url, json.dumps({"values": {"floors": 1.5, "guarantee": 1e400}}),
                       content_type="application/json", HTTP_ACCEPT_LANGUAGE="en")
    assert bad.status_code == 422
    assert {e["field"] for e in bad.json()["errors"]} == {"extra.floors", "extra.guarantee", "extra.meter_box"}
    ok = client.patch(url, json.dumps({"values": {"floors": 3, "guarantee": 0.1, "meter_box": "室内", "heating": True}}),
                      content_type="application/json")
    assert ok.status_code == 200 and ok.json()["extra"]["guarantee"] == "0.1"
    search = client.get("/api/v1/registry/customers", {"extra.heating": "true", "extra.floors": "3"}).json()
    assert [c["customer_no"] for c in search] == [account.customer.customer_no] and search[0]["extra"]["floors"] == 3
    unknown = client.get("/api/v1/registry/customers", {"extra.colour": "red"})
    assert unknown.status_code == 422 and unknown.json()["errors"][0]["field"] == "extra.colour"
    assert login(org.admin_a).patch(url, json.dumps({"values": {}}), content_type="application/json").status_code == 404


# --- attachments ------------------------------------------------------------------------------


def test_good_uploads_are_stored_with_sniffed_type_and_checksum(org, account, media):
    pdf = extras.attachment_add(actor=org.admin_b, customer_id=account.customer_id, kind="contract",
                                upload=SimpleUploadedFile("供水合同.pdf", PDF, "application/octet-stream"),
                                note="signed at the counter")
    # A PNG named .pdf is kept as the PNG it is, under a .png name.
    png = extras.attachment_add(actor=org.admin_b, customer_id=account.customer_id, kind="photo",
                                upload=SimpleUploadedFile("meter.pdf", PNG, "application/pdf"))
    assert (pdf.content_type, pdf.size, pdf.sha256) == ("application/pdf", len(PDF), hashlib.sha256(PDF).hexdigest())
    assert png.content_type == "image/png" and png.file.name.endswith(".png") and png.original_name == "meter.pdf"
    assert pdf.file.name.startswith("attachments/") and "供水合同" not in pdf.file.name
    assert (media / pdf.file.name).read_bytes() == PDF
    assert pdf.node_id == org.branch_b.pk and pdf.uploaded_by_id == org.admin_b.pk


@pytest.mark.parametrize("name, content, reason", [
    ("big.pdf", PDF + b"0" * 2048, "at most 2 KB"),
    ("photo.jpg", b"<html><script>alert(1)</script></html>", "not a PDF, JPEG, PNG, WebP or TIFF"),
    ("setup.jpg", b"MZ\x90\x00\x03\x00\x00\x00", "not a PDF, JPEG, PNG, WebP or TIFF"),
    ("empty.png", b"", "empty"),
])
def test_refused_uploads_leave_nothing(org, account, media, settings, name, content, reason):
    settings.UCIS_ATTACHMENT_MAX_BYTES = 2048
    with pytest.raises(DomainError) as caught:
        extras.attachment_add(actor=org.admin_b, customer_id=account.customer_id, kind="photo",
                              upload=SimpleUploadedFile(name, content, "image/jpeg"))
    assert list(problems(caught)) == ["file"] and reason in problems(caught)["file"]
    assert not CustomerAttachment.objects.exists() and stored_files(media) == []


def test_a_failure_after_storing_removes_the_file(org, account, media, monkeypatch):
    def broken_save(self, *args, **kwargs):
        raise RuntimeError("database went away")

    monkeypatch.setattr(CustomerAttachment, "save", broken_save)
    with pytest.raises(RuntimeError):
        extras.attachment_add(actor=org.admin_b, customer_id=account.customer_id, kind="contract",
                              upload=SimpleUploadedFile("c.pdf", PDF))
    assert stored_files(media) == []


def test_page_upload_download_and_delete_with_tenancy_and_audit(org, login, account, media):
    from ucis.org import services as org_services
    from ucis.platform.audit import audit_search, object_history

    client = login(org.admin_b)
    up = client.post(f"/customers/{account.customer_id}/attachments/",
                     {"kind": "contract", "note": "原件", "file": SimpleUploadedFile("合同.pdf", PDF, "text/html")})
    assert up.status_code == 302
    attachment = CustomerAttachment.objects.get()
    refused = client.post(f"/customers/{account.customer_id}/attachments/", {
        "kind": "photo", "file": SimpleUploadedFile("x.jpg", b"GIF89a....", "image/jpeg")}, follow=True,
        HTTP_ACCEPT_LANGUAGE="en")
    assert "judged by its content" in refused.content.decode() and CustomerAttachment.objects.count() == 1
    assert len(stored_files(media)) == 1
    page = client.get(f"/customers/{account.customer_id}/").content.decode()
    assert "合同.pdf" in page and f"/customers/attachments/{attachment.pk}/" in page

    download = client.get(f"/customers/attachments/{attachment.pk}/")
    assert download.status_code == 200 and b"".join(download.streaming_content) == PDF
    assert download["Content-Type"] == "application/pdf" and download["X-Content-Type-Options"] == "nosniff"
    assert download["Content-Disposition"].startswith("attachment;")
    api = client.get(f"/api/v1/registry/attachments/{attachment.pk}")
    assert api.status_code == 200 and b"".join(api.streaming_content) == PDF
    # Another branch's staff get a 404 (the customer is not theirs), page and API alike.
    assert login(org.admin_a).get(f"/customers/attachments/{attachment.pk}/").status_code == 404
    assert login(org.admin_a).get(f"/api/v1/registry/attachments/{attachment.pk}").status_code == 404
    # Cross-site service: a counter clerk of branch A finds the customer, and the documents with it.
    clerk_a = org_services.staff_create(actor=SYSTEM, username="clerk.a", password="Corr3ct-Horse-Battery",
                                        node_id=org.station_a.pk, roles=["counter_clerk"])
    assert login(clerk_a).get(f"/customers/attachments/{attachment.pk}/").status_code == 200

    client = login(org.admin_b)
    assert client.post(f"/customers/attachments/{attachment.pk}/delete/", {"reason": ""}).status_code == 302
    assert CustomerAttachment.objects.get().deleted_at is None
    assert client.post(f"/customers/attachments/{attachment.pk}/delete/",
                       {"reason": "uploaded to the wrong customer"}).status_code == 302
    assert client.get(f"/customers/attachments/{attachment.pk}/").status_code == 404
    assert stored_files(media), "the file is kept for the record"

    history = object_history(CustomerAttachment.objects.get())
    assert [e.reason for e in history] == ["attach contract", "download attachment", "download attachment",
                                           "download attachment", "uploaded to the wrong customer"]
    assert [e.actor for e in history] == ["admin.b", "admin.b", "admin.b", "clerk.a", "admin.b"]
    assert history[-1].changes and {c.field for c in history[-1].changes} >= {"deleted_at", "delete_reason"}
    found = audit_search(actor=org.admin_b, model="customers.customerattachment")
    assert len(found) == 5
    # A download is a GET (no request-wide audit context): its event still says from where.
    from pghistory.models import Context
    downloads = [c.metadata for c in Context.objects.all() if c.metadata.get("reason") == "download attachment"]
    assert len(downloads) == 3, downloads
    assert all(f"/attachments/{attachment.pk}" in m.get("url", "") and m.get("method") == "GET"
               and m.get("ip") == "127.0.0.1" for m in downloads), [(m.get("url"), m.get("method"), m.get("ip")) for m in downloads]


def test_id_scans_need_the_right_to_see_id_numbers(org, login, account, media):
    scan = extras.attachment_add(actor=org.admin_b, customer_id=account.customer_id, kind="id_scan",
                                 upload=SimpleUploadedFile("id.png", PNG))
    assert login(org.clerk_b).get(f"/customers/attachments/{scan.pk}/").status_code == 403
    assert login(org.manager_b).get(f"/customers/attachments/{scan.pk}/").status_code == 200


def test_api_upload_list_and_delete(org, login, account, media, settings):
    client = login(org.admin_b)
    url = f"/api/v1/registry/customers/{account.customer_id}/attachments"
    settings.UCIS_ATTACHMENT_MAX_BYTES = 100
    too_big = client.post(url, {"kind": "contract", "file": SimpleUploadedFile("c.pdf", PDF + b" " * 100)},
                          HTTP_ACCEPT_LANGUAGE="en")
    assert too_big.status_code == 422 and too_big.json()["errors"][0]["field"] == "file"
    renamed = client.post(url, {"kind": "photo", "file": SimpleUploadedFile("a.jpg", b"<svg onload=alert(1)>")})
    assert renamed.status_code == 422 and renamed.json()["errors"][0]["field"] == "file"
    assert stored_files(media) == [] and not CustomerAttachment.objects.exists()
    created = client.post(url, {"kind": "photo", "note": "表箱", "file": SimpleUploadedFile("a.png", PNG)})
    assert created.status_code == 201 and created.json()["content_type"] == "image/png"
    assert [a["id"] for a in client.get(url).json()] == [created.json()["id"]]
    assert login(org.admin_a).get(url).status_code == 404
    client = login(org.admin_b)
    gone = client.delete(f"/api/v1/registry/attachments/{created.json()['id']}", json.dumps({"reason": "duplicate"}),
                         content_type="application/json")
    assert gone.status_code == 204, gone.content
    assert client.get(url).json() == []



def test_openapi_declares_the_new_routes_with_422(org, login):
    paths = login(org.admin_b).get("/api/v1/openapi.json").json()["paths"]
    for path, method in [("/api/v1/registry/extra-fields", "post"), ("/api/v1/registry/customers/{customer_id}/extra",
                                                                     "patch"),
                         ("/api/v1/registry/customers/{customer_id}/attachments", "post"),
                         ("/api/v1/registry/attachments/{attachment_id}", "delete")]:
        assert "422" in paths[path][method]["responses"], path
    upload = paths["/api/v1/registry/customers/{customer_id}/attachments"]["post"]["requestBody"]["content"]
    assert "multipart/form-data" in upload
