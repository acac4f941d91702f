"""Use cases of the service desk: intake, routing, locks, handling, reply, return visit, archive,
leader review, supervision; and the configuration behind them (SLAs, routing, calendars, outages).

Every action on an existing order needs its lock, checked under the lock row's own row lock in
the same transaction as the change — so two people can never both work an order, whatever the
screens show. Taking a lock is one statement (INSERT … ON CONFLICT … WHERE free OR expired): the
database picks the winner of a race.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.core.files.base import ContentFile
from django.db import connection, transaction
from django.http import Http404
from django.utils import timezone

from ucis.customers import identity
from ucis.customers import selectors as customer_selectors
from ucis.customers.documents import check_upload
from ucis.kernel.errors import Conflict, DomainError, reason_required, render_reason
from ucis.kernel.errors import gettext_noop as _
from ucis.org import selectors as org_selectors
from ucis.platform import crypto
from ucis.platform.audit import audit_context
from ucis.platform.permissions import require
from ucis.platform.tenancy import SYSTEM, access_by_id, acting_user, is_system
from ucis.service import routing, selectors, sla
from ucis.service.models import (
    CHANNELS,
    COMMODITY_CHOICES,
    OPEN_STATUSES,
    ORDER_TYPES,
    URGENCIES,
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
    WorkOrderAttachment,
    WorkOrderDraft,
    WorkOrderLock,
)

ORDER_TYPE_CODES = tuple(t for t, _l in ORDER_TYPES)
CHANNEL_CODES = tuple(c for c, _l in CHANNELS)
URGENCY_CODES = tuple(u for u, _l in URGENCIES)
COMMODITY_CODES = tuple(c for c, _l in COMMODITY_CHOICES)
# Requests an agent can settle while the caller is on the line (answered at once, archived).
ANSWERABLE = ("consultation", "bill_inquiry", "repair_progress", "application_progress", "help")
# Orders whose closing needs a return visit first (回访): the customer says whether it was fixed.
VISIT_REQUIRED = ("repair", "complaint")
DEFAULT_ESCALATION = ((1, "0.8"), (2, "1.0"), (3, "1.5"))
MAX_ATTACHMENT_BYTES = 10 * 1024 * 1024


def _now(now: datetime | None) -> datetime:
    return now or timezone.now()


def _choice(value: str, codes: Sequence[str], field: str) -> str:
    if value not in codes:
        raise DomainError(field, _("unknown value %(value)s; expected one of %(expected)s"), value=value,
                          expected=", ".join(codes))
    return value


def _text(value: Any, field: str, *, max_length: int, required: bool = False) -> str:
    text = (value or "").strip() if isinstance(value, str) or value is None else str(value).strip()
    if required and not text:
        raise DomainError(field, _("is required"))
    if len(text) > max_length:
        raise DomainError(field, _("at most %(max)s characters"), max=max_length)
    return text


def _event(order: WorkOrder, kind: str, *, actor: Any, at: datetime, note: str = "", from_status: str = "",
           to_status: str = "", node_id: int | None = None) -> None:
    WorkOrderActivity.objects.create(order=order, kind=kind, actor=acting_user(actor), at=at, note=note,
                                  from_status=from_status, to_status=to_status, node_id=node_id)


def _actor_company_id(actor: Any) -> int | None:
    node = getattr(actor, "node", None)
    return getattr(node, "company_id", None) if node is not None else None


def _next_order_no(company: Any, day: Any) -> str:
    with connection.cursor() as cur:
        cur.execute("INSERT INTO service_ordercounter (company_id, day, last) VALUES (%s, %s, 1)"
                    " ON CONFLICT (company_id, day) DO UPDATE SET last = service_ordercounter.last + 1"
                    " RETURNING last", [company.pk, day])
        seq = cur.fetchone()[0]
    return f"{company.code}{day:%y%m%d}{seq:05d}"


# --- SLA -----------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class SlaPlan:
    clock: str
    accept_due_at: datetime
    complete_due_at: datetime
    note: str


def default_sla_minutes(order_type: str, urgency: str) -> tuple[str, int, int]:
    """(clock, accept, complete) when a company has no rule: repairs on the elapsed clock
    (emergency 2 h / urgent 4 h / normal 24 h to complete), everything else in business hours."""
    if order_type == "repair":
        complete = {"emergency": 120, "urgent": 240}.get(urgency, 1440)
        return "elapsed", min(30, complete), complete
    if order_type == "complaint":
        return "business", 240, 5 * 8 * 60
    return "business", 120, 3 * 8 * 60


def sla_plan(*, company_id: int, order_type: str, urgency: str, start_at: datetime) -> SlaPlan:
    rule = selectors.sla_rule_for(company_id=company_id, order_type=order_type, urgency=urgency)
    if rule is not None:
        clock, accept, complete = rule.clock, rule.accept_minutes, rule.complete_minutes
    else:
        clock, accept, complete = default_sla_minutes(order_type, urgency)
    cal = selectors.calendar_of(company_id=company_id)
    accept_due = sla.deadline(cal, start_at=start_at, minutes=accept, clock=clock)
    complete_due = sla.deadline(cal, start_at=start_at, minutes=complete, clock=clock)
    return SlaPlan(clock, accept_due.due_at, complete_due.due_at, complete_due.explanation[:300])


def escalation_steps() -> list[sla.EscalationStep]:
    from decimal import Decimal
    raw = getattr(settings, "UCIS_SLA_ESCALATION", DEFAULT_ESCALATION)
    return [sla.EscalationStep(int(level), Decimal(str(fraction))) for level, fraction in raw]


# --- intake (SVC-1) --------------------------------------------------------------------------------------


def _resolve_party(actor: Any, *, customer_id: Any, account_id: Any, premise_id: Any) -> tuple[Any, Any, Any]:
    customer = account = premise = None
    try:
        if account_id not in (None, ""):
            account = customer_selectors.account_get(actor=actor, account_id=account_id)
            customer = account.customer
            premise = account.billing_premise
        if customer_id not in (None, ""):
            found = customer_selectors.customer_get(actor=actor, customer_id=customer_id)
            if customer is not None and found.pk != customer.pk:
                raise DomainError("customer", _("the account belongs to another customer"))
            customer = found
    except Http404:
        field = "account" if account_id not in (None, "") and account is None else "customer"
        raise DomainError(field, _("not a customer of your company (or no such %(what)s)"), what=field) from None
    if premise_id not in (None, ""):
        try:
            premise = customer_selectors.premise_get(actor=actor, premise_id=premise_id)
        except Http404:
            raise DomainError("premise", _("not an address your company serves (or no such address)")) from None
    return customer, account, premise


def _repeat_of(*, premise: Any, order_type: str, now: datetime) -> WorkOrder | None:
    """The first order of a chain of repeated faults at one address within the repeat window."""
    if premise is None or order_type != "repair":
        return None
    days = getattr(settings, "UCIS_REPEAT_FAULT_DAYS", 30)
    earlier = (WorkOrder.objects.filter(premise=premise, order_type="repair", created_at__gte=now - timedelta(days=days))
               .exclude(status="cancelled").order_by("-created_at").first())
    if earlier is None:
        return None
    return earlier.repeat_of or earlier


def order_intake(*, actor: Any, order_type: str, channel: str, subject: str, description: str = "",
                 caller_name: str = "", caller_phone: str = "", customer_id: Any = None, account_id: Any = None,
                 premise_id: Any = None, commodity: str = "", location: str = "", landmark: str = "",
                 urgency: str = "normal", requested_at: datetime | None = None, external_ref: str = "",
                 reply: str = "", company_id: Any = None, now: datetime | None = None) -> WorkOrder:
    """Register a request from any channel as a work order (受理) and route it to a queue — or,
    with a ``reply``, answer it at once and archive it (a consultation settled on the call).
    A repeated ``external_ref`` of the channel returns the first order and creates nothing."""
    require(actor, "service.intake_order")
    now = _now(now)
    order_type = _choice(order_type, ORDER_TYPE_CODES, "order_type")
    channel = _choice(channel, CHANNEL_CODES, "channel")
    urgency = _choice(urgency or "normal", URGENCY_CODES, "urgency")
    if commodity:
        _choice(commodity, COMMODITY_CODES, "commodity")
    subject = _text(subject, "subject", max_length=100, required=True)
    description = _text(description, "description", max_length=4000)
    caller_name = _text(caller_name, "caller_name", max_length=60)
    location = _text(location, "location", max_length=200)
    landmark = _text(landmark, "landmark", max_length=100)
    external_ref = _text(external_ref, "external_ref", max_length=64)
    reply = _text(reply, "reply", max_length=4000)
    phone = identity.validate_phone(caller_phone, field="caller_phone") if (caller_phone or "").strip() else ""
    if reply and order_type not in ANSWERABLE:
        raise DomainError("reply", _("a %(type)s cannot be answered at once; it goes to a department"),
                          type=order_type)
    if order_type == "repair" and not (location or premise_id or account_id):
        raise DomainError("location", _("a repair needs the fault's location"))
    if order_type == "appointment" and requested_at is None:
        raise DomainError("requested_at", _("an appointment needs the requested time"))
    if requested_at is not None and requested_at < now - timedelta(minutes=5):
        raise DomainError("requested_at", _("the requested time is in the past"))
    if external_ref:
        existing = WorkOrder.objects.filter(channel=channel, external_ref=external_ref).first()
        if existing is not None:
            return existing
    customer, account, premise = _resolve_party(actor, customer_id=customer_id, account_id=account_id,
                                                premise_id=premise_id)
    if account is not None:
        company_pk = account.company_id
    elif company_id not in (None, ""):
        company_pk = int(company_id)
    else:
        company_pk = _actor_company_id(actor)
    if company_pk is None:
        raise DomainError("company", _("say which company the request is for"))
    own = _actor_company_id(actor)
    if not is_system(actor) and own is not None and company_pk != own:
        raise DomainError("account", _("not a customer of your company"))
    company = org_selectors.org_node_get(actor=SYSTEM, node_id=company_pk)
    if not location and premise is not None:
        location = premise.address
    if not commodity and account is not None:
        commodity = _account_commodity(account)
    plan = sla_plan(company_id=company.pk, order_type=order_type, urgency=urgency, start_at=now)
    with transaction.atomic(), audit_context(actor=actor, reason="intake", source="service"):
        order = WorkOrder(
            order_no=_next_order_no(company, timezone.localdate(now)), company=company, node=company,
            order_type=order_type, channel=channel, urgency=urgency, subject=subject, description=description,
            caller_name=caller_name, caller_phone=phone,
            caller_phone_hash=crypto.keyed_hash(phone, kind="phone") if phone else "",
            contact_private=order_type == "complaint", customer=customer, account=account, premise=premise,
            commodity=commodity, location=location, landmark=landmark, requested_at=requested_at,
            external_ref=external_ref, clock=plan.clock, accept_due_at=plan.accept_due_at,
            complete_due_at=plan.complete_due_at, sla_note=plan.note, created_by=acting_user(actor), created_at=now,
            repeat_of=_repeat_of(premise=premise, order_type=order_type, now=now))
        if reply:
            order.status, order.reply, order.feedback = "archived", reply, reply
            order.accepted_at = order.done_at = order.archived_at = now
            order.assignee = acting_user(actor)
            order.node = actor.node if not is_system(actor) else company
        else:
            decision = routing.route(
                routing.OrderFacts(order_type, commodity, premise.area.path if premise is not None else ""),
                selectors.routing_rules(company_id=company.pk))
            order.routing_note = decision.explanation[:300]
            if decision.target_id is not None:
                order.node_id, order.skill, order.status = decision.target_id, decision.skill, "dispatched"
            order.escalation_next_at = _first_escalation(order, now)
        order.save()
        _event(order, "created", actor=actor, at=now, to_status="registered", node_id=company.pk,
               note=order.sla_note)
        if reply:
            _event(order, "replied", actor=actor, at=now, from_status="registered", to_status="archived", note=reply)
        elif order.status == "dispatched":
            _event(order, "routed", actor=actor, at=now, from_status="registered", to_status="dispatched",
                   node_id=order.node_id, note=order.routing_note)
        if order.repeat_of_id:
            _event(order, "linked", actor=actor, at=now, note=order.repeat_of.order_no)
    return order


def _account_commodity(account: Any) -> str:
    return customer_selectors.account_commodity(account_id=account.pk)


def _first_escalation(order: WorkOrder, now: datetime) -> datetime | None:
    if order.complete_due_at is None:
        return None
    cal = selectors.calendar_of(company_id=order.company_id)
    return sla.escalation_level(steps=escalation_steps(), started_at=order.created_at or now,
                                due_at=order.complete_due_at, clock=order.clock, now=now, cal=cal).next_at


# --- locks (SVC-4, Y2) ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class LockRefusal:
    order_id: int
    order_no: str
    holder: str
    since: datetime | None
    template: str
    params: dict[str, Any]

    @property
    def reason(self) -> str:
        return render_reason(self.template, self.params)


@dataclass(frozen=True)
class LockOutcome:
    locked: list[int]
    refused: list[LockRefusal]


def order_lock(*, actor: Any, order_ids: Iterable[Any], now: datetime | None = None) -> LockOutcome:
    """Lock orders to work them, in a batch. Each order is taken if it is free, already ours, or
    its holder has been idle past the limit — decided by one statement per batch, so of two
    people racing for an order exactly one gets it. The others are reported with their holder."""
    require(actor, "service.work_order")
    now = _now(now)
    ids = _visible_ids(actor, order_ids)
    idle_before = now - selectors.lock_idle()
    with transaction.atomic():
        previous = {lk.order_id: lk.holder_id for lk in WorkOrderLock.objects.filter(order_id__in=ids)}
        with connection.cursor() as cur:
            cur.execute(
                "INSERT INTO service_workorderlock (order_id, holder_id, acquired_at, seen_at)"
                " SELECT o.id, %s, %s, %s FROM service_workorder o"
                " WHERE o.id = ANY(%s) AND o.status NOT IN ('archived', 'cancelled')"
                " ON CONFLICT (order_id) DO UPDATE SET holder_id = EXCLUDED.holder_id,"
                "  acquired_at = CASE WHEN service_workorderlock.holder_id = EXCLUDED.holder_id"
                "   THEN service_workorderlock.acquired_at ELSE EXCLUDED.acquired_at END,"
                "  seen_at = EXCLUDED.seen_at"
                " WHERE service_workorderlock.holder_id = EXCLUDED.holder_id OR service_workorderlock.seen_at <= %s"
                " RETURNING order_id", [actor.pk, now, now, ids, idle_before])
            locked = sorted(r[0] for r in cur.fetchall())
        taken = [i for i in locked if previous.get(i) != actor.pk]
        orders = {o.pk: o for o in WorkOrder.objects.filter(pk__in=ids)}
        for order_id in taken:
            kind = "lock_expired" if previous.get(order_id) else "locked"
            _event(orders[order_id], kind, actor=actor, at=now)
    refused = _refusals(actor, [i for i in ids if i not in locked], orders, now)
    return LockOutcome(locked, refused)


def _refusals(actor: Any, ids: list[int], orders: dict[int, WorkOrder], now: datetime) -> list[LockRefusal]:
    locks = {lk.order_id: lk for lk in WorkOrderLock.objects.filter(order_id__in=ids).select_related("holder")}
    out = []
    for order_id in ids:
        order = orders[order_id]
        lock = locks.get(order_id)
        if lock is not None:
            name = lock.holder.display_name or lock.holder.username
            out.append(LockRefusal(order_id, order.order_no, name, lock.acquired_at,
                                   _("locked by %(holder)s since %(since)s"),
                                   {"holder": name, "since": f"{timezone.localtime(lock.acquired_at):%Y-%m-%d %H:%M}"}))
        else:
            out.append(LockRefusal(order_id, order.order_no, "", None,
                                   _("the order is %(status)s and cannot be worked"), {"status": order.status}))
    return out


def _visible_ids(actor: Any, order_ids: Iterable[Any]) -> list[int]:
    wanted = []
    for raw in order_ids:
        try:
            wanted.append(int(raw))
        except (TypeError, ValueError):
            raise DomainError("order_ids", _("%(value)s is not an order id"), value=raw) from None
    if not wanted:
        raise DomainError("order_ids", _("choose at least one order"))
    found = set(selectors.order_queryset(actor).filter(pk__in=wanted).values_list("pk", flat=True))
    missing = [i for i in wanted if i not in found]
    if missing:
        raise Http404("No work order matches the given query.")
    return sorted(set(wanted))


def order_unlock(*, actor: Any, order_ids: Iterable[Any], now: datetime | None = None) -> list[int]:
    """Release the actor's own locks on these orders (others' locks are left alone)."""
    now = _now(now)
    ids = _visible_ids(actor, order_ids)
    with transaction.atomic():
        with connection.cursor() as cur:
            cur.execute("DELETE FROM service_workorderlock WHERE order_id = ANY(%s) AND holder_id = %s"
                        " RETURNING order_id", [ids, actor.pk])
            released = sorted(r[0] for r in cur.fetchall())
        for order in WorkOrder.objects.filter(pk__in=released):
            _event(order, "unlocked", actor=actor, at=now)
    return released


def order_lock_break(*, actor: Any, order_id: Any, reason: str, now: datetime | None = None) -> WorkOrder:
    """A supervisor takes a lock away (recorded with the reason); the holder's draft is kept."""
    require(actor, "service.supervise_order")
    now = _now(now)
    text = reason_required(reason)
    order = selectors.order_get(actor=actor, order_id=order_id)
    with transaction.atomic():
        lock = WorkOrderLock.objects.select_for_update(of=("self",)).filter(order=order).select_related("holder").first()
        if lock is None:
            raise DomainError("order", _("the order is not locked"))
        holder = lock.holder.display_name or lock.holder.username
        lock.delete()
        _event(order, "lock_broken", actor=actor, at=now, note=f"{holder}: {text}")
    return order


@dataclass(frozen=True)
class Heartbeat:
    state: selectors.LockState
    saved: bool


def order_heartbeat(*, actor: Any, order_id: Any, draft: dict[str, Any], now: datetime | None = None) -> Heartbeat:
    """Sent every half minute by the order page: saves what the actor typed and, when they typed
    something new, keeps their lock alive — idle means no new input, however long the page stays
    open. Once the lock has expired (or was broken or taken over) the input is still saved, for
    when they return."""
    now = _now(now)
    order = selectors.order_get(actor=actor, order_id=order_id)
    clean = {str(k)[:40]: str(v)[:4000] for k, v in (draft or {}).items() if k not in ("csrfmiddlewaretoken",)}
    with transaction.atomic():
        saved = WorkOrderDraft.objects.filter(order=order, user_id=actor.pk).first()
        changed = bool(clean) and (saved is None or saved.data != clean)
        if changed:
            WorkOrderDraft.objects.update_or_create(order=order, user_id=actor.pk,
                                                    defaults={"data": clean, "saved_at": now})
            WorkOrderLock.objects.filter(order=order, holder_id=actor.pk,
                                         seen_at__gt=now - selectors.lock_idle()).update(seen_at=now)
    return Heartbeat(selectors.order_lock_state(actor=actor, order=order, now=now), changed)


def _worked(actor: Any, order_id: Any, now: datetime, perm: str = "service.work_order") -> WorkOrder:
    """The order locked FOR UPDATE, after checking the actor holds its live lock — in the caller's
    transaction, so nobody can take the lock over between the check and the change."""
    require(actor, perm)
    order = selectors.order_get(actor=actor, order_id=order_id)
    lock = WorkOrderLock.objects.select_for_update(of=("self",)).filter(order=order).select_related("holder").first()
    if lock is None:
        raise Conflict("order", _("lock the order before working it"))
    if lock.holder_id != actor.pk:
        raise Conflict("order", _("locked by %(holder)s since %(since)s"),
                       holder=lock.holder.display_name or lock.holder.username,
                       since=f"{timezone.localtime(lock.acquired_at):%Y-%m-%d %H:%M}")
    if lock.seen_at <= now - selectors.lock_idle():
        raise Conflict("order", _("your lock expired; lock the order again (your input was kept)"))
    lock.seen_at = now
    lock.save(update_fields=["seen_at"])
    order = WorkOrder.objects.select_for_update().get(pk=order.pk)
    return order


def _done_with(actor: Any, order: WorkOrder) -> None:
    WorkOrderDraft.objects.filter(order=order, user_id=actor.pk).delete()


def _status(order: WorkOrder, allowed: Sequence[str], action: str) -> str:
    if order.status not in allowed:
        raise Conflict("status", _("cannot %(action)s an order that is %(status)s"), action=action,
                       status=order.status)
    return order.status


def _send_to_queue(*, actor: Any, order_id: Any, node_id: Any, skill: str, note: str, now: datetime | None,
                   perm: str, event: str, action: str) -> WorkOrder:
    """Put an order in another unit's queue (optionally needing a skill) and release it."""
    now = _now(now)
    with transaction.atomic(), audit_context(actor=actor, reason=event, source="service"):
        order = _worked(actor, order_id, now, perm)
        before = _status(order, ("registered", "dispatched", "accepted"), action)
        target = _target(actor, order, node_id)
        order.node, order.skill, order.status, order.assignee = target, _text(skill, "skill", max_length=32), \
            "dispatched", None
        order.save()
        _event(order, event, actor=actor, at=now, from_status=before, to_status="dispatched", node_id=target.pk,
               note=_text(note, "note", max_length=1000))
        _done_with(actor, order)
        WorkOrderLock.objects.filter(order=order).delete()
    return order


def order_dispatch(*, actor: Any, order_id: Any, node_id: Any, skill: str = "", note: str = "",
                   now: datetime | None = None) -> WorkOrder:
    """Send an order to a unit's queue (派单), by hand — from the dispatcher's queue or back from a
    department that cannot handle it."""
    return _send_to_queue(actor=actor, order_id=order_id, node_id=node_id, skill=skill, note=note, now=now,
                          perm="service.dispatch_order", event="dispatched", action=_("dispatch"))


def _target(actor: Any, order: WorkOrder, node_id: Any) -> Any:
    try:
        target = org_selectors.org_node_get(actor=SYSTEM, node_id=node_id)
    except Http404:
        raise DomainError("node", _("no such unit")) from None
    if target.company_id != order.company_id:
        raise DomainError("node", _("%(unit)s is not a unit of the order's company"), unit=target.name)
    return target


def order_accept(*, actor: Any, order_id: Any, now: datetime | None = None) -> WorkOrder:
    """Take an order from the queue (接单): it is now the actor's to handle."""
    now = _now(now)
    with transaction.atomic(), audit_context(actor=actor, reason="accept", source="service"):
        order = _worked(actor, order_id, now)
        before = _status(order, ("registered", "dispatched"), _("accept"))
        order.status, order.assignee, order.accepted_at = "accepted", actor, order.accepted_at or now
        order.save()
        _event(order, "accepted", actor=actor, at=now, from_status=before, to_status="accepted")
    return order


def order_forward(*, actor: Any, order_id: Any, node_id: Any, skill: str = "", note: str = "",
                  now: datetime | None = None) -> WorkOrder:
    """Pass a consultation to an expert group (转专家), who will reply."""
    return _send_to_queue(actor=actor, order_id=order_id, node_id=node_id, skill=skill, note=note, now=now,
                          perm="service.work_order", event="forwarded", action=_("forward"))


def order_reply(*, actor: Any, order_id: Any, feedback: str, reply: str = "", now: datetime | None = None) -> WorkOrder:
    """Record how the order was handled (回单: the site feedback of a repair, the answer to a
    consultation, the handling of a complaint) and the reply to the customer. The SLA stops here."""
    now = _now(now)
    feedback = _text(feedback, "feedback", max_length=4000)
    if not feedback:
        raise DomainError("feedback", _("say how the order was handled; an order is not closed without feedback"))
    with transaction.atomic(), audit_context(actor=actor, reason="reply", source="service"):
        order = _worked(actor, order_id, now)
        before = _status(order, ("accepted",), _("reply to"))
        order.feedback, order.reply = feedback, _text(reply, "reply", max_length=4000)
        order.status, order.done_at = "replied", now
        order.escalation_next_at = None
        order.save()
        _event(order, "replied", actor=actor, at=now, from_status=before, to_status="replied", note=feedback)
        _done_with(actor, order)
    return order


def order_visit(*, actor: Any, order_id: Any, satisfaction: Any, note: str = "", now: datetime | None = None) -> WorkOrder:
    """The return visit (回访): the customer's satisfaction 1–5; a customer who cannot be reached
    is recorded with no score and a note saying so."""
    now = _now(now)
    note = _text(note, "note", max_length=300)
    score: int | None
    if satisfaction in (None, ""):
        if not note:
            raise DomainError("satisfaction", _("give the customer's score, or a note why there is none"))
        score = None
    else:
        try:
            score = int(satisfaction)
        except (TypeError, ValueError):
            raise DomainError("satisfaction", _("a whole number from 1 to 5")) from None
        if not 1 <= score <= 5:
            raise DomainError("satisfaction", _("a whole number from 1 to 5"))
    with transaction.atomic(), audit_context(actor=actor, reason="return visit", source="service"):
        order = _worked(actor, order_id, now, "service.visit_order")
        before = _status(order, ("replied",), _("visit"))
        order.status, order.satisfaction, order.visit_note = "visited", score, note
        order.visited_at, order.visited_by = now, actor
        order.save()
        _event(order, "visited", actor=actor, at=now, from_status=before, to_status="visited",
               note=f"{score or '-'} {note}".strip())
        _done_with(actor, order)
    return order


def order_archive(*, actor: Any, order_id: Any, note: str = "", now: datetime | None = None) -> WorkOrder:
    """Archive a handled order (归档); repairs and complaints need their return visit first."""
    now = _now(now)
    with transaction.atomic(), audit_context(actor=actor, reason="archive", source="service"):
        order = _worked(actor, order_id, now, "service.visit_order")
        allowed = ("visited",) if order.order_type in VISIT_REQUIRED else ("replied", "visited")
        before = _status(order, allowed, _("archive"))
        order.status, order.archived_at = "archived", now
        order.save()
        _event(order, "archived", actor=actor, at=now, from_status=before, to_status="archived",
               note=_text(note, "note", max_length=1000))
        _done_with(actor, order)
        WorkOrderLock.objects.filter(order=order).delete()
    return order


def order_review(*, actor: Any, order_id: Any, note: str, now: datetime | None = None) -> WorkOrder:
    """The leader's review of an archived repair (审核): comments kept on the order."""
    require(actor, "service.review_order")
    now = _now(now)
    note = _text(note, "note", max_length=300, required=True)
    order = selectors.order_get(actor=actor, order_id=order_id)
    with transaction.atomic(), audit_context(actor=actor, reason="review", source="service"):
        order = WorkOrder.objects.select_for_update().get(pk=order.pk)
        if order.status != "archived":
            raise Conflict("status", _("only an archived order is reviewed; this one is %(status)s"),
                           status=order.status)
        if order.reviewed_at is not None:
            raise Conflict("status", _("already reviewed"))
        order.reviewed_at, order.reviewed_by, order.review_note = now, actor, note
        order.save()
        _event(order, "reviewed", actor=actor, at=now, note=note)
    return order


def order_cancel(*, actor: Any, order_id: Any, reason: str, now: datetime | None = None) -> WorkOrder:
    now = _now(now)
    text = reason_required(reason)
    with transaction.atomic(), audit_context(actor=actor, reason=text, source="service"):
        order = _worked(actor, order_id, now)
        before = _status(order, OPEN_STATUSES, _("cancel"))
        order.status, order.escalation_next_at = "cancelled", None
        order.save()
        _event(order, "cancelled", actor=actor, at=now, from_status=before, to_status="cancelled", note=text)
        _done_with(actor, order)
        WorkOrderLock.objects.filter(order=order).delete()
    return order


def order_note(*, actor: Any, order_id: Any, note: str, now: datetime | None = None) -> WorkOrder:
    now = _now(now)
    note = _text(note, "note", max_length=2000, required=True)
    with transaction.atomic():
        order = _worked(actor, order_id, now)
        _event(order, "note", actor=actor, at=now, note=note)
    return order


def order_attach(*, actor: Any, order_id: Any, name: str, content: bytes, now: datetime | None = None) -> Any:
    """A site photo or document on the order, its type judged by its content."""
    now = _now(now)
    file_type = check_upload(name=name, size=len(content), head=content[:16], max_bytes=MAX_ATTACHMENT_BYTES,
                             kind="photo")
    with transaction.atomic():
        order = _worked(actor, order_id, now)
        item = WorkOrderAttachment(order=order, original_name=name[:200], content_type=file_type.content_type,
                                   extension=file_type.extension, size=len(content),
                                   sha256=hashlib.sha256(content).hexdigest(), uploaded_by=acting_user(actor),
                                   uploaded_at=now)
        item.file.save(f"{order.pk}{file_type.extension}", ContentFile(content), save=False)
        item.save()
        _event(order, "attachment", actor=actor, at=now, note=name[:200])
    return item


# --- supervision (督办, E16) -------------------------------------------------------------------------------


def orders_escalate(*, now: datetime | None = None) -> int:
    """Raise supervision notices for open orders whose SLA has reached an escalation step: level 1
    to the queue's unit, level 2 to its parent, level 3 to the company. Run every minute; each
    level is raised once per order (a unique constraint), whatever the schedule does."""
    now = _now(now)
    steps = escalation_steps()
    raised = 0
    due = list(WorkOrder.objects.filter(escalation_next_at__lte=now, status__in=OPEN_STATUSES)
               .select_related("node", "company").order_by("escalation_next_at")[:5000])
    calendars: dict[int, sla.BusinessCalendar] = {}
    for order in due:
        cal = calendars.get(order.company_id)
        if cal is None:
            cal = calendars[order.company_id] = selectors.calendar_of(company_id=order.company_id)
        escalation = sla.escalation_level(steps=steps, started_at=order.created_at, due_at=order.complete_due_at,
                                          clock=order.clock, now=now, cal=cal)
        level, next_at = escalation.level, escalation.next_at
        with transaction.atomic(), audit_context(actor=None, reason="escalation", source="schedule"):
            for lv in range(order.escalation_level + 1, level + 1):
                target = _escalation_target(order, lv)
                reason = (_("due %(due)s; %(fraction)s of the time used")
                          % {"due": f"{timezone.localtime(order.complete_due_at):%Y-%m-%d %H:%M}",
                             "fraction": _fraction(steps, lv)})
                _item, created = Supervision.objects.get_or_create(order=order, level=lv, defaults={
                    "node": target, "reason": reason, "raised_at": now})
                if created:
                    raised += 1
                    _event(order, "escalated", actor=None, at=now, node_id=target.pk, note=f"L{lv} {reason}")
            WorkOrder.objects.filter(pk=order.pk).update(escalation_level=max(level, order.escalation_level),
                                                         escalation_next_at=next_at)
    return raised


def _fraction(steps: Sequence[sla.EscalationStep], level: int) -> str:
    for step in steps:
        if step.level == level:
            return f"{step.at_fraction * 100:.0f}%"
    return ""


def _escalation_target(order: WorkOrder, level: int) -> Any:
    node = order.node
    chain = org_selectors.org_node_ancestors(node=node)  # root … parent
    chain = [*chain, node]
    company_index = next((i for i, n in enumerate(chain) if n.pk == order.company_id), 0)
    index = max(company_index, len(chain) - level)
    return chain[index]


def supervision_acknowledge(*, actor: Any, supervision_id: Any, now: datetime | None = None) -> Supervision:
    require(actor, "service.supervise_order")
    item = access_by_id(Supervision.objects.all(), actor, supervision_id)
    if item.acknowledged_at is None:
        item.acknowledged_at, item.acknowledged_by = _now(now), actor
        with audit_context(actor=actor, reason="acknowledge", source="service"):
            item.save()
    return item


# --- configuration -------------------------------------------------------------------------------------------


def _company_for_config(actor: Any, company_id: Any) -> Any:
    require(actor, "service.manage_service")
    company = org_selectors.org_node_get(actor=actor, node_id=company_id)  # outside the subtree: 404
    if company.company_id != company.pk:
        raise DomainError("company", _("%(unit)s is not a company"), unit=company.name)
    return company


def sla_rule_set(*, actor: Any, company_id: Any, order_type: str, urgency: str = "", clock: str = "business",
                 accept_minutes: Any, complete_minutes: Any) -> SlaRule:
    company = _company_for_config(actor, company_id)
    _choice(order_type, ORDER_TYPE_CODES, "order_type")
    if urgency:
        _choice(urgency, URGENCY_CODES, "urgency")
    _choice(clock, ("business", "elapsed"), "clock")
    accept, complete = _minutes(accept_minutes, "accept_minutes"), _minutes(complete_minutes, "complete_minutes")
    if complete < accept:
        raise DomainError("complete_minutes", _("cannot be shorter than the time to accept"))
    with audit_context(actor=actor, reason="SLA rule", source="service"):
        rule, _created = SlaRule.objects.update_or_create(
            company=company, order_type=order_type, urgency=urgency,
            defaults={"clock": clock, "accept_minutes": accept, "complete_minutes": complete})
    return rule


def _minutes(value: Any, field: str) -> int:
    try:
        minutes = int(value)
    except (TypeError, ValueError):
        raise DomainError(field, _("a whole number of minutes")) from None
    if minutes <= 0 or minutes > 366 * 24 * 60:
        raise DomainError(field, _("between 1 minute and a year"))
    return minutes


def routing_rule_create(*, actor: Any, company_id: Any, name: str, target_id: Any, priority: Any = 100,
                        order_types: Sequence[str] = (), commodity: str = "", area_code: str = "",
                        skill: str = "") -> RoutingRule:
    company = _company_for_config(actor, company_id)
    name = _text(name, "name", max_length=100, required=True)
    for code in order_types:
        _choice(code, ORDER_TYPE_CODES, "order_types")
    if commodity:
        _choice(commodity, COMMODITY_CODES, "commodity")
    try:
        priority_value = int(priority)
    except (TypeError, ValueError):
        raise DomainError("priority", _("a whole number")) from None
    try:
        target = org_selectors.org_node_get(actor=actor, node_id=target_id)
    except Http404:
        raise DomainError("target", _("no such unit in your part of the organisation")) from None
    if target.company_id != company.pk:
        raise DomainError("target", _("%(unit)s is not a unit of %(company)s"), unit=target.name, company=company.name)
    area = None
    if area_code:
        area = customer_selectors.address_area_by_code(code=area_code)
        if area is None:
            raise DomainError("area", _("no address area with code %(code)s"), code=area_code)
    with audit_context(actor=actor, reason="routing rule", source="service"):
        return RoutingRule.objects.create(company=company, name=name, priority=priority_value,
                                          order_types=list(order_types), commodity=commodity, area=area,
                                          skill=_text(skill, "skill", max_length=32), target=target)


def skill_set(*, actor: Any, user_id: Any, skills: Sequence[str]) -> list[str]:
    require(actor, "service.manage_service")
    user = org_selectors.staff_get(actor=actor, staff_id=user_id)
    clean = sorted({_text(s, "skills", max_length=32) for s in skills if (s or "").strip()})
    with transaction.atomic():
        StaffSkill.objects.filter(user=user).exclude(skill__in=clean).delete()
        StaffSkill.objects.bulk_create([StaffSkill(user=user, skill=s) for s in clean], ignore_conflicts=True)
    return clean


def calendar_set(*, actor: Any, company_id: Any, windows: Any, holidays: Sequence[tuple[str, Any, Any]] = (),
                 makeup_days: Sequence[Any] = (), time_zone: str = "Asia/Shanghai",
                 makeup_weekday: int = 0) -> ServiceCalendar:
    """Replace a company's business calendar; checked as a whole first (overlapping holidays, bad
    windows, a make-up day inside a holiday are refused with the reason), nothing stored on error."""
    company = _company_for_config(actor, company_id)
    parsed_windows = selectors.windows_of(windows)
    parsed_holidays = [sla.Holiday(str(name), _date(d_from, f"holidays[{i}].date_from"),
                                   _date(d_to, f"holidays[{i}].date_to"))
                       for i, (name, d_from, d_to) in enumerate(holidays)]
    days = [_date(d, f"makeup_days[{i}]") for i, d in enumerate(makeup_days)]
    built = sla.calendar_build(windows=parsed_windows, holidays=parsed_holidays, makeup_days=days, tz=time_zone,
                               makeup_weekday=makeup_weekday)
    stored = [[weekday, f"{w.start:%H:%M}", f"{w.end:%H:%M}"]
              for weekday in range(7) for w in built.windows[weekday]]
    with transaction.atomic(), audit_context(actor=actor, reason="service calendar", source="service"):
        cal, _created = ServiceCalendar.objects.update_or_create(company=company, defaults={
            "time_zone": time_zone, "windows": stored, "makeup_weekday": makeup_weekday})
        cal.holidays.all().delete()
        cal.makeup_days.all().delete()
        CalendarHoliday.objects.bulk_create([CalendarHoliday(calendar=cal, name=h.name, date_from=h.date_from,
                                                             date_to=h.date_to) for h in parsed_holidays])
        CalendarMakeupDay.objects.bulk_create([CalendarMakeupDay(calendar=cal, day=d) for d in days])
    return cal


def _date(value: Any, field: str) -> Any:
    from datetime import date
    if isinstance(value, date):
        return value
    try:
        return date.fromisoformat(str(value))
    except ValueError:
        raise DomainError(field, _("a date as YYYY-MM-DD, got %(value)s"), value=value) from None


def outage_create(*, actor: Any, node_id: Any, commodity: str, kind: str, starts_at: datetime, ends_at: datetime,
                  reason: str, area_codes: Sequence[str]) -> Outage:
    """Announce an outage (停水/停电/停气通知) over address areas; agents see it for callers there."""
    require(actor, "service.manage_service")
    try:
        node = org_selectors.org_node_get(actor=actor, node_id=node_id)
    except Http404:
        raise DomainError("node", _("no such unit in your part of the organisation")) from None
    if node.company_id is None:
        raise DomainError("node", _("choose a company or one of its units"))
    _choice(commodity, COMMODITY_CODES, "commodity")
    _choice(kind, ("planned", "unplanned"), "kind")
    if ends_at <= starts_at:
        raise DomainError("ends_at", _("must be after the start"))
    reason = _text(reason, "reason", max_length=200, required=True)
    codes = [c.strip() for c in area_codes if c and c.strip()]
    if not codes:
        raise DomainError("areas", _("name at least one address area"))
    areas = customer_selectors.address_areas_by_code(codes=codes)
    unknown = [c for c in codes if c not in {a.code for a in areas}]
    if unknown:
        raise DomainError("areas", _("unknown address area codes: %(codes)s"), codes=", ".join(unknown))
    with transaction.atomic(), audit_context(actor=actor, reason="outage", source="service"):
        outage = Outage.objects.create(company_id=node.company_id, node=node, commodity=commodity, kind=kind,
                                       starts_at=starts_at, ends_at=ends_at, reason=reason,
                                       area_paths=[a.path for a in areas], created_by=acting_user(actor))
        outage.areas.set(areas)
    return outage
