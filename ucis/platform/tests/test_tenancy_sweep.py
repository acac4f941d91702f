"""Generic proof of subtree visibility: every route that takes an id, page or API, answers 404 to
a fully-privileged staff member of another branch — for GET and for every write method."""

from __future__ import annotations

import re

import pytest
from django.apps import apps
from django.urls import URLPattern, URLResolver, get_resolver

from ucis.platform.tenancy import ID_KWARGS

ID_KWARG = re.compile(r"<(?:int:)?(\w+_id)>|\{(\w+_id)\}")


def _routes(resolver=None, prefix=""):
    resolver = resolver or get_resolver()
    for entry in resolver.url_patterns:
        if isinstance(entry, URLResolver):
            yield from _routes(entry, prefix + str(entry.pattern))
        elif isinstance(entry, URLPattern):
            yield prefix + str(entry.pattern), entry


def _id_routes():
    found = []
    for route, _pattern in _routes():
        if route.startswith("admin/"):
            continue  # Django admin: covered by TenantAdminMixin test below
        kwargs = [a or b for a, b in ID_KWARG.findall(route)]
        if kwargs:
            found.append((route, kwargs))
    return found


def _fill(route: str, values: dict[str, int]) -> str:
    url = "/" + route.lstrip("^").rstrip("$")
    for name, value in values.items():
        url = re.sub(rf"<(?:int:)?{name}>", str(value), url)
    return url


def test_every_id_kwarg_is_registered_with_tenancy():
    unregistered = {k for _route, kwargs in _id_routes() for k in kwargs if k not in ID_KWARGS}
    assert not unregistered, f"register these URL kwargs with tenancy.register_id_kwarg: {unregistered}"
    assert _id_routes(), "no id routes found — the sweep would prove nothing"


@pytest.fixture
def foreign_objects(org, settings, tmp_path):
    """For each registered model, an object inside branch A (invisible to branch B)."""
    from datetime import date

    from django.core.files.uploadedfile import SimpleUploadedFile

    from ucis.customers import extras
    from ucis.customers import services as customer_services
    from ucis.customers.services import AccountInput, CustomerInput
    from ucis.platform.tenancy import SYSTEM

    area = customer_services.address_area_get_or_create(actor=SYSTEM, levels=[("district", "SW-D", "甲区")])
    premise = customer_services.premise_create(actor=SYSTEM, area_code=area.code, room="101")
    account = customer_services.account_open(
        actor=SYSTEM, customer_id=None, new_customer=CustomerInput(name="甲客户", customer_type="resident"),
        data=AccountInput(node_id=org.station_a.pk, premise_id=premise.pk, commodities=("water",)),
        today=date(2026, 11, 23))
    meter = customer_services.meter_register(actor=SYSTEM, node_id=org.station_a.pk, serial="SWEEP-1",
                                             commodity="water", meter_type="smart")
    from ucis.customers import imports

    job = imports.import_job_create(actor=org.admin_a, content="户号,户名\n甲客户,甲客户\n".encode(), filename="甲客户.csv")
    settings.MEDIA_ROOT = tmp_path
    attachment = extras.attachment_add(actor=SYSTEM, customer_id=account.customer_id, kind="contract",
                                       upload=SimpleUploadedFile("甲合同.pdf", b"%PDF-1.7\n%%EOF\n"))
    # Company-level fields are administered at the company node or above: not from branch B.
    field = extras.extra_field_define(actor=SYSTEM, company_id=org.water.pk, data=extras.ExtraFieldInput(
        entity="customer", code="sweep_field", label="甲字段", field_type="text"))
    from ucis.metering import review as metering_review
    from ucis.metering import services as metering_services

    route = metering_services.route_create(actor=SYSTEM, data=metering_services.RouteInput(
        code="SWEEP-R", name="甲抄表本", node_id=org.station_a.pk, commodity="water"))
    point = account.agreements.get().service_point
    metering_services.route_stops_assign(actor=SYSTEM, route_id=route.pk, service_point_ids=[point.pk],
                                         reason="sweep")
    cycle = metering_services.read_cycle_open(actor=SYSTEM, company_id=org.water.pk, period="2026-11")[0]
    metering_review.read_review_require(service_points=[(point.pk, point.node_id)], period=cycle.period,
                                        reason="new_business")
    # Prices are a company's (readable by all its units): another company's tariff stays invisible.
    # Bill runs are a company's; a bill belongs to the account's unit in branch A.
    from ucis.billing.models import Bill, BillRun
    from ucis.metering.models import ReadReview
    from ucis.tariffs.models import Tariff

    tariff = Tariff.objects.create(code="SWEEP-T", name="甲价格", company=org.power, commodity="electricity",
                                   customer_types=["resident"])
    run = BillRun.objects.create(company=org.power, commodity="electricity", period=date(2026, 11, 1))
    bill_run = BillRun.objects.create(company=org.water, commodity="water", period=date(2026, 10, 1))
    bill = Bill.objects.create(run=bill_run, account=account, company=org.water, node=org.station_a,
                               period=date(2026, 10, 1), period_from=date(2026, 9, 10), period_to=date(2026, 10, 10),
                               usage=0, total=0, messages=["甲客户"])
    from ucis.payments import services as payment_services

    paid = payment_services.payment_post(actor=SYSTEM, account_id=account.pk, amount="12.00", channel="counter",
                                         node_id=org.station_a.pk)
    from ucis.ledger.models import JournalEntry

    entry = JournalEntry.objects.get(idempotency_key=f"payment:{paid.payment.pk}")
    from ucis.ledger.models import CorrectionOrder

    correction = CorrectionOrder.objects.create(company=org.water, node=org.station_a, account=account,
                                                kind="penalty_setting", amount=0, reason="sweep",
                                                details={"active_from": "2026-01-01"})
    from datetime import timedelta

    from django.utils import timezone

    from ucis.service.models import Outage, Supervision, WorkOrder

    now = timezone.now()
    order = WorkOrder.objects.create(order_no="SWEEP-O1", company=org.water, node=org.station_a, order_type="repair",
                                     channel="hotline", subject="甲客户报修", caller_name="甲客户", created_at=now)
    supervision = Supervision.objects.create(order=order, level=1, node=org.branch_a, reason="甲客户", raised_at=now)
    outage = Outage.objects.create(company=org.water, node=org.branch_a, commodity="water", kind="planned",
                                   starts_at=now, ends_at=now + timedelta(hours=2), reason="甲客户停水")
    # Knowledge is shared down the tree (the group's and the company's articles reach every branch);
    # another company's article stays invisible.
    from ucis.knowledge import services as knowledge_services

    category = knowledge_services.category_create(actor=SYSTEM, code="sweep", name="甲类别", node_id=org.power.pk)
    article = knowledge_services.article_create(actor=SYSTEM, node_id=org.power.pk, data=knowledge_services.ArticleInput(
        title="甲客户须知", answer="甲客户", category_id=category.pk))
    objects = {"service.WorkOrder": order, "service.Supervision": supervision, "service.Outage": outage,
               "knowledge.KnowledgeArticle": article,
               "tariffs.Tariff": tariff, "payments.Payment": paid.payment, "ledger.JournalEntry": entry,
               "ledger.CorrectionOrder": correction, "billing.BillRun": run, "billing.Bill": bill,
               "metering.Route": route, "metering.ReadCycle": cycle,
               "metering.ReadReview": ReadReview.objects.get(service_point=point),
               "org.OrgNode": org.branch_a, "org.User": org.admin_a, "customers.Customer": account.customer,
               "customers.Account": account, "customers.Premise": premise, "customers.Meter": meter,
               "customers.CustomerAttachment": attachment, "customers.ExtraFieldDefinition": field,
               "customers.ImportJob": job}
    missing = set(ID_KWARGS.values()) - set(objects)
    assert not missing, f"add a branch-A object for {missing} to this fixture"
    return objects


def test_foreign_ids_are_404_everywhere(org, login, foreign_objects):
    client = login(org.admin_b)
    checked = 0
    for route, kwargs in _id_routes():
        url = _fill(route, {k: foreign_objects[ID_KWARGS[k]].pk for k in kwargs})
        for method in ("get", "post", "patch"):
            response = getattr(client, method)(url, data={} if method != "patch" else "{}",
                                               content_type="application/json" if method == "patch" else
                                               "application/x-www-form-urlencoded" if method == "post" else None)
            if response.status_code == 405:
                continue
            # The API checks a body's shape before looking anything up: an empty body may be a 422
            # about the payload (which says nothing of the object); valid bodies are tested below.
            allowed = (404, 422) if url.startswith("/api/") and method != "get" else (404,)
            assert response.status_code in allowed, f"{method.upper()} {url} gave {response.status_code}"
            body = response.content.decode()
            assert "甲分公司" not in body and "admin.a" not in body and "甲客户" not in body, f"{url} leaked"
            assert "甲合同" not in body and "甲字段" not in body and "%PDF" not in body, f"{url} leaked"
            checked += 1
    assert checked >= 15


def test_own_ids_are_visible(org, login):
    client = login(org.admin_b)
    assert client.get(f"/org/nodes/{org.station_b.pk}/").status_code == 200
    assert client.get(f"/api/v1/org/nodes/{org.station_b.pk}").status_code == 200
    assert client.get(f"/org/staff/{org.clerk_b.pk}/").status_code == 200


def test_lists_and_exports_hold_only_the_subtree(org, login):
    client = login(org.admin_b)
    pages = {
        "/org/": "TW-A", "/org/export.csv": "TW-A", "/org/staff/": "admin.a",
        "/org/staff/export.csv": "admin.a", "/api/v1/org/nodes": "TW-A", "/api/v1/org/staff": "admin.a",
    }
    for url, foreign in pages.items():
        response = client.get(url)
        assert response.status_code == 200, url
        body = b"".join(response.streaming_content).decode() if response.streaming else response.content.decode()
        assert foreign not in body, f"{url} shows {foreign}"
        assert "TW-B" in body or "clerk.b" in body, f"{url} is missing the branch's own data"


def test_admin_changelists_are_scoped(org, client):
    # A Django-admin user confined to branch B sees only its subtree in the admin too.
    org.admin_b.is_staff = True
    org.admin_b.save()
    client.force_login(org.admin_b, backend="django.contrib.auth.backends.ModelBackend")
    assert client.get(f"/admin/org/orgnode/{org.branch_a.pk}/change/").status_code in (302, 404)
    body = client.get("/admin/org/orgnode/").content.decode()
    assert "TW-B" in body and "TW-A-1" not in body


def test_every_tenant_model_declares_its_tree_field():
    for model in apps.get_app_config("org").get_models():
        if hasattr(model.objects, "visible_to"):
            assert hasattr(model, "tenancy_node_field"), model


@pytest.mark.parametrize("method, path, payload", [
    ("patch", "/api/v1/org/nodes/{a}", {"name": "x"}),
    ("post", "/api/v1/org/nodes/{a}/move", {"new_parent_id": "{b}"}),
    ("post", "/api/v1/org/nodes", {"parent_id": "{a}", "code": "NEW-1", "name": "x", "kind": "station"}),
    ("patch", "/api/v1/org/staff/{staff_a}", {"display_name": "x"}),
    ("post", "/api/v1/org/staff", {"username": "new.one", "password": "Corr3ct-Horse-Battery", "node_id": "{a}"}),
    ("post", "/api/v1/org/staff/active", {"staff_ids": ["{staff_a}"], "is_active": False, "reason": "x"}),
])
def test_api_writes_with_valid_bodies_on_foreign_ids_are_404_and_change_nothing(org, login, method, path, payload):
    import json

    from ucis.org.models import OrgNode, User

    ids = {"a": org.branch_a.pk, "b": org.branch_b.pk, "staff_a": org.admin_a.pk}
    fill = lambda v: int(v.format(**ids)) if isinstance(v, str) and v.startswith("{") else v  # noqa: E731
    body = {k: [fill(i) for i in v] if isinstance(v, list) else fill(v) for k, v in payload.items()}
    before = (list(OrgNode.objects.values_list("id", "name", "path")),
              list(User.objects.values_list("id", "display_name", "is_active")))
    response = getattr(login(org.admin_b), method)(path.format(**ids), data=json.dumps(body),
                                                   content_type="application/json", HTTP_ACCEPT_LANGUAGE="en")
    if path.endswith("/active"):
        # A bulk action reports an invisible id exactly like a missing one.
        assert response.status_code == 422 and "no such staff member" in response.content.decode()
    else:
        assert response.status_code == 404, response.content
    after = (list(OrgNode.objects.values_list("id", "name", "path")),
             list(User.objects.values_list("id", "display_name", "is_active")))
    assert before == after
