"""JSON API of the organisation tree and staff (one service or selector call per handler)."""

from __future__ import annotations

from datetime import datetime

from django.http import HttpRequest
from ninja import Field, Router, Schema, Status

from ucis.org import selectors, services
from ucis.platform.api import ERRORS
from ucis.platform.audit_api import HistoryOut, entries_out

router = Router(tags=["org"])


class NodeOut(Schema):
    id: int
    code: str
    name: str
    name_en: str
    kind: str
    parent_id: int | None
    company_id: int | None
    path: str
    depth: int
    commodities: list[str]
    is_active: bool


class NodeIn(Schema):
    parent_id: int
    code: str = Field(..., min_length=1, max_length=32)
    name: str = Field(..., min_length=1, max_length=100)
    kind: str
    name_en: str = ""
    commodities: list[str] = []
    address: str = ""
    phone: str = ""


class NodePatch(Schema):
    name: str | None = None
    name_en: str | None = None
    address: str | None = None
    phone: str | None = None
    is_active: bool | None = None
    commodities: list[str] | None = None


class MoveIn(Schema):
    new_parent_id: int
    reason: str = ""


class UnitIn(Schema):
    code: str
    name: str
    kind: str = "branch"
    name_en: str = ""
    children: list[UnitIn] = []


class CompanyIn(Schema):
    code: str
    name: str
    commodities: list[str]
    parent_id: int | None = None
    name_en: str = ""
    units: list[UnitIn] = []


class StaffOut(Schema):
    id: int
    username: str
    display_name: str
    employee_no: str
    node_id: int
    node_code: str = Field(..., alias="node.code")
    roles: list[str] = Field(..., alias="role_codes")
    is_active: bool
    last_login: datetime | None


class StaffIn(Schema):
    username: str
    password: str
    node_id: int | None = None
    roles: list[str] = []
    display_name: str = ""
    email: str = ""
    phone: str = ""
    employee_no: str = ""


class StaffPatch(Schema):
    node_id: int | None = None
    roles: list[str] | None = None
    display_name: str | None = None
    email: str | None = None
    phone: str | None = None
    employee_no: str | None = None
    is_active: bool | None = None


class BulkActiveIn(Schema):
    staff_ids: list[int]
    is_active: bool
    reason: str


class CountOut(Schema):
    updated: int


def _to_unit(unit: UnitIn) -> services.UnitSpec:
    return services.UnitSpec(code=unit.code, name=unit.name, kind=unit.kind, name_en=unit.name_en,
                             children=tuple(_to_unit(c) for c in unit.children))


@router.get("/nodes", response={200: list[NodeOut], **ERRORS})
def node_list(request: HttpRequest, kind: str | None = None, q: str | None = None,
              company_id: int | None = None):
    return list(selectors.org_node_list(actor=request.user, kind=kind, q=q, company_id=company_id)[:1000])


@router.post("/nodes", response={201: NodeOut, **ERRORS})
def node_create(request: HttpRequest, payload: NodeIn):
    return Status(201, services.org_node_create(actor=request.user, **payload.dict()))


@router.get("/nodes/{node_id}", response={200: NodeOut, **ERRORS})
def node_get(request: HttpRequest, node_id: int):
    return selectors.org_node_get(actor=request.user, node_id=node_id)


@router.patch("/nodes/{node_id}", response={200: NodeOut, **ERRORS})
def node_update(request: HttpRequest, node_id: int, payload: NodePatch):
    return services.org_node_update(actor=request.user, node_id=node_id, **payload.dict(exclude_unset=True))


@router.post("/nodes/{node_id}/move", response={200: NodeOut, **ERRORS})
def node_move(request: HttpRequest, node_id: int, payload: MoveIn):
    return services.org_node_move(actor=request.user, node_id=node_id, new_parent_id=payload.new_parent_id,
                                  reason=payload.reason)


@router.get("/nodes/{node_id}/history", response={200: list[HistoryOut], **ERRORS})
def node_history(request: HttpRequest, node_id: int):
    return entries_out(selectors.org_node_history(actor=request.user, node_id=node_id))


@router.post("/companies", response={201: NodeOut, **ERRORS})
def company_create(request: HttpRequest, payload: CompanyIn):
    return Status(201, services.company_create(
        actor=request.user, code=payload.code, name=payload.name, commodities=payload.commodities,
        parent_id=payload.parent_id, name_en=payload.name_en,
        units=[_to_unit(u) for u in payload.units]))


@router.get("/staff", response={200: list[StaffOut], **ERRORS})
def staff_list(request: HttpRequest, q: str | None = None, node_id: int | None = None,
               role: str | None = None, active: bool | None = None):
    return list(selectors.staff_list(actor=request.user, q=q, node_id=node_id, role=role, active=active)[:1000])


@router.post("/staff", response={201: StaffOut, **ERRORS})
def staff_create(request: HttpRequest, payload: StaffIn):
    return Status(201, services.staff_create(actor=request.user, **payload.dict()))


@router.post("/staff/active", response={200: CountOut, **ERRORS})
def staff_set_active(request: HttpRequest, payload: BulkActiveIn):
    return {"updated": services.staff_set_active_bulk(actor=request.user, **payload.dict())}


@router.get("/staff/{staff_id}", response={200: StaffOut, **ERRORS})
def staff_get(request: HttpRequest, staff_id: int):
    return selectors.staff_get(actor=request.user, staff_id=staff_id)


@router.patch("/staff/{staff_id}", response={200: StaffOut, **ERRORS})
def staff_update(request: HttpRequest, staff_id: int, payload: StaffPatch):
    return services.staff_update(actor=request.user, staff_id=staff_id, **payload.dict(exclude_unset=True))


@router.get("/staff/{staff_id}/history", response={200: list[HistoryOut], **ERRORS})
def staff_history(request: HttpRequest, staff_id: int):
    return entries_out(selectors.staff_history(actor=request.user, staff_id=staff_id))
