"""The demo's 95598 desk: each company's calendar (2026–2027 statutory holidays and make-up days),
SLA and routing rules, skills, outages, and a month of work orders of every type, taken by the
service centre's agents and handled by the branches' repair crews and the expert group through
the same services staff use — so the console, the agent screen and the statistics show real
work: orders in every state, some locked right now, some overdue with supervision notices."""

from __future__ import annotations

import random
from datetime import date, datetime, timedelta
from typing import Any

from django.utils import timezone

from ucis.customers import selectors as customer_selectors
from ucis.demo.cityplan import COMPANIES
from ucis.kernel.errors import DomainError
from ucis.org import selectors as org_selectors
from ucis.platform.tenancy import SYSTEM
from ucis.service import services

HOLIDAYS = [
    ("元旦", date(2026, 1, 1), date(2026, 1, 4)), ("春节", date(2026, 2, 15), date(2026, 2, 24)),
    ("清明节", date(2026, 4, 4), date(2026, 4, 7)), ("劳动节", date(2026, 5, 1), date(2026, 5, 6)),
    ("端午节", date(2026, 6, 19), date(2026, 6, 22)), ("中秋节", date(2026, 9, 25), date(2026, 9, 26)),
    ("国庆节", date(2026, 10, 1), date(2026, 10, 8)), ("元旦", date(2027, 1, 1), date(2027, 1, 4)),
]
MAKEUP_DAYS = [date(2026, 1, 4), date(2026, 2, 14), date(2026, 2, 28), date(2026, 5, 9), date(2026, 9, 27),
               date(2026, 10, 10)]
WINDOWS = [[d, "08:30", "12:00"] for d in range(5)] + [[d, "13:30", "17:30"] for d in range(5)]
# (order type, urgency or "", clock, accept minutes, complete minutes)
SLA_RULES = [
    ("repair", "emergency", "elapsed", 15, 120), ("repair", "urgent", "elapsed", 30, 240),
    ("repair", "", "elapsed", 60, 1440), ("complaint", "", "business", 120, 5 * 480),
    ("consultation", "", "business", 60, 480), ("bill_inquiry", "", "business", 60, 480),
    ("help", "", "business", 60, 2 * 480), ("repair_progress", "", "business", 30, 240),
    ("application_progress", "", "business", 60, 480), ("message", "", "business", 240, 2 * 480),
    ("appointment", "", "business", 120, 3 * 480),
]
WEIGHTS = [("repair", 30), ("complaint", 8), ("consultation", 22), ("bill_inquiry", 12), ("help", 5),
           ("repair_progress", 6), ("application_progress", 5), ("message", 6), ("appointment", 6)]
SUBJECTS = {
    "repair": ["水表漏水", "管道爆裂", "家中停水", "水压低", "表箱损坏", "电表不走字", "家中停电", "燃气表故障", "闻到燃气味",
               "灶具点不着火"],
    "complaint": ["抄表员态度差", "维修人员迟到", "账单金额有误", "停水未提前通知", "营业厅排队时间长"],
    "consultation": ["阶梯水价怎么算", "如何办理过户", "怎样开通银行代扣", "发票怎么开", "低保户有什么优惠"],
    "bill_inquiry": ["本月账单为什么这么高", "查询欠费金额", "违约金是怎么算的", "缴费后余额不对"],
    "help": ["独居老人家中水管冻裂", "门口井盖缺失", "小区消火栓漏水"],
    "repair_progress": ["查询报修处理进度", "维修人员什么时候到"],
    "application_progress": ["新装水表进度查询", "过户办理进度", "增容申请进度"],
    "message": ["夜间语音留言：请回电", "建议延长营业厅营业时间"],
    "appointment": ["预约上门换表", "预约燃气安全检查", "预约现场勘查"],
}
FEEDBACK = {"repair": "已到现场更换损坏部件，恢复正常", "complaint": "已核实并批评教育相关人员，向客户致歉",
            "consultation": "已按政策解答", "bill_inquiry": "已核对抄表及账单，金额无误并向客户解释",
            "help": "已协调相关部门处理", "repair_progress": "已告知处理进度", "application_progress": "已告知办理进度",
            "message": "已回电客户", "appointment": "已按预约时间上门"}


def _staff(node_code: str) -> list[Any]:
    node = org_selectors.org_node_by_code(actor=SYSTEM, code=node_code)
    return list(org_selectors.staff_list(actor=SYSTEM, node_id=node.pk).filter(node_id=node.pk).order_by("username"))


def _configure(company: Any, code: str) -> dict[str, Any]:
    services.calendar_set(actor=SYSTEM, company_id=company.pk, windows=WINDOWS,
                          holidays=[(n, f, t) for n, f, t in HOLIDAYS], makeup_days=MAKEUP_DAYS)
    for order_type, urgency, clock, accept, complete in SLA_RULES:
        services.sla_rule_set(actor=SYSTEM, company_id=company.pk, order_type=order_type, urgency=urgency,
                              clock=clock, accept_minutes=accept, complete_minutes=complete)
    centre = org_selectors.org_node_by_code(actor=SYSTEM, code=f"{code}-KF")
    experts = org_selectors.org_node_by_code(actor=SYSTEM, code=f"{code}-ZJ")
    crews = {}
    for node in org_selectors.org_node_list(actor=SYSTEM, company_id=company.pk, kind="department"):
        if node.code.endswith("-QX"):
            number = node.code.split("-")[1]
            crews[number] = node
            services.routing_rule_create(actor=SYSTEM, company_id=company.pk, name=f"{node.name}片区报修",
                                         priority=10, order_types=["repair"], area_code=f"A{number}", target_id=node.pk)
    services.routing_rule_create(actor=SYSTEM, company_id=company.pk, name="投诉归口客服中心", priority=20,
                                 order_types=["complaint"], target_id=centre.pk, skill="complaints")
    services.routing_rule_create(actor=SYSTEM, company_id=company.pk, name="其余工单由客服中心处理", priority=100,
                                 target_id=centre.pk)
    agents = [u for u in _staff(centre.code) if u.has_perm("service.intake_order")]
    expert_staff = _staff(experts.code)
    for agent in agents[:2]:
        services.skill_set(actor=SYSTEM, user_id=agent.pk, skills=["complaints"])
    return {"centre": centre, "experts": experts, "crews": crews, "agents": agents, "expert_staff": expert_staff,
            "crew_staff": {n: _staff(node.code) for n, node in crews.items()}}


def _business_instant(rng: random.Random, now: datetime, days_back: float) -> datetime:
    """A plausible call time: mostly office hours, some evenings."""
    day = timezone.localtime(now - timedelta(days=days_back))
    hour = rng.choice([8, 9, 9, 10, 10, 11, 13, 14, 14, 15, 16, 17, 19, 21])
    at = day.replace(hour=hour, minute=rng.randrange(60), second=0, microsecond=0)
    return min(at, now - timedelta(minutes=5))


def demo_service(*, now: datetime | None = None, orders_per_company: int = 60, seed: int = 2026) -> dict[str, int]:
    now = now or timezone.now()
    rng = random.Random(seed)
    counts = {"orders": 0, "locked": 0, "overdue": 0, "supervisions": 0, "outages": 0}
    types = [t for t, w in WEIGHTS for _ in range(w)]
    for code, _name, _en, commodity, _prefix in COMPANIES:
        company = org_selectors.org_node_by_code(actor=SYSTEM, code=code)
        setup = _configure(company, code)
        callers = customer_selectors.sample_callers(company_id=company.pk, limit=orders_per_company, seed=seed)
        if not callers or not setup["agents"]:
            continue
        _outages(company, setup, commodity, now, counts)
        for i in range(orders_per_company):
            order_type = rng.choice(types)
            caller = callers[i % len(callers)]
            age = rng.random() ** 1.6 * 30  # more recent orders than old ones
            start = _business_instant(rng, now, age)
            try:
                _one_order(rng, setup, order_type, caller, commodity, start, now, counts, code)
            except DomainError:
                continue
    counts["supervisions"] = services.orders_escalate(now=now)
    return counts


def _outages(company: Any, setup: dict[str, Any], commodity: str, now: datetime, counts: dict[str, int]) -> None:
    crews = setup["crews"]
    if not crews:
        return
    number = sorted(crews)[0]
    branch = org_selectors.org_node_by_code(actor=SYSTEM, code=f"{company.code}-{number}")
    streets = customer_selectors.address_areas_by_code(codes=[f"A{number}01", f"A{number}02"])
    if not streets:
        return
    label = {"water": "停水", "electricity": "停电", "gas": "停气"}[commodity]
    services.outage_create(actor=SYSTEM, node_id=branch.pk, commodity=commodity, kind="planned",
                           starts_at=now - timedelta(hours=2), ends_at=now + timedelta(hours=6),
                           reason=f"管网改造计划{label}", area_codes=[streets[0].code])
    services.outage_create(actor=SYSTEM, node_id=branch.pk, commodity=commodity, kind="planned",
                           starts_at=now + timedelta(days=2), ends_at=now + timedelta(days=2, hours=8),
                           reason=f"设备检修计划{label}", area_codes=[a.code for a in streets])
    counts["outages"] += 2


def _one_order(rng: random.Random, setup: dict[str, Any], order_type: str, caller: dict[str, Any], commodity: str,
               start: datetime, now: datetime, counts: dict[str, int], code: str) -> None:
    agent = rng.choice(setup["agents"])
    subject = rng.choice(SUBJECTS[order_type])
    channel = rng.choice(["hotline"] * 6 + ["portal", "wechat", "walk_in", "ivr"])
    data: dict[str, Any] = {"order_type": order_type, "channel": channel, "subject": subject,
                            "caller_name": caller["name"], "caller_phone": caller["phone"],
                            "account_id": caller["account_id"], "description": f"客户来电反映：{subject}。"}
    if order_type == "repair":
        data["urgency"] = rng.choice(["normal", "normal", "urgent", "emergency"])
        data["landmark"] = rng.choice(["", "小区东门", "超市旁", "变电箱北侧"])
    if order_type == "appointment":
        data["requested_at"] = start + timedelta(days=rng.randint(1, 5))
    answer_now = order_type in ("consultation", "bill_inquiry", "repair_progress", "application_progress") \
        and rng.random() < 0.6
    if answer_now:
        data["reply"] = FEEDBACK[order_type]
    order = services.order_intake(actor=agent, now=start, **data)
    counts["orders"] += 1
    if answer_now:
        return
    age_hours = (now - start).total_seconds() / 3600
    # How far along the order is: old orders are mostly finished, recent ones still open.
    roll = rng.random()
    if age_hours < 2 or roll < 0.08:
        stage = "dispatched"
    elif age_hours < 24 and roll < 0.5 or roll < 0.15:
        stage = "accepted"
    elif roll < 0.2:
        stage = "replied"
    elif roll < 0.23:
        stage = "cancelled"
    else:
        stage = "archived"
    if order.node_id == setup["centre"].pk and order_type in ("consultation", "help") and rng.random() < 0.3:
        expert = setup["expert_staff"][0] if setup["expert_staff"] else None
        t = start + timedelta(minutes=10)
        services.order_lock(actor=agent, order_ids=[order.pk], now=t)
        services.order_forward(actor=agent, order_id=order.pk, node_id=setup["experts"].pk, note="转专家组答复", now=t)
        handler = expert or agent
    else:
        handler = _handler(rng, setup, order, agent)
    if stage == "dispatched":
        _maybe_lock(rng, handler, order, now, counts)
        return
    late = rng.random() < 0.15
    due_minutes = max(10, int((order.complete_due_at - start).total_seconds() / 60)) if order.complete_due_at else 240
    t_accept = start + timedelta(minutes=rng.randint(5, 40))
    services.order_lock(actor=handler, order_ids=[order.pk], now=t_accept)
    if stage == "cancelled":
        services.order_cancel(actor=handler, order_id=order.pk, reason="客户来电取消", now=t_accept)
        return
    services.order_accept(actor=handler, order_id=order.pk, now=t_accept)
    if stage == "accepted":
        _maybe_lock(rng, handler, order, now, counts, keep=True)
        return
    spent = int(due_minutes * (rng.uniform(1.05, 1.6) if late else rng.uniform(0.2, 0.9)))
    t_done = min(t_accept + timedelta(minutes=max(1, spent)), now - timedelta(minutes=1))
    services.order_lock(actor=handler, order_ids=[order.pk], now=t_done)
    services.order_reply(actor=handler, order_id=order.pk, feedback=FEEDBACK[order_type],
                         reply="已处理，感谢您的来电。", now=t_done)
    services.order_unlock(actor=handler, order_ids=[order.pk], now=t_done)
    if stage == "replied":
        return
    t_visit = min(t_done + timedelta(hours=rng.randint(1, 20)), now - timedelta(seconds=30))
    visitor = rng.choice(setup["agents"])
    services.order_lock(actor=visitor, order_ids=[order.pk], now=t_visit)
    score = rng.choice([5, 5, 5, 4, 4, 3, 2]) if not late else rng.choice([4, 3, 3, 2, 1])
    services.order_visit(actor=visitor, order_id=order.pk, satisfaction=score, note="客户表示" +
                         ("满意" if score >= 4 else "不太满意"), now=t_visit)
    services.order_archive(actor=visitor, order_id=order.pk, now=t_visit)


def _handler(rng: random.Random, setup: dict[str, Any], order: Any, agent: Any) -> Any:
    number = order.node.code.split("-")[1] if order.node.code.endswith("-QX") else None
    if number and setup["crew_staff"].get(number):
        return rng.choice(setup["crew_staff"][number])
    if order.skill == "complaints":
        return setup["agents"][0]
    return agent


def _maybe_lock(rng: random.Random, user: Any, order: Any, now: datetime, counts: dict[str, int],
                keep: bool = False) -> None:
    """Some open orders are being worked on right now (locked, with a fresh heartbeat)."""
    if order.complete_due_at and order.complete_due_at < now:
        counts["overdue"] += 1
    if rng.random() < (0.5 if keep else 0.25):
        services.order_lock(actor=user, order_ids=[order.pk], now=now - timedelta(minutes=rng.randint(0, 5)))
        counts["locked"] += 1
    elif keep:
        services.order_unlock(actor=user, order_ids=[order.pk], now=now)
