"""JSON API of the customer registry (same visibility and validation as the screens)."""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal
from typing import Any

from django.http import HttpRequest
from django.utils import timezone
from ninja import File, Form, Router, Schema, Status
from ninja.files import UploadedFile

from ucis.customers import imports, selectors, services, tasks
from ucis.platform.api import ERRORS

router = Router(tags=["customers"])


class CustomerOut(Schema):
    id: int
    customer_no: str
    name: str
    customer_type: str
    grade: str
    status: str
    phone: str
    id_number: str


class AccountOut(Schema):
    id: int
    account_no: str
    customer_id: int
    company_id: int
    node_id: int
    billing_address: str
    payment_method: str
    bill_delivery: str
    deposit: Decimal
    status: str
    opened_date: date


class PremiseOut(Schema):
    id: int
    premise_no: str
    address: str
    floor_area: Decimal | None
    residents: int | None


class MeterOut(Schema):
    id: int
    serial: str
    commodity: str
    meter_type: str
    dial_digits: int
    multiplier: Decimal
    status: str
    node_id: int


class NewCustomerIn(Schema):
    name: str
    customer_type: str = "resident"
    phone: str = ""
    id_type: str = ""
    id_number: str = ""
    email: str = ""


class AccountIn(Schema):
    node_id: int
    customer_id: int | None = None
    new_customer: NewCustomerIn | None = None
    premise_id: int | None = None
    commodities: list[str] = []
    payment_method: str = "counter"
    bill_delivery: str = "sms"
    deposit: Decimal = Decimal("0")


def _customer_out(actor, customer) -> dict:
    contact = selectors.customer_contact(actor=actor, customer=customer)
    return {**{f: getattr(customer, f) for f in ("id", "customer_no", "name", "customer_type", "grade", "status")},
            **contact}


@router.get("/customers", response={200: list[CustomerOut], **ERRORS})
def customer_search(request: HttpRequest, q: str, kind: str = "auto"):
    return [_customer_out(request.user, c) for c in selectors.customer_search(actor=request.user, q=q, kind=kind)]


@router.get("/customers/{customer_id}", response={200: CustomerOut, **ERRORS})
def customer_get(request: HttpRequest, customer_id: int):
    return _customer_out(request.user, selectors.customer_get(actor=request.user, customer_id=customer_id))


@router.post("/accounts", response={201: AccountOut, **ERRORS})
def account_open(request: HttpRequest, payload: AccountIn):
    new = services.CustomerInput(**payload.new_customer.dict()) if payload.new_customer else None
    return Status(201, services.account_open(
        actor=request.user, customer_id=payload.customer_id, new_customer=new,
        data=services.AccountInput(node_id=payload.node_id, premise_id=payload.premise_id,
                                   commodities=tuple(payload.commodities), payment_method=payload.payment_method,
                                   bill_delivery=payload.bill_delivery, deposit=payload.deposit),
        today=timezone.localdate()))


@router.get("/accounts/{account_id}", response={200: AccountOut, **ERRORS})
def account_get(request: HttpRequest, account_id: int):
    return selectors.account_get(actor=request.user, account_id=account_id)


@router.get("/premises/{premise_id}", response={200: PremiseOut, **ERRORS})
def premise_get(request: HttpRequest, premise_id: int):
    return selectors.premise_get(actor=request.user, premise_id=premise_id)


@router.get("/meters/{meter_id}", response={200: MeterOut, **ERRORS})
def meter_get(request: HttpRequest, meter_id: int):
    return selectors.meter_get(actor=request.user, meter_id=meter_id)


class ImportProblemOut(Schema):
    row: int
    column: str
    reason: str


class ImportJobOut(Schema):
    id: int
    filename: str
    size: int
    sha256: str
    status: str
    phase: str
    total_rows: int
    done_rows: int
    percent: int
    counts: dict[str, Any]
    problems: list[ImportProblemOut]
    error: str
    created_at: datetime
    finished_at: datetime | None


def _job_out(job) -> dict:
    return {**{f: getattr(job, f) for f in ("id", "filename", "size", "sha256", "status", "phase", "total_rows",
                                            "done_rows", "percent", "counts", "created_at", "finished_at")},
            "problems": [{k: p[k] for k in ("row", "column", "reason")} for p in job.report.get("problems", [])],
            "error": job.report.get("error", "")}


@router.post("/imports", response={202: ImportJobOut, **ERRORS})
def registry_import(request: HttpRequest, file: UploadedFile = File(...),  # noqa: B008 (ninja's declaration style)
                    dry_run: bool = Form(True)):  # noqa: B008
    """Upload a legacy file (CSV UTF-8/GBK or .xlsx, docs/import-format.md). The dry run reports every
    problem (row, column, reason); with ``dry_run=false`` a clean file is then applied all at once.
    Poll ``GET /imports/{id}`` until ``status`` is checked, rejected, applied or failed."""
    imports.import_size_check(file.size)
    job = tasks.import_submit(actor=request.user, content=file.read(), filename=file.name or "upload",
                              apply=not dry_run)
    return Status(202, _job_out(imports.import_job_get(actor=request.user, job_id=job.pk)))


@router.get("/imports/{import_id}", response={200: ImportJobOut, **ERRORS})
def registry_import_get(request: HttpRequest, import_id: int):
    return _job_out(imports.import_job_get(actor=request.user, job_id=import_id))
