"""JSON API of the customer registry (same visibility and validation as the screens)."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

from django.http import HttpRequest
from django.utils import timezone
from ninja import Router, Schema, Status

from ucis.customers import selectors, services
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
