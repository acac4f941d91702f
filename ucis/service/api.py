"""JSON API of the service desk: the phone system's call notification, work orders (intake, list,
one order, locks in batch, each handling step), statistics, calendars and outages."""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal
from typing import Literal

from django.core.exceptions import PermissionDenied
from django.http import HttpRequest
from django.urls import reverse
from ninja import Field, Router, Schema, Status

from ucis.kernel.errors import DomainError
from ucis.platform.api import ERRORS
from ucis.service import selectors, services

router = Router(tags=["service"])


def _require(request: HttpRequest, perm: str) -> None:
    if not request.user.has_perm(perm):
        raise PermissionDenied(f"missing permission {perm}")


class CallIn(Schema):
    phone: str = Field(description="the caller's number as the switch passes it")


class CallerOut(Schema):
    customer_id: int
    customer_no: str
    name: str


class CallOut(Schema):
    screen_url: str = Field(description="open this in the agent's browser (screen pop)")
    callers: list[CallerOut]
    open_orders: list[str]


@router.post("/calls", response={200: CallOut, **ERRORS})
def call_ringing(request: HttpRequest, payload: CallIn):
    """A call is ringing at an agent: who is calling, and the agent screen to pop up."""
    _require(request, "service.intake_order")
    screen = selectors.agent_screen(actor=request.user, phone=payload.phone)
    if screen["phone_problem"]:
        raise DomainError("phone", screen["phone_problem"])
    url = reverse("service_agent") + "?phone=" + payload.phone.strip()
    return {"screen_url": url, "callers": [{"customer_id": c.pk, "customer_no": c.customer_no, "name": c.name}
                                           for c in screen["candidates"]],
            "open_orders": [o.order_no for o in screen["open_orders"]]}


class OrderIn(Schema):
    order_type: str = Field(description="repair, complaint, consultation, help, bill_inquiry, repair_progress, "
                                        "application_progress, message, appointment")
    channel: str = Field("hotline", description="hotline, portal, ivr, walk_in, wechat")
    subject: str
    description: str = ""
    urgency: str = "normal"
    caller_name: str = ""
    caller_phone: str = ""
    customer_id: int | None = None
    account_id: int | None = None
    premise_id: int | None = None
    commodity: str = ""
    location: str = ""
    landmark: str = ""
    requested_at: datetime | None = None
    external_ref: str = Field("", description="the channel's own id: a repeat returns the first order")
    reply: str = Field("", description="answer at once (consultations, inquiries): the order is archived")
    company_id: int | None = None


class OrderOut(Schema):
    id: int
    order_no: str
    order_type: str
    channel: str
    urgency: str
    status: str
    subject: str
    node_id: int
    node: str
    assignee: str | None
    clock: str
    accept_due_at: datetime | None
    complete_due_at: datetime | None
    sla: str
    done_at: datetime | None
    satisfaction: int | None
    escalation_level: int
    repeat_of: str | None
    created_at: datetime


def _order_out(order) -> dict:
    return {"id": order.pk, "order_no": order.order_no, "order_type": order.order_type, "channel": order.channel,
            "urgency": order.urgency, "status": order.status, "subject": order.subject, "node_id": order.node_id,
            "node": order.node.name, "assignee": order.assignee.username if order.assignee_id else None,
            "clock": order.clock, "accept_due_at": order.accept_due_at, "complete_due_at": order.complete_due_at,
            "sla": order.sla_note, "done_at": order.done_at, "satisfaction": order.satisfaction,
            "escalation_level": order.escalation_level,
            "repeat_of": order.repeat_of.order_no if order.repeat_of_id else None, "created_at": order.created_at}


@router.post("/orders", response={201: OrderOut, 200: OrderOut, **ERRORS})
def order_create(request: HttpRequest, payload: OrderIn):
    """Register a request as a work order (routed to a queue by the company's rules)."""
    order = services.order_intake(actor=request.user, **payload.dict())
    return Status(201, _order_out(selectors.order_get(actor=request.user, order_id=order.pk)))


@router.get("/orders", response={200: list[OrderOut], **ERRORS})
def order_list(request: HttpRequest, status: str = "", order_type: str = "", channel: str = "", q: str = "",
               open_only: bool = False, limit: int = 100):
    _require(request, "service.view_workorder")
    return [_order_out(o) for o in selectors.order_list(actor=request.user, status=status, order_type=order_type,
                                                        channel=channel, q=q, open_only=open_only,
                                                        limit=min(limit, 500))]


class EventOut(Schema):
    kind: str
    at: datetime
    actor: str | None
    from_status: str
    to_status: str
    node: str | None
    note: str


class OrderDetailOut(OrderOut):
    description: str
    location: str
    landmark: str
    caller_name: str
    caller_phone: str
    feedback: str
    reply: str
    lock_holder: str | None
    lock_since: datetime | None
    events: list[EventOut]


@router.get("/orders/{order_id}", response={200: OrderDetailOut, **ERRORS})
def order_detail(request: HttpRequest, order_id: int):
    _require(request, "service.view_workorder")
    order = selectors.order_get(actor=request.user, order_id=order_id, related=True)
    lock = selectors.order_lock_state(actor=request.user, order=order)
    contact = selectors.order_contact(actor=request.user, order=order)
    return {**_order_out(order), "description": order.description, "location": order.location,
            "landmark": order.landmark, "caller_name": contact["name"], "caller_phone": contact["phone"],
            "feedback": order.feedback, "reply": order.reply,
            "lock_holder": lock.holder_name if lock.holder_id and not lock.expired else None,
            "lock_since": lock.acquired_at if lock.holder_id and not lock.expired else None,
            "events": [{"kind": e.kind, "at": e.at, "actor": e.actor.username if e.actor_id else None,
                        "from_status": e.from_status, "to_status": e.to_status,
                        "node": e.node.name if e.node_id else None, "note": e.note}
                       for e in selectors.order_events(order=order)]}


class LockIn(Schema):
    order_ids: list[int]


class RefusalOut(Schema):
    order_id: int
    order_no: str
    holder: str
    since: datetime | None
    reason: str


class LockOut(Schema):
    locked: list[int]
    refused: list[RefusalOut]


@router.post("/locks", response={200: LockOut, **ERRORS})
def orders_lock(request: HttpRequest, payload: LockIn):
    """Lock orders in a batch; those someone else holds are refused with the holder's name."""
    outcome = services.order_lock(actor=request.user, order_ids=payload.order_ids)
    return {"locked": outcome.locked, "refused": [{"order_id": r.order_id, "order_no": r.order_no, "holder": r.holder,
                                                   "since": r.since, "reason": r.reason} for r in outcome.refused]}


@router.post("/locks/release", response={200: LockOut, **ERRORS})
def orders_unlock(request: HttpRequest, payload: LockIn):
    return {"locked": services.order_unlock(actor=request.user, order_ids=payload.order_ids), "refused": []}


class StepIn(Schema):
    action: Literal["accept", "dispatch", "forward", "reply", "visit", "archive", "review", "cancel", "note",
                    "break_lock"]
    node_id: int | None = None
    skill: str = ""
    feedback: str = ""
    reply: str = ""
    satisfaction: int | None = None
    note: str = ""
    reason: str = ""


@router.post("/orders/{order_id}/steps", response={200: OrderOut, **ERRORS})
def order_step(request: HttpRequest, order_id: int, payload: StepIn):
    """One handling step; every step but ``review`` needs the caller to hold the order's lock."""
    user, p = request.user, payload
    if p.action == "accept":
        services.order_accept(actor=user, order_id=order_id)
    elif p.action in ("dispatch", "forward"):
        call = services.order_dispatch if p.action == "dispatch" else services.order_forward
        call(actor=user, order_id=order_id, node_id=p.node_id, skill=p.skill, note=p.note)
    elif p.action == "reply":
        services.order_reply(actor=user, order_id=order_id, feedback=p.feedback, reply=p.reply)
    elif p.action == "visit":
        services.order_visit(actor=user, order_id=order_id, satisfaction=p.satisfaction, note=p.note)
    elif p.action == "archive":
        services.order_archive(actor=user, order_id=order_id, note=p.note)
    elif p.action == "review":
        services.order_review(actor=user, order_id=order_id, note=p.note)
    elif p.action == "cancel":
        services.order_cancel(actor=user, order_id=order_id, reason=p.reason)
    elif p.action == "note":
        services.order_note(actor=user, order_id=order_id, note=p.note)
    else:
        services.order_lock_break(actor=user, order_id=order_id, reason=p.reason)
    return _order_out(selectors.order_get(actor=user, order_id=order_id))


class DepartmentOut(Schema):
    node_id: int
    name: str
    on_time: int
    late: int
    open_overdue: int
    running: int
    total: int
    rate: Decimal | None = Field(description="on time ÷ (on time + late + open overdue)")


class StatsOut(Schema):
    date_from: date
    date_to: date
    total: int
    by_type: dict[str, int]
    by_channel: dict[str, int]
    by_day: dict[str, int]
    by_area: dict[str, int]
    timeliness_rate: Decimal | None
    departments: list[DepartmentOut]
    satisfaction_mean: Decimal | None
    satisfied_rate: Decimal | None
    visits: int


@router.get("/stats", response={200: StatsOut, **ERRORS})
def stats(request: HttpRequest, date_from: date, date_to: date):
    """Volumes, timeliness and satisfaction of orders registered in [date_from, date_to)."""
    _require(request, "service.view_service_stats")
    if date_to <= date_from:
        raise DomainError("date_to", "must be after date_from")
    s = selectors.service_stats(actor=request.user, period=selectors.Period(date_from, date_to))
    return {"date_from": date_from, "date_to": date_to, "total": s["total"], "by_type": dict(s["by_type"]),
            "by_channel": dict(s["by_channel"]), "by_day": {d.isoformat(): n for d, n in s["by_day"]},
            "by_area": {k or "-": n for k, n in s["by_area"]}, "timeliness_rate": s["timeliness"]["rate"],
            "departments": s["departments"], "satisfaction_mean": s["satisfaction"]["mean"],
            "satisfied_rate": s["satisfaction"]["satisfied_rate"], "visits": s["satisfaction"]["visits"]}


class HolidayIn(Schema):
    name: str
    date_from: date
    date_to: date = Field(description="exclusive")


class CalendarIn(Schema):
    windows: list[list[int | str]] = Field(description='[[weekday 0–6, "HH:MM", "HH:MM"], …]')
    holidays: list[HolidayIn] = []
    makeup_days: list[date] = []
    time_zone: str = "Asia/Shanghai"
    makeup_weekday: int = 0


class CalendarOut(Schema):
    company_id: int
    windows: list[list[int | str]]
    holidays: list[HolidayIn]
    makeup_days: list[date]


@router.put("/calendars/{company_id}", response={200: CalendarOut, **ERRORS})
def calendar_put(request: HttpRequest, company_id: int, payload: CalendarIn):
    """Replace a company's SLA calendar; overlapping holidays and bad windows are refused whole."""
    cal = services.calendar_set(actor=request.user, company_id=company_id, windows=payload.windows,
                                holidays=[(h.name, h.date_from, h.date_to) for h in payload.holidays],
                                makeup_days=payload.makeup_days, time_zone=payload.time_zone,
                                makeup_weekday=payload.makeup_weekday)
    return {"company_id": cal.company_id, "windows": cal.windows,
            "holidays": [{"name": h.name, "date_from": h.date_from, "date_to": h.date_to} for h in cal.holidays.all()],
            "makeup_days": [m.day for m in cal.makeup_days.all()]}


class OutageIn(Schema):
    node_id: int
    commodity: str
    kind: str = "planned"
    starts_at: datetime
    ends_at: datetime
    reason: str
    area_codes: list[str]


class OutageOut(Schema):
    id: int
    commodity: str
    kind: str
    starts_at: datetime
    ends_at: datetime
    reason: str
    area_paths: list[str]


@router.post("/outages", response={201: OutageOut, **ERRORS})
def outage_create(request: HttpRequest, payload: OutageIn):
    """Announce an outage over address areas (agents see it for callers there)."""
    o = services.outage_create(actor=request.user, **payload.dict())
    return Status(201, {"id": o.pk, "commodity": o.commodity, "kind": o.kind, "starts_at": o.starts_at,
                        "ends_at": o.ends_at, "reason": o.reason, "area_paths": o.area_paths})
