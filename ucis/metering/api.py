"""JSON API of meter reading (same visibility, rules and messages as the screens).

Reads are idempotent per meter and day: sending the same batch again stores nothing new and
reports each row as ``duplicate`` (a device message id, ``external_ref``, is stored once too), so a
client may simply retry after a timeout; no ``Idempotency-Key`` header is needed or used. A
different reading for a day already read is refused — corrections go through the review queue.
"""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from typing import Any, Literal

from django.core.exceptions import PermissionDenied
from django.http import HttpRequest
from django.utils import timezone
from ninja import Field, Query, Router, Schema

from ucis.metering import display, selectors, services
from ucis.metering.reads import ReadInput, RecordResult, meter_reads_record
from ucis.metering.validation import THOUSANDTH
from ucis.platform.api import ERRORS
from ucis.platform.i18n import problem_text

router = Router(tags=["metering"])


def _require(request: HttpRequest, perm: str) -> None:
    if not request.user.has_perm(perm):
        raise PermissionDenied(f"missing permission {perm}")


class RouteOut(Schema):
    id: int
    code: str
    name: str
    commodity: str
    node_id: int
    company_id: int
    reader_id: int | None
    reader: str | None
    cycle_months: int
    cycle_parity: int
    read_day: int
    active: bool
    stop_count: int = 0


class StopOut(Schema):
    position: int
    service_point_id: int
    address: str
    customer_name: str
    meter_serial: str


class RouteDetailOut(RouteOut):
    stops: list[StopOut]


def _route_out(route: Any, **extra: Any) -> dict[str, Any]:
    return {**{f: getattr(route, f) for f in ("id", "code", "name", "commodity", "node_id", "company_id", "reader_id",
                                              "cycle_months", "cycle_parity", "read_day", "active")},
            "reader": route.reader.username if route.reader_id else None,
            "stop_count": getattr(route, "stop_count", 0), **extra}


@router.get("/routes", response={200: list[RouteOut], **ERRORS})
def route_list(request: HttpRequest, commodity: str = "", reader_id: int | None = None, node_id: int | None = None,
               q: str = "", active: bool | None = True):
    """Routes the caller sees, filtered by commodity, reader and organisation node (and below)."""
    _require(request, "metering.view_route")
    return [_route_out(r) for r in selectors.route_list(actor=request.user, commodity=commodity, reader_id=reader_id,
                                                         node_id=node_id, q=q, active=active)[:1000]]


@router.get("/routes/{route_id}", response={200: RouteDetailOut, **ERRORS})
def route_get(request: HttpRequest, route_id: int):
    """A route with its stops in walking order."""
    _require(request, "metering.view_route")
    route = selectors.route_get(actor=request.user, route_id=route_id)
    stops = selectors.route_stops(actor=request.user, route=route, on=timezone.localdate())
    return _route_out(route, stop_count=len(stops), stops=[
        {k: s.get(k) or ("" if k != "position" else 0) for k in StopOut.model_fields} for s in stops])


class FindingOut(Schema):
    code: str
    reason: str


class SheetReadOut(Schema):
    id: int
    reading: Decimal
    read_date: date
    usage: Decimal
    status: str
    flags: list[str]
    findings: list[FindingOut]


class SheetRowOut(Schema):
    position: int
    service_point_id: int
    address: str
    customer_name: str
    meter_serial: str
    last_reading: Decimal | None
    last_date: date | None
    read: SheetReadOut | None
    review_status: str


class SheetOut(Schema):
    cycle_id: int
    route_id: int
    route_code: str
    period: str
    status: str
    scheduled_date: date
    window_from: date
    window_to: date
    rows: list[SheetRowOut]


def _findings(findings: Any) -> list[dict[str, str]]:
    return [{"code": f.get("code", ""), "reason": display.finding_text(f)} for f in findings or []]


@router.get("/cycles/{cycle_id}/sheet", response={200: SheetOut, **ERRORS})
def cycle_sheet(request: HttpRequest, cycle_id: int):
    """The route sheet of a cycle: stops in walking order with the last reading and this cycle's read."""
    _require(request, "metering.view_readcycle")
    sheet = selectors.cycle_sheet(actor=request.user, cycle_id=cycle_id)
    cycle = sheet["cycle"]
    rows = []
    for row in sheet["rows"]:
        read = row["read"]
        rows.append({**{k: row.get(k) for k in ("position", "service_point_id", "address", "customer_name",
                                                  "meter_serial", "last_reading", "last_date", "review_status")},
                     "read": None if read is None else {
                         "id": read.pk, "reading": read.reading, "read_date": read.read_date, "usage": read.usage,
                         "status": read.status, "flags": row["flags"], "findings": _findings(read.findings)}})
    return {"cycle_id": cycle.pk, "route_id": cycle.route_id, "route_code": cycle.route.code,
            "period": cycle.period.strftime("%Y-%m"), "status": cycle.status, "scheduled_date": cycle.scheduled_date,
            "window_from": cycle.window_from, "window_to": cycle.window_to, "rows": rows}


class ProblemOut(Schema):
    field: str
    reason: str


class OutcomeOut(Schema):
    row: str
    meter: str
    status: Literal["stored", "duplicate", "rejected"]
    read_id: int | None
    usage: Decimal | None
    read_status: str
    flags: list[str]
    problems: list[ProblemOut]


class RecordOut(Schema):
    stored: int
    duplicates: int
    pending: int
    rejected: int
    outcomes: list[OutcomeOut]


def _record_out(result: RecordResult) -> dict[str, Any]:
    return {"stored": result.stored, "duplicates": result.duplicates, "pending": result.pending,
            "rejected": len(result.rejected), "outcomes": [
                {"row": o.row, "meter": o.meter, "status": o.status, "read_id": o.read_id,
                 "usage": o.usage.quantize(THOUSANDTH) if o.usage is not None else None,
                 "read_status": o.read_status, "flags": o.codes,
                 "problems": [{"field": p.field, "reason": problem_text(p)} for p in o.problems]}
                for o in result.outcomes]}


class HandEntryIn(Schema):
    service_point_id: int
    reading: str = Field(..., max_length=40)
    read_date: date | None = None
    note: str = Field("", max_length=200)


class HandEntriesIn(Schema):
    entries: list[HandEntryIn] = Field(..., max_length=5000)


@router.post("/cycles/{cycle_id}/reads", response={200: RecordOut, **ERRORS})
def cycle_reads_enter(request: HttpRequest, cycle_id: int, payload: HandEntriesIn):
    """Hand entry of a route's reads: one outcome per entry (``row`` is the service point id) —
    stored (with usage and flags), duplicate (harmless), or rejected with field and reason."""
    _require(request, "metering.read_meters")
    return _record_out(services.cycle_reads_enter(
        actor=request.user, cycle_id=cycle_id, today=timezone.localdate(),
        entries=[services.HandEntry(e.service_point_id, e.reading, e.read_date, e.note) for e in payload.entries]))


class ReadIn(Schema):
    meter: str = Field(..., max_length=40, description="meter serial")
    read_date: date
    reading: str = Field(..., max_length=40)
    previous_reading: str | None = Field(None, max_length=40, description="the base the device states, checked")
    external_ref: str | None = Field(None, max_length=120, description="device message id; stored once")
    note: str = Field("", max_length=200)
    row: str = Field("", max_length=60, description="echoed in the outcome")


class ReadsIn(Schema):
    source: Literal["hand", "handheld", "remote"] = "handheld"
    reads: list[ReadIn] = Field(..., max_length=5000)


@router.post("/reads", response={200: RecordOut, **ERRORS})
def reads_record(request: HttpRequest, payload: ReadsIn):
    """A raw batch of reads by meter serial (handheld devices, files, remote reading).

    Idempotent without an ``Idempotency-Key`` header: reads are stored once per meter and day, and
    once per device message id (``external_ref``), so a retried batch reports its rows as
    ``duplicate`` and stores nothing twice. A different reading for a day already read is refused
    (correct it through the review queue). Each row gets an outcome; refused rows store nothing,
    the others are stored together."""
    _require(request, "metering.read_meters")
    return _record_out(meter_reads_record(
        actor=request.user, source=payload.source, today=timezone.localdate(),
        reads=[ReadInput(meter=r.meter, read_date=r.read_date, reading=r.reading, stated_previous=r.previous_reading,
                         external_ref=r.external_ref, note=r.note, row=r.row or str(n))
               for n, r in enumerate(payload.reads)]))


class ReviewOut(Schema):
    id: int
    service_point_id: int
    period: str
    status: str
    reasons: list[str]
    flags: list[str]
    findings: list[FindingOut]
    address: str
    customer_name: str
    meter_serial: str
    route_code: str
    read_id: int | None
    reading: Decimal | None
    read_date: date | None
    previous_reading: Decimal | None
    usage: Decimal | None
    history: list[Decimal]
    note: str


class ReviewQuery(Schema):
    period: str = ""
    route_id: int | None = None
    reason: str = ""
    flag: str = ""
    node_id: int | None = None
    status: Literal["open", "decided"] = "open"
    limit: int = Field(200, ge=1, le=1000)


@router.get("/reviews", response={200: list[ReviewOut], **ERRORS})
def review_queue(request: HttpRequest, query: Query[ReviewQuery]):
    """The review queue (open entries by default) with the read, usage, flags and last usages."""
    _require(request, "metering.view_readreview")
    filters = selectors.ReviewFilters(period=query.period, route_id=query.route_id, reason=query.reason,
                                      flag=query.flag.upper(), node_id=query.node_id,
                                      decided=query.status == "decided")
    out = []
    for row in selectors.review_queue(actor=request.user, filters=filters, limit=query.limit):
        review, read = row["review"], row["read"]
        out.append({"id": review.pk, "service_point_id": review.service_point_id,
                    "period": review.period.strftime("%Y-%m"), "status": review.status, "reasons": review.reasons,
                    "flags": row["flags"], "findings": _findings(row["findings"]), "address": row["address"],
                    "customer_name": row["customer_name"], "meter_serial": row["meter_serial"],
                    "route_code": row["route_code"], "read_id": review.read_id,
                    "reading": read.reading if read else None, "read_date": read.read_date if read else None,
                    "previous_reading": read.previous_reading if read else None,
                    "usage": read.usage if read else None, "history": [u for _d, u in row["history"]],
                    "note": review.note})
    return out


class DecideIn(Schema):
    review_ids: list[int] = Field(..., min_length=1, max_length=1000)
    action: Literal["accept", "correct", "reread", "estimate"]
    note: str = Field(..., max_length=200, description="the reason, kept in the audit trail")
    reading: str | None = Field(None, max_length=40, description="for correct: the right reading")
    due_date: date | None = Field(None, description="for reread: when it is due (default in 3 days)")


class DecideOut(Schema):
    decided: int


@router.post("/reviews/decide", response={200: DecideOut, **ERRORS})
def review_decide(request: HttpRequest, payload: DecideIn):
    """Decide entries of the queue in one go: accept, correct (one entry), reread or estimate."""
    _require(request, "metering.review_reads")
    return services.read_review_decide(actor=request.user, review_ids=payload.review_ids, action=payload.action,
                                       note=payload.note, reading=payload.reading, due_date=payload.due_date,
                                       today=timezone.localdate())
