"""Changing and closing: customer and account changes, closing an account, removing and replacing
meters — each refusal names the field and changes nothing; every change carries its reason."""

from datetime import date, timedelta
from decimal import Decimal

import pytest
from django.http import Http404

from ucis.customers import identity, services
from ucis.customers.models import Account, Customer, Meter, MeterInstallation, ServiceAgreement
from ucis.customers.services import CustomerInput
from ucis.customers.tests.conftest import ID_NUMBER, TODAY
from ucis.kernel.errors import DomainError
from ucis.platform.audit import object_history
from ucis.platform.tenancy import SYSTEM

OTHER_ID = "11010519501231001" + identity.resident_id_check_char("11010519501231001")


def fields_of(exc: pytest.ExceptionInfo) -> set[str]:
    return {p.field for p in exc.value.problems}


def snapshot(model, pk):
    return model.objects.filter(pk=pk).values().get()


@pytest.fixture
def installed(org, account):
    meter = services.meter_register(actor=org.admin_b, node_id=org.station_b.pk, serial="OLD-1", commodity="water",
                                    meter_type="mechanical")
    point = account.agreements.get().service_point
    services.meter_install(actor=org.admin_b, meter_id=meter.pk, service_point_id=point.pk,
                           installed_date=date(2026, 1, 10), install_reading=Decimal("100"))
    spare = services.meter_register(actor=org.admin_b, node_id=org.station_b.pk, serial="NEW-1", commodity="water",
                                    meter_type="smart")
    return meter, spare, point


# --- customer_update -----------------------------------------------------------------------------


def test_customer_update_changes_details_keeps_hashes_and_records_the_reason(org, account):
    from ucis.platform import crypto

    customer = services.customer_update(
        actor=org.admin_b, customer_id=account.customer_id, reason="改名证明已核验", today=TODAY,
        changes={"name": "李四", "phone": "139 0000 1111", "email": "li@example.cn", "grade": "A",
                 "customer_type": "non_resident", "id_type": "passport", "id_number": "E12345678"})
    stored = Customer.objects.get(pk=customer.pk)
    assert (stored.name, stored.name_initials, stored.grade, stored.customer_type) == ("李四", "LS", "A",
                                                                                      "non_resident")
    assert stored.phone == "13900001111" and stored.phone_hash == crypto.keyed_hash("13900001111", kind="phone")
    assert stored.id_number == "E12345678"
    assert stored.id_number_hash == crypto.keyed_hash("E12345678", kind="id_number")
    last = object_history(stored)[-1]
    assert last.reason == "改名证明已核验" and last.actor == "admin.b"
    assert {c.field for c in last.changes} >= {"name", "grade"}


def test_customer_update_without_a_difference_writes_nothing(org, account):
    before = snapshot(Customer, account.customer_id)
    events = len(object_history(account.customer))
    services.customer_update(actor=org.admin_b, customer_id=account.customer_id, reason="核对", today=TODAY,
                             changes={"name": "张三", "phone": "13812345678", "id_number": ID_NUMBER})
    assert snapshot(Customer, account.customer_id) == before
    assert len(object_history(account.customer)) == events


@pytest.mark.parametrize("changes, field", [
    ({"colour": "red"}, "colour"),
    ({"phone": "123"}, "phone"),
    ({"name": ""}, "name"),
    ({"email": "not-an-email"}, "email"),
    ({"grade": "Z"}, "grade"),
    ({"customer_type": "alien"}, "customer_type"),
    ({"id_number": "110105194912310028"}, "id_number"),
    ({"id_type": "", "id_number": "X1"}, "id_type"),
])
def test_customer_update_refusals_name_the_field_and_change_nothing(org, account, changes, field):
    before = snapshot(Customer, account.customer_id)
    with pytest.raises(DomainError) as exc:
        services.customer_update(actor=org.admin_b, customer_id=account.customer_id, changes=changes,
                                 reason="x", today=TODAY)
    assert field in fields_of(exc)
    assert snapshot(Customer, account.customer_id) == before


def test_customer_update_refuses_another_customers_id_number_and_a_missing_reason(org, account):
    services.customer_create(actor=SYSTEM, data=CustomerInput(name="王五", customer_type="resident",
                                                              id_type="resident_id", id_number=OTHER_ID), today=TODAY)
    before = snapshot(Customer, account.customer_id)
    with pytest.raises(DomainError) as exc:
        services.customer_update(actor=org.admin_b, customer_id=account.customer_id, changes={"id_number": OTHER_ID},
                                 reason="x", today=TODAY)
    assert fields_of(exc) == {"id_number"}
    with pytest.raises(DomainError) as exc:
        services.customer_update(actor=org.admin_b, customer_id=account.customer_id, changes={"name": "李四"},
                                 reason=" ", today=TODAY)
    assert fields_of(exc) == {"reason"}
    assert snapshot(Customer, account.customer_id) == before


def test_another_branch_cannot_change_the_customer(org, account):
    with pytest.raises(Http404):
        services.customer_update(actor=org.admin_a, customer_id=account.customer_id, changes={"name": "李四"},
                                 reason="x", today=TODAY)


# --- account_update / account_close --------------------------------------------------------------


def test_account_update_changes_payment_delivery_deposit_and_billing_premise(org, account):
    other = services.premise_create(actor=SYSTEM, area_code="D01-S01-C01-B03-U2", room="601")
    changed = services.account_update(actor=org.admin_b, account_id=account.pk, reason="客户申请代扣", changes={
        "payment_method": "bank_debit", "bill_delivery": "wechat", "deposit": "200.50",
        "billing_premise_id": other.pk})
    stored = Account.objects.get(pk=changed.pk)
    assert (stored.payment_method, stored.bill_delivery, stored.deposit) == ("bank_debit", "wechat",
                                                                              Decimal("200.50"))
    assert stored.billing_premise_id == other.pk and stored.billing_address.endswith("601室")
    assert object_history(stored)[-1].reason == "客户申请代扣"


@pytest.mark.parametrize("changes, field", [
    ({"deposit": "-1"}, "deposit"),
    ({"deposit": "abc"}, "deposit"),
    ({"payment_method": "barter"}, "payment_method"),
    ({"bill_delivery": "pigeon"}, "bill_delivery"),
    ({"billing_premise_id": 999999}, "billing_premise_id"),
    ({"status": "closed"}, "status"),
])
def test_account_update_refusals(org, account, changes, field):
    before = snapshot(Account, account.pk)
    with pytest.raises(DomainError) as exc:
        services.account_update(actor=org.admin_b, account_id=account.pk, changes=changes, reason="x")
    assert field in fields_of(exc)
    assert snapshot(Account, account.pk) == before


def test_account_close_ends_the_agreements_and_is_recorded(org, account):
    closed = services.account_close(actor=org.admin_b, account_id=account.pk, closed_date=date(2026, 12, 31),
                                    reason="客户搬离")
    assert (closed.status, closed.closed_date) == ("closed", date(2026, 12, 31))
    agreement = ServiceAgreement.objects.get(account=account)
    assert agreement.active_to == date(2026, 12, 31)
    assert object_history(Account.objects.get(pk=account.pk))[-1].reason == "客户搬离"
    with pytest.raises(DomainError) as exc:
        services.account_close(actor=org.admin_b, account_id=account.pk, closed_date=date(2027, 1, 5), reason="x")
    assert fields_of(exc) == {"status"}
    with pytest.raises(DomainError) as exc:
        services.account_update(actor=org.admin_b, account_id=account.pk, changes={"deposit": "1"}, reason="x")
    assert fields_of(exc) == {"status"}


@pytest.mark.parametrize("closed_date, reason, field", [
    (TODAY - timedelta(days=1), "搬离", "closed_date"),  # before opening
    (TODAY, "搬离", "closed_date"),  # the agreement starts that day: it would have no day at all
    (TODAY + timedelta(days=5), "", "reason"),
])
def test_account_close_refusals_change_nothing(org, account, closed_date, reason, field):
    before = (snapshot(Account, account.pk), list(ServiceAgreement.objects.values()))
    with pytest.raises(DomainError) as exc:
        services.account_close(actor=org.admin_b, account_id=account.pk, closed_date=closed_date, reason=reason)
    assert fields_of(exc) == {field}
    assert (snapshot(Account, account.pk), list(ServiceAgreement.objects.values())) == before


def test_another_branch_cannot_close_the_account(org, account):
    with pytest.raises(Http404):
        services.account_close(actor=org.admin_a, account_id=account.pk, closed_date=TODAY + timedelta(days=1),
                               reason="x")
    assert Account.objects.get(pk=account.pk).status == "active"


# --- meter_remove / meter_replace ----------------------------------------------------------------


def test_meter_remove_closes_the_installation(org, installed):
    meter, _spare, _point = installed
    removal = services.meter_remove(actor=org.admin_b, meter_id=meter.pk, removed_date=date(2026, 6, 1),
                                    removal_reading="350.5", reason="表计损坏")
    assert (removal.removed_date, removal.removal_reading, removal.reason) == (date(2026, 6, 1), Decimal("350.5"),
                                                                              "表计损坏")
    assert Meter.objects.get(pk=meter.pk).status == "removed"
    assert object_history(Meter.objects.get(pk=meter.pk))[-1].reason == "表计损坏"
    with pytest.raises(DomainError) as exc:
        services.meter_remove(actor=org.admin_b, meter_id=meter.pk, removed_date=date(2026, 7, 1),
                              removal_reading="400", reason="x")
    assert fields_of(exc) == {"meter_id"}


def test_meter_replace_swaps_meters_on_the_same_service_point(org, installed):
    meter, spare, point = installed
    new = services.meter_replace(actor=org.admin_b, meter_id=meter.pk, new_meter_id=spare.pk,
                                 replaced_date=date(2026, 6, 1), removal_reading="350", install_reading="0.5",
                                 reason="周期换表")
    assert (new.meter_id, new.service_point_id, new.installed_date, new.install_reading) == (
        spare.pk, point.pk, date(2026, 6, 1), Decimal("0.5"))
    old = MeterInstallation.objects.get(meter=meter)
    assert (old.removed_date, old.removal_reading) == (date(2026, 6, 1), Decimal("350"))
    assert dict(Meter.objects.values_list("serial", "status")) == {"OLD-1": "removed", "NEW-1": "installed"}
    assert object_history(Meter.objects.get(pk=spare.pk))[-1].reason == "周期换表"


@pytest.mark.parametrize("kwargs, field", [
    ({"removal_reading": "99"}, "removal_reading"),
    ({"removal_reading": "abc"}, "removal_reading"),
    ({"replaced_date": date(2026, 1, 9)}, "removed_date"),
    ({"install_reading": "-1"}, "install_reading"),
    ({"reason": ""}, "reason"),
    ({"new_meter_id": "old"}, "new_meter_id"),
    ({"new_meter_id": "gas"}, "new_meter_id"),
])
def test_meter_replace_refusals_are_all_or_nothing(org, installed, kwargs, field):
    meter, spare, _point = installed
    if kwargs.get("new_meter_id") == "old":
        kwargs = {**kwargs, "new_meter_id": meter.pk}
    elif kwargs.get("new_meter_id") == "gas":
        gas = services.meter_register(actor=org.admin_b, node_id=org.station_b.pk, serial="GAS-1", commodity="gas",
                                      meter_type="smart")
        kwargs = {**kwargs, "new_meter_id": gas.pk}
    args = {"meter_id": meter.pk, "new_meter_id": spare.pk, "replaced_date": date(2026, 6, 1),
            "removal_reading": "350", "install_reading": "0", "reason": "周期换表", **kwargs}
    before = (list(MeterInstallation.objects.values()), list(Meter.objects.values("pk", "status")))
    with pytest.raises(DomainError) as exc:
        services.meter_replace(actor=org.admin_b, **args)
    assert field in fields_of(exc)
    assert (list(MeterInstallation.objects.values()), list(Meter.objects.values("pk", "status"))) == before


def test_another_branch_cannot_replace_the_meter(org, installed):
    meter, spare, _point = installed
    with pytest.raises(Http404):
        services.meter_replace(actor=org.admin_a, meter_id=meter.pk, new_meter_id=spare.pk,
                               replaced_date=date(2026, 6, 1), removal_reading="350", install_reading="0",
                               reason="x")
    assert Meter.objects.get(pk=meter.pk).status == "installed"


# --- API -----------------------------------------------------------------------------------------

API = "/api/v1/registry"


def call(client, method, url, body):
    import json

    return getattr(client, method)(API + url, data=json.dumps(body), content_type="application/json",
                                   HTTP_ACCEPT_LANGUAGE="en")


def test_api_changes_and_closes(org, login, account):
    client = login(org.admin_b)
    patched = call(client, "patch", f"/customers/{account.customer_id}", {"grade": "B", "reason": "年审"})
    assert patched.status_code == 200 and patched.json()["grade"] == "B"
    bad = call(client, "patch", f"/customers/{account.customer_id}", {"phone": "12", "reason": "x"})
    assert bad.status_code == 422 and bad.json()["errors"][0]["field"] == "phone"
    assert call(client, "patch", f"/customers/{account.customer_id}", {"grade": "B"}).status_code == 422
    listed = client.get(f"{API}/customers/{account.customer_id}/accounts").json()
    assert [a["account_no"] for a in listed] == [account.account_no]
    changed = call(client, "patch", f"/accounts/{account.pk}", {"deposit": "50.00", "reason": "补交押金"})
    assert changed.status_code == 200 and changed.json()["deposit"] in ("50.00", 50.0, "50")
    negative = call(client, "patch", f"/accounts/{account.pk}", {"deposit": "-5", "reason": "x"})
    assert negative.status_code == 422 and negative.json()["errors"][0]["field"] == "deposit"
    early = call(client, "post", f"/accounts/{account.pk}/close", {"closed_date": "2020-01-01", "reason": "x"})
    assert early.status_code == 422 and early.json()["errors"][0]["field"] == "closed_date"
    closed = call(client, "post", f"/accounts/{account.pk}/close", {"closed_date": "2026-12-31", "reason": "搬离"})
    assert closed.status_code == 200 and closed.json()["status"] == "closed"
    assert closed.json()["closed_date"] == "2026-12-31"


def test_api_premises_and_meters(org, login, account):
    client = login(org.admin_b)
    premise = call(client, "post", "/premises", {"area_code": "D01-S01-C01-B03-U2", "room": "701"})
    assert premise.status_code == 201 and premise.json()["address"].endswith("701室")
    unknown = call(client, "post", "/premises", {"area_code": "NOPE"})
    assert unknown.status_code == 422 and unknown.json()["errors"][0]["field"] == "area_code"
    body = {"node_id": org.station_b.pk, "serial": "api-1", "commodity": "water", "meter_type": "smart"}
    old = call(client, "post", "/meters", body)
    assert old.status_code == 201 and old.json()["serial"] == "API-1"
    bad = call(client, "post", "/meters", {**body, "serial": "api-2", "commodity": "milk", "dial_digits": 20})
    assert bad.status_code == 422 and {e["field"] for e in bad.json()["errors"]} == {"commodity", "dial_digits"}
    new = call(client, "post", "/meters", {**body, "serial": "api-2"}).json()
    point = account.agreements.get().service_point_id
    installed = call(client, "post", f"/meters/{old.json()['id']}/install",
                     {"service_point_id": point, "installed_date": "2026-01-01", "install_reading": "10"})
    assert installed.status_code == 201, installed.content
    low = call(client, "post", f"/meters/{old.json()['id']}/replace",
               {"new_meter_id": new["id"], "replaced_date": "2026-05-01", "removal_reading": "5", "reason": "换表"})
    assert low.status_code == 422 and low.json()["errors"][0]["field"] == "removal_reading"
    replaced = call(client, "post", f"/meters/{old.json()['id']}/replace",
                    {"new_meter_id": new["id"], "replaced_date": "2026-05-01", "removal_reading": "80",
                     "reason": "换表"})
    assert replaced.status_code == 201 and replaced.json()["meter_id"] == new["id"]
    removed = call(client, "post", f"/meters/{new['id']}/remove",
                   {"removed_date": "2026-08-01", "removal_reading": "30", "reason": "停用"})
    assert removed.status_code == 200 and removed.json()["removed_date"] == "2026-08-01"
    assert Meter.objects.get(pk=new["id"]).status == "removed"


def test_api_writes_on_another_branchs_objects_are_404_and_change_nothing(org, login, account, installed):
    meter, spare, point = installed
    client = login(org.admin_a)
    before = (snapshot(Customer, account.customer_id), snapshot(Account, account.pk),
              list(MeterInstallation.objects.values()))
    for method, url, body in [
        ("patch", f"/customers/{account.customer_id}", {"name": "李四", "reason": "x"}),
        ("get", f"/customers/{account.customer_id}/accounts", None),
        ("patch", f"/accounts/{account.pk}", {"deposit": "1", "reason": "x"}),
        ("post", f"/accounts/{account.pk}/close", {"closed_date": "2026-12-31", "reason": "x"}),
        ("post", f"/meters/{meter.pk}/remove", {"removed_date": "2026-06-01", "removal_reading": "200",
                                                "reason": "x"}),
        ("post", f"/meters/{meter.pk}/replace", {"new_meter_id": spare.pk, "replaced_date": "2026-06-01",
                                                 "removal_reading": "200", "reason": "x"}),
        ("post", f"/meters/{spare.pk}/install", {"service_point_id": point.pk, "installed_date": "2026-06-01"}),
    ]:
        response = client.get(API + url) if method == "get" else call(client, method, url, body)
        assert response.status_code == 404, (url, response.content)
    meter_a = services.meter_register(actor=org.admin_a, node_id=org.station_a.pk, serial="A-1", commodity="water",
                                      meter_type="smart")
    # Branch B's service point is not branch A's to install on, even with A's own meter.
    assert call(client, "post", f"/meters/{meter_a.pk}/install",
                {"service_point_id": point.pk, "installed_date": "2026-06-01"}).status_code == 404
    assert call(client, "post", "/meters", {"node_id": org.station_b.pk, "serial": "A-2", "commodity": "water",
                                            "meter_type": "smart"}).status_code == 404
    after = (snapshot(Customer, account.customer_id), snapshot(Account, account.pk),
             list(MeterInstallation.objects.values()))
    assert before == after


# --- screens -------------------------------------------------------------------------------------


def test_edit_customer_page(org, login, account):
    client = login(org.clerk_b)
    detail = client.get(f"/customers/{account.customer_id}/").content.decode()
    assert f"/customers/{account.customer_id}/edit/" in detail and f"/customers/accounts/{account.pk}/close/" in detail
    page = client.get(f"/customers/{account.customer_id}/edit/").content.decode()
    assert "138****5678" in page and "13812345678" not in page
    form = {"name": "张三", "customer_type": "resident", "grade": "C", "phone": "138****5678", "email": "",
            "id_type": "resident_id", "id_number": "110105********002X", "reason": "x"}
    bad = client.post(f"/customers/{account.customer_id}/edit/", {**form, "name": "张三", "email": "nope"},
                      HTTP_ACCEPT_LANGUAGE="en")
    assert bad.status_code == 200 and "errorlist" in bad.content.decode()
    ok = client.post(f"/customers/{account.customer_id}/edit/", {**form, "grade": "A", "reason": "年审"})
    assert ok.status_code == 302
    stored = Customer.objects.get(pk=account.customer_id)
    # The masked numbers shown in the form were not written back.
    assert (stored.grade, stored.phone, stored.id_number) == ("A", "13812345678", ID_NUMBER)


def test_change_account_page(org, login, account):
    client = login(org.admin_b)
    assert client.get(f"/customers/accounts/{account.pk}/change/").status_code == 200
    form = {"payment_method": "wechat", "bill_delivery": "sms", "deposit": "-3", "billing_address": "", "reason": "x"}
    bad = client.post(f"/customers/accounts/{account.pk}/change/", form, HTTP_ACCEPT_LANGUAGE="en")
    assert bad.status_code == 200 and "must be an amount" in bad.content.decode()
    assert client.post(f"/customers/accounts/{account.pk}/change/", {**form, "deposit": "100"}).status_code == 302
    assert Account.objects.get(pk=account.pk).deposit == Decimal("100")


def test_close_account_page_asks_for_confirmation(org, login, account):
    client = login(org.admin_b)
    form = {"closed_date": "2026-12-31", "reason": "搬离"}
    unconfirmed = client.post(f"/customers/accounts/{account.pk}/close/", form)
    assert unconfirmed.status_code == 200 and Account.objects.get(pk=account.pk).status == "active"
    early = client.post(f"/customers/accounts/{account.pk}/close/", {**form, "closed_date": "2020-01-01",
                                                                      "confirm": "on"}, HTTP_ACCEPT_LANGUAGE="en")
    assert "must not be before the account was opened" in early.content.decode()
    done = client.post(f"/customers/accounts/{account.pk}/close/", {**form, "confirm": "on"})
    assert done.status_code == 302 and Account.objects.get(pk=account.pk).status == "closed"


def test_replace_meter_page(org, login, installed):
    meter, spare, _point = installed
    client = login(org.admin_b)
    page = client.get(f"/customers/meters/{meter.pk}/replace/").content.decode()
    assert "NEW-1" in page
    form = {"new_meter_id": spare.pk, "replaced_date": "2026-06-01", "removal_reading": "50", "install_reading": "0",
            "reason": "周期换表"}
    low = client.post(f"/customers/meters/{meter.pk}/replace/", form, HTTP_ACCEPT_LANGUAGE="en")
    assert low.status_code == 200 and "must not be below the reading at install" in low.content.decode()
    assert client.post(f"/customers/meters/{meter.pk}/replace/", {**form, "removal_reading": "300"}).status_code == 302
    assert Meter.objects.get(pk=spare.pk).status == "installed"


def test_remove_meter_page(org, login, installed):
    meter, _spare, _point = installed
    client = login(org.admin_b)
    detail = client.get(f"/customers/{installed[2].premise.service_points.get().agreements.get().account.customer_id}/")
    assert f"/customers/meters/{meter.pk}/remove/" in detail.content.decode()
    form = {"removed_date": "2026-06-01", "removal_reading": "50", "reason": "用户报停拆表"}
    low = client.post(f"/customers/meters/{meter.pk}/remove/", form, HTTP_ACCEPT_LANGUAGE="en")
    assert low.status_code == 200 and "must not be below the reading at install" in low.content.decode()
    assert Meter.objects.get(pk=meter.pk).status == "installed"
    assert client.post(f"/customers/meters/{meter.pk}/remove/", {**form, "removal_reading": "180"}).status_code == 302
    assert Meter.objects.get(pk=meter.pk).status == "removed"
    assert client.get(f"/customers/meters/{meter.pk}/remove/", HTTP_ACCEPT_LANGUAGE="en").status_code == 200
    assert login(org.admin_a).get(f"/customers/meters/{meter.pk}/remove/").status_code == 404
