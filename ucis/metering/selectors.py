"""Reads of meter-reading data for the screens and the API, always through the tenancy layer:
routes with their stops in walking order, cycles with their progress, the route sheet of a cycle,
the review queue and re-read orders. Customer data comes from ``ucis.customers.selectors``."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import date, timedelta
from decimal import Decimal
from typing import Any

from django.db.models import Count, F, Q, QuerySet
from django.utils import timezone
from django.utils.translation import gettext

from ucis.customers import selectors as customer_selectors
from ucis.kernel.errors import DomainError
from ucis.kernel.errors import gettext_noop as _
from ucis.kernel.snapshots import FieldChange
from ucis.metering import validation
from ucis.metering.models import (
    REVIEW_REASONS,
    MeterRead,
    ReadCycle,
    ReadReview,
    RereadOrder,
    Route,
    RouteStop,
)
from ucis.metering.reads import LIVE
from ucis.org import roles
from ucis.org import selectors as org_selectors
from ucis.platform import audit
from ucis.platform.tenancy import access_by_id

COMMODITIES = ("water", "gas", "electricity")
FLAG_CODES = tuple(f.name or "" for f in validation.ReadFlag)
REVIEW_REASON_CODES = tuple(code for code, _label in REVIEW_REASONS)
HISTORY_SHOWN = 6


def month_of(value: str | date | None) -> date | None:
    """``YYYY-MM`` → the first day of that month; empty → None; anything else is a DomainError."""
    if value in (None, ""):
        return None
    if isinstance(value, date):
        return value.replace(day=1)
    try:
        year, month = (int(x) for x in str(value).split("-")[:2])
        return date(year, month, 1)
    except (ValueError, TypeError):
        raise DomainError("period", _("%(value)s is not a month (YYYY-MM)"), value=value) from None


# --- routes -----------------------------------------------------------------------------------------


def route_list(*, actor: Any, commodity: str = "", reader_id: Any = None, node_id: Any = None,
               q: str = "", active: bool | None = True) -> QuerySet[Route]:
    """Routes the actor sees, with their number of stops; filters narrow by commodity, reader,
    organisation node (and below) and code/name."""
    qs = (Route.objects.visible_to(actor).select_related("node", "reader")
          .annotate(stop_count=Count("stops")))
    if commodity:
        qs = qs.filter(commodity=commodity)
    if reader_id not in (None, ""):
        qs = qs.filter(reader_id=int(reader_id))
    if node_id not in (None, ""):
        node = org_selectors.org_node_get(actor=actor, node_id=node_id)
        qs = qs.filter(node__path__startswith=node.path)
    if q:
        qs = qs.filter(Q(code__icontains=q) | Q(name__icontains=q))
    if active is not None:
        qs = qs.filter(active=active)
    return qs.order_by("code")


def route_get(*, actor: Any, route_id: Any) -> Route:
    return access_by_id(Route.objects.select_related("node", "reader", "company"), actor, route_id)


def route_filter_choices(*, actor: Any) -> dict[str, Any]:
    """Readers and units the route filters and forms offer (only what the actor sees)."""
    units = [n for n in org_selectors.org_node_list(actor=actor) if n.company_id]
    reading_roles = [role for role, perms in roles.PERMISSIONS.items() if "metering.read_meters" in perms]
    readers = list(org_selectors.staff_list(actor=actor, active=True).filter(groups__name__in=reading_roles)
                   .distinct())
    return {"units": units, "readers": readers, "commodities": COMMODITIES}


def stop_rows(*, actor: Any, service_point_ids: list[Any], on: date) -> dict[Any, dict[str, Any]]:
    """Address, payer and the meter fitted on ``on`` for each service point (visible ones only)."""
    points = {p["id"]: p for p in customer_selectors.service_point_rows(actor=actor,
                                                                          service_point_ids=service_point_ids)}
    if not points:
        return {}
    payers = customer_selectors.service_point_payers(service_point_ids=list(points), on=on)
    meters: dict[Any, dict[str, Any]] = {}
    for inst in customer_selectors.service_point_installations(service_point_ids=list(points)):
        if inst["installed_date"] <= on and (inst["removed_date"] is None or on <= inst["removed_date"]):
            meters[inst["service_point_id"]] = inst
        elif inst["service_point_id"] not in meters and inst["installed_date"] > on:
            meters[inst["service_point_id"]] = inst  # fitted later: still the meter to read
    rows = {}
    for sp, point in points.items():
        payer = payers.get(sp) or {}
        meter = meters.get(sp) or {}
        rows[sp] = {"service_point_id": sp, "address": point["premise__address"], "commodity": point["commodity"],
                    "node_id": point["node_id"], "customer_name": payer.get("account__customer__name", ""),
                    "customer_no": payer.get("account__customer__customer_no", ""),
                    "account_no": payer.get("account__account_no", ""), "meter_serial": meter.get("meter__serial", ""),
                    "meter_id": meter.get("meter_id"), "install_reading": meter.get("install_reading"),
                    "installed_date": meter.get("installed_date")}
    return rows


def route_stops(*, actor: Any, route: Route, on: date) -> list[dict[str, Any]]:
    stops = list(route.stops.order_by("sequence").values("service_point_id", "sequence"))
    rows = stop_rows(actor=actor, service_point_ids=[s["service_point_id"] for s in stops], on=on)
    return [{**rows.get(s["service_point_id"], {"service_point_id": s["service_point_id"], "address": "",
                                                 "customer_name": "", "meter_serial": ""}),
             "sequence": s["sequence"], "position": n + 1} for n, s in enumerate(stops)]


def routes_page(*, actor: Any, filters: Mapping[str, Any], active: str = "1") -> dict[str, Any]:
    """The routes list screen: the routes matching ``filters`` (``active``: "1", "0" or "all") and
    the readers and units its filters and batch form offer. A bad filter is reported, not raised."""
    choices = route_filter_choices(actor=actor)
    error = None
    try:
        routes = list(route_list(actor=actor, active=None if active == "all" else active != "0",
                                 **{k: filters.get(k, "") for k in ("commodity", "reader_id", "node_id", "q")})[:500])
    except DomainError as exc:
        routes, error = [], exc
    return {"routes": routes, "error": error, **choices}


def route_page(*, actor: Any, route_id: Any, on: date) -> dict[str, Any]:
    """A route with its stops in walking order, the routes it may merge into, readers, history."""
    route = route_get(actor=actor, route_id=route_id)
    merge_targets = (Route.objects.visible_to(actor).filter(company_id=route.company_id, commodity=route.commodity,
                                                            active=True).exclude(pk=route.pk).order_by("code"))
    return {"route": route, "stops": route_stops(actor=actor, route=route, on=on),
            "merge_targets": list(merge_targets), **route_filter_choices(actor=actor),
            "history": route_history(route=route),
            "cycles": list(route.cycles.order_by("-period")[:12])}


def route_history(*, route: Route) -> list[audit.AuditEntry]:
    """The route's own changes and those of its stops (assigned, reordered, moved by a split or a
    merge, taken off), one entry per change with who, when and the reason given, oldest first.
    The caller already holds ``route`` through the tenancy layer."""
    entries = audit.object_history(route)
    event_model = audit.event_model_for(RouteStop)
    if event_model is not None:
        groups: dict[Any, list[Any]] = defaultdict(list)
        for event in (event_model.objects.filter(route_id=route.pk).select_related("pgh_context")
                      .order_by("pgh_id")):
            groups[event.pgh_context_id or f"event-{event.pgh_id}"].append(event)
        for events in groups.values():
            first = events[0]
            meta = first.pgh_context.metadata if first.pgh_context_id else {}
            changes = [FieldChange(f"{gettext('service point')} {e.service_point_id}",
                                   f"#{e.sequence}" if e.pgh_label == "delete" else None,
                                   None if e.pgh_label == "delete" else f"#{e.sequence}") for e in events]
            entries.append(audit.AuditEntry(
                at=first.pgh_created_at, label=first.pgh_label, model="metering.routestop",
                model_verbose=str(RouteStop._meta.verbose_name_plural), object_id=route.pk,
                object_repr=route.code, actor_id=meta.get("user"),
                actor=meta.get("username") or ("system" if meta.get("source") in ("command", None) else "—"),
                ip=meta.get("ip"), url=meta.get("url"), reason=meta.get("reason") or "", changes=changes))
    return sorted(entries, key=lambda e: e.at)


# --- cycles ---------------------------------------------------------------------------------------


def cycle_list(*, actor: Any, period: str | date | None = None, route_id: Any = None, status: str = "",
               reader_id: Any = None) -> list[dict[str, Any]]:
    """Cycles with their progress: stops read (a live read in the cycle), stops on the route and
    stops waiting in the review queue."""
    qs = ReadCycle.objects.visible_to(actor).select_related("route", "route__reader")
    month = month_of(period)
    if month:
        qs = qs.filter(period=month)
    if route_id not in (None, ""):
        qs = qs.filter(route_id=int(route_id))
    if status:
        qs = qs.filter(status=status)
    if reader_id not in (None, ""):
        qs = qs.filter(route__reader_id=int(reader_id))
    cycles = list(qs.order_by("-period", "route__code")[:500])
    ids = [c.pk for c in cycles]
    totals = dict(RouteStop.objects.filter(route_id__in={c.route_id for c in cycles}).values("route_id")
                  .annotate(n=Count("id")).values_list("route_id", "n"))
    read = dict(MeterRead.objects.filter(cycle_id__in=ids, status__in=LIVE).values("cycle_id")
                .annotate(n=Count("service_point_id", distinct=True)).values_list("cycle_id", "n"))
    flagged = dict(ReadReview.objects.filter(cycle_id__in=ids, status="open").values("cycle_id")
                   .annotate(n=Count("id")).values_list("cycle_id", "n"))
    return [{"cycle": c, "total": totals.get(c.route_id, 0), "read": read.get(c.pk, 0),
             "flagged": flagged.get(c.pk, 0)} for c in cycles]


def cycles_page(*, actor: Any, filters: Mapping[str, Any]) -> dict[str, Any]:
    """The cycles screen: cycles with progress and the units a month may be opened for."""
    error = None
    try:
        cycles = cycle_list(actor=actor, **{k: filters.get(k, "") for k in ("period", "route_id", "status",
                                                                             "reader_id")})
    except DomainError as exc:
        cycles, error = [], exc
    return {"cycles": cycles, "error": error,
            "units": [n for n in org_selectors.org_node_list(actor=actor) if n.company_id]}


def cycle_get(*, actor: Any, cycle_id: Any) -> ReadCycle:
    return access_by_id(ReadCycle.objects.select_related("route", "route__reader"), actor, cycle_id)


def _finding_list(findings: Any) -> list[dict[str, Any]]:
    return [dict(f) for f in findings or []]


def cycle_sheet(*, actor: Any, cycle_id: Any, service_point_ids: Iterable[Any] | None = None) -> dict[str, Any]:
    """The route sheet of a cycle: one row per stop in walking order with address, payer, meter,
    the last reading before this cycle and this cycle's read (reading, usage, flags, findings)."""
    cycle = cycle_get(actor=actor, cycle_id=cycle_id)
    stops = list(RouteStop.objects.filter(route_id=cycle.route_id).order_by("sequence")
                 .values_list("service_point_id", flat=True))
    if service_point_ids is not None:
        wanted = {int(i) for i in service_point_ids}
        stops = [s for s in stops if s in wanted]
    rows = stop_rows(actor=actor, service_point_ids=stops, on=cycle.scheduled_date)
    stops = [s for s in stops if s in rows]
    this: dict[Any, MeterRead] = {}
    for r in (MeterRead.objects.filter(cycle=cycle, service_point_id__in=stops, status__in=LIVE)
              .order_by("service_point_id", "-read_date", "-id")):
        this.setdefault(r.service_point_id, r)
    last: dict[Any, MeterRead] = {}
    for r in (MeterRead.objects.filter(service_point_id__in=stops, status__in=LIVE, read_date__lt=cycle.window_to)
              .exclude(cycle=cycle).order_by("service_point_id", "-read_date", "-id")
              .distinct("service_point_id")):
        last[r.service_point_id] = r
    reviews = dict(ReadReview.objects.filter(service_point_id__in=stops, period=cycle.period)
                   .values_list("service_point_id", "status"))
    sheet = []
    for n, sp in enumerate(stops):
        row = dict(rows[sp])
        read = this.get(sp)
        if read is not None:
            row["last_reading"], row["last_date"] = read.previous_reading, read.previous_date
        elif sp in last:
            row["last_reading"], row["last_date"] = last[sp].reading, last[sp].read_date
        else:
            row["last_reading"], row["last_date"] = row.get("install_reading"), row.get("installed_date")
        row.update({"position": n + 1, "read": read, "flags": validation.flag_codes(read.flags) if read else [],
                    "findings": _finding_list(read.findings) if read else [], "review_status": reviews.get(sp, "")})
        sheet.append(row)
    return {"cycle": cycle, "route": cycle.route, "rows": sheet,
            "default_date": cycle.scheduled_date}


# --- the review queue -----------------------------------------------------------------------------


@dataclass(frozen=True)
class ReviewFilters:
    period: str = ""
    route_id: Any = None
    reason: str = ""
    flag: str = ""
    node_id: Any = None
    decided: bool = False

    @classmethod
    def from_query(cls, params: Mapping[str, Any]) -> ReviewFilters:
        return cls(period=(params.get("period") or "").strip(), route_id=params.get("route_id") or None,
                   reason=params.get("reason") or "", flag=(params.get("flag") or "").upper(),
                   node_id=params.get("node_id") or None, decided=params.get("status") == "decided")


def review_queryset(*, actor: Any, filters: ReviewFilters) -> QuerySet[ReadReview]:
    qs = ReadReview.objects.visible_to(actor).select_related("read", "cycle__route", "decided_by")
    qs = qs.exclude(status="open") if filters.decided else qs.filter(status="open")
    month = month_of(filters.period)
    if month:
        qs = qs.filter(period=month)
    if filters.route_id not in (None, ""):
        try:
            route = int(filters.route_id)
        except (TypeError, ValueError):
            raise DomainError("route_id", _("%(value)s is not a route"), value=filters.route_id) from None
        qs = qs.filter(service_point_id__in=RouteStop.objects.filter(route_id=route).values("service_point_id"))
    if filters.reason:
        if filters.reason not in REVIEW_REASON_CODES:
            raise DomainError("reason", _("unknown review reason %(reason)s"), reason=filters.reason)
        qs = qs.filter(reasons__contains=[filters.reason])
    if filters.flag:
        if filters.flag not in FLAG_CODES:
            raise DomainError("flag", _("unknown flag %(flag)s"), flag=filters.flag)
        bit = int(validation.ReadFlag[filters.flag])
        qs = qs.annotate(flag_bit=F("flags").bitand(bit)).exclude(flag_bit=0)
    if filters.node_id not in (None, ""):
        node = org_selectors.org_node_get(actor=actor, node_id=filters.node_id)
        qs = qs.filter(node__path__startswith=node.path)
    return qs.order_by("-decided_at", "-id") if filters.decided else qs.order_by("period", "service_point_id", "id")


def review_rows(*, actor: Any, reviews: list[ReadReview]) -> list[dict[str, Any]]:
    """Each review entry with its read, address, payer, route and the last usages (oldest first)."""
    points = list({r.service_point_id for r in reviews})
    if not points:
        return []
    on = max(r.period for r in reviews) + timedelta(days=27)
    info = stop_rows(actor=actor, service_point_ids=points, on=on)
    routes = dict(RouteStop.objects.filter(service_point_id__in=points).values_list("service_point_id", "route__code"))
    usages: dict[Any, list[tuple[date, Decimal]]] = defaultdict(list)
    since = min(r.period for r in reviews) - timedelta(days=400)
    for sp, on_date, usage in (MeterRead.objects.filter(service_point_id__in=points, read_date__gte=since)
                               .filter(Q(status__in=LIVE) | Q(pk__in=[r.read_id for r in reviews if r.read_id]))
                               .order_by("service_point_id", "read_date", "id")
                               .values_list("service_point_id", "read_date", "usage")):
        usages[sp].append((on_date, usage))
    rows = []
    for r in reviews:
        history = [(d, u) for d, u in usages.get(r.service_point_id, [])
                   if r.read is None or d <= r.read.read_date][-HISTORY_SHOWN:]
        rows.append({"review": r, "read": r.read, **info.get(r.service_point_id, {"address": "", "customer_name": "",
                                                                                  "meter_serial": ""}),
                     "route_code": routes.get(r.service_point_id, ""), "flags": validation.flag_codes(r.flags),
                     "findings": _finding_list(r.read.findings) if r.read else [],
                     "history": history, "sparkline": sparkline([u for _d, u in history])})
    return rows


def review_queue(*, actor: Any, filters: ReviewFilters, limit: int | None = None) -> list[dict[str, Any]]:
    qs = review_queryset(actor=actor, filters=filters)
    return review_rows(actor=actor, reviews=list(qs[:limit] if limit else qs))


def review_page(*, actor: Any, filters: ReviewFilters, page: Any = 1, per_page: int = 50) -> dict[str, Any]:
    """The review queue screen: one page of entries with their rows, and the routes and units its
    filters offer. A bad filter is reported, not raised."""
    from django.core.paginator import Paginator

    error, rows, current = None, [], None
    try:
        current = Paginator(review_queryset(actor=actor, filters=filters), per_page).get_page(page)
        rows = review_rows(actor=actor, reviews=list(current.object_list))
    except DomainError as exc:
        error = exc
    return {"rows": rows, "page": current, "error": error,
            "routes": list(route_list(actor=actor, active=None)[:500]),
            "units": [n for n in org_selectors.org_node_list(actor=actor) if n.company_id]}


def review_get(*, actor: Any, review_id: Any) -> dict[str, Any]:
    review = access_by_id(ReadReview.objects.select_related("read", "cycle__route"), actor, review_id)
    return review_rows(actor=actor, reviews=[review])[0]


def sparkline(values: list[Decimal], *, width: int = 90, height: int = 24) -> str:
    """SVG polyline points of ``values`` (scaled to the box); empty for fewer than two values."""
    if len(values) < 2:
        return ""
    low, high = min(values), max(values)
    span = (high - low) or Decimal(1)
    step = Decimal(width) / (len(values) - 1)
    return " ".join(f"{float(step * n):.1f},{float(height - (v - low) * (height - 2) / span - 1):.1f}"
                    for n, v in enumerate(values))


# --- re-read orders -------------------------------------------------------------------------------


def reread_orders(*, actor: Any, mine: bool = True, status: str = "open") -> list[dict[str, Any]]:
    """Re-read orders the actor sees — by default the actor's own open ones, soonest due first."""
    qs = RereadOrder.objects.visible_to(actor).select_related("reader", "review")
    if mine:
        qs = qs.filter(reader_id=getattr(actor, "pk", None))
    if status:
        qs = qs.filter(status=status)
    orders = list(qs.order_by("due_date", "id")[:500])
    info = stop_rows(actor=actor, service_point_ids=list({o.service_point_id for o in orders}),
                     on=timezone.localdate()) if orders else {}
    routes = dict(RouteStop.objects.filter(service_point_id__in=[o.service_point_id for o in orders])
                  .values_list("service_point_id", "route__code"))
    return [{"order": o, **info.get(o.service_point_id, {"address": "", "customer_name": "", "meter_serial": ""}),
             "route_code": routes.get(o.service_point_id, "")} for o in orders]


def last_reads(*, meter_ids: list[int]) -> dict[int, dict[str, Any]]:
    """Each meter's latest live read (date, reading, usage, kind, flags), one walk of the live-read
    index per meter."""
    if not meter_ids:
        return {}
    from django.db import connection
    keys = ("meter_id", "read_date", "reading", "usage", "kind", "flags", "source")
    with connection.cursor() as cur:
        cur.execute("SELECT r.meter_id, r.read_date, r.reading, r.usage, r.kind, r.flags, r.source"
                    " FROM unnest(%s::bigint[]) m(id) CROSS JOIN LATERAL ("
                    "  SELECT * FROM metering_meterread WHERE meter_id = m.id AND status = ANY(%s)"
                    "  ORDER BY read_date DESC LIMIT 1) r", [list(meter_ids), list(LIVE)])
        return {row[0]: dict(zip(keys, row, strict=True)) for row in cur.fetchall()}
