"""Reads of the service desk: orders a user may see, the console, the agent screen, statistics."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from django.conf import settings
from django.db import connection
from django.db.models import Q, QuerySet
from django.utils import timezone

from ucis.kernel.errors import DomainError
from ucis.kernel.errors import gettext_noop as _
from ucis.platform import crypto
from ucis.platform.tenancy import access_by_id, actor_root_path, is_system
from ucis.service import routing, sla
from ucis.service.models import (
    OPEN_STATUSES,
    ORDER_TYPES,
    STATUSES,
    CalendarHoliday,
    CalendarMakeupDay,
    Outage,
    RoutingRule,
    ServiceCalendar,
    SlaRule,
    StaffSkill,
    Supervision,
    WorkOrder,
    WorkOrderActivity,
    WorkOrderDraft,
    WorkOrderLock,
)


def lock_idle() -> timedelta:
    return timedelta(minutes=getattr(settings, "UCIS_ORDER_LOCK_IDLE_MINUTES", 15))


def lock_warn() -> timedelta:
    return timedelta(minutes=getattr(settings, "UCIS_ORDER_LOCK_WARN_MINUTES", 2))


def company_wide(actor: Any) -> bool:
    return actor.has_perm("service.view_company_orders")


def order_queryset(actor: Any) -> QuerySet[WorkOrder]:
    return WorkOrder.objects.visible_to(actor, company_wide=company_wide(actor))


def order_get(*, actor: Any, order_id: Any, related: bool = False) -> WorkOrder:
    """One order the actor may see (else 404). ``related`` joins what the order page shows; a
    dozen-table join costs the planner more (~8 ms) than the lookups it saves, so the rest loads
    on access."""
    qs = order_queryset(actor)
    if related:
        qs = qs.select_related("node", "assignee", "customer", "account")
    return access_by_id(qs, actor, order_id, company_wide=company_wide(actor))


def order_list(*, actor: Any, status: str = "", order_type: str = "", channel: str = "", q: str = "",
               open_only: bool = False, overdue_at: datetime | None = None, limit: int = 200) -> list[WorkOrder]:
    qs = order_queryset(actor).select_related("node", "assignee", "customer")
    if status:
        qs = qs.filter(status=status)
    if open_only:
        qs = qs.filter(status__in=OPEN_STATUSES)
    if order_type:
        qs = qs.filter(order_type=order_type)
    if channel:
        qs = qs.filter(channel=channel)
    if overdue_at is not None:
        qs = qs.filter(status__in=OPEN_STATUSES, complete_due_at__lt=overdue_at)
    q = (q or "").strip()
    if q:
        qs = qs.filter(Q(order_no__startswith=q.upper()) | Q(subject__contains=q) | Q(location__contains=q))
    return list(qs.order_by("-created_at")[:limit])


def order_contact(*, actor: Any, order: WorkOrder) -> dict[str, str]:
    """The caller's name and phone; a complainant's contact is masked outside the service centre."""
    phone = order.caller_phone or ""
    hidden = order.contact_private and not actor.has_perm("service.view_complainant")
    if hidden:
        return {"name": crypto.mask(order.caller_name, keep_start=1, keep_end=0) if order.caller_name else "",
                "phone": crypto.mask(phone, keep_start=3, keep_end=2) if phone else "", "hidden": "1"}
    full = actor.has_perm("customers.view_sensitive") or actor.has_perm("service.intake_order")
    return {"name": order.caller_name, "phone": phone if full or not phone else crypto.mask(phone), "hidden": ""}


def order_durations(*, order: WorkOrder, now: datetime | None = None) -> dict[str, str]:
    """How long the order has taken (or took) on both clocks: elapsed, and business time of the
    company's calendar — the SLA counts one of them, assessment often looks at both."""
    end = order.done_at or now or timezone.now()
    cal = calendar_of(company_id=order.company_id)
    elapsed = int((end - order.created_at).total_seconds() // 60)
    business = sla.business_seconds_between(cal, order.created_at, end) // 60
    return {"elapsed": sla.duration_text(max(0, elapsed)), "business": sla.duration_text(max(0, business)),
            "running": "" if order.done_at else "1"}


def order_events(*, order: WorkOrder) -> list[WorkOrderActivity]:
    return list(WorkOrderActivity.objects.filter(order=order).select_related("actor", "node").order_by("at", "pk"))


def order_supervisions(*, order: WorkOrder) -> list[Supervision]:
    return list(Supervision.objects.filter(order=order).select_related("node", "acknowledged_by").order_by("level"))


# --- locks ----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class LockState:
    """The lock on an order as one user sees it."""

    holder_id: int | None
    holder_name: str
    acquired_at: datetime | None
    seen_at: datetime | None
    expires_at: datetime | None
    mine: bool
    expired: bool
    warn: bool  # mine, and expiring within the warning time

    @property
    def free(self) -> bool:
        return self.holder_id is None or self.expired


def lock_state_of(lock: WorkOrderLock | None, *, actor: Any, now: datetime) -> LockState:
    if lock is None:
        return LockState(None, "", None, None, None, False, False, False)
    expires = lock.seen_at + lock_idle()
    expired = expires <= now
    mine = lock.holder_id == getattr(actor, "pk", None)
    holder = lock.holder
    return LockState(lock.holder_id, holder.display_name or holder.username, lock.acquired_at, lock.seen_at, expires,
                     mine, expired, mine and not expired and expires - now <= lock_warn())


def order_lock_state(*, actor: Any, order: WorkOrder, now: datetime | None = None) -> LockState:
    lock = WorkOrderLock.objects.filter(order=order).select_related("holder").first()
    return lock_state_of(lock, actor=actor, now=now or timezone.now())


def order_draft(*, actor: Any, order: WorkOrder) -> dict[str, Any]:
    draft = WorkOrderDraft.objects.filter(order=order, user_id=getattr(actor, "pk", None)).first()
    return dict(draft.data) if draft else {}


# --- the console (工单控制台) ---------------------------------------------------------------------


def actor_skills(actor: Any) -> list[str]:
    if is_system(actor):
        return []
    return list(StaffSkill.objects.filter(user_id=actor.pk).values_list("skill", flat=True))


@dataclass
class ConsoleRow:
    order: WorkOrder
    lock: LockState
    sla_state: str


def _rows(orders: Iterable[WorkOrder], *, actor: Any, now: datetime) -> list[ConsoleRow]:
    orders = list(orders)
    locks = {lk.order_id: lk for lk in WorkOrderLock.objects.filter(order__in=orders).select_related("holder")}
    warn = timedelta(minutes=getattr(settings, "UCIS_SLA_WARN_MINUTES", 60))
    rows = []
    for order in orders:
        state = sla.sla_state(due_at=order.complete_due_at, done_at=order.done_at, now=now,
                              warn_minutes=int(warn.total_seconds() // 60)) if order.complete_due_at else "running"
        rows.append(ConsoleRow(order, lock_state_of(locks.get(order.pk), actor=actor, now=now), str(state)))
    return rows


def console(*, actor: Any, now: datetime | None = None, limit: int = 100) -> dict[str, Any]:
    """What a user sees at login: orders waiting for them (their own, and their unit's queue
    matching their skills), orders others are working on, and supervision notices for their unit."""
    now = now or timezone.now()
    visible = order_queryset(actor).select_related("node", "assignee", "customer")
    skills = actor_skills(actor)
    node_id = getattr(getattr(actor, "node", None), "pk", None)
    mine = Q(assignee_id=getattr(actor, "pk", None), status__in=("accepted", "replied", "visited"))
    queue = Q(node_id=node_id, status__in=("registered", "dispatched")) & (Q(skill="") | Q(skill__in=skills))
    waiting = list(visible.filter(mine | queue).order_by("complete_due_at", "created_at")[:limit])
    locked_ids = (WorkOrderLock.objects.filter(seen_at__gt=now - lock_idle())
                  .exclude(holder_id=getattr(actor, "pk", None)).values("order_id"))
    others = list(visible.filter(pk__in=locked_ids).order_by("created_at")[:limit])
    root = actor_root_path(actor)
    supervisions = Supervision.objects.filter(acknowledged_at__isnull=True).select_related("order", "node")
    if root:
        supervisions = supervisions.filter(node__path__startswith=root)
    elif root is None:
        supervisions = supervisions.none()
    return {"waiting": _rows(waiting, actor=actor, now=now), "others": _rows(others, actor=actor, now=now),
            "supervisions": list(supervisions.order_by("-level", "raised_at")[:limit]), "now": now,
            "skills": skills}


# --- configuration reads ---------------------------------------------------------------------------


def calendar_of(*, company_id: int) -> sla.BusinessCalendar:
    """The company's business calendar for the SLA clock; the standard working week when none is set."""
    cal = ServiceCalendar.objects.filter(company_id=company_id).first()
    if cal is None:
        return sla.calendar_build(windows=sla.STANDARD_WINDOWS)
    holidays = [sla.Holiday(h.name, h.date_from, h.date_to) for h in CalendarHoliday.objects.filter(calendar=cal)]
    makeup = [m.day for m in CalendarMakeupDay.objects.filter(calendar=cal)]
    return sla.calendar_build(windows=windows_of(cal.windows), holidays=holidays, makeup_days=makeup,
                              tz=cal.time_zone, makeup_weekday=cal.makeup_weekday)


def windows_of(raw: Any, *, field: str = "windows") -> dict[int, list[tuple[str, str]]]:
    """Working windows from their stored form ``[[weekday, "HH:MM", "HH:MM"], …]`` (weekday 0 = Monday)."""
    out: dict[int, list[tuple[str, str]]] = {}
    if not isinstance(raw, list):
        raise DomainError(field, _("a list of [weekday, start, end] entries"))
    for i, item in enumerate(raw):
        try:
            weekday, start, end = item
            out.setdefault(int(weekday), []).append((str(start), str(end)))
        except (TypeError, ValueError):
            raise DomainError(f"{field}[{i}]", _("expected [weekday 0–6, \"HH:MM\", \"HH:MM\"], got %(value)s"),
                              value=item) from None
    return out


def sla_rule_for(*, company_id: int, order_type: str, urgency: str) -> SlaRule | None:
    rules = {r.urgency: r for r in SlaRule.objects.filter(company_id=company_id, order_type=order_type)}
    return rules.get(urgency) or rules.get("")


def routing_rules(*, company_id: int) -> list[routing.RoutingRule]:
    rules = RoutingRule.objects.filter(company_id=company_id, is_active=True).select_related("area")
    return [routing.RoutingRule(rule_id=r.pk, name=r.name, priority=r.priority, target_id=r.target_id,
                                order_types=tuple(r.order_types), commodity=r.commodity,
                                area_path=r.area.path if r.area_id else "", skill=r.skill) for r in rules]


def routing_rule_list(*, actor: Any) -> list[RoutingRule]:
    return list(RoutingRule.objects.visible_to(actor).select_related("company", "area", "target"))


def sla_rule_list(*, actor: Any) -> list[SlaRule]:
    return list(SlaRule.objects.visible_to(actor).select_related("company").order_by("company", "order_type",
                                                                                       "urgency"))


def service_calendar_list(*, actor: Any) -> list[ServiceCalendar]:
    return list(ServiceCalendar.objects.visible_to(actor).select_related("company")
                .prefetch_related("holidays", "makeup_days"))


def outages_affecting(*, company_id: int, area_path: str, now: datetime) -> list[Outage]:
    """Outages now or still to come whose areas contain the address (a path prefix of it)."""
    if not area_path:
        return []
    with connection.cursor() as cur:
        cur.execute("SELECT id FROM service_outage WHERE company_id = %s AND ends_at > %s AND EXISTS ("
                    " SELECT 1 FROM unnest(area_paths) p WHERE %s LIKE p || '%%')", [company_id, now, area_path])
        ids = [r[0] for r in cur.fetchall()]
    return list(Outage.objects.filter(pk__in=ids).order_by("starts_at")) if ids else []


def outages_at(*, places: Iterable[tuple[int, str]], now: datetime) -> list[Outage]:
    """``outages_affecting`` for several (company id, address area path) places at once, in one query:
    the outages now or still to come over any of them, by start."""
    places = [(company_id, path) for company_id, path in places if path]
    if not places:
        return []
    return list(Outage.objects.raw(
        "SELECT o.* FROM service_outage o WHERE o.ends_at > %s AND EXISTS ("
        " SELECT 1 FROM unnest(%s::bigint[], %s::text[]) x(company_id, path), unnest(o.area_paths) p"
        " WHERE x.company_id = o.company_id AND x.path LIKE p || '%%') ORDER BY o.starts_at, o.id",
        [now, [c for c, _p in places], [p for _c, p in places]]))


def outage_list(*, actor: Any, current_at: datetime | None = None) -> list[Outage]:
    qs = Outage.objects.visible_to(actor).select_related("company", "node").prefetch_related("areas")
    if current_at is not None:
        qs = qs.filter(ends_at__gt=current_at)
    return list(qs.order_by("-starts_at")[:200])


# --- statistics (SVC-9) ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Period:
    date_from: date
    date_to: date  # exclusive


def _bounds(period: Period) -> tuple[datetime, datetime]:
    tz = timezone.get_default_timezone()
    start = datetime.combine(period.date_from, datetime.min.time(), tzinfo=tz)
    end = datetime.combine(period.date_to, datetime.min.time(), tzinfo=tz)
    return start, end


def _scope_sql(actor: Any) -> tuple[str, list[Any]]:
    root = actor_root_path(actor, company_wide=company_wide(actor))
    if root is None:
        return " AND false", []
    if root == "":
        return "", []
    return " AND n.path LIKE %s", [root + "%"]


def _rate(numerator: int, denominator: int) -> Decimal | None:
    if not denominator:
        return None
    return (Decimal(numerator) / Decimal(denominator)).quantize(Decimal("0.0001"), rounding=ROUND_HALF_UP)


def service_stats(*, actor: Any, period: Period, as_of: datetime | None = None) -> dict[str, Any]:
    """Volumes by type, channel, area and day; timeliness by department; satisfaction — for orders
    registered in the period. Timeliness counts an order once it is assessable: done, or past its
    deadline (an order still running within its time is not yet late nor on time)."""
    as_of = as_of or timezone.now()
    start, end = _bounds(period)
    scope, params = _scope_sql(actor)
    base = (" FROM service_workorder o JOIN org_orgnode n ON n.id = o.node_id"
            " WHERE o.created_at >= %s AND o.created_at < %s AND o.status <> 'cancelled'" + scope)
    args = [start, end, *params]

    def rows(sql: str, extra: list[Any] | None = None) -> list[tuple[Any, ...]]:
        with connection.cursor() as cur:
            cur.execute(sql, [*(extra or []), *args])
            return cur.fetchall()

    by_type = rows("SELECT o.order_type, count(*)" + base + " GROUP BY 1 ORDER BY 2 DESC")
    by_channel = rows("SELECT o.channel, count(*)" + base + " GROUP BY 1 ORDER BY 2 DESC")
    by_day = rows("SELECT (o.created_at AT TIME ZONE %s)::date, count(*)" + base + " GROUP BY 1 ORDER BY 1",
                  [settings.TIME_ZONE])
    by_area = rows("SELECT coalesce(a.name, '') AS area, count(*) FROM service_workorder o"
                   " JOIN org_orgnode n ON n.id = o.node_id"
                   " LEFT JOIN customers_premise p ON p.id = o.premise_id"
                   " LEFT JOIN customers_addressarea a ON a.id = p.district_id"
                   " WHERE o.created_at >= %s AND o.created_at < %s AND o.status <> 'cancelled'" + scope
                   + " GROUP BY 1 ORDER BY 2 DESC")
    timeliness = rows(
        "SELECT n.id, n.name,"
        " count(*) FILTER (WHERE o.done_at IS NOT NULL AND o.done_at <= o.complete_due_at) AS on_time,"
        " count(*) FILTER (WHERE o.done_at IS NOT NULL AND o.done_at > o.complete_due_at) AS late,"
        " count(*) FILTER (WHERE o.done_at IS NULL AND o.complete_due_at < %s) AS open_overdue,"
        " count(*) FILTER (WHERE o.done_at IS NULL AND o.complete_due_at >= %s) AS running,"
        " count(*) AS total" + base + " AND o.complete_due_at IS NOT NULL GROUP BY 1, 2 ORDER BY 2", [as_of, as_of])
    satisfaction = rows("SELECT o.satisfaction, count(*)" + base + " AND o.satisfaction IS NOT NULL GROUP BY 1 ORDER BY 1")
    dept = []
    totals = [0, 0, 0, 0, 0]
    for node_id, name, on_time, late, overdue, running, total in timeliness:
        dept.append({"node_id": node_id, "name": name, "on_time": on_time, "late": late, "open_overdue": overdue,
                     "running": running, "total": total, "rate": _rate(on_time, on_time + late + overdue)})
        for i, v in enumerate((on_time, late, overdue, running, total)):
            totals[i] += v
    scored = sum(c for _s, c in satisfaction)
    satisfied = sum(c for s, c in satisfaction if s >= 4)
    mean = (Decimal(sum(s * c for s, c in satisfaction)) / Decimal(scored)).quantize(
        Decimal("0.01"), rounding=ROUND_HALF_UP) if scored else None
    return {
        "period": period, "as_of": as_of, "total": sum(c for _t, c in by_type),
        "by_type": by_type, "by_channel": by_channel, "by_day": by_day, "by_area": by_area,
        "departments": dept,
        "timeliness": {"on_time": totals[0], "late": totals[1], "open_overdue": totals[2], "running": totals[3],
                       "rate": _rate(totals[0], totals[0] + totals[1] + totals[2])},
        "satisfaction": {"scores": satisfaction, "visits": scored, "mean": mean,
                         "satisfied_rate": _rate(satisfied, scored)},
    }


# --- the agent screen (SVC-2) ------------------------------------------------------------------------


def agent_screen(*, actor: Any, phone: str = "", customer_id: Any = None, now: datetime | None = None) -> dict[str, Any]:
    """Everything an agent needs the moment a call comes in: who is calling (by the phone number
    the switch passes; several customers may share it), the chosen customer's accounts with balance
    and last bills, meters with their last read, open orders and recent contacts, outages at their
    addresses. A handful of indexed queries — the screen must come up while the phone still rings."""
    from ucis.billing import selectors as billing_selectors
    from ucis.customers import selectors as customer_selectors
    from ucis.ledger import selectors as ledger_selectors
    from ucis.metering import selectors as metering_selectors

    now = now or timezone.now()
    phone = (phone or "").strip()
    candidates: list[Any] = []
    phone_problem = ""
    phone_hash = ""
    if phone:
        try:
            candidates = customer_selectors.customers_by_phone(actor=actor, phone=phone)
            from ucis.customers import identity
            phone_hash = crypto.keyed_hash(identity.validate_phone(phone, field="phone"), kind="phone")
        except DomainError as exc:
            phone_problem = exc.problems[0].reason
    customer = None
    if customer_id not in (None, ""):
        customer = customer_selectors.customer_get(actor=actor, customer_id=customer_id)
    elif len(candidates) == 1:
        customer = candidates[0]
    screen: dict[str, Any] = {"phone": phone, "phone_problem": phone_problem, "candidates": candidates,
                              "customer": customer, "accounts": [], "now": now}
    recent_since = now - timedelta(days=getattr(settings, "UCIS_AGENT_RECENT_DAYS", 90))
    if customer is not None:
        accounts = list(customer_selectors.customer_accounts(actor=actor, customer=customer))
        ids = [a.pk for a in accounts]
        balances = ledger_selectors.account_balances(account_ids=ids)
        bills = billing_selectors.recent_bills(account_ids=ids)
        points = customer_selectors.account_meters(account_ids=ids)
        reads = metering_selectors.last_reads(meter_ids=[p["meter_id"] for p in points if p["meter_id"]])
        company_of = {a.pk: a.company_id for a in accounts}
        places = {(company_of[p["account_id"]], p["area_path"]) for p in points}
        screen["accounts"] = [{
            "account": a, "balance": balances.get(a.pk), "bills": bills.get(a.pk, []),
            "points": [dict(p, last_read=reads.get(p["meter_id"])) for p in points if p["account_id"] == a.pk],
        } for a in accounts]
        screen["outages"] = outages_at(places=sorted(places), now=now)
        screen["contact"] = customer_selectors.customer_contact(actor=actor, customer=customer)
        who: Any = True
        first = next((p for p in points if p["premise_id"]), None)
        screen["prefill"] = {"customer_id": customer.pk, "account_id": accounts[0].pk if accounts else "",
                             "premise_id": first["premise_id"] if first else "",
                             "location": first["address"] if first else "", "caller_name": customer.name,
                             "commodity": first["commodity"] if first else ""}
    elif phone_hash:
        who = True
        screen["outages"] = []
        screen["prefill"] = {}
    else:
        who = None
        screen["outages"] = []
        screen["prefill"] = {}
    if who is not None:
        orders = contact_orders(actor=actor, customer_id=customer.pk if customer is not None else None,
                                phone_hash=phone_hash, recent_since=recent_since)
        screen["open_orders"] = [o for o in orders if o.status in OPEN_STATUSES]
        screen["recent_orders"] = [o for o in orders if o.status not in OPEN_STATUSES]
    else:
        screen["open_orders"] = screen["recent_orders"] = []
    return screen


@dataclass(frozen=True)
class ContactOrder:
    """A work order as the agent screen lists it (no model instance: the screen lists up to 20)."""

    pk: int
    order_no: str
    order_type: str
    subject: str
    status: str
    created_at: datetime
    node_name: str

    def get_order_type_display(self) -> str:
        return str(dict(ORDER_TYPES).get(self.order_type, self.order_type))

    def get_status_display(self) -> str:
        return str(dict(STATUSES).get(self.status, self.status))


def contact_orders(*, actor: Any, customer_id: int | None, phone_hash: str, recent_since: datetime,
                   limit: int = 10) -> list[ContactOrder]:
    """The caller's open orders and recent closed ones (by customer or by phone number), newest
    first, ``limit`` of each: one statement of two indexed walks, within the actor's reach."""
    root = actor_root_path(actor, company_wide=company_wide(actor))
    if root is None or (customer_id is None and not phone_hash):
        return []
    who, args = [], []
    if customer_id is not None:
        who.append("o.customer_id = %s")
        args.append(customer_id)
    if phone_hash:
        who.append("o.caller_phone_hash = %s")
        args.append(phone_hash)
    where = "(" + " OR ".join(who) + ")" + (" AND n.path LIKE %s" if root else "")
    scope = [root + "%"] if root else []
    select = ("SELECT o.id, o.order_no, o.order_type, o.subject, o.status, o.created_at, n.name"
              " FROM service_workorder o JOIN org_orgnode n ON n.id = o.node_id WHERE ")
    sql = (f"({select}{where} AND o.status = ANY(%s) ORDER BY o.created_at DESC LIMIT %s) UNION ALL "
           f"({select}{where} AND o.status <> ALL(%s) AND o.created_at >= %s ORDER BY o.created_at DESC LIMIT %s)")
    open_list = list(OPEN_STATUSES)
    with connection.cursor() as cur:
        cur.execute(sql, [*args, *scope, open_list, limit, *args, *scope, open_list, recent_since, limit])
        rows = [ContactOrder(*r) for r in cur.fetchall()]
    return sorted(rows, key=lambda o: o.created_at, reverse=True)


def dispatch_units(*, company_id: int) -> list[Any]:
    """The units an order of the company can be sent to: any unit of that company (the service
    centre dispatches across branches)."""
    from ucis.org import selectors as org_selectors
    from ucis.platform.tenancy import SYSTEM
    return list(org_selectors.org_node_list(actor=SYSTEM, company_id=company_id))


def outage_units(*, actor: Any) -> list[Any]:
    from ucis.org import selectors as org_selectors
    return [n for n in org_selectors.org_node_list(actor=actor) if n.company_id]


def order_repeats(*, order: WorkOrder) -> list[WorkOrder]:
    """The other orders of a chain of repeated faults at one address."""
    root_id = order.repeat_of_id or order.pk
    return list(WorkOrder.objects.filter(Q(pk=root_id) | Q(repeat_of_id=root_id)).exclude(pk=order.pk)
                .order_by("created_at"))


def order_suggestions(*, actor: Any, order: WorkOrder, limit: int = 5) -> list[Any]:
    """Knowledge-base articles for the order's text (SVC-7)."""
    return text_suggestions(actor=actor, text=f"{order.subject} {order.description}", company_id=order.company_id,
                            limit=limit)


def text_suggestions(*, actor: Any, text: str, company_id: int | None, limit: int = 5) -> list[Any]:
    """Published knowledge-base articles for what the agent is typing (the caller's question)."""
    from ucis.knowledge import selectors as knowledge_selectors
    if not actor.has_perm("knowledge.view_knowledgearticle") or not (text or "").strip():
        return []
    return knowledge_selectors.article_suggest(actor, text=text[:500], company_id=company_id, limit=limit)
