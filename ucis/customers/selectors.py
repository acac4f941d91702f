"""Reads of the customer registry, through the tenancy layer.

Search (CUS 5): by customer number, name prefix, pinyin initials, phone or ID number (exact, via
keyed hash — the numbers are encrypted), account number, meter serial, or address (community or
building name prefix). Staff with ``customers.lookup_company`` search their whole company (ORG-3).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping, Sequence
from typing import Any

from django.db.models import Exists, OuterRef, Q, QuerySet
from django.http import Http404

from ucis.customers import exchange, extrafields, identity
from ucis.customers.models import (
    ATTACHMENT_KINDS,
    Account,
    AddressArea,
    Customer,
    CustomerAttachment,
    CustomerCategory,
    ExtraFieldDefinition,
    Meter,
    MeterInstallation,
    Premise,
    ServiceAgreement,
    ServicePoint,
)
from ucis.kernel.errors import DomainError
from ucis.kernel.errors import gettext_noop as _
from ucis.platform import crypto
from ucis.platform.tenancy import access_by_id, is_system

SEARCH_KINDS = ("auto", "number", "name", "initials", "phone", "id_number", "account", "meter", "address")


def _company_wide(actor: Any) -> bool:
    return actor.has_perm("customers.lookup_company")


def customer_search(*, actor: Any, q: str, kind: str = "auto", limit: int = 50,
                    extra: Mapping[str, Any] | None = None) -> list[Customer]:
    """``extra`` ({code: typed value}) narrows the search to customers holding those extra values;
    given alone, it lists them."""
    q = (q or "").strip()
    wanted = extra_criteria(actor=actor, entity="customer", raw=extra) if extra else {}
    if not q and not wanted:
        return []
    if kind not in SEARCH_KINDS:
        raise DomainError("kind", "unknown search kind %(kind)s", kind=kind)
    qs = Customer.objects.visible_to(actor, company_wide=_company_wide(actor))
    if wanted:
        qs = qs.filter(extra__contains=wanted)
    if not q:
        return list(qs.order_by("customer_no")[:limit])
    if kind == "auto":
        kind = identity.search_kind(q)
    if kind == "number":
        qs = qs.filter(customer_no__startswith=q)
    elif kind == "name":
        qs = qs.filter(name__startswith=q)
    elif kind == "initials":
        qs = qs.filter(name_initials__startswith=q.upper())
    elif kind == "phone":
        qs = qs.filter(phone_hash=crypto.keyed_hash(identity.validate_phone(q, field="q"), kind="phone"))
    elif kind == "id_number":
        qs = qs.filter(id_number_hash=crypto.keyed_hash(q.upper(), kind="id_number"))
    elif kind == "account":
        qs = qs.filter(accounts__account_no__startswith=q.upper())
    elif kind == "meter":
        installed = MeterInstallation.objects.filter(meter__serial__startswith=q.upper(),
                                                     service_point__agreements__account__customer=OuterRef("pk"))
        qs = qs.filter(Exists(installed))
    elif kind == "address":
        # Driven from the matching address areas through the premises' level columns and the
        # accounts' billing premise — each step an index — with the area ids as literals, so the
        # planner walks nested loops and stops at the limit; not sorted (a common community name
        # matches thousands of households). One OR across the levels would scan every premise.
        areas = list(AddressArea.objects.filter(name__startswith=q, level__in=("building", "community", "street"))
                     .values_list("pk", "level")[:200])
        accounts = Account.objects.visible_to(actor, company_wide=_company_wide(actor))
        found: dict[int, None] = {}
        for level in ("building", "community", "street"):
            ids = [pk for pk, area_level in areas if area_level == level]
            if ids and len(found) < limit:
                found.update(dict.fromkeys(accounts.filter(**{f"billing_premise__{level}_id__in": ids})
                                           .values_list("customer_id", flat=True)[:limit * 3]))
        return list(qs.filter(pk__in=list(found)[:limit]))
    return list(qs.order_by("customer_no")[:limit])


def customer_get(*, actor: Any, customer_id: Any) -> Customer:
    return access_by_id(Customer.objects.all(), actor, customer_id, company_wide=_company_wide(actor))


def customer_accounts(*, actor: Any, customer: Customer) -> QuerySet[Account]:
    return (Account.objects.visible_to(actor, company_wide=_company_wide(actor)).filter(customer=customer)
            .select_related("company", "node", "billing_premise"))


def customer_account_list(*, actor: Any, customer_id: Any) -> QuerySet[Account]:
    return customer_accounts(actor=actor, customer=customer_get(actor=actor, customer_id=customer_id)).order_by("pk")


def customer_contact(*, actor: Any, customer: Customer) -> dict[str, str]:
    """Phone and ID number, masked unless the actor may see them in full."""
    full = actor.has_perm("customers.view_sensitive")
    phone, id_number = customer.phone or "", customer.id_number or ""
    return {
        "phone": phone if full or not phone else crypto.mask(phone, keep_start=3, keep_end=4),
        "id_number": id_number if full or not id_number else crypto.mask(id_number, keep_start=6, keep_end=4),
    }


def account_get(*, actor: Any, account_id: Any) -> Account:
    return access_by_id(Account.objects.select_related("customer", "company", "node", "billing_premise"), actor,
                        account_id, company_wide=_company_wide(actor))


def account_keys(*, actor: Any, account_id: Any) -> tuple[int, int, int]:
    """(account id, company id, node id) of an account the actor may see, else ``Http404`` — the
    tenancy of ``account_get`` without loading the account and its relations (posting payments)."""
    try:
        row = (Account.objects.visible_to(actor, company_wide=_company_wide(actor)).filter(pk=account_id)
               .values_list("pk", "company_id", "node_id").first())
    except (ValueError, TypeError):
        row = None
    if row is None:
        raise Http404("No account matches the given query.")
    return row


def premise_get(*, actor: Any, premise_id: Any) -> Premise:
    return access_by_id(Premise.objects.select_related("area", "community", "building"), actor, premise_id,
                        company_wide=_company_wide(actor))


def meter_get(*, actor: Any, meter_id: Any) -> Meter:
    return access_by_id(Meter.objects.select_related("node"), actor, meter_id, company_wide=_company_wide(actor))


def meter_replace_page(*, actor: Any, meter_id: Any) -> dict[str, Any]:
    """The meter being replaced, whose customer page to return to, and the spare meters that fit."""
    meter = access_by_id(Meter.objects.all(), actor, meter_id)
    current = (MeterInstallation.objects.filter(meter=meter, removed_date__isnull=True)
               .select_related("service_point").first())
    agreement = (ServiceAgreement.objects.filter(service_point=current.service_point).order_by("-active_from")
                 .select_related("account").first() if current else None)
    spares = (Meter.objects.visible_to(actor).filter(commodity=meter.commodity, status__in=("in_stock", "removed"))
              .exclude(pk=meter.pk).order_by("serial"))
    return {"meter": meter, "customer_id": agreement.account.customer_id if agreement else None,
            "spares": list(spares[:500])}


def customer_overview(*, actor: Any, customer_id: Any) -> dict[str, Any]:
    """Everything the detail page shows: accounts with their service points, premises, meters."""
    customer = customer_get(actor=actor, customer_id=customer_id)
    accounts = list(customer_accounts(actor=actor, customer=customer))
    agreements = list(ServiceAgreement.objects.filter(account__in=accounts)
                      .select_related("service_point__premise", "account").order_by("account_id"))
    installs = list(MeterInstallation.objects.filter(service_point__in=[a.service_point for a in agreements])
                    .select_related("meter", "service_point").order_by("-installed_date"))
    return {"customer": customer, "contact": customer_contact(actor=actor, customer=customer),
            "accounts": accounts, "agreements": agreements, "installations": installs,
            "categories": list(CustomerCategory.objects.filter(customer=customer).order_by("-active_from")),
            **customer_documents_overview(actor=actor, customer=customer, agreements=agreements)}


def account_units(*, actor: Any) -> list[Any]:
    """The units where the actor may open accounts: company units in their subtree."""
    from ucis.org import selectors as org_selectors

    return [n for n in org_selectors.org_node_list(actor=actor) if n.company_id and n.kind != "company"]


def registry_export_rows(*, actor: Any, chunk: int = 2000) -> Iterator[list[Any]]:
    """The actor's registry in the import shape (``exchange.COLUMNS``): one row per open service
    agreement with its current meter, two queries per ``chunk`` rows. Keys are the legacy keys
    where the record was imported, else the ucis numbers, so the file imports back unchanged.
    Phone and ID numbers are masked for staff without ``customers.view_sensitive``."""
    full = actor.has_perm("customers.view_sensitive")
    agreements = (ServiceAgreement.objects.visible_to(actor).filter(active_to__isnull=True).order_by("id")
                  .values("id", "service_point_id", "service_point__commodity", "account__legacy_ref",
                          "account__account_no", "account__node__code", "account__payment_method",
                          "account__bill_delivery", "account__opened_date", "account__customer__legacy_ref",
                          "account__customer__customer_no", "account__customer__name",
                          "account__customer__customer_type", "account__customer__id_type",
                          "account__customer__id_number", "account__customer__phone", "account__customer__email",
                          "account__customer__grade", "service_point__premise__legacy_ref",
                          "service_point__premise__premise_no", "service_point__premise__area__code",
                          "service_point__premise__room", "service_point__premise__floor_area",
                          "service_point__premise__residents"))
    last = 0
    while True:
        page = list(agreements.filter(id__gt=last)[:chunk])
        if not page:
            return
        last = page[-1]["id"]
        meters = {m["service_point_id"]: m for m in MeterInstallation.objects.filter(
            service_point_id__in=[a["service_point_id"] for a in page], removed_date__isnull=True).values(
            "service_point_id", "installed_date", "install_reading", "meter__serial", "meter__meter_type",
            "meter__dial_digits", "meter__multiplier", "meter__manufacturer", "meter__model", "meter__ic_card_no")}
        for a in page:
            m = meters.get(a["service_point_id"], {})
            phone, id_number = a["account__customer__phone"] or "", a["account__customer__id_number"] or ""
            if not full:
                phone = crypto.mask(phone, keep_start=3, keep_end=4) if phone else ""
                id_number = crypto.mask(id_number, keep_start=6, keep_end=4) if id_number else ""
            yield exchange.export_cells({
                "customer_key": a["account__customer__legacy_ref"] or a["account__customer__customer_no"],
                "name": a["account__customer__name"], "customer_type": a["account__customer__customer_type"],
                "id_type": a["account__customer__id_type"], "id_number": id_number, "phone": phone,
                "email": a["account__customer__email"], "grade": a["account__customer__grade"],
                "account_key": a["account__legacy_ref"] or a["account__account_no"],
                "unit": a["account__node__code"], "payment_method": a["account__payment_method"],
                "bill_delivery": a["account__bill_delivery"], "opened_date": a["account__opened_date"],
                "premise_key": a["service_point__premise__legacy_ref"] or a["service_point__premise__premise_no"],
                "address_code": a["service_point__premise__area__code"], "room": a["service_point__premise__room"],
                "floor_area": a["service_point__premise__floor_area"],
                "residents": a["service_point__premise__residents"], "commodity": a["service_point__commodity"],
                "meter_serial": m.get("meter__serial"), "meter_type": m.get("meter__meter_type"),
                "dial_digits": m.get("meter__dial_digits"), "multiplier": m.get("meter__multiplier"),
                "manufacturer": m.get("meter__manufacturer"), "model": m.get("meter__model"),
                "installed_date": m.get("installed_date"), "install_reading": m.get("install_reading"),
                "ic_card_no": m.get("meter__ic_card_no"),
            })

# --- extra fields and attachments (CUS-4) --------------------------------------------------------


def _actor_company_ids(actor: Any, company_ids: Iterable[Any]) -> list[Any]:
    """Of ``company_ids``, those whose extra fields the actor works with: staff of a company work
    with its fields (and the group's); staff above the companies with every company's."""
    ids = [c for c in company_ids if c is not None]
    if is_system(actor) or getattr(actor.node, "company_id", None) is None:
        return ids
    return [c for c in ids if c == actor.node.company_id]


def extra_field_definitions(*, actor: Any, entity: str, company_ids: Iterable[Any]) -> list[ExtraFieldDefinition]:
    """The active definitions that apply to a row of ``entity`` used by ``company_ids``, as far as
    the actor works with them, in display order."""
    return list(ExtraFieldDefinition.objects.applicable(entity, _actor_company_ids(actor, company_ids)))


def extra_field_definitions_for_actor(*, actor: Any, entity: str) -> list[ExtraFieldDefinition]:
    """Active definitions of every company the actor works with (search filters, exports)."""
    if is_system(actor) or getattr(actor.node, "company_id", None) is None:
        companies = ExtraFieldDefinition.objects.filter(company__isnull=False).values_list("company_id", flat=True)
        return extra_field_definitions(actor=actor, entity=entity, company_ids=set(companies))
    return extra_field_definitions(actor=actor, entity=entity, company_ids=[actor.node.company_id])


def customer_companies(*, customer: Customer) -> list[Any]:
    return list(Account.objects.filter(customer=customer).values_list("company_id", flat=True).distinct())


def premise_companies(*, premise: Premise) -> list[Any]:
    return list(ServicePoint.objects.filter(premise=premise).values_list("company_id", flat=True).distinct())


def extra_field_list(*, actor: Any, entity: str | None = None) -> QuerySet[ExtraFieldDefinition]:
    """Definitions the actor administers, retired ones included."""
    qs = ExtraFieldDefinition.objects.visible_to(actor).select_related("company")
    if entity:
        qs = qs.filter(entity=entity)
    return qs.order_by("entity", "display_order", "code")


def extra_field_get(*, actor: Any, extra_field_id: Any) -> ExtraFieldDefinition:
    return access_by_id(ExtraFieldDefinition.objects.select_related("company"), actor, extra_field_id)


def extra_criteria(*, actor: Any, entity: str, raw: Mapping[str, Any]) -> dict[str, Any]:
    """Typed search criteria ``{code: text}`` → the stored values to look for (``DomainError``
    naming ``extra.<code>`` for an unknown field or a value that cannot be one)."""
    definitions = extra_field_definitions_for_actor(actor=actor, entity=entity)
    return extrafields.query_values([d.as_rule() for d in definitions], raw)


def customer_list(*, actor: Any, extra: Mapping[str, Any] | None = None) -> QuerySet[Customer]:
    """Customers the actor sees, narrowed by extra values (``extra @> {...}``, GIN-indexed)."""
    qs = Customer.objects.visible_to(actor, company_wide=_company_wide(actor))
    wanted = extra_criteria(actor=actor, entity="customer", raw=extra) if extra else {}
    if wanted:
        qs = qs.filter(extra__contains=wanted)
    return qs.order_by("customer_no")


def premise_list(*, actor: Any, extra: Mapping[str, Any] | None = None) -> QuerySet[Premise]:
    qs = Premise.objects.visible_to(actor, company_wide=_company_wide(actor))
    wanted = extra_criteria(actor=actor, entity="premise", raw=extra) if extra else {}
    if wanted:
        qs = qs.filter(extra__contains=wanted)
    return qs.order_by("premise_no")


def extra_display(definitions: Iterable[ExtraFieldDefinition], values: Mapping[str, Any]) -> list[dict[str, Any]]:
    """``[{definition, value}]`` of a row's extra values in display order, for pages."""
    return [{"definition": d, "value": extrafields.display_value(d.as_rule(), values.get(d.code))}
            for d in definitions]


def customer_attachments(*, actor: Any, customer: Customer) -> QuerySet[CustomerAttachment]:
    return (CustomerAttachment.objects.visible_to(actor, company_wide=_company_wide(actor))
            .filter(customer=customer, deleted_at__isnull=True).select_related("uploaded_by")
            .order_by("-uploaded_at", "-pk"))


def attachment_get(*, actor: Any, attachment_id: Any) -> CustomerAttachment:
    return access_by_id(CustomerAttachment.objects.filter(deleted_at__isnull=True), actor, attachment_id,
                        company_wide=_company_wide(actor))


def customer_documents_overview(*, actor: Any, customer: Customer, agreements: list[ServiceAgreement]) -> dict[str, Any]:
    """The CUS-4 part of the customer page: extra values (the customer's and each premise's) and
    the attachments."""
    companies = customer_companies(customer=customer)
    premises = {g.service_point.premise_id: g.service_point.premise for g in agreements}
    premise_definitions = extra_field_definitions(
        actor=actor, entity="premise",
        company_ids={g.service_point.company_id for g in agreements})
    return {
        "extra_fields": extra_display(extra_field_definitions(actor=actor, entity="customer", company_ids=companies),
                                      customer.extra),
        "premise_extras": [{"premise": p, "fields": extra_display(premise_definitions, p.extra)}
                           for p in premises.values()] if premise_definitions else [],
        "attachments": list(customer_attachments(actor=actor, customer=customer)),
        "attachment_kinds": ATTACHMENT_KINDS,
    }


def customer_extra_page(*, actor: Any, customer_id: Any) -> dict[str, Any]:
    customer = customer_get(actor=actor, customer_id=customer_id)
    return {"customer": customer, "definitions": extra_field_definitions(
        actor=actor, entity="customer", company_ids=customer_companies(customer=customer))}


def premise_extra_page(*, actor: Any, premise_id: Any) -> dict[str, Any]:
    premise = premise_get(actor=actor, premise_id=premise_id)
    return {"premise": premise, "definitions": extra_field_definitions(
        actor=actor, entity="premise", company_ids=premise_companies(premise=premise))}


def extra_field_admin_page(*, actor: Any) -> dict[str, Any]:
    """The definitions the actor administers and the scopes they may define new ones in."""
    from ucis.org import selectors as org_selectors

    companies = [n for n in org_selectors.org_node_list(actor=actor, kind="company")]
    group_scope = is_system(actor) or actor.node.parent_id is None
    return {"definitions": list(extra_field_list(actor=actor)), "companies": companies, "group_scope": group_scope}


def customer_export(*, actor: Any, extra: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """Header and rows of the customer export: the registry columns, then one column per active
    extra field the actor works with (``extra.<code>``, so the file can be read back in)."""
    definitions = extra_field_definitions_for_actor(actor=actor, entity="customer")
    rules = [d.as_rule() for d in definitions]
    customers = customer_list(actor=actor, extra=extra)
    header = ["customer_no", "name", "customer_type", "grade", "status", "phone", "id_type", "id_number", "email",
              *[f"extra.{r.code}" for r in rules]]

    def rows() -> Iterable[list[Any]]:
        for c in customers.iterator(chunk_size=2000):
            contact = customer_contact(actor=actor, customer=c)
            yield [c.customer_no, c.name, c.customer_type, c.grade, c.status, contact["phone"], c.id_type,
                   contact["id_number"], c.email, *[extrafields.display_value(r, c.extra.get(r.code)) for r in rules]]

    return {"header": header, "rows": rows()}


# --- for metering: meters, installations and service points in bulk --------------------------------


def meter_reading_rows(*, actor: Any, serials: Iterable[str] = (), meter_ids: Iterable[Any] = ()) -> list[dict[str, Any]]:
    """The meters (by serial or id) the actor may read, each with its installations, oldest first:
    what read validation needs to know about a meter. Unknown or invisible meters are left out."""
    qs = Meter.objects.visible_to(actor)
    serials, meter_ids = list(serials), list(meter_ids)
    # ``__any``: one array parameter for the thousands of keys of a remote-read batch.
    if serials and meter_ids:
        qs = qs.filter(Q(serial__any=serials) | Q(pk__any=meter_ids))
    elif serials:
        qs = qs.filter(serial__any=serials)
    else:
        qs = qs.filter(pk__any=meter_ids)
    meters = {m["id"]: {**m, "installations": []} for m in qs.values(
        "id", "serial", "dial_digits", "multiplier", "status", "company_id", "node_id", "commodity", "meter_type")}
    for inst in (MeterInstallation.objects.filter(meter_id__any=list(meters))
                 .order_by("meter_id", "installed_date", "id")
                 .values("meter_id", "service_point_id", "service_point__node_id", "installed_date", "install_reading",
                         "removed_date", "removal_reading")):
        meters[inst["meter_id"]]["installations"].append(inst)
    return list(meters.values())


def service_point_installations(*, service_point_ids: Iterable[Any]) -> list[dict[str, Any]]:
    """Every installation on the given service points, oldest first, with the meter's dial."""
    return list(MeterInstallation.objects.filter(service_point_id__any=list(service_point_ids))
                .order_by("service_point_id", "installed_date", "id")
                .values("id", "meter_id", "meter__serial", "meter__dial_digits", "service_point_id",
                        "installed_date", "install_reading", "removed_date", "removal_reading"))


def service_point_rows(*, actor: Any, service_point_ids: Iterable[Any] = (), node_path: str | None = None,
                       commodity: str | None = None, area_code: str | None = None) -> list[dict[str, Any]]:
    """Service points the actor may see, with address and the current payer (for route sheets);
    ``area_code`` narrows to an address area and everything below it (a community, a building)."""
    qs = ServicePoint.objects.visible_to(actor)
    if area_code:
        area = AddressArea.objects.filter(code=area_code.strip()).values_list("path", flat=True).first()
        qs = qs.filter(premise__area__path__startswith=area) if area else qs.none()
    ids = list(service_point_ids)
    if ids:
        qs = qs.filter(pk__in=ids)
    if node_path is not None:
        qs = qs.filter(node__path__startswith=node_path)
    if commodity:
        qs = qs.filter(commodity=commodity)
    return list(qs.order_by("premise__area__code", "premise__room", "id").values(
        "id", "commodity", "company_id", "node_id", "premise_id", "premise__address", "premise__floor_area"))


def service_point_payers(*, service_point_ids: Iterable[Any], on: Any) -> dict[Any, dict[str, Any]]:
    """The account paying for each service point on ``on`` (number and customer name)."""
    rows = (ServiceAgreement.objects.filter(service_point_id__in=list(service_point_ids), active_from__lte=on)
            .filter(Q(active_to__isnull=True) | Q(active_to__gt=on))
            .values("service_point_id", "account_id", "account__account_no", "account__customer__name",
                    "account__customer__customer_no"))
    return {r["service_point_id"]: r for r in rows}


def service_point_change_dates(*, service_point_ids: Iterable[Any], since: Any, until: Any) -> dict[Any, list[Any]]:
    """The dates in ``[since, until)`` on which each service point's business changed: an agreement
    began or ended, a meter was installed or removed (新装/过户/换表) — the forced review looks at these."""
    ids = list(service_point_ids)
    changes: dict[Any, list[Any]] = {}
    for sp, start, end in ServiceAgreement.objects.filter(service_point_id__in=ids).filter(
            Q(active_from__gte=since, active_from__lt=until) | Q(active_to__gte=since, active_to__lt=until)
    ).values_list("service_point_id", "active_from", "active_to"):
        changes.setdefault(sp, []).extend(d for d in (start, end) if d is not None and since <= d < until)
    for sp, start, end in MeterInstallation.objects.filter(service_point_id__in=ids).filter(
            Q(installed_date__gte=since, installed_date__lt=until) | Q(removed_date__gte=since, removed_date__lt=until)
    ).values_list("service_point_id", "installed_date", "removed_date"):
        changes.setdefault(sp, []).extend(d for d in (start, end) if d is not None and since <= d < until)
    return changes


def account_ids_for(*, actor: Any, company_id: Any, area_codes: Iterable[str] = (),
                    account_numbers: Iterable[str] = ()) -> tuple[list[int], list[tuple[int, str]]]:
    """Accounts of a company the actor may see: those served at premises inside any of the address
    areas (any level, by code) and those listed by number. Returns the ids and the listed numbers
    (with their position) that match no visible account; unknown area codes raise."""
    codes = [c.strip() for c in area_codes if c and c.strip()]
    numbers = [n.strip().upper() for n in account_numbers]
    base = Account.objects.visible_to(actor).filter(company_id=company_id)
    ids: set[int] = set()
    if codes:
        paths = dict(AddressArea.objects.filter(code__in=codes).values_list("code", "path"))
        missing = [c for c in codes if c not in paths]
        if missing:
            raise DomainError("area_codes", _("unknown address code %(codes)s"), codes=", ".join(missing))
        within = Q()
        for path in paths.values():
            within |= Q(agreements__service_point__premise__area__path__startswith=path)
        ids.update(base.filter(within).values_list("id", flat=True).distinct())
    unknown: list[tuple[int, str]] = []
    if numbers:
        found = dict(base.filter(account_no__in=numbers).values_list("account_no", "id"))
        ids.update(found.values())
        unknown = [(n, number) for n, number in enumerate(numbers) if number not in found]
    return sorted(ids), unknown


def billing_accounts(*, service_point_ids: Iterable[int], on: Any) -> dict[int, dict[str, Any]]:
    """For rating, per service point: the account paying on ``on`` with its company, node and
    customer type, the premise's residents, the meter's size, and the special categories held that day."""
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute(
            """SELECT g.service_point_id, a.id, a.company_id, a.node_id, c.customer_type, p.residents,
                      (SELECT m.size FROM customers_meterinstallation i JOIN customers_meter m ON m.id = i.meter_id
                        WHERE i.service_point_id = g.service_point_id AND i.installed_date <= %s
                          AND (i.removed_date IS NULL OR i.removed_date >= %s)
                        ORDER BY i.installed_date DESC LIMIT 1),
                      ARRAY(SELECT k.category FROM customers_customercategory k
                             WHERE k.customer_id = c.id AND k.active_from <= %s
                               AND (k.active_to IS NULL OR k.active_to > %s))
                 FROM customers_serviceagreement g
                 JOIN customers_account a ON a.id = g.account_id
                 JOIN customers_customer c ON c.id = a.customer_id
                 JOIN customers_servicepoint s ON s.id = g.service_point_id
                 JOIN customers_premise p ON p.id = s.premise_id
                WHERE g.service_point_id = ANY(%s) AND g.active_from <= %s
                  AND (g.active_to IS NULL OR g.active_to > %s)""",
            [on, on, on, on, list(service_point_ids), on, on])
        return {row[0]: {"account_id": row[1], "company_id": row[2], "node_id": row[3], "customer_type": row[4],
                         "residents": row[5] or 0, "meter_size": row[6] or "", "categories": list(row[7])}
                for row in cursor.fetchall()}


def billing_payer_columns(*, service_point_ids: str, on: Any, customer_types: Sequence[str] = (),
                          sizes: Sequence[str] = (), details: bool = True) -> dict[str, Any]:
    """``billing_accounts`` as numpy columns sorted by account then service point (the bill run's
    shape): ``sp``, ``account``, ``node``, ``residents``, ``customer_type`` (index into
    ``customer_types``, −1 for another) and ``size`` (the meter's size as an index into ``sizes``,
    −1 for none or another). ``service_point_ids`` is a bigint[] literal. Without ``details`` only
    ``sp`` and ``account`` (who pays: what a run's start needs)."""
    from ucis.platform.bulk import fetch_columns

    if not details:
        return fetch_columns(
            """FROM (SELECT g.service_point_id AS sp, g.account_id AS account FROM customers_serviceagreement g
                      WHERE g.service_point_id = ANY(%s::bigint[]) AND g.active_from <= %s
                        AND (g.active_to IS NULL OR g.active_to > %s)
                      ORDER BY g.account_id, g.service_point_id) t""",
            [service_point_ids, on, on], [("sp", "sp", "int8"), ("account", "account", "int8")])

    # The meter's size only when some price depends on it (a subquery per service point).
    size = "-1::int8"
    size_params: list[Any] = []
    if sizes:
        size = """coalesce(array_position(%s::text[],
                      (SELECT m.size::text FROM customers_meterinstallation i
                         JOIN customers_meter m ON m.id = i.meter_id
                        WHERE i.service_point_id = g.service_point_id AND i.installed_date <= %s
                          AND (i.removed_date IS NULL OR i.removed_date >= %s)
                        ORDER BY i.installed_date DESC LIMIT 1)), 0)::int8 - 1"""
        size_params = ["{" + ",".join(f'"{s}"' for s in sizes) + "}", on, on]
    return fetch_columns(
        """FROM (SELECT g.service_point_id AS sp, a.id AS account, a.node_id AS node,
                        coalesce(p.residents, 0)::int8 AS residents,
                        coalesce(array_position(%s::text[], c.customer_type::text), 0)::int8 - 1 AS ctype,
                        {size} AS size
                   FROM customers_serviceagreement g
                   JOIN customers_account a ON a.id = g.account_id
                   JOIN customers_customer c ON c.id = a.customer_id
                   JOIN customers_servicepoint s ON s.id = g.service_point_id
                   JOIN customers_premise p ON p.id = s.premise_id
                  WHERE g.service_point_id = ANY(%s::bigint[]) AND g.active_from <= %s
                    AND (g.active_to IS NULL OR g.active_to > %s)
                  ORDER BY a.id, g.service_point_id) t""".replace("{size}", size),
        ["{" + ",".join(f'"{t}"' for t in customer_types) + "}"] + size_params + [service_point_ids, on, on],
        [("sp", "sp", "int8"), ("account", "account", "int8"), ("node", "node", "int8"),
         ("residents", "residents", "int8"), ("customer_type", "ctype", "int8"), ("size", "size", "int8")])


def account_categories(*, account_ids: str, on: Any) -> dict[int, list[str]]:
    """Account → the special categories its customer holds on ``on`` (only accounts holding
    any); ``account_ids`` is a bigint[] literal."""
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute(
            """SELECT a.id, array_agg(k.category ORDER BY k.category) FROM customers_account a
                 JOIN customers_customercategory k ON k.customer_id = a.customer_id
                WHERE a.id = ANY(%s::bigint[]) AND k.active_from <= %s AND (k.active_to IS NULL OR k.active_to > %s)
                GROUP BY a.id""", [account_ids, on, on])
        return {a: list(c) for a, c in cursor.fetchall()}


def account_numbers(*, account_ids: Iterable[int]) -> dict[int, str]:
    """Account id → account number (for lists of another app that already checked visibility)."""
    ids = list(set(account_ids))
    if not ids:
        return {}
    return dict(Account.objects.filter(pk__in=ids).values_list("id", "account_no"))


def customer_type_codes() -> list[str]:
    """Every customer type's code (the bill run maps customers to tariffs by it)."""
    from ucis.customers.models import CUSTOMER_TYPES

    return [code for code, _label in CUSTOMER_TYPES]


def account_customer_types(*, account_ids: Iterable[int]) -> dict[int, str]:
    """Account → its customer's type (the class late-fee rates and prices are set by)."""
    return dict(Account.objects.filter(pk__in=list(account_ids)).values_list("pk", "customer__customer_type"))


def account_service_points(*, account_id: int, on: Any) -> list[tuple[int, int]]:
    """(service point, its node) the account pays for on ``on`` — e.g. to queue them for review."""
    return list(ServiceAgreement.objects.filter(account_id=account_id, active_from__lte=on)
                .filter(Q(active_to__isnull=True) | Q(active_to__gt=on))
                .values_list("service_point_id", "service_point__node_id"))


def accounts_lock(*, account_ids: Iterable[int]) -> None:
    """Lock the accounts' rows until the transaction ends (in id order, so two lockers never
    deadlock): money is allocated to an account's bills by one transaction at a time. Row locks
    cost no shared lock-table slots, so a bank file can lock 100,000 accounts at once."""
    from django.db import connection

    ids = sorted({int(a) for a in account_ids})
    if ids:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1 FROM customers_account WHERE id = ANY(%s) ORDER BY id FOR NO KEY UPDATE", [ids])


def account_ids_by_number(*, account_numbers: Iterable[str]) -> dict[str, tuple[int, int, int]]:
    """Account number → (account id, company id, node id) for the numbers that exist."""
    from django.db import connection

    # One array parameter: an IN list of 20,000 placeholders costs a second to build and parse.
    with connection.cursor() as cursor:
        cursor.execute("SELECT account_no, id, company_id, node_id FROM customers_account WHERE account_no = ANY(%s)",
                       [list(set(account_numbers))])
        return {no: (pk, company, node) for no, pk, company, node in cursor.fetchall()}


def meter_by_serial(*, actor: Any, serial: str) -> Meter:
    """A meter by serial the actor may see (company-wide for counter staff), else 404."""
    found = Meter.objects.filter(serial=serial.strip().upper()).values_list("pk", flat=True).first()
    return meter_get(actor=actor, meter_id=found if found is not None else 0)


def account_labels(*, account_ids: Iterable[int]) -> dict[int, tuple[str, str]]:
    """Account id → (account number, customer name)."""
    return {pk: (no, name) for pk, no, name in
            Account.objects.filter(pk__in=list(account_ids)).values_list("pk", "account_no", "customer__name")}


def notice_addressees(*, actor: Any, account_ids: Iterable[int], commodity: str, on: Any) -> dict[int, dict[str, Any]]:
    """For printed notices, per account the actor may see: account and customer numbers, the
    customer's name, the address to print (the account's billing address, else its billing
    premise, else the premise of its latest agreement for the commodity), the special categories
    held on ``on`` and the commodity's service points served on ``on`` (for the walking order)."""
    from django.db import connection

    ids = list(Account.objects.visible_to(actor).filter(pk__in=list(set(account_ids))).values_list("pk", flat=True))
    if not ids:
        return {}
    with connection.cursor() as cursor:
        cursor.execute(
            """SELECT a.id, a.account_no, c.customer_no, c.name, a.billing_address, bp.address,
                      (SELECT p.address FROM customers_serviceagreement g
                         JOIN customers_servicepoint s ON s.id = g.service_point_id
                         JOIN customers_premise p ON p.id = s.premise_id
                        WHERE g.account_id = a.id AND s.commodity = %s
                        ORDER BY g.active_from DESC, g.id DESC LIMIT 1),
                      ARRAY(SELECT k.category FROM customers_customercategory k
                             WHERE k.customer_id = c.id AND k.active_from <= %s
                               AND (k.active_to IS NULL OR k.active_to > %s) ORDER BY k.category),
                      ARRAY(SELECT g.service_point_id FROM customers_serviceagreement g
                              JOIN customers_servicepoint s ON s.id = g.service_point_id
                             WHERE g.account_id = a.id AND s.commodity = %s AND g.active_from <= %s
                               AND (g.active_to IS NULL OR g.active_to > %s) ORDER BY g.service_point_id)
                 FROM customers_account a JOIN customers_customer c ON c.id = a.customer_id
                 LEFT JOIN customers_premise bp ON bp.id = a.billing_premise_id
                WHERE a.id = ANY(%s)""", [commodity, on, on, commodity, on, on, ids])
        return {row[0]: {"account_no": row[1], "customer_no": row[2], "name": row[3],
                         "address": row[4] or row[5] or row[6] or "", "categories": list(row[7]),
                         "service_point_ids": list(row[8])} for row in cursor.fetchall()}


def debit_accounts(*, company_id: int) -> list[tuple[int, str, str, str]]:
    """(account id, account number, customer name, bank account) of the company's open accounts that
    pay by direct debit and have a bank account on file."""
    rows = (Account.objects.filter(company_id=company_id, payment_method="bank_debit", status="active")
            .values_list("pk", "account_no", "customer__name", "debit_bank_account"))
    return [row for row in rows if row[3]]  # encrypted: compared after decryption


def address_area_by_code(*, code: str) -> AddressArea | None:
    return AddressArea.objects.filter(code=code.strip()).first()


def address_areas_by_code(*, codes: Iterable[str]) -> list[AddressArea]:
    return list(AddressArea.objects.filter(code__in=[c.strip() for c in codes]))


def account_commodity(*, account_id: int) -> str:
    """The commodity of the account's current (or last) service agreement, "" when it has none."""
    return (ServiceAgreement.objects.filter(account_id=account_id).order_by("-active_from")
            .values_list("service_point__commodity", flat=True).first() or "")


def account_meters(*, account_ids: list[int]) -> list[dict[str, Any]]:
    """The current service points of accounts with their address and installed meter (if any),
    for screens that show many accounts at once (the agent screen): one query."""
    if not account_ids:
        return []
    from django.db import connection
    with connection.cursor() as cur:
        cur.execute(
            "SELECT ag.account_id, sp.id, sp.commodity, p.id, p.address, a.path, m.id, m.serial, m.meter_type,"
            " m.status"
            " FROM customers_serviceagreement ag"
            " JOIN customers_servicepoint sp ON sp.id = ag.service_point_id"
            " JOIN customers_premise p ON p.id = sp.premise_id"
            " JOIN customers_addressarea a ON a.id = p.area_id"
            " LEFT JOIN customers_meterinstallation mi ON mi.service_point_id = sp.id AND mi.removed_date IS NULL"
            " LEFT JOIN customers_meter m ON m.id = mi.meter_id"
            " WHERE ag.account_id = ANY(%s) AND ag.active_to IS NULL ORDER BY ag.account_id, sp.id",
            [list(account_ids)])
        keys = ("account_id", "service_point_id", "commodity", "premise_id", "address", "area_path", "meter_id",
                "serial", "meter_type", "meter_status")
        return [dict(zip(keys, row, strict=True)) for row in cur.fetchall()]


def customers_by_phone(*, actor: Any, phone: str, limit: int = 20) -> list[Customer]:
    """Customers of the actor's reach registered with this phone number (several may share one)."""
    canonical = identity.validate_phone(phone, field="phone")
    return list(Customer.objects.visible_to(actor, company_wide=_company_wide(actor))
                .filter(phone_hash=crypto.keyed_hash(canonical, kind="phone")).order_by("customer_no")[:limit])


def sample_callers(*, company_id: int, limit: int, seed: int = 0) -> list[dict[str, Any]]:
    """A repeatable sample of a company's active accounts with their customer's name and phone —
    the people who call the hotline in the demo city. Spread over the whole id range, one query."""
    from django.db import connection
    with connection.cursor() as cur:
        cur.execute("SELECT count(*) FROM customers_account WHERE company_id = %s AND status = 'active'", [company_id])
        total = cur.fetchone()[0]
        step = max(1, total // max(1, limit * 2))
        cur.execute("SELECT id FROM customers_account WHERE company_id = %s AND status = 'active'"
                    " AND id %% %s = %s ORDER BY id LIMIT %s", [company_id, step, seed % step, limit * 2])
        ids = [r[0] for r in cur.fetchall()]
    accounts = Account.objects.filter(pk__in=ids).exclude(customer__phone_hash="").select_related("customer").order_by("pk")
    return [{"account_id": a.pk, "customer_id": a.customer_id, "name": a.customer.name, "phone": a.customer.phone}
            for a in accounts[:limit]]
