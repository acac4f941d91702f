"""JSON API of tariffs (same visibility, rules and messages as the screens): the price book,
importing and exporting tariff files, bill simulation and policy discounts."""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from typing import Any, Literal

from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse
from django.utils import timezone
from ninja import Field, Router, Schema, Status

from ucis.platform.api import ERRORS
from ucis.tariffs import rating, selectors, services

router = Router(tags=["tariffs"])


def _require(request: HttpRequest, perm: str) -> None:
    if not request.user.has_perm(perm):
        raise PermissionDenied(f"missing permission {perm}")


class VersionOut(Schema):
    version: str
    active_from: date
    active_to: date | None
    components: list[dict[str, Any]]


class TariffOut(Schema):
    id: int
    code: str
    name: str
    company_id: int
    company: str
    commodity: str
    customer_types: list[str]
    current_version: str | None


class TariffDetailOut(TariffOut):
    versions: list[VersionOut]


def _tariff_out(tariff: Any, current: Any = None, **extra: Any) -> dict[str, Any]:
    return {"id": tariff.pk, "code": tariff.code, "name": tariff.name, "company_id": tariff.company_id,
            "company": tariff.company.code, "commodity": tariff.commodity,
            "customer_types": list(tariff.customer_types),
            "current_version": current.version if current is not None else None, **extra}


class DiscountIn(Schema):
    code: str
    label: str
    company: str = Field(description="company code")
    commodity: Literal["water", "gas", "electricity"]
    of: list[str] = Field(description="codes of the components the discount applies to")
    percent: Decimal = Decimal(0)
    free_volume: Decimal = Decimal(0)
    active_from: date
    active_to: date | None = None
    message: str = ""
    reason: str
    area_codes: list[str] = Field(default_factory=list, description="address area codes (any level)")
    account_numbers: list[str] = Field(default_factory=list)


class DiscountOut(Schema):
    id: int
    code: str
    label: str
    company: str
    commodity: str
    of: list[str]
    percent: Decimal
    free_volume: Decimal
    active_from: date
    active_to: date | None
    message: str
    accounts: int


@router.post("/discounts", response={201: DiscountOut, **ERRORS})
def discount_create(request: HttpRequest, payload: DiscountIn):
    """A policy discount for the accounts in the address areas and/or listed by number; every
    unknown account number is a 422 problem ``accounts[n]``."""
    _require(request, "tariffs.add_discount")
    data = payload.dict()
    areas, numbers, reason = data.pop("area_codes"), data.pop("account_numbers"), data.pop("reason")
    data["of"] = tuple(data["of"])
    discount, count = services.discount_create(actor=request.user, data=services.DiscountInput(**data),
                                               reason=reason, area_codes=areas, account_numbers=numbers)
    return Status(201, {**{k: getattr(discount, k) for k in ("id", "code", "label", "commodity", "of", "percent",
                                                      "free_volume", "active_from", "active_to", "message")},
                 "company": discount.company.code, "accounts": count})


@router.get("/discounts", response={200: list[DiscountOut], **ERRORS})
def discount_list(request: HttpRequest):
    _require(request, "tariffs.view_discount")
    return [{**{k: getattr(d, k) for k in ("id", "code", "label", "commodity", "of", "percent", "free_volume",
                                          "active_from", "active_to", "message")},
             "company": d.company.code, "accounts": d.member_count}
            for d in selectors.discount_list(actor=request.user)[:1000]]


@router.get("", response={200: list[TariffOut], **ERRORS})
def tariff_list(request: HttpRequest):
    """The tariffs the caller sees, with the version in force today."""
    _require(request, "tariffs.view_tariff")
    return [_tariff_out(row["tariff"], row["current"]) for row in selectors.tariff_rows(actor=request.user)]


class ImportIn(Schema):
    text: str = Field(description="the whole tariff file")
    format: Literal["yaml", "json"] = "yaml"
    reason: str


class ImportOut(Schema):
    tariff_id: int
    code: str
    created: bool
    versions_added: list[str]
    versions_ended: list[str]


@router.post("/import", response={200: ImportOut, **ERRORS})
def tariff_import(request: HttpRequest, payload: ImportIn):
    """Store a tariff file; every problem is a 422 item at its path in the file."""
    _require(request, "tariffs.import_tariff")
    outcome = services.tariff_import(actor=request.user, text=payload.text, fmt=payload.format,
                                     reason=payload.reason)
    return {"tariff_id": outcome.tariff.pk, "code": outcome.tariff.code, "created": outcome.created,
            "versions_added": outcome.versions_added, "versions_ended": outcome.versions_ended}


@router.get("/{tariff_id}", response={200: TariffDetailOut, **ERRORS})
def tariff_get(request: HttpRequest, tariff_id: int):
    """A tariff with every version and its components (in the tariff file's format)."""
    _require(request, "tariffs.view_tariff")
    page = selectors.tariff_page(actor=request.user, tariff_id=tariff_id)
    versions = [item["version"] for item in page["versions"]]
    today = timezone.localdate()
    current = next((v for v in versions if v.active_from <= today and (v.active_to is None or today < v.active_to)),
                   None)
    return _tariff_out(page["tariff"], current, versions=[
        {"version": v.version, "active_from": v.active_from, "active_to": v.active_to, "components": v.components}
        for v in versions])


@router.get("/{tariff_id}/export", response={200: str, **ERRORS})
def tariff_export(request: HttpRequest, tariff_id: int, fmt: Literal["yaml", "json"] = "yaml"):
    """The tariff file (YAML or JSON) that, imported, gives this tariff back."""
    _require(request, "tariffs.view_tariff")
    text = services.tariff_export(actor=request.user, tariff_id=tariff_id, fmt=fmt)
    return HttpResponse(text, content_type="application/json; charset=utf-8" if fmt == "json"
                        else "application/yaml; charset=utf-8")


class SimulateIn(Schema):
    period_from: date
    period_to: date = Field(description="exclusive")
    usage: dict[str, str] = Field(description='register → volume, e.g. {"total": "12", "peak": "5"}')
    residents: int = Field(0, ge=0)
    year_to_date: str = "0"
    meters: int = Field(1, ge=1)
    meter_size: str = ""


class LineOut(Schema):
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


class SimulateOut(Schema):
    lines: list[LineOut]
    total: Decimal


def line_out(ln: rating.Line) -> dict[str, Any]:
    params = {k: str(v) for k, v in dict(ln.params).items()}
    text = selectors.explain(ln.template, params)
    return {"code": ln.code, "label": ln.label, "quantity": ln.quantity, "price": ln.price, "amount": ln.amount,
            "receivable": ln.receivable, "version": ln.version, "block": ln.block, "explanation": text,
            "template": ln.template, "params": params}


@router.post("/{tariff_id}/simulate", response={200: SimulateOut, **ERRORS})
def tariff_simulate(request: HttpRequest, tariff_id: int, payload: SimulateIn):
    """What an account would pay under the tariff for a usage (试算), line by line with explanations."""
    _require(request, "tariffs.simulate_bill")
    lines = services.bill_simulate(actor=request.user, tariff_id=tariff_id, period_from=payload.period_from,
                                   period_to=payload.period_to, usage=payload.usage, residents=payload.residents,
                                   year_to_date=payload.year_to_date, meters=payload.meters,
                                   meter_size=payload.meter_size)
    return {"lines": [line_out(ln) for ln in lines], "total": rating.total(lines)}
