"""The service desk's pages and API as staff use them (Django test client, real PostgreSQL)."""

from __future__ import annotations

import json
from datetime import timedelta

from django.utils import timezone

from ucis.service import services
from ucis.service.models import WorkOrder, WorkOrderDraft


def post_json(client, url, payload):
    return client.post(url, data=json.dumps(payload), content_type="application/json")


def test_screen_pop_intake_and_console(desk, login):
    client = login(desk.agent)
    phone = "13812340000"
    page = client.get(f"/service/agent/?phone={phone}")
    assert page.status_code == 200
    assert page.context["customer"].pk == desk.site.accounts[0].customer_id
    assert page.context["form"].initial["account_id"] == desk.site.accounts[0].pk
    assert "WM00000" in page.content.decode()
    created = client.post("/service/orders/new/", {
        "order_type": "repair", "channel": "hotline", "urgency": "urgent", "subject": "表前阀漏水",
        "caller_phone": phone, "account_id": desk.site.accounts[0].pk, "customer_id": desk.site.accounts[0].customer_id,
        "location": "幸福小区3幢101", "landmark": "东门"})
    assert created.status_code == 302
    order = WorkOrder.objects.get()
    assert order.node_id == desk.crew.pk and order.landmark == "东门"
    again = client.get(f"/service/agent/?phone={phone}")
    assert [o.pk for o in again.context["open_orders"]] == [order.pk]
    # The crew member's console lists it as waiting; after locking, a colleague sees it worked by him.
    fixer = login(desk.fixer)
    console = fixer.get("/service/")
    assert [r.order.pk for r in console.context["waiting"]] == [order.pk]
    assert fixer.post("/service/locks/", {"order_ids": [order.pk], "action": "lock"}).status_code == 302
    colleague = login(desk.fixer2)
    panel = colleague.get("/service/", HTTP_HX_REQUEST="true")
    assert panel.templates[0].name == "service/_console_panel.html"
    others = panel.context["others"]
    assert [r.order.pk for r in others] == [order.pk] and others[0].lock.holder_name == "抢修工甲"
    assert "抢修工甲" in panel.content.decode()


def test_bad_intake_shows_the_field_error_and_keeps_the_input(desk, login):
    client = login(desk.agent)
    response = client.post("/service/orders/new/", {"order_type": "repair", "channel": "hotline", "urgency": "normal",
                                                    "subject": "漏水", "caller_phone": "12"})
    assert response.status_code == 200
    assert "caller_phone" in response.context["form"].errors
    assert response.context["form"]["subject"].value() == "漏水"
    assert not WorkOrder.objects.exists()


def test_order_page_actions_and_heartbeat(desk, login):
    order = services.order_intake(actor=desk.agent, order_type="repair", channel="hotline", subject="停水",
                                  account_id=desk.site.accounts[0].pk)
    client = login(desk.fixer)
    url = f"/service/orders/{order.pk}/"
    assert client.post(url + "action/", {"action": "accept"}).status_code == 302
    assert WorkOrder.objects.get().status == "dispatched"  # not locked: refused
    client.post(url + "action/", {"action": "lock"})
    client.post(url + "action/", {"action": "accept"})
    beat = client.post(url + "heartbeat/", {"feedback": "正在处理", "reply": ""}, HTTP_HX_REQUEST="true")
    assert beat.status_code == 200 and WorkOrderDraft.objects.get().data["feedback"] == "正在处理"
    page = client.get(url)
    assert page.context["reply_form"].initial["feedback"] == "正在处理"
    refused = client.post(url + "action/", {"action": "reply", "feedback": ""})
    assert refused.status_code == 422 and "feedback" in refused.context["reply_form"].errors
    client.post(url + "action/", {"action": "reply", "feedback": "已修复", "reply": "已恢复供水"})
    assert WorkOrder.objects.get().status == "replied"
    other = login(desk.fixer2)
    assert other.post(url + "action/", {"action": "lock"}).status_code == 302
    page = other.get(url)
    assert page.context["lock"].holder_name == "抢修工甲" and not page.context["lock"].mine


def test_api_call_orders_locks_and_steps(desk, login):
    client = login(desk.agent)
    call = post_json(client, "/api/v1/service/calls", {"phone": "13812340000"})
    assert call.status_code == 200 and call.json()["callers"][0]["customer_no"]
    assert call.json()["screen_url"].startswith("/service/agent/?phone=")
    bad = post_json(client, "/api/v1/service/orders", {"order_type": "party", "subject": "x"})
    assert bad.status_code == 422 and bad.json()["errors"][0]["field"] == "order_type"
    made = post_json(client, "/api/v1/service/orders", {
        "order_type": "consultation", "subject": "怎么办理过户", "channel": "portal", "external_ref": "W-9"})
    assert made.status_code == 201
    order_id = made.json()["id"]
    repeat = post_json(client, "/api/v1/service/orders", {
        "order_type": "consultation", "subject": "怎么办理过户", "channel": "portal", "external_ref": "W-9"})
    assert repeat.json()["id"] == order_id and WorkOrder.objects.count() == 1
    refused = post_json(client, f"/api/v1/service/orders/{order_id}/steps", {"action": "accept"})
    assert refused.status_code == 422 and refused.json()["errors"][0]["field"] == "order"
    assert post_json(client, "/api/v1/service/locks", {"order_ids": [order_id]}).json()["locked"] == [order_id]
    other = login(desk.agent2)
    held = post_json(other, "/api/v1/service/locks", {"order_ids": [order_id]}).json()
    assert held["locked"] == [] and held["refused"][0]["holder"] == "话务员甲"
    client = login(desk.agent)
    step = post_json(client, f"/api/v1/service/orders/{order_id}/steps", {"action": "accept"})
    assert step.status_code == 200 and step.json()["status"] == "accepted"
    detail = client.get(f"/api/v1/service/orders/{order_id}").json()
    assert detail["lock_holder"] == "话务员甲" and [e["kind"] for e in detail["events"]][:2] == ["created", "routed"]


def test_stats_page_and_excel(desk, login):
    services.order_intake(actor=desk.agent, order_type="help", channel="hotline", subject="求助")
    client = login(desk.supervisor)
    today = timezone.localdate()
    page = client.get(f"/service/stats/?from={today}&to={today + timedelta(days=1)}")
    assert page.status_code == 200 and page.context["stats"]["total"] == 1
    xlsx = client.get(f"/service/stats/?from={today}&to={today + timedelta(days=1)}&format=xlsx")
    assert xlsx["Content-Type"].startswith("application/vnd.openxmlformats") and xlsx.content[:2] == b"PK"
    api = client.get(f"/api/v1/service/stats?date_from={today}&date_to={today + timedelta(days=1)}")
    assert api.status_code == 200 and api.json()["by_type"] == {"help": 1}
    assert login(desk.fixer).get("/service/stats/").status_code == 403


def test_outage_announced_and_calendar_api(desk, login):
    client = login(desk.supervisor)
    now = timezone.localtime()
    response = client.post("/service/outages/", {
        "node_id": desk.org.branch_b.pk, "commodity": "water", "kind": "planned",
        "starts_at": now.strftime("%Y-%m-%dT%H:%M"), "ends_at": (now + timedelta(hours=4)).strftime("%Y-%m-%dT%H:%M"),
        "reason": "管网改造", "area_codes": "D01-S01-C01, NOPE"})
    assert response.status_code == 200 and "NOPE" in str(response.context["form"].errors)
    bad = client.put(f"/api/v1/service/calendars/{desk.org.water.pk}", data=json.dumps({
        "windows": [[0, "08:30", "12:00"]],
        "holidays": [{"name": "国庆节", "date_from": "2026-10-01", "date_to": "2026-10-08"},
                     {"name": "中秋节", "date_from": "2026-10-06", "date_to": "2026-10-07"}]}),
        content_type="application/json")
    assert bad.status_code == 422 and bad.json()["errors"][0]["field"].startswith("holidays")
    ok = client.put(f"/api/v1/service/calendars/{desk.org.water.pk}", data=json.dumps({
        "windows": [[d, "08:30", "17:30"] for d in range(5)],
        "holidays": [{"name": "国庆节", "date_from": "2026-10-01", "date_to": "2026-10-08"}],
        "makeup_days": ["2026-10-10"]}), content_type="application/json")
    assert ok.status_code == 200 and ok.json()["makeup_days"] == ["2026-10-10"]


def test_another_companys_calendar_and_order_are_404(desk, login, org):
    from conftest import PASSWORD
    from ucis.org import services as org_services
    from ucis.platform.tenancy import SYSTEM

    order = services.order_intake(actor=desk.agent, order_type="help", channel="hotline", subject="求助")
    power_admin = org_services.staff_create(actor=SYSTEM, username="power.admin", password=PASSWORD,
                                            node_id=org.power.pk, roles=["administrator"])
    client = login(power_admin)
    assert client.put(f"/api/v1/service/calendars/{desk.org.water.pk}", data=json.dumps({"windows": []}),
                      content_type="application/json").status_code == 404
    assert client.get(f"/api/v1/service/orders/{order.pk}").status_code == 404
    assert client.get(f"/service/orders/{order.pk}/").status_code == 404
    assert post_json(client, "/api/v1/service/locks", {"order_ids": [order.pk]}).status_code == 404
