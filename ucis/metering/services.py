"""Use cases of meter reading: routes and cycles, hand entry, the review decisions, estimation,
special reads at tariff changes and apportionment of master meters. Reads themselves are stored by
``ucis.metering.reads.meter_reads_record`` (every channel ends there)."""

from __future__ import annotations

import calendar
from collections import defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date, timedelta
from decimal import Decimal
from typing import Any

from django.db import IntegrityError, transaction
from django.db.models import F, Max
from django.http import Http404
from django.utils import timezone

from ucis.customers import selectors as customer_selectors
from ucis.kernel.errors import Conflict, DomainError, FieldProblem, reason_required
from ucis.kernel.errors import gettext_noop as _
from ucis.kernel.periods import month_start
from ucis.metering import apportion, estimation, review, validation
from ucis.metering.models import (
    APPORTION_METHODS,
    ApportionGroup,
    ApportionMember,
    ApportionShare,
    MeterRead,
    ReadCycle,
    ReadReview,
    RereadOrder,
    Route,
    RouteStop,
    SpecialRead,
    SpecialReadSchedule,
)
from ucis.metering.reads import (
    LIVE,
    ReadInput,
    RecordResult,
    _findings_json,
    _insert,
    meter_reads_record,
)
from ucis.org import selectors as org_selectors
from ucis.platform.audit import audit_context
from ucis.platform.bulk import next_ids
from ucis.platform.tenancy import access_by_id, acting_user

COMMODITY_CODES = ("water", "gas", "electricity")
REVIEW_ACTIONS = ("accept", "correct", "reread", "estimate")




# --- routes (抄表本) ------------------------------------------------------------------------------


@dataclass(frozen=True)
class RouteInput:
    code: str
    name: str
    node_id: Any
    commodity: str
    reader_id: Any = None
    cycle_months: int = 1
    cycle_parity: int = 1
    read_day: int = 10


def _reader(actor: Any, reader_id: Any, node: Any) -> Any:
    if reader_id in (None, ""):
        return None
    reader = org_selectors.staff_get(actor=actor, staff_id=reader_id)
    if reader.node.company_id != node.company_id:
        raise DomainError("reader_id", _("the reader %(reader)s works for another company"), reader=reader.username)
    return reader


def _check_route(data: RouteInput) -> list[FieldProblem]:
    problems = []
    if not data.code.strip():
        problems.append(FieldProblem("code", _("a route needs a code")))
    if not data.name.strip():
        problems.append(FieldProblem("name", _("a route needs a name")))
    if data.commodity not in COMMODITY_CODES:
        problems.append(FieldProblem("commodity", _("unknown commodity %(value)s"), {"value": data.commodity}))
    if data.cycle_months not in (1, 2):
        problems.append(FieldProblem("cycle_months", _("a route is read every month (1) or every two months (2)")))
    if data.cycle_parity not in (0, 1):
        problems.append(FieldProblem("cycle_parity", _("read in odd (1) or even (0) months")))
    if not 1 <= int(data.read_day) <= 28:
        problems.append(FieldProblem("read_day", _("the reading day is a day of the month from 1 to 28")))
    return problems


def route_create(*, actor: Any, data: RouteInput, reason: str = "new route") -> Route:
    problems = _check_route(data)
    if problems:
        raise DomainError(problems=problems)
    node = org_selectors.org_node_get(actor=actor, node_id=data.node_id)
    if node.company_id is None:
        raise DomainError("node_id", _("a route belongs to a company or a unit below one"))
    reader = _reader(actor, data.reader_id, node)
    with transaction.atomic(), audit_context(actor=actor, reason=reason, source="metering"):
        if Route.objects.filter(code=data.code.strip()).exists():
            raise DomainError("code", _("route code %(code)s is already used"), code=data.code)
        return Route.objects.create(code=data.code.strip(), name=data.name.strip(), company_id=node.company_id,
                                    node=node, commodity=data.commodity, reader=reader,
                                    cycle_months=data.cycle_months, cycle_parity=data.cycle_parity,
                                    read_day=data.read_day)


@transaction.atomic  # the row locks below need a transaction (views run in autocommit)
def route_stops_assign(*, actor: Any, route_id: Any, service_point_ids: Sequence[Any], reason: str) -> int:
    """Put service points on a route after its last stop, in the order given, taking them off
    any other route (a service point is on one route at a time)."""
    reason = reason_required(reason)
    route = access_by_id(Route, actor, route_id, for_update=True)
    ids = list(dict.fromkeys(int(i) for i in service_point_ids))
    points = {p["id"]: p for p in customer_selectors.service_point_rows(actor=actor, service_point_ids=ids)}
    problems = []
    for n, sp in enumerate(ids):
        point = points.get(sp)
        if point is None:
            problems.append(FieldProblem(f"service_point_ids[{n}]", _("there is no service point %(id)s in your area"),
                                         {"id": sp}))
        elif point["company_id"] != route.company_id or point["commodity"] != route.commodity:
            problems.append(FieldProblem(f"service_point_ids[{n}]",
                                         _("service point %(id)s is %(commodity)s of another company or commodity "
                                           "than the route"), {"id": sp, "commodity": point["commodity"]}))
    if problems:
        raise DomainError(problems=problems)
    with transaction.atomic(), audit_context(actor=actor, reason=reason, source="metering"):
        RouteStop.objects.filter(service_point_id__in=ids).delete()
        last = route.stops.aggregate(m=Max("sequence"))["m"] or 0
        RouteStop.objects.bulk_create([RouteStop(route=route, service_point_id=sp, sequence=last + 10 * (n + 1))
                                       for n, sp in enumerate(ids)])
    return len(ids)


def route_stops_assign_area(*, actor: Any, route_id: Any, area_code: str, reason: str) -> int:
    """Put every service point of a community or building (an address area and below) of the
    route's company and commodity on the route, in address order (see ``route_stops_assign``)."""
    reason = reason_required(reason)
    route = access_by_id(Route, actor, route_id)
    if not (area_code or "").strip():
        raise DomainError("area_code", _("give the code of a community or building"))
    points = [p["id"] for p in customer_selectors.service_point_rows(actor=actor, area_code=area_code,
                                                                      commodity=route.commodity)
              if p["company_id"] == route.company_id]
    if not points:
        raise DomainError("area_code", _("there is no %(commodity)s service point under %(code)s in your area"),
                          commodity=route.commodity, code=area_code.strip())
    return route_stops_assign(actor=actor, route_id=route.pk, service_point_ids=points, reason=reason)


@transaction.atomic  # the row locks below need a transaction (views run in autocommit)
def route_reorder(*, actor: Any, route_id: Any, service_point_ids: Sequence[Any], reason: str) -> None:
    """Set the walking order: ``service_point_ids`` must be exactly the route's stops."""
    reason = reason_required(reason)
    route = access_by_id(Route, actor, route_id, for_update=True)
    current = set(route.stops.values_list("service_point_id", flat=True))
    wanted = [int(i) for i in service_point_ids]
    if set(wanted) != current or len(wanted) != len(current):
        raise DomainError("service_point_ids", _("the new order must list every stop of the route exactly once"))
    with transaction.atomic(), audit_context(actor=actor, reason=reason, source="metering"):
        stops = {s.service_point_id: s for s in route.stops.all()}
        for n, sp in enumerate(wanted):
            stops[sp].sequence = 10 * (n + 1)
        RouteStop.objects.bulk_update(list(stops.values()), ["sequence"])


def route_reassign(*, actor: Any, route_ids: Sequence[Any], reader_id: Any, reason: str) -> int:
    """Give routes to another reader (batch)."""
    reason = reason_required(reason)
    with transaction.atomic(), audit_context(actor=actor, reason=reason, source="metering"):
        routes = [access_by_id(Route, actor, rid, for_update=True) for rid in route_ids]
        for route in routes:
            route.reader = _reader(actor, reader_id, route.node)
            route.save(update_fields=["reader"])
    return len(routes)


@transaction.atomic  # the row locks below need a transaction (views run in autocommit)
def route_split(*, actor: Any, route_id: Any, from_service_point_id: Any, code: str, name: str,
                reason: str, reader_id: Any = None) -> Route:
    """Split a route: the stops from ``from_service_point_id`` on move, in order, to a new route."""
    reason = reason_required(reason)
    route = access_by_id(Route, actor, route_id, for_update=True)
    stops = list(route.stops.order_by("sequence"))
    at = next((n for n, s in enumerate(stops) if s.service_point_id == int(from_service_point_id)), None)
    if at is None or at == 0:
        raise DomainError("from_service_point_id", _("pick a stop of the route after its first one to split at"))
    with transaction.atomic():
        new = route_create(actor=actor, reason=reason, data=RouteInput(
            code=code, name=name, node_id=route.node_id, commodity=route.commodity,
            reader_id=reader_id if reader_id is not None else route.reader_id, cycle_months=route.cycle_months,
            cycle_parity=route.cycle_parity, read_day=route.read_day))
        with audit_context(actor=actor, reason=reason, source="metering"):
            moving = stops[at:]
            for n, stop in enumerate(moving):
                stop.route = new
                stop.sequence = 10 * (n + 1)
            RouteStop.objects.bulk_update(moving, ["route", "sequence"])
    return new


@transaction.atomic  # the row locks below need a transaction (views run in autocommit)
def route_merge(*, actor: Any, target_id: Any, source_id: Any, reason: str) -> Route:
    """Append the stops of ``source`` to ``target`` (in their order) and retire ``source``."""
    reason = reason_required(reason)
    if str(target_id) == str(source_id):
        raise DomainError("source_id", _("a route cannot be merged into itself"))
    target = access_by_id(Route, actor, target_id, for_update=True)
    source = access_by_id(Route, actor, source_id, for_update=True)
    if (target.company_id, target.commodity) != (source.company_id, source.commodity):
        raise DomainError("source_id", _("only routes of the same company and commodity can be merged"))
    with transaction.atomic(), audit_context(actor=actor, reason=reason, source="metering"):
        last = target.stops.aggregate(m=Max("sequence"))["m"] or 0
        moving = list(source.stops.order_by("sequence"))
        for n, stop in enumerate(moving):
            stop.route = target
            stop.sequence = last + 10 * (n + 1)
        RouteStop.objects.bulk_update(moving, ["route", "sequence"])
        source.active = False
        source.save(update_fields=["active"])
    return target


# --- reading cycles -------------------------------------------------------------------------------


def route_due(route: Route, period: date) -> bool:
    return route.cycle_months == 1 or period.month % 2 == route.cycle_parity


def read_cycle_open(*, actor: Any, company_id: Any, period: date | str, days_before: int = 3,
                    days_after: int = 7) -> list[ReadCycle]:
    """Open the cycles of every active route of the company due in ``period``: reads are expected
    from ``days_before`` days before the route's reading day to ``days_after`` days after it. Idempotent."""
    month = month_start(period)
    company = org_selectors.org_node_get(actor=actor, node_id=company_id)
    routes = [r for r in Route.objects.visible_to(actor).filter(company_id=company.company_id or company.pk,
                                                                 active=True) if route_due(r, month)]
    last_day = calendar.monthrange(month.year, month.month)[1]
    with transaction.atomic(), audit_context(actor=actor, reason=f"open reading cycle {month:%Y-%m}", source="metering"):
        existing = set(ReadCycle.objects.filter(route__in=routes, period=month).values_list("route_id", flat=True))
        new = []
        for route in routes:
            if route.pk in existing:
                continue
            scheduled = month.replace(day=min(route.read_day, last_day))
            new.append(ReadCycle(route=route, period=month, scheduled_date=scheduled,
                                 window_from=scheduled - timedelta(days=days_before),
                                 window_to=scheduled + timedelta(days=days_after + 1)))
        ReadCycle.objects.bulk_create(new)
    return list(ReadCycle.objects.filter(route__in=routes, period=month).select_related("route"))


@transaction.atomic  # the row locks below need a transaction (views run in autocommit)
def read_cycle_close(*, actor: Any, cycle_ids: Sequence[Any], today: date) -> dict[str, int]:
    """Close cycles: service points with no live read in the window, and those whose business
    changed since their last read, go to the review queue."""
    locked = ReadCycle.objects.select_related("route").select_for_update(of=("self",))
    cycles = [access_by_id(locked, actor, cid) for cid in cycle_ids]
    counts = {"no_read": 0, "new_business": 0}
    with transaction.atomic(), audit_context(actor=actor, reason="close reading cycle", source="metering"):
        for cycle in cycles:
            stops = dict(RouteStop.objects.filter(route=cycle.route).values_list("service_point_id", "route__node_id"))
            points = {p["id"]: p for p in customer_selectors.service_point_rows(
                actor=actor, service_point_ids=list(stops))} if stops else {}
            read_points = set(MeterRead.objects.filter(service_point_id__in=list(stops), status__in=LIVE,
                                                       read_date__gte=cycle.window_from,
                                                       read_date__lt=cycle.window_to)
                              .values_list("service_point_id", flat=True))
            missing = [(sp, points[sp]["node_id"]) for sp in stops if sp not in read_points and sp in points]
            counts["no_read"] += review.read_review_require(service_points=missing, period=cycle.period,
                                                            reason="no_read")
            last_read = dict(MeterRead.objects.filter(service_point_id__in=list(stops), status__in=LIVE,
                                                      read_date__lt=cycle.window_from)
                             .values("service_point_id").annotate(d=Max("read_date"))
                             .values_list("service_point_id", "d"))
            since = min(last_read.values(), default=cycle.window_from - timedelta(days=62))
            changes = customer_selectors.service_point_change_dates(service_point_ids=list(stops), since=since,
                                                                    until=cycle.window_to)
            # Only changes after each point's own last read count as new business in this cycle.
            flagged = [(sp, points[sp]["node_id"]) for sp, days in changes.items()
                       if sp in points and any(d > last_read.get(sp, date.min) for d in days)]
            counts["new_business"] += review.read_review_require(service_points=flagged, period=cycle.period,
                                                                 reason="new_business")
            ReadReview.objects.filter(service_point_id__in=[m[0] for m in missing], period=cycle.period,
                                      cycle__isnull=True).update(cycle=cycle)
            cycle.status = "closed"
            cycle.save(update_fields=["status"])
    return counts


# --- hand entry -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class HandEntry:
    service_point_id: Any
    reading: str
    read_date: date | None = None
    note: str = ""


def cycle_reads_enter(*, actor: Any, cycle_id: Any, entries: Sequence[HandEntry], today: date) -> RecordResult:
    """Hand entry of a route's reads (录入): each entry names its stop; the meter is the one on the
    service point on the read date (the cycle's scheduled date when none is given). Each outcome's
    ``row`` is the entry's service point id."""
    cycle = access_by_id(ReadCycle.objects.select_related("route"), actor, cycle_id)
    stops = set(RouteStop.objects.filter(route_id=cycle.route_id).values_list("service_point_id", flat=True))
    installs: dict[Any, list[dict[str, Any]]] = defaultdict(list)
    for inst in customer_selectors.service_point_installations(service_point_ids=list(stops)):
        installs[inst["service_point_id"]].append(inst)
    reads = []
    refused: list[tuple[int, FieldProblem]] = []
    for n, entry in enumerate(entries):
        if str(entry.reading).strip() == "":
            continue
        on = entry.read_date or min(cycle.scheduled_date, today)
        sp = int(entry.service_point_id)
        if sp not in stops:
            refused.append((sp, FieldProblem(f"entries[{n}].service_point_id",
                                             _("service point %(id)s is not on this route"), {"id": sp})))
            continue
        meter = next((i for i in reversed(installs[sp]) if i["installed_date"] <= on
                      and (i["removed_date"] is None or on <= i["removed_date"])), None)
        if meter is None:
            refused.append((sp, FieldProblem(f"entries[{n}].service_point_id",
                                             _("no meter is installed at service point %(id)s on %(date)s"),
                                             {"id": sp, "date": on.isoformat()})))
            continue
        reads.append(ReadInput(meter=meter["meter__serial"], read_date=on, reading=str(entry.reading),
                               note=entry.note, row=str(sp)))
    result = meter_reads_record(actor=actor, reads=reads, source="hand", today=today, batch_ref=f"cycle:{cycle.pk}")
    for sp, problem in refused:
        result.outcomes.append(_refused(sp, problem))
    return result


def _refused(service_point_id: Any, problem: FieldProblem) -> Any:
    """An entry refused before recording: its row names the service point, like stored ones."""
    from ucis.metering.reads import ReadOutcome

    return ReadOutcome(str(service_point_id), "", "rejected", problems=(problem,))


# --- review decisions -------------------------------------------------------------------------------


def _history(point_id: Any, until: date) -> list[validation.UsagePeriod]:
    rows = (MeterRead.objects.filter(service_point_id=point_id, status__in=LIVE, read_date__lte=until,
                                     read_date__gt=F("previous_date"))
            .values_list("previous_date", "read_date", "usage", "kind"))
    return [validation.UsagePeriod(p, r, u, k == "estimated") for p, r, u, k in rows]


def _estimate_row(actor: Any, review_row: ReadReview, *, today: date, on: date) -> tuple | None:
    """An estimated read for the review's service point on ``on``: base + estimated usage."""
    point = review_row.service_point_id
    last = (MeterRead.objects.filter(service_point_id=point, status__in=LIVE, read_date__lt=on)
            .order_by("-read_date", "-id").first())
    installs = customer_selectors.service_point_installations(service_point_ids=[point])
    current = next((i for i in reversed(installs) if i["installed_date"] <= on
                    and (i["removed_date"] is None or on <= i["removed_date"])), None)
    if current is None:
        raise DomainError("review_ids", _("no meter is installed at service point %(id)s on %(date)s"),
                          id=point, date=on.isoformat())
    if last is not None and last.meter_id == current["meter_id"]:
        base, base_on = last.reading, last.read_date
    else:
        base, base_on = Decimal(current["install_reading"]), current["installed_date"]
    est = estimation.estimate_usage(_history(point, on), base_on, on)
    cap = Decimal(10) ** current["meter__dial_digits"]
    reading = (base + est.usage) % cap
    finding = [{"code": "ESTIMATED", "template": est.template, "params": dict(est.params)}]
    return (None, current["meter_id"], point, review_row.node_id, review_row.cycle_id, on, reading, base, base_on,
            est.usage, Decimal(0), "estimated", "estimate", "accepted", 0, finding, None, f"review:{review_row.pk}",
            getattr(actor, "pk", None), "", review_row.period)


def read_review_decide(*, actor: Any, review_ids: Sequence[Any], action: str, note: str, today: date,
                       reading: str | None = None, due_date: date | None = None) -> dict[str, int]:
    """Decide review entries (batch): ``accept`` the read as it is; ``correct`` it to ``reading``
    (one entry at a time, reason required); ``reread`` — send a reader (a re-read order); or
    ``estimate`` the usage from history. Every decision records who, when and why."""
    if action not in REVIEW_ACTIONS:
        raise DomainError("action", _("unknown review action %(action)s; expected one of %(expected)s"),
                          action=action, expected=", ".join(REVIEW_ACTIONS))
    note = reason_required(note)
    if not review_ids:
        raise DomainError("review_ids", _("pick at least one entry of the queue"))
    if action == "correct" and len(review_ids) != 1:
        raise DomainError("review_ids", _("a reading is corrected one service point at a time"))
    done = 0
    with transaction.atomic(), audit_context(actor=actor, reason=note, source="review"):
        locked = ReadReview.objects.select_related("read", "cycle").select_for_update(of=("self",))
        # One query for the whole batch; any id outside the actor's area fails it like a missing one.
        try:
            wanted = {int(rid) for rid in review_ids}
        except (TypeError, ValueError):
            raise Http404("No read review matches the given query.") from None
        entries = list(locked.visible_to(actor).filter(pk__in=wanted).order_by("pk"))
        if len(entries) != len(wanted):
            raise Http404("No read review matches the given query.")
        for entry in entries:
            if entry.status != "open":
                raise Conflict("review_ids", _("entry %(id)s was already decided (%(status)s)"), id=entry.pk,
                               status=entry.status)
        now = timezone.now()
        if action == "accept":
            missing = [e.pk for e in entries if e.read_id is None]
            if missing:
                raise DomainError("review_ids", _("entries %(ids)s have no read to accept; re-read or estimate"),
                                  ids=", ".join(map(str, missing)))
            MeterRead.objects.filter(pk__in=[e.read_id for e in entries], status="pending").update(
                status="accepted", reviewed_by=acting_user(actor), reviewed_at=now)
            status = "accepted"
        elif action == "correct":
            entry = entries[0]
            if entry.read is None:
                raise DomainError("review_ids", _("there is no read to correct; enter a read or estimate"))
            old = entry.read
            MeterRead.objects.filter(pk=old.pk).update(status="superseded", reviewed_by=acting_user(actor),
                                                        reviewed_at=now)
            meter = customer_selectors.meter_reading_rows(actor=actor, meter_ids=[old.meter_id])
            if not meter:
                raise DomainError("review_ids", _("the meter of this read is outside your area"))
            result = meter_reads_record(actor=actor, source="review", today=today, reason=note,
                                        reads=[ReadInput(meter=meter[0]["serial"], read_date=old.read_date,
                                                         reading=reading or "", note=note[:200], row="reading")])
            if result.rejected:
                raise DomainError(problems=[p for o in result.rejected for p in o.problems])
            new_id = result.outcomes[0].read_id
            MeterRead.objects.filter(pk=new_id).update(status="accepted", supersedes=old, reviewed_by=acting_user(actor),
                                                        reviewed_at=now)
            ReadReview.objects.filter(pk=entry.pk).update(read_id=new_id)
            entry.refresh_from_db()
            status = "corrected"
        elif action == "reread":
            due = due_date or today + timedelta(days=3)
            if due < today:
                raise DomainError("due_date", _("the re-read is due today or later"))
            readers = dict(RouteStop.objects.filter(service_point_id__in=[e.service_point_id for e in entries])
                           .values_list("service_point_id", "route__reader_id"))
            open_now = review.reread_orders_open(service_point_ids=[e.service_point_id for e in entries])
            RereadOrder.objects.bulk_create([
                RereadOrder(service_point_id=e.service_point_id, node_id=e.node_id, review=e, due_date=due,
                            reason=note[:200], reader_id=readers.get(e.service_point_id), created_by=acting_user(actor))
                for e in entries if e.service_point_id not in open_now])
            MeterRead.objects.filter(pk__in=[e.read_id for e in entries if e.read_id], status="pending").update(
                status="rejected", reviewed_by=acting_user(actor), reviewed_at=now)
            status = "reread"
        else:  # estimate
            rows = []
            for e in entries:
                on = e.read.read_date if e.read else (e.cycle.scheduled_date if e.cycle else today)
                rows.append(_estimate_row(actor, e, today=today, on=min(on, today)))
            MeterRead.objects.filter(pk__in=[e.read_id for e in entries if e.read_id], status="pending").update(
                status="rejected", reviewed_by=acting_user(actor), reviewed_at=now)
            ids = next_ids("metering_meterread", len(rows))
            rows = [(ids[n],) + r[1:] for n, r in enumerate(rows)]
            _insert(rows)
            for e, r in zip(entries, rows, strict=True):
                ReadReview.objects.filter(pk=e.pk).update(read_id=r[0])
            status = "estimated"
        done = ReadReview.objects.filter(pk__in=[e.pk for e in entries]).update(
            status=status, decided_by=acting_user(actor), decided_at=now, note=note[:200])
    return {"decided": done}



# --- special reads at a tariff change (MTR-5) ------------------------------------------------------


def special_read_schedule(*, actor: Any, company_id: Any, commodity: str, read_date: date, reason: str) -> SpecialReadSchedule:
    """Schedule reads on a tariff change date for every service point of the commodity in the company."""
    reason = reason_required(reason)
    if commodity not in COMMODITY_CODES:
        raise DomainError("commodity", _("unknown commodity %(value)s"), value=commodity)
    company = org_selectors.org_node_get(actor=actor, node_id=company_id)
    if company.kind != "company":
        raise DomainError("company_id", _("special reads are scheduled for a company"))
    with transaction.atomic(), audit_context(actor=actor, reason=reason, source="metering"):
        try:
            with transaction.atomic():
                return SpecialReadSchedule.objects.create(company=company, commodity=commodity, read_date=read_date,
                                                          reason=reason, created_by=acting_user(actor))
        except IntegrityError:
            raise Conflict("read_date", _("special reads for %(commodity)s on %(date)s are already scheduled"),
                           commodity=commodity, date=read_date.isoformat()) from None


@transaction.atomic  # the row locks below need a transaction (views run in autocommit)
def special_reads_derive(*, actor: Any, schedule_id: Any, today: date) -> dict[str, int]:
    """Settle each service point's reading on the schedule's date: the live read of that day when
    there is one, else derived by days between the reads around the date (linear in time). Points
    without a read after the date yet are left for a later run. Idempotent."""
    schedule = access_by_id(SpecialReadSchedule, actor, schedule_id, for_update=True)
    on = schedule.read_date
    if on > today:
        raise DomainError("read_date", _("the special read date %(date)s has not come yet"), date=on.isoformat())
    points = [p["id"] for p in customer_selectors.service_point_rows(actor=actor, commodity=schedule.commodity)
              if p["company_id"] == schedule.company_id]
    done = set(schedule.points.values_list("service_point_id", flat=True))
    todo = [p for p in points if p not in done]
    reads: dict[Any, list[Any]] = defaultdict(list)
    for r in (MeterRead.objects.filter(service_point_id__in=todo, status__in=LIVE, kind="actual",
                                       read_date__gte=on - timedelta(days=120), read_date__lte=on + timedelta(days=120))
              .order_by("service_point_id", "read_date").only("id", "service_point_id", "read_date", "reading",
                                                              "previous_reading", "previous_date", "usage",
                                                              "meter_id")):
        reads[r.service_point_id].append(r)
    created = {"actual": 0, "derived": 0, "waiting": 0}
    rows = []
    for sp in todo:
        same = next((r for r in reads[sp] if r.read_date == on), None)
        if same is not None:
            rows.append(SpecialRead(schedule=schedule, service_point_id=sp, read=same, reading=same.reading,
                                    explanation=f"read on {on.isoformat()}"))
            created["actual"] += 1
            continue
        after = next((r for r in reads[sp] if r.read_date > on and r.previous_date <= on), None)
        if after is None:
            created["waiting"] += 1
            continue
        span = (after.read_date - after.previous_date).days
        before_days = (on - after.previous_date).days
        share = estimation.usage_until(after.usage, after.previous_date, after.read_date, on)
        reading = after.previous_reading + share
        rows.append(SpecialRead(
            schedule=schedule, service_point_id=sp, read=after, derived=True, reading=reading,
            explanation=(f"derived by days: {share} of {after.usage} for {before_days} of {span} days "
                         f"({after.previous_date.isoformat()} to {after.read_date.isoformat()})")))
        created["derived"] += 1
    with transaction.atomic(), audit_context(actor=actor, reason=schedule.reason, source="metering"):
        SpecialRead.objects.bulk_create(rows)
        schedule.derived_at = timezone.now()
        schedule.save(update_fields=["derived_at"])
    return created


# --- apportionment of master meters (MTR-6) ----------------------------------------------------------


@dataclass(frozen=True)
class MemberInput:
    service_point_id: Any
    floor_area: Decimal | None = None


def apportion_group_create(*, actor: Any, name: str, master_service_point_id: Any, method: str, line_label: str,
                           members: Sequence[MemberInput], today: date, reason: str) -> ApportionGroup:
    reason = reason_required(reason)
    if method not in dict(APPORTION_METHODS):
        raise DomainError("method", _("unknown method %(method)s; expected usage, equal or area"), method=method)
    if not members:
        raise DomainError("members", _("an apportionment group needs households"))
    ids = [int(m.service_point_id) for m in members]
    rows = {p["id"]: p for p in customer_selectors.service_point_rows(
        actor=actor, service_point_ids=ids + [int(master_service_point_id)])}
    master = rows.get(int(master_service_point_id))
    if master is None:
        raise DomainError("master_service_point_id", _("there is no service point %(id)s in your area"),
                          id=master_service_point_id)
    payers = customer_selectors.service_point_payers(service_point_ids=ids, on=today)
    problems = []
    for n, m in enumerate(members):
        sp = int(m.service_point_id)
        if sp not in rows or sp == master["id"]:
            problems.append(FieldProblem(f"members[{n}]", _("there is no service point %(id)s in your area"), {"id": sp}))
        elif sp not in payers:
            problems.append(FieldProblem(f"members[{n}]", _("service point %(id)s has no paying account"), {"id": sp}))
        area = m.floor_area if m.floor_area is not None else rows[sp]["premise__floor_area"] if sp in rows else None
        if method == "area" and (area is None or Decimal(area) <= 0) and sp in rows:
            problems.append(FieldProblem(f"members[{n}].floor_area",
                                         _("sharing by floor area needs the floor area of service point %(id)s"),
                                         {"id": sp}))
    if problems:
        raise DomainError(problems=problems)
    with transaction.atomic(), audit_context(actor=actor, reason=reason, source="metering"):
        group = ApportionGroup.objects.create(name=name.strip() or line_label, company_id=master["company_id"],
                                              node_id=master["node_id"], master_service_point_id=master["id"],
                                              method=method, line_label=line_label.strip() or name)
        ApportionMember.objects.bulk_create([ApportionMember(
            group=group, service_point_id=int(m.service_point_id),
            account_id=payers[int(m.service_point_id)]["account_id"],
            floor_area=Decimal(m.floor_area if m.floor_area is not None
                               else rows[int(m.service_point_id)]["premise__floor_area"] or 0))
            for m in members])
    return group


@transaction.atomic  # the row locks below need a transaction (views run in autocommit)
def apportion_run(*, actor: Any, group_id: Any, period: date | str, cost: Decimal | str, reason: str) -> list[ApportionShare]:
    """Share the master's cost for ``period`` over the households (by usage of the period's live
    reads, equally, or by floor area). The shares add up exactly to the cost; they become lines on
    the households' bills. Running a period again returns the shares already made."""
    reason = reason_required(reason)
    month = month_start(period)
    group = access_by_id(ApportionGroup, actor, group_id, for_update=True)
    existing = list(ApportionShare.objects.filter(group=group, period=month).order_by("service_point_id"))
    if existing:
        return existing
    try:
        total = Decimal(str(cost))
    except Exception:
        raise DomainError("cost", _("%(value)s is not an amount"), value=cost) from None
    if total < 0:
        raise DomainError("cost", _("the cost to share cannot be negative"))
    members = list(group.members.all())
    if group.method == "equal":
        weights: Mapping[int, Decimal] = {m.service_point_id: Decimal(1) for m in members}
    elif group.method == "area":
        weights = {m.service_point_id: m.floor_area for m in members}
    else:
        usage: dict[int, Decimal] = defaultdict(Decimal)
        for sp, u, c in (MeterRead.objects.filter(service_point_id__in=[m.service_point_id for m in members],
                                                  status__in=LIVE, cycle__period=month)
                         .values_list("service_point_id", "usage", "carried_usage")):
            usage[sp] += u + c
        weights = {m.service_point_id: max(usage.get(m.service_point_id, Decimal(0)), Decimal(0)) for m in members}
        if not any(weights.values()):
            raise DomainError("period", _("no household of the group has usage in %(period)s to share by"),
                              period=f"{month:%Y-%m}")
    shares = apportion.apportion(total, weights)
    total_weight = sum(weights.values(), Decimal(0))
    accounts = {m.service_point_id: m.account_id for m in members}
    method_label = dict(APPORTION_METHODS)[group.method]
    with transaction.atomic(), audit_context(actor=actor, reason=reason, source="metering"):
        made = ApportionShare.objects.bulk_create([ApportionShare(
            group=group, period=month, account_id=accounts[sp], service_point_id=sp, weight=weights[sp],
            amount=amount, master_cost=total, created_by=acting_user(actor),
            explanation=f"{group.line_label}: {total} × {weights[sp]} / {total_weight} ({method_label})")
            for sp, amount in sorted(shares.items())])
    return made


def findings_json(findings: Any) -> list[dict[str, Any]]:
    return _findings_json(findings)
