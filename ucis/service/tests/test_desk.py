"""The service desk end to end against PostgreSQL: intake and routing, locks (race, batch,
expiry, break), the handling steps, supervision, calendars, statistics, the agent screen."""

from __future__ import annotations

import threading
from datetime import date, timedelta
from decimal import Decimal

import pytest
from django.db import connection

from ucis.kernel.errors import Conflict, DomainError
from ucis.platform.tenancy import SYSTEM
from ucis.service import selectors, services
from ucis.service.models import Supervision, WorkOrder, WorkOrderActivity, WorkOrderDraft
from ucis.service.tests.conftest import MONDAY, make_desk, repair


def kinds(order):
    return list(WorkOrderActivity.objects.filter(order=order).order_by("pk").values_list("kind", flat=True))


def test_a_repair_is_routed_by_area_with_elapsed_sla(desk):
    order = repair(desk, urgency="urgent", landmark="小区东门")
    assert order.status == "dispatched" and order.node_id == desk.crew.pk
    assert order.order_no.startswith("TW261123") and order.premise_id == desk.site.accounts[0].billing_premise_id
    assert order.commodity == "water" and "幸福小区" in order.location
    assert order.clock == "elapsed" and order.complete_due_at == MONDAY + timedelta(hours=4)
    assert "乙片区抢修" in order.routing_note
    assert kinds(order) == ["created", "routed"]
    assert order.escalation_next_at is not None and order.escalation_next_at < order.complete_due_at


def test_a_consultation_answered_on_the_call_is_archived(desk):
    order = services.order_intake(actor=desk.agent, order_type="consultation", channel="hotline",
                                  subject="阶梯水价怎么算", reply="第一阶梯 0–216 立方米每年……", now=MONDAY)
    assert order.status == "archived" and order.done_at == MONDAY and order.assignee_id == desk.agent.pk
    with pytest.raises(DomainError) as exc:
        services.order_intake(actor=desk.agent, order_type="repair", channel="hotline", subject="x",
                              location="a", reply="done", now=MONDAY)
    assert exc.value.problems[0].field == "reply"


def test_business_clock_sla_skips_the_weekend(desk):
    services.sla_rule_set(actor=SYSTEM, company_id=desk.org.water.pk, order_type="complaint", clock="business",
                          accept_minutes=60, complete_minutes=8 * 60)
    friday_4pm = MONDAY - timedelta(days=3) + timedelta(hours=7)
    order = services.order_intake(actor=desk.agent, order_type="complaint", channel="hotline", subject="抄表员态度差",
                                  caller_phone="13900001111", caller_name="王先生", now=friday_4pm)
    # Friday 16:00–17:30 is 1.5 h; the rest (6.5 h) runs Monday 08:30–12:00 and 13:30–16:30.
    assert selectors.timezone.localtime(order.complete_due_at).strftime("%a %H:%M") == "Mon 16:30"
    assert order.contact_private and order.skill == "complaints"


@pytest.mark.parametrize("bad, field", [
    ({"order_type": "party"}, "order_type"), ({"channel": "fax"}, "channel"), ({"subject": " "}, "subject"),
    ({"caller_phone": "12"}, "caller_phone"), ({"urgency": "asap"}, "urgency"),
])
def test_bad_intake_names_the_field_and_stores_nothing(desk, bad, field):
    data = {"order_type": "help", "channel": "hotline", "subject": "求助", **bad}
    with pytest.raises(DomainError) as exc:
        services.order_intake(actor=desk.agent, now=MONDAY, **data)
    assert exc.value.problems[0].field == field
    assert not WorkOrder.objects.exists()


def test_an_order_for_another_companys_customer_is_refused(desk, org):
    from conftest import PASSWORD
    from ucis.org import services as org_services

    power_agent = org_services.staff_create(actor=SYSTEM, username="agent.power", password=PASSWORD,
                                            node_id=org.power.pk, roles=["hotline_agent"])
    with pytest.raises(DomainError) as exc:
        services.order_intake(actor=power_agent, order_type="bill_inquiry", channel="hotline", subject="查账",
                              account_id=desk.site.accounts[0].pk, now=MONDAY)
    assert exc.value.problems[0].field == "account"
    assert not WorkOrder.objects.exists()


def test_a_repeated_external_ref_returns_the_first_order(desk):
    first = repair(desk, channel="portal", external_ref="P-1")
    again = repair(desk, channel="portal", external_ref="P-1")
    assert again.pk == first.pk and WorkOrder.objects.count() == 1


def test_repeated_faults_at_one_address_are_linked(desk):
    first = repair(desk)
    second = repair(desk, now=MONDAY + timedelta(days=3))
    third = repair(desk, now=MONDAY + timedelta(days=6))
    assert second.repeat_of_id == first.pk and third.repeat_of_id == first.pk
    assert [o.pk for o in selectors.order_repeats(order=third)] == [first.pk, second.pk]
    other = repair(desk, account=1)
    assert other.repeat_of_id is None


# --- locks ---------------------------------------------------------------------------------------


def test_work_needs_the_lock_and_a_held_lock_names_its_holder(desk):
    order = repair(desk)
    with pytest.raises(Conflict, match="lock the order"):
        services.order_accept(actor=desk.fixer, order_id=order.pk, now=MONDAY)
    assert services.order_lock(actor=desk.fixer, order_ids=[order.pk], now=MONDAY).locked == [order.pk]
    outcome = services.order_lock(actor=desk.fixer2, order_ids=[order.pk], now=MONDAY + timedelta(minutes=1))
    assert outcome.locked == [] and outcome.refused[0].holder == "抢修工甲"
    assert "抢修工甲" in outcome.refused[0].reason
    with pytest.raises(Conflict) as exc:
        services.order_accept(actor=desk.fixer2, order_id=order.pk, now=MONDAY + timedelta(minutes=1))
    assert "抢修工甲" in str(exc.value)
    services.order_accept(actor=desk.fixer, order_id=order.pk, now=MONDAY + timedelta(minutes=2))


def test_batch_lock_and_unlock(desk):
    orders = [repair(desk, account=i % 3, subject=f"故障{i}") for i in range(4)]
    ids = [o.pk for o in orders]
    services.order_lock(actor=desk.fixer2, order_ids=[ids[3]], now=MONDAY)
    outcome = services.order_lock(actor=desk.fixer, order_ids=ids, now=MONDAY)
    assert outcome.locked == ids[:3] and [r.order_id for r in outcome.refused] == [ids[3]]
    # Locking again what one holds keeps the lock and its start.
    assert services.order_lock(actor=desk.fixer, order_ids=ids[:3], now=MONDAY + timedelta(minutes=1)).locked == ids[:3]
    assert services.order_unlock(actor=desk.fixer, order_ids=ids, now=MONDAY) == ids[:3]
    assert services.order_lock(actor=desk.fixer2, order_ids=ids, now=MONDAY).locked == ids
    with pytest.raises(DomainError):
        services.order_lock(actor=desk.fixer, order_ids=["x"], now=MONDAY)


@pytest.mark.django_db(transaction=True)
def test_a_lock_race_has_exactly_one_winner(org):
    desk = make_desk(org)
    order = repair(desk)
    barrier = threading.Barrier(2)
    results: dict[str, list[int]] = {}

    def contend(user):
        try:
            barrier.wait()
            results[user.username] = services.order_lock(actor=user, order_ids=[order.pk]).locked
        finally:
            connection.close()

    threads = [threading.Thread(target=contend, args=(u,)) for u in (desk.fixer, desk.fixer2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(len(v) for v in results.values()) == [0, 1]


def test_an_idle_lock_expires_and_the_holders_input_is_kept(desk, settings):
    settings.UCIS_ORDER_LOCK_IDLE_MINUTES = 15
    order = repair(desk)
    services.order_lock(actor=desk.fixer, order_ids=[order.pk], now=MONDAY)
    services.order_accept(actor=desk.fixer, order_id=order.pk, now=MONDAY)
    beat = services.order_heartbeat(actor=desk.fixer, order_id=order.pk, draft={"feedback": "更换阀门，已恢复"},
                                    now=MONDAY + timedelta(minutes=5))
    assert beat.state.mine and not beat.state.expired and beat.saved
    warn = services.order_heartbeat(actor=desk.fixer, order_id=order.pk, draft={},
                                    now=MONDAY + timedelta(minutes=18, seconds=30))
    assert warn.state.warn  # within two minutes of expiry
    late = MONDAY + timedelta(minutes=40)
    taken = services.order_lock(actor=desk.fixer2, order_ids=[order.pk], now=late)
    assert taken.locked == [order.pk] and "lock_expired" in kinds(order)
    with pytest.raises(Conflict):
        services.order_reply(actor=desk.fixer, order_id=order.pk, feedback="x", now=late)
    assert selectors.order_draft(actor=desk.fixer, order=order) == {"feedback": "更换阀门，已恢复"}
    expired = services.order_heartbeat(actor=desk.fixer, order_id=order.pk, draft={"feedback": "更换阀门，已恢复。"},
                                       now=late)
    assert not expired.state.mine and expired.saved


def test_a_supervisor_breaks_a_lock_on_the_record(desk):
    order = repair(desk)
    services.order_lock(actor=desk.fixer, order_ids=[order.pk], now=MONDAY)
    with pytest.raises(DomainError):
        services.order_lock_break(actor=desk.supervisor, order_id=order.pk, reason=" ")
    services.order_lock_break(actor=desk.supervisor, order_id=order.pk, reason="人员外出", now=MONDAY)
    event = WorkOrderActivity.objects.get(order=order, kind="lock_broken")
    assert event.actor_id == desk.supervisor.pk and "抢修工甲" in event.note and "人员外出" in event.note
    assert services.order_lock(actor=desk.fixer2, order_ids=[order.pk], now=MONDAY).locked == [order.pk]
    from django.core.exceptions import PermissionDenied
    with pytest.raises(PermissionDenied):
        services.order_lock_break(actor=desk.fixer, order_id=order.pk, reason="x")


# --- handling ------------------------------------------------------------------------------------


def work(desk, user, order, fn, **kw):
    services.order_lock(actor=user, order_ids=[order.pk], now=kw.get("now", MONDAY))
    return fn(actor=user, order_id=order.pk, **kw)


def test_a_repair_from_call_to_review(desk, settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path
    order = repair(desk)
    t = MONDAY + timedelta(minutes=10)
    work(desk, desk.fixer, order, services.order_accept, now=t)
    with pytest.raises(DomainError) as exc:
        services.order_reply(actor=desk.fixer, order_id=order.pk, feedback="  ", now=t)
    assert exc.value.problems[0].field == "feedback"
    png = b"\x89PNG\r\n\x1a\n" + b"0" * 40
    services.order_attach(actor=desk.fixer, order_id=order.pk, name="现场.png", content=png, now=t)
    with pytest.raises(DomainError):
        services.order_attach(actor=desk.fixer, order_id=order.pk, name="x.png", content=b"<html>", now=t)
    done = services.order_reply(actor=desk.fixer, order_id=order.pk, feedback="更换表前阀", reply="已修复", now=t)
    assert done.status == "replied" and done.done_at == t and done.escalation_next_at is None
    assert selectors.order_durations(order=done) == {"elapsed": "10 min", "business": "10 min", "running": ""}
    services.order_unlock(actor=desk.fixer, order_ids=[order.pk])
    with pytest.raises(Conflict):  # a repair is archived only after the return visit
        work(desk, desk.agent, order, services.order_archive, now=t)
    with pytest.raises(DomainError) as exc:
        services.order_visit(actor=desk.agent, order_id=order.pk, satisfaction=7, now=t)
    assert exc.value.problems[0].field == "satisfaction"
    services.order_visit(actor=desk.agent, order_id=order.pk, satisfaction=5, note="很满意", now=t)
    services.order_archive(actor=desk.agent, order_id=order.pk, now=t)
    reviewed = services.order_review(actor=desk.supervisor, order_id=order.pk, note="处理及时", now=t)
    assert reviewed.reviewed_by_id == desk.supervisor.pk
    assert kinds(order) == ["created", "routed", "locked", "accepted", "attachment", "replied", "unlocked",
                            "locked", "visited", "archived", "reviewed"]
    assert not WorkOrderDraft.objects.exists()


def test_a_consultation_forwarded_to_experts(desk):
    order = services.order_intake(actor=desk.agent, order_type="consultation", channel="hotline",
                                  subject="二次供水水质", now=MONDAY)
    assert order.node_id == desk.centre.pk
    forwarded = work(desk, desk.agent, order, services.order_forward, node_id=desk.experts.pk, skill="",
                     note="转水质专家", now=MONDAY)
    assert forwarded.node_id == desk.experts.pk and forwarded.status == "dispatched"
    assert "forwarded" in kinds(order)
    with pytest.raises(DomainError) as exc:  # not a unit of the order's company
        work(desk, desk.agent, order, services.order_dispatch, node_id=desk.org.power.pk, now=MONDAY)
    assert exc.value.problems[0].field == "node"


def test_a_complainants_contact_is_private_outside_the_service_centre(desk):
    order = services.order_intake(actor=desk.agent, order_type="complaint", channel="hotline", subject="服务态度",
                                  caller_phone="13900001111", caller_name="王先生", now=MONDAY)
    assert selectors.order_contact(actor=desk.agent, order=order)["phone"] == "13900001111"
    hidden = selectors.order_contact(actor=desk.fixer, order=order)
    assert hidden["phone"] != "13900001111" and hidden["hidden"]


# --- supervision -----------------------------------------------------------------------------------


def test_escalation_raises_each_level_once_up_the_tree(desk):
    order = repair(desk, urgency="urgent")  # 4 h on the elapsed clock: levels at 80 %, 100 %, 150 %
    assert services.orders_escalate(now=MONDAY + timedelta(hours=3)) == 0
    assert services.orders_escalate(now=MONDAY + timedelta(hours=3, minutes=13)) == 1
    assert services.orders_escalate(now=MONDAY + timedelta(hours=3, minutes=14)) == 0
    assert services.orders_escalate(now=MONDAY + timedelta(hours=6, minutes=1)) == 2
    levels = {s.level: s.node_id for s in Supervision.objects.filter(order=order)}
    assert levels == {1: desk.crew.pk, 2: desk.org.branch_b.pk, 3: desk.org.water.pk}
    order.refresh_from_db()
    assert order.escalation_level == 3 and order.escalation_next_at is None
    assert services.orders_escalate(now=MONDAY + timedelta(days=1)) == 0


def test_replied_orders_are_not_escalated(desk):
    order = repair(desk, urgency="urgent")
    work(desk, desk.fixer, order, services.order_accept, now=MONDAY)
    services.order_reply(actor=desk.fixer, order_id=order.pk, feedback="ok", now=MONDAY + timedelta(minutes=10))
    assert services.orders_escalate(now=MONDAY + timedelta(days=1)) == 0


# --- calendars -----------------------------------------------------------------------------------------


def test_overlapping_holidays_are_refused_whole(desk):
    windows = [[d, "08:30", "12:00"] for d in range(5)]
    with pytest.raises(DomainError) as exc:
        services.calendar_set(actor=desk.supervisor, company_id=desk.org.water.pk, windows=windows,
                              holidays=[("国庆节", "2026-10-01", "2026-10-08"), ("中秋节", "2026-10-06", "2026-10-09")])
    assert any(p.field.startswith("holidays") and "国庆节" in p.reason for p in exc.value.problems)
    from ucis.service.models import ServiceCalendar
    assert not ServiceCalendar.objects.exists()
    with pytest.raises(DomainError) as exc:
        services.calendar_set(actor=desk.supervisor, company_id=desk.org.water.pk, windows=[[0, "9", "x"]])
    assert exc.value.problems[0].field.startswith("windows")


def test_a_holiday_calendar_moves_deadlines(desk):
    services.calendar_set(actor=desk.supervisor, company_id=desk.org.water.pk,
                          windows=[[d, "09:00", "17:00"] for d in range(5)],
                          holidays=[("测试假日", date(2026, 11, 24), date(2026, 11, 26))])
    order = services.order_intake(actor=desk.agent, order_type="help", channel="hotline", subject="求助",
                                  now=MONDAY)
    # The default non-repair SLA is 3 working days of 8 h: Mon, (Tue and Wed off) Thu, Fri → due at
    # the end of Friday's window; without the holiday it would be Wednesday.
    local = selectors.timezone.localtime(order.complete_due_at)
    assert local.strftime("%a %H:%M") == "Fri 17:00"


# --- statistics --------------------------------------------------------------------------------------------


def test_timeliness_and_satisfaction_from_a_known_set(desk):
    a = repair(desk, urgency="emergency")  # 2 h
    b = repair(desk, urgency="emergency", account=1)
    c = repair(desk, urgency="emergency", account=2)
    repair(desk, urgency="normal", account=2, subject="普通")  # 24 h: still running at as_of
    for order, minutes, score in ((a, 60, 5), (b, 180, 3)):
        t = MONDAY + timedelta(minutes=minutes)
        work(desk, desk.fixer, order, services.order_accept, now=t)
        services.order_reply(actor=desk.fixer, order_id=order.pk, feedback="ok", now=t)
        services.order_unlock(actor=desk.fixer, order_ids=[order.pk])
        work(desk, desk.agent, order, services.order_visit, satisfaction=score, now=t)
    stats = selectors.service_stats(actor=desk.supervisor, period=selectors.Period(date(2026, 11, 23), date(2026, 11, 24)),
                                    as_of=MONDAY + timedelta(hours=5))
    crew = next(d for d in stats["departments"] if d["node_id"] == desk.crew.pk)
    assert (crew["on_time"], crew["late"], crew["open_overdue"], crew["running"]) == (1, 1, 1, 1)
    assert crew["rate"] == Decimal("0.3333")
    assert stats["satisfaction"]["mean"] == Decimal("4.00") and stats["satisfaction"]["satisfied_rate"] == Decimal("0.5000")
    assert dict(stats["by_type"]) == {"repair": 4} and dict(stats["by_channel"]) == {"hotline": 4}
    assert c.pk  # c is the open overdue one
    from ucis.service import statsbook
    body = statsbook.workbook(stats, labels=statsbook.labels())
    assert body[:2] == b"PK"


# --- the agent screen --------------------------------------------------------------------------------------


def test_the_agent_screen_identifies_the_caller_and_shows_everything(desk):
    from ucis.customers.models import Customer
    shared = desk.site.accounts[1].customer
    Customer.objects.filter(pk=shared.pk).update(phone_hash=desk.site.accounts[0].customer.phone_hash)
    order = repair(desk, caller_phone="13812340000")
    services.outage_create(actor=desk.supervisor, node_id=desk.org.branch_b.pk, commodity="water", kind="planned",
                           starts_at=MONDAY, ends_at=MONDAY + timedelta(hours=8), reason="管道维修",
                           area_codes=["D01-S01-C01"])
    screen = selectors.agent_screen(actor=desk.agent, phone="13812340000", now=MONDAY)
    assert len(screen["candidates"]) == 2 and screen["customer"] is None
    screen = selectors.agent_screen(actor=desk.agent, phone="13812340000",
                                    customer_id=desk.site.accounts[0].customer_id, now=MONDAY)
    assert screen["customer"].pk == desk.site.accounts[0].customer_id
    item = screen["accounts"][0]
    assert item["points"][0]["serial"] == "WM00000" and item["balance"] is not None
    assert [o.pk for o in screen["open_orders"]] == [order.pk]
    assert [o.reason for o in screen["outages"]] == ["管道维修"]
    assert screen["prefill"]["account_id"] == desk.site.accounts[0].pk
    # An outage elsewhere is not shown.
    nobody = selectors.agent_screen(actor=desk.agent, phone="13500000000", now=MONDAY)
    assert nobody["candidates"] == [] and nobody["open_orders"] == []
