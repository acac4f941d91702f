"""JSON API of the customer registry (same visibility and validation as the screens)."""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal
from typing import Any

from django.http import HttpRequest
from django.utils import timezone
from ninja import Field, File, Form, Router, Schema, Status
from ninja.files import UploadedFile

from ucis.customers import extras, imports, selectors, services, tasks
from ucis.platform.api import ERRORS
from ucis.platform.downloads import stored_file_response

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
    extra: dict[str, Any]


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
    closed_date: date | None
    billing_premise_id: int | None


class PremiseOut(Schema):
    id: int
    premise_no: str
    address: str
    floor_area: Decimal | None
    residents: int | None
    extra: dict[str, Any]


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
    extra: dict[str, Any] = {}


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
    return {**{f: getattr(customer, f) for f in ("id", "customer_no", "name", "customer_type", "grade", "status",
                                                  "extra")},
            **contact}


def _extra_query(request: HttpRequest) -> dict[str, str]:
    return {k.removeprefix("extra."): v for k, v in request.GET.items() if k.startswith("extra.") and v.strip()}


@router.get("/customers", response={200: list[CustomerOut], **ERRORS})
def customer_search(request: HttpRequest, q: str = "", kind: str = "auto"):
    """Search by ``q``; ``extra.<code>=value`` query parameters narrow to customers holding those
    extra values (given alone, they list them)."""
    return [_customer_out(request.user, c) for c in selectors.customer_search(
        actor=request.user, q=q, kind=kind, extra=_extra_query(request))]


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


# --- changing and closing ------------------------------------------------------------------------


class CustomerPatch(Schema):
    """Only the fields given change; ``reason`` is kept in the audit trail."""

    name: str | None = None
    phone: str | None = None
    email: str | None = None
    id_type: str | None = None
    id_number: str | None = None
    customer_type: str | None = None
    grade: str | None = None
    reason: str


class AccountPatch(Schema):
    payment_method: str | None = None
    bill_delivery: str | None = None
    deposit: Decimal | None = None
    billing_premise_id: int | None = None
    billing_address: str | None = None
    reason: str


class AccountCloseIn(Schema):
    closed_date: date
    reason: str


class PremiseIn(Schema):
    area_code: str
    room: str = ""
    floor_area: Decimal | None = Field(None, ge=0)
    residents: int | None = Field(None, ge=0, le=32767)
    extra: dict[str, Any] = {}


class MeterIn(Schema):
    node_id: int
    serial: str
    commodity: str
    meter_type: str
    dial_digits: int = 5
    multiplier: Decimal = Decimal("1")
    manufacturer: str = Field("", max_length=60)
    model: str = Field("", max_length=60)
    size: str = Field("", max_length=16)


class MeterInstallIn(Schema):
    service_point_id: int
    installed_date: date
    install_reading: Decimal = Decimal("0")


class MeterRemoveIn(Schema):
    removed_date: date
    removal_reading: Decimal
    reason: str


class MeterReplaceIn(Schema):
    new_meter_id: int
    replaced_date: date
    removal_reading: Decimal
    install_reading: Decimal = Decimal("0")
    reason: str


class InstallationOut(Schema):
    id: int
    meter_id: int
    service_point_id: int
    installed_date: date
    install_reading: Decimal
    removed_date: date | None
    removal_reading: Decimal | None
    reason: str


def _changes(payload: Schema) -> tuple[dict[str, Any], str]:
    changes = payload.dict(exclude_unset=True)
    return changes, changes.pop("reason")


@router.patch("/customers/{customer_id}", response={200: CustomerOut, **ERRORS})
def customer_update(request: HttpRequest, customer_id: int, payload: CustomerPatch):
    """Change a customer's details; an ID number another customer holds is refused."""
    changes, reason = _changes(payload)
    return _customer_out(request.user, services.customer_update(
        actor=request.user, customer_id=customer_id, changes=changes, reason=reason, today=timezone.localdate()))


@router.get("/customers/{customer_id}/accounts", response={200: list[AccountOut], **ERRORS})
def customer_account_list(request: HttpRequest, customer_id: int):
    return selectors.customer_account_list(actor=request.user, customer_id=customer_id)


@router.patch("/accounts/{account_id}", response={200: AccountOut, **ERRORS})
def account_update(request: HttpRequest, account_id: int, payload: AccountPatch):
    changes, reason = _changes(payload)
    return services.account_update(actor=request.user, account_id=account_id, changes=changes, reason=reason)


@router.post("/accounts/{account_id}/close", response={200: AccountOut, **ERRORS})
def account_close(request: HttpRequest, account_id: int, payload: AccountCloseIn):
    """Close the account (销户): its service agreements end on ``closed_date`` (exclusive)."""
    return services.account_close(actor=request.user, account_id=account_id, closed_date=payload.closed_date,
                                   reason=payload.reason)


@router.post("/premises", response={201: PremiseOut, **ERRORS})
def premise_create(request: HttpRequest, payload: PremiseIn):
    return Status(201, services.premise_create(actor=request.user, area_code=payload.area_code, room=payload.room,
                                               floor_area=payload.floor_area, residents=payload.residents,
                                               extra=payload.extra))


@router.post("/meters", response={201: MeterOut, **ERRORS})
def meter_register(request: HttpRequest, payload: MeterIn):
    return Status(201, services.meter_register(actor=request.user, **payload.dict()))


@router.post("/meters/{meter_id}/install", response={201: InstallationOut, **ERRORS})
def meter_install(request: HttpRequest, meter_id: int, payload: MeterInstallIn):
    return Status(201, services.meter_install(actor=request.user, meter_id=meter_id, **payload.dict()))


@router.post("/meters/{meter_id}/remove", response={200: InstallationOut, **ERRORS})
def meter_remove(request: HttpRequest, meter_id: int, payload: MeterRemoveIn):
    return services.meter_remove(actor=request.user, meter_id=meter_id, **payload.dict())


@router.post("/meters/{meter_id}/replace", response={201: InstallationOut, **ERRORS})
def meter_replace(request: HttpRequest, meter_id: int, payload: MeterReplaceIn):
    """Replace a meter (换表): the answer is the new meter's installation."""
    return Status(201, services.meter_replace(actor=request.user, meter_id=meter_id, **payload.dict()))


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

# --- extra fields and attachments (CUS-4) ---------------------------------------------------------


class ExtraFieldOut(Schema):
    id: int
    entity: str
    company_id: int | None
    code: str
    label: str
    field_type: str
    required: bool
    choices: list[str]
    min_value: str
    max_value: str
    pattern: str
    help_text: str
    display_order: int
    is_active: bool


class ExtraFieldIn(Schema):
    entity: str
    code: str
    label: str
    field_type: str
    company_id: int | None = None
    required: bool = False
    choices: list[str] = []
    min_value: str = ""
    max_value: str = ""
    pattern: str = ""
    help_text: str = ""
    display_order: int = 0


class ExtraFieldPatch(Schema):
    label: str | None = None
    required: bool | None = None
    choices: list[str] | None = None
    min_value: str | None = None
    max_value: str | None = None
    pattern: str | None = None
    help_text: str | None = None
    display_order: int | None = None
    is_active: bool | None = None
    reason: str = ""


class ExtraValuesIn(Schema):
    values: dict[str, Any]
    reason: str = ""


class ExtraValuesOut(Schema):
    extra: dict[str, Any]


class AttachmentOut(Schema):
    id: int
    customer_id: int
    kind: str
    original_name: str
    content_type: str
    size: int
    sha256: str
    note: str
    uploaded_at: datetime
    uploaded_by_id: int | None


class AttachmentDeleteIn(Schema):
    reason: str


@router.get("/extra-fields", response={200: list[ExtraFieldOut], **ERRORS})
def extra_field_list(request: HttpRequest, entity: str = "customer"):
    """The active extra fields the caller fills in (the group's and their company's)."""
    return selectors.extra_field_definitions_for_actor(actor=request.user, entity=entity)


@router.post("/extra-fields", response={201: ExtraFieldOut, **ERRORS})
def extra_field_define(request: HttpRequest, payload: ExtraFieldIn):
    data = payload.dict()
    company_id = data.pop("company_id")
    return Status(201, extras.extra_field_define(actor=request.user, company_id=company_id,
                                                 data=extras.ExtraFieldInput(**data)))


@router.get("/extra-fields/{extra_field_id}", response={200: ExtraFieldOut, **ERRORS})
def extra_field_get(request: HttpRequest, extra_field_id: int):
    return selectors.extra_field_get(actor=request.user, extra_field_id=extra_field_id)


@router.patch("/extra-fields/{extra_field_id}", response={200: ExtraFieldOut, **ERRORS})
def extra_field_update(request: HttpRequest, extra_field_id: int, payload: ExtraFieldPatch):
    changes = payload.dict(exclude_unset=True)
    reason = changes.pop("reason", "")
    return extras.extra_field_update(actor=request.user, extra_field_id=extra_field_id, reason=reason, **changes)


@router.patch("/customers/{customer_id}/extra", response={200: ExtraValuesOut, **ERRORS})
def customer_extra_set(request: HttpRequest, customer_id: int, payload: ExtraValuesIn):
    """Set extra values (``null`` or ``""`` clears one); all problems are reported, nothing changes."""
    return extras.customer_extra_set(actor=request.user, customer_id=customer_id, values=payload.values,
                                     reason=payload.reason)


@router.patch("/premises/{premise_id}/extra", response={200: ExtraValuesOut, **ERRORS})
def premise_extra_set(request: HttpRequest, premise_id: int, payload: ExtraValuesIn):
    return extras.premise_extra_set(actor=request.user, premise_id=premise_id, values=payload.values,
                                    reason=payload.reason)


@router.get("/customers/{customer_id}/attachments", response={200: list[AttachmentOut], **ERRORS})
def attachment_list(request: HttpRequest, customer_id: int):
    return selectors.customer_attachments(
        actor=request.user, customer=selectors.customer_get(actor=request.user, customer_id=customer_id))


@router.post("/customers/{customer_id}/attachments", response={201: AttachmentOut, **ERRORS})
def attachment_upload(request: HttpRequest, customer_id: int, file: File[UploadedFile],
                      kind: Form[str] = "other", note: Form[str] = ""):
    """Multipart upload (``file``, ``kind`` = id_scan / contract / photo / other, ``note``). The
    type is judged from the content: PDF, JPEG, PNG, WebP or TIFF, at most UCIS_ATTACHMENT_MAX_BYTES."""
    return Status(201, extras.attachment_add(actor=request.user, customer_id=customer_id, kind=kind, upload=file,
                                             note=note))


@router.get("/attachments/{attachment_id}", response={200: None, **ERRORS})
def attachment_download(request: HttpRequest, attachment_id: int):
    """The file itself, as stored (``Content-Disposition: attachment``)."""
    attachment = extras.attachment_download(actor=request.user, attachment_id=attachment_id)
    return stored_file_response(attachment.file, filename=attachment.original_name,
                                content_type=attachment.content_type)


@router.delete("/attachments/{attachment_id}", response={204: None, **ERRORS})
def attachment_delete(request: HttpRequest, attachment_id: int, payload: AttachmentDeleteIn):
    extras.attachment_delete(actor=request.user, attachment_id=attachment_id, reason=payload.reason)
    return Status(204, None)
