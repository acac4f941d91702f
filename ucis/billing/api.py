"""JSON API of bill runs and bills (same visibility, rules and messages as the screens). Starting a
run queues its calculation; poll ``GET /runs/{run_id}`` for the progress."""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal
from typing import Any, Literal

from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse
from ninja import Field, Router, Schema, Status

from ucis.billing import notices, selectors, services, tasks
from ucis.platform.api import ERRORS, ErrorItem
from ucis.platform.i18n import problem_text

router = Router(tags=["billing"])


def _require(request: HttpRequest, perm: str) -> None:
    if not request.user.has_perm(perm):
        raise PermissionDenied(f"missing permission {perm}")


class RunOut(Schema):
    id: int
    company_id: int
    company: str
    commodity: str
    period: str
    route_ids: list[int]
    status: str
    items_total: int
    items_done: int
    exceptions: int
    progress: int = Field(description="percent of the accounts calculated")
    totals: dict[str, Any]
    created_by: str | None
    calculated_by: str | None
    approved_by: str | None
    issued_by: str | None
    issued_at: datetime | None


class RunStartOut(RunOut):
    waiting: list[ErrorItem] = Field(description="why the calculation could not be queued yet (e.g. reads in "
                                                 "the review queue); empty when it was queued")


class ExceptionOut(Schema):
    account_id: int
    account_no: str
    reason: str


class OutlierOut(Schema):
    bill_id: int
    account_id: int
    account_no: str
    total: Decimal
    previous: Decimal


class RunDetailOut(RunOut):
    exception_list: list[ExceptionOut]
    outliers: list[OutlierOut]


def _name(user: Any) -> str | None:
    return user.username if user is not None else None


def _run_out(run: Any, **extra: Any) -> dict[str, Any]:
    return {"id": run.pk, "company_id": run.company_id, "company": run.company.code, "commodity": run.commodity,
            "period": run.period.strftime("%Y-%m"), "route_ids": list(run.route_ids), "status": run.status,
            "items_total": run.items_total, "items_done": run.items_done, "exceptions": run.exceptions,
            "progress": selectors.progress(run), "totals": run.totals or {}, "created_by": _name(run.created_by),
            "calculated_by": _name(run.calculated_by), "approved_by": _name(run.approved_by),
            "issued_by": _name(run.issued_by), "issued_at": run.issued_at, **extra}


@router.get("/runs", response={200: list[RunOut], **ERRORS})
def run_list(request: HttpRequest, status: str = ""):
    """The bill runs the caller sees, newest period first."""
    _require(request, "billing.view_billrun")
    return [_run_out(r) for r in selectors.run_list(actor=request.user, status=status)
            .select_related("calculated_by", "approved_by", "issued_by")[:500]]


class RunIn(Schema):
    company_id: int
    commodity: Literal["water", "gas", "electricity"]
    period: str = Field(pattern=r"^\d{4}-\d{2}$", description="YYYY-MM")
    route_ids: list[int] = Field(default_factory=list, description="empty: every route")


@router.post("/runs", response={201: RunStartOut, **ERRORS})
def run_start(request: HttpRequest, payload: RunIn):
    """Start a run (select the accounts) and queue its calculation."""
    run, waiting = tasks.bill_run_submit(actor=request.user, company_id=payload.company_id,
                                         commodity=payload.commodity, period=payload.period,
                                         route_ids=payload.route_ids)
    run.refresh_from_db()
    items = [] if waiting is None else [{"field": p.field, "reason": problem_text(p)} for p in waiting.problems]
    return Status(201, _run_out(run, waiting=items))


@router.get("/runs/{run_id}", response={200: RunDetailOut, **ERRORS})
def run_get(request: HttpRequest, run_id: int):
    """A run's status, progress, totals (by route and receivable), exceptions and outliers."""
    _require(request, "billing.view_billrun")
    review = services.bill_run_review(actor=request.user, run_id=run_id)
    for row in review["exceptions"]:
        row["reason"] = selectors.exception_text(row["reason"])
    return _run_out(review["run"], exception_list=review["exceptions"], outliers=review["outliers"])


@router.post("/runs/{run_id}/approve", response={200: RunOut, **ERRORS})
def run_approve(request: HttpRequest, run_id: int):
    """Approve a calculated run (by someone other than who calculated it)."""
    return _run_out(services.bill_run_approve(actor=request.user, run_id=run_id))


@router.post("/runs/{run_id}/issue", response={200: RunOut, **ERRORS})
def run_issue(request: HttpRequest, run_id: int):
    """Issue an approved run: its bills become due."""
    return _run_out(services.bill_run_issue(actor=request.user, run_id=run_id))


@router.get("/runs/{run_id}/notices/{route_id}", response={200: bytes, **ERRORS},
            openapi_extra={"responses": {200: {"description": "the PDF", "content": {"application/pdf": {
                "schema": {"type": "string", "format": "binary"}}}}}})
def run_notices(request: HttpRequest, run_id: int, route_id: int):
    """The payment notices (缴款单) of one route of an issued run as one PDF (application/pdf): one
    page per bill in the route's walking order, in Chinese, for printing and postal delivery."""
    _require(request, "billing.view_bill")
    pdf = notices.bill_notices_render(actor=request.user, run_id=run_id, route_id=route_id)
    response = HttpResponse(pdf, content_type="application/pdf")
    filename = notices.bill_notices_filename(actor=request.user, run_id=run_id, route_id=route_id)
    response["Content-Disposition"] = f'attachment; filename="{filename}"'
    return response


def _pdf(pdf: bytes, filename: str) -> HttpResponse:
    response = HttpResponse(pdf, content_type="application/pdf")
    response["Content-Disposition"] = f'attachment; filename="{filename}"'
    return response


_PDF = {"responses": {200: {"description": "the PDF",
                            "content": {"application/pdf": {"schema": {"type": "string", "format": "binary"}}}}}}


@router.get("/notices/dunning", response={200: bytes, **ERRORS}, openapi_extra=_PDF)
def dunning_notices(request: HttpRequest, company_id: int, as_of: date, route_id: int | None = None):
    """Dunning notices (催缴单) as one PDF: a page per account of the company (of the route, in walking
    order) with bills past due and still open on ``as_of``."""
    pdf = notices.dunning_notices_render(actor=request.user, company_id=company_id, as_of=as_of, route_id=route_id)
    return _pdf(pdf, f"dunning-{company_id}-{as_of:%Y%m%d}{'' if route_id is None else f'-{route_id}'}.pdf")


@router.get("/notices/home-collection", response={200: bytes, **ERRORS}, openapi_extra=_PDF)
def home_collection_list(request: HttpRequest, company_id: int, as_of: date, route_id: int | None = None):
    """The home-collection list (上门收费清单) as one PDF: the company's (the route's) customers of the
    disabled category with arrears on ``as_of``, with what to collect from each."""
    pdf = notices.home_collection_list_render(actor=request.user, company_id=company_id, as_of=as_of,
                                              route_id=route_id)
    return _pdf(pdf, f"home-collection-{company_id}-{as_of:%Y%m%d}{'' if route_id is None else f'-{route_id}'}.pdf")


class BillLineOut(Schema):
    seq: int
    code: str
    label: str
    quantity: Decimal
    price: Decimal | None
    amount: Decimal
    receivable: str
    version: str
    block: int
    explanation: str
    template: str
    params: dict[str, Any]


class BillOut(Schema):
    id: int
    run_id: int
    account_id: int
    account_no: str
    period: str
    period_from: date
    period_to: date = Field(description="exclusive")
    usage: Decimal
    total: Decimal
    status: str
    messages: list[str]
    lines: list[BillLineOut]


@router.get("/bills/{bill_id}", response={200: BillOut, **ERRORS})
def bill_get(request: HttpRequest, bill_id: int):
    """A bill with its lines, each explained (in the caller's language), and its messages (温馨提示)."""
    _require(request, "billing.view_bill")
    page = selectors.bill_page(actor=request.user, bill_id=bill_id)
    bill = page["bill"]
    lines = []
    for item in page["lines"]:
        ln = item["line"]
        explanation = ln.explanation or {}
        lines.append({**{k: getattr(ln, k) for k in ("seq", "code", "label", "quantity", "price", "amount",
                                                     "receivable", "version", "block")},
                      "explanation": item["text"], "template": explanation.get("template", ""),
                      "params": explanation.get("params") or {}})
    return {"id": bill.pk, "run_id": bill.run_id, "account_id": bill.account_id,
            "account_no": bill.account.account_no, "period": bill.period.strftime("%Y-%m"),
            "period_from": bill.period_from, "period_to": bill.period_to, "usage": bill.usage, "total": bill.total,
            "status": bill.status, "messages": list(bill.messages), "lines": lines}
