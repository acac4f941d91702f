"""Use cases of the customer registry: open an account for a new or existing customer, add
premises, register and install meters. Keyword-only, transactional, audited."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from contextlib import nullcontext
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal
from typing import Any

import pgtrigger
from django.conf import settings
from django.db import IntegrityError, connection, transaction
from django.db.models import Q

from ucis.customers import extrafields, extras, identity, selectors
from ucis.customers.models import (
    Account,
    AddressArea,
    Customer,
    CustomerCategory,
    Meter,
    MeterInstallation,
    Premise,
    ServiceAgreement,
    ServicePoint,
)
from ucis.kernel.errors import DomainError, FieldProblem
from ucis.kernel.errors import gettext_noop as _
from ucis.org import selectors as org_selectors
from ucis.platform import bulk, crypto
from ucis.platform.audit import audit_context
from ucis.platform.permissions import require
from ucis.platform.tenancy import access_by_id


def customer_number_rule() -> identity.NumberingRule:
    conf = getattr(settings, "UCIS_CUSTOMER_NUMBERING", {"prefix": "1", "width": 10, "check_digit": True})
    return identity.NumberingRule(**conf)


def _next_value(sequence: str) -> int:
    with connection.cursor() as cursor:
        cursor.execute("SELECT nextval(%s)", [sequence])
        return cursor.fetchone()[0]


@dataclass(frozen=True)
class CustomerInput:
    name: str
    customer_type: str
    phone: str = ""
    id_type: str = ""
    id_number: str = ""
    email: str = ""
    grade: str = "C"
    legacy_ref: str | None = None
    extra: Mapping[str, Any] = field(default_factory=dict)


def _actor_company_id(actor: Any) -> Any:
    return getattr(getattr(actor, "node", None), "company_id", None)


def _clean_customer(data: CustomerInput, *, today: date,
                    extra_rules: Sequence[extrafields.FieldDefinition] = ()) -> dict[str, Any]:
    problems: list[FieldProblem] = []
    values: dict[str, Any] = {"customer_type": data.customer_type, "grade": data.grade, "email": data.email,
                              "legacy_ref": data.legacy_ref or None, "id_type": data.id_type}
    for field_name, check in (
        ("name", lambda: identity.normalise_name(data.name)),
        ("phone", lambda: identity.validate_phone(data.phone) if data.phone else ""),
        ("id_number", lambda: identity.validate_resident_id(data.id_number, on_date=today)
         if data.id_type == "resident_id" and data.id_number else data.id_number.strip()),
        ("extra", lambda: extrafields.clean_values(extra_rules, data.extra)),
    ):
        try:
            values[field_name] = check()
        except DomainError as exc:
            problems.extend(exc.problems)
    if data.id_number and not data.id_type:
        problems.append(FieldProblem("id_type", _("say which kind of ID document the number is")))
    if problems:
        raise DomainError(problems=problems)
    values["name_initials"] = identity.pinyin_initials(values["name"])
    phone, id_number = values.pop("phone"), values.pop("id_number")
    values["phone"] = phone
    values["phone_hash"] = crypto.keyed_hash(phone, kind="phone") if phone else ""
    values["id_number"] = id_number
    values["id_number_hash"] = crypto.keyed_hash(id_number, kind="id_number") if id_number else ""
    return values


def customer_create(*, actor: Any, data: CustomerInput, today: date, company_id: Any = None) -> Customer:
    """Register a customer (group-wide). Visible to staff once an account of theirs is opened.
    Extra fields: the group's and those of ``company_id`` (default: the actor's company)."""
    definitions = selectors.extra_field_definitions(actor=actor, entity="customer",
                                                    company_ids=[company_id or _actor_company_id(actor)])
    values = _clean_customer(data, today=today, extra_rules=[d.as_rule() for d in definitions])
    with transaction.atomic(), audit_context(actor=actor, reason="register customer", source="service"):
        if values["id_number_hash"] and Customer.objects.filter(id_number_hash=values["id_number_hash"]).exists():
            raise DomainError("id_number", _("a customer with this ID number is already registered; "
                                             "open the account for that customer"))
        seq = _next_value("customers_customer_no_seq")
        customer = Customer(customer_no=customer_number_rule().format(seq), **values)
        try:
            with transaction.atomic():
                customer.save()
        except IntegrityError as exc:
            raise DomainError("legacy_ref", _("this legacy key is already imported")) from exc
    return customer


@dataclass(frozen=True)
class PremiseInput:
    area_code: str
    room: str = ""
    floor_area: Decimal | None = None
    residents: int | None = None
    extra: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class AccountInput:
    node_id: int
    premise_id: int | None = None
    new_premise: PremiseInput | None = None
    payment_method: str = "counter"
    bill_delivery: str = "sms"
    deposit: Decimal = Decimal("0")
    opened_date: date | None = None
    commodities: tuple[str, ...] = ()
    legacy_ref: str | None = None


def account_open(*, actor: Any, customer_id: int | None, new_customer: CustomerInput | None,
                 data: AccountInput, today: date) -> Account:
    """Open an account (开户) with a company node for an existing or a new customer; the premise's
    service points for the chosen commodities are created and put under the account."""
    with transaction.atomic(), audit_context(actor=actor, reason="open account", source="service"):
        node = org_selectors.org_node_get(actor=actor, node_id=data.node_id)
        require(actor, "customers.add_account")
        if node.company_id is None:
            raise DomainError("node_id", _("accounts are opened at a unit of a company"))
        if (customer_id is None) == (new_customer is None):
            raise DomainError("customer_id", _("give either an existing customer or a new one"))
        if customer_id is not None:
            customer = access_by_id(Customer.objects.all(), actor, customer_id, company_wide=True)
        else:
            assert new_customer is not None
            customer = customer_create(actor=actor, data=new_customer, today=today, company_id=node.company_id)
        premise = None
        if data.new_premise is not None:
            try:
                premise = premise_create(
                    actor=actor, area_code=data.new_premise.area_code, room=data.new_premise.room,
                    floor_area=data.new_premise.floor_area, residents=data.new_premise.residents,
                    extra=data.new_premise.extra, company_id=node.company_id)
            except DomainError as exc:
                # The customer's extra fields are "extra.<code>" too: name the premise's apart.
                raise DomainError(problems=[p.at(f"premise.{p.field}") if p.field.startswith("extra.") else p
                                            for p in exc.problems]) from exc
        elif data.premise_id is not None:
            try:
                premise = Premise.objects.get(pk=data.premise_id)
            except Premise.DoesNotExist:
                raise DomainError("premise_id", _("unknown premise %(id)s"), id=data.premise_id) from None
        company = node.company
        unknown = [c for c in data.commodities if c not in company.commodities]
        if unknown:
            raise DomainError("commodities", _("%(company)s does not supply %(commodity)s"),
                              company=company.name, commodity=", ".join(unknown))
        if data.deposit < 0:
            raise DomainError("deposit", _("must not be negative"))
        seq = _next_value("customers_account_no_seq")
        account = Account.objects.create(
            account_no=f"{company.code}{seq:08d}", customer=customer, company=company, node=node,
            billing_premise=premise, billing_address=premise.address if premise else "",
            payment_method=data.payment_method, bill_delivery=data.bill_delivery, deposit=data.deposit,
            opened_date=data.opened_date or today, legacy_ref=data.legacy_ref or None)
        for commodity in data.commodities:
            if premise is None:
                raise DomainError("premise_id", _("a premise is needed to supply %(commodity)s"), commodity=commodity)
            point, _created = ServicePoint.objects.get_or_create(
                premise=premise, commodity=commodity, company=company, defaults={"node": node})
            if ServiceAgreement.objects.filter(service_point=point, active_to__isnull=True).exists():
                raise DomainError("premise_id", _("%(commodity)s at this premise is already on another account; "
                                                  "transfer it (过户) instead"), commodity=commodity)
            ServiceAgreement.objects.create(account=account, service_point=point, active_from=account.opened_date)
    return account


def customer_category_add(*, actor: Any, customer_id: int, category: str, active_from: date,
                          active_to: date | None = None, note: str = "") -> CustomerCategory:
    with transaction.atomic(), audit_context(actor=actor, reason=f"category {category}", source="service"):
        customer = access_by_id(Customer.objects.all(), actor, customer_id)
        require(actor, "customers.change_customer")
        try:
            with transaction.atomic():
                return CustomerCategory.objects.create(customer=customer, category=category, active_from=active_from,
                                                       active_to=active_to, note=note)
        except IntegrityError as exc:
            raise DomainError("active_from", _("the customer already holds this category in that period")) from exc


def address_area_get_or_create(*, actor: Any, levels: list[tuple[str, str, str]]) -> AddressArea:
    """Walk/create the chain ``[(level, code, name), …]`` from the district down; codes are unique."""
    parent = None
    with transaction.atomic(), audit_context(actor=actor, reason="address", source="service"):
        for level, code, name in levels:
            area = AddressArea.objects.filter(code=code).first()
            if area is None:
                path = (parent.path if parent else "/") + f"{code}/"
                area = AddressArea.objects.create(parent=parent, level=level, code=code, name=name, path=path)
            elif area.parent_id != (parent.pk if parent else None):
                raise DomainError("address", _("address code %(code)s belongs to another parent"), code=code)
            parent = area
    assert parent is not None
    return parent


def premise_create(*, actor: Any, area_code: str, room: str = "", floor_area: Decimal | None = None,
                   residents: int | None = None, legacy_ref: str | None = None,
                   extra: Mapping[str, Any] | None = None, company_id: Any = None) -> Premise:
    with transaction.atomic(), audit_context(actor=actor, reason="create premise", source="service"):
        require(actor, "customers.add_premise")
        extra_values = extras.extra_values_clean(actor=actor, entity="premise",
                                                 company_ids=[company_id or _actor_company_id(actor)],
                                                 values=extra or {})
        area = AddressArea.objects.filter(code=area_code).first()
        if area is None:
            raise DomainError("area_code", _("unknown address code %(code)s"), code=area_code)
        chain = {a.level: a for a in AddressArea.objects.filter(code__in=area.path.strip("/").split("/"))}
        names = [a.name for a in sorted(chain.values(), key=lambda a: len(a.path))]
        seq = _next_value("customers_premise_no_seq")
        return Premise.objects.create(
            premise_no=f"P{seq:010d}", area=area, district=chain["district"], street=chain.get("street"),
            community=chain.get("community"), building=chain.get("building"), room=room,
            address="".join(names) + (f"{room}室" if room else ""), floor_area=floor_area, residents=residents,
            legacy_ref=legacy_ref or None, extra=extra_values)


def meter_register(*, actor: Any, node_id: int, serial: str, commodity: str, meter_type: str,
                   dial_digits: int = 5, multiplier: Decimal = Decimal("1"), manufacturer: str = "",
                   model: str = "", size: str = "") -> Meter:
    from ucis.customers.models import COMMODITIES, METER_TYPES

    serial = (serial or "").strip().upper()
    problems: list[FieldProblem] = []
    if not serial:
        problems.append(FieldProblem("serial", _("is required")))
    _choice(problems, "commodity", commodity, COMMODITIES)
    _choice(problems, "meter_type", meter_type, METER_TYPES)
    if not 3 <= dial_digits <= 10:
        problems.append(FieldProblem("dial_digits", _("must be between %(low)s and %(high)s"), {"low": 3, "high": 10}))
    if not multiplier > 0:
        problems.append(FieldProblem("multiplier", _("must be greater than 0")))
    if problems:
        raise DomainError(problems=problems)
    with transaction.atomic(), audit_context(actor=actor, reason="register meter", source="service"):
        node = org_selectors.org_node_get(actor=actor, node_id=node_id)
        require(actor, "customers.add_meter")
        if Meter.objects.filter(serial=serial).exists():
            raise DomainError("serial", _("meter %(serial)s is already registered"), serial=serial)
        return Meter.objects.create(serial=serial, commodity=commodity, meter_type=meter_type,
                                    dial_digits=dial_digits, multiplier=multiplier, manufacturer=manufacturer,
                                    model=model, size=size, company_id=node.company_id, node=node)


def meter_install(*, actor: Any, meter_id: int, service_point_id: int, installed_date: date,
                  install_reading: Decimal = Decimal("0")) -> MeterInstallation:
    with transaction.atomic(), audit_context(actor=actor, reason="install meter", source="service"):
        meter = access_by_id(Meter, actor, meter_id, for_update=True)
        point = access_by_id(ServicePoint, actor, service_point_id)
        require(actor, "customers.change_meter")
        return _install(meter, point, installed_date=installed_date, install_reading=install_reading)


def _install(meter: Meter, point: ServicePoint, *, installed_date: date, install_reading: Decimal) -> MeterInstallation:
    if meter.commodity != point.commodity:
        raise DomainError("meter_id", _("a %(meter)s meter cannot measure %(point)s"),
                          meter=meter.commodity, point=point.commodity)
    if meter.status in ("scrapped",):
        raise DomainError("meter_id", _("meter %(serial)s is scrapped"), serial=meter.serial)
    if install_reading < 0:
        raise DomainError("install_reading", _("must not be negative"))
    try:
        with transaction.atomic():
            installation = MeterInstallation.objects.create(meter=meter, service_point=point,
                                                            installed_date=installed_date,
                                                            install_reading=install_reading)
    except IntegrityError as exc:
        text = str(exc)
        if "installation_meter_one_place" in text:
            raise DomainError("meter_id", _("meter %(serial)s is installed elsewhere on that date"),
                              serial=meter.serial) from exc
        if "installation_point_one_meter" in text:
            raise DomainError("service_point_id", _("the service point already has a meter on that date; "
                                                    "replace it instead")) from exc
        raise
    meter.status = "installed"
    meter.save(update_fields=["status", "updated_at"])
    return installation


# --- changing and closing (CUS-1, CUS-2, MTR-1) -------------------------------------------------

CUSTOMER_CHANGEABLE = ("name", "phone", "email", "id_type", "id_number", "customer_type", "grade")
ACCOUNT_CHANGEABLE = ("payment_method", "bill_delivery", "deposit", "billing_premise_id", "billing_address",
                      "debit_bank_account")


def _reason_required(reason: str) -> str:
    reason = (reason or "").strip()
    if not reason:
        raise DomainError("reason", _("say why (it is kept in the audit trail)"))
    return reason


def _unknown_keys(changes: Mapping[str, Any], allowed: Sequence[str]) -> None:
    unknown = sorted(set(changes) - set(allowed))
    if unknown:
        raise DomainError(problems=[FieldProblem(key, _("%(field)s cannot be changed here"), {"field": key})
                                    for key in unknown])


def _text(value: Any) -> str:
    return "" if value is None else str(value).strip()


def _choice(problems: list[FieldProblem], key: str, value: Any, choices: Sequence[tuple[str, Any]]) -> str:
    text = _text(value)
    if text not in {code for code, _label in choices}:
        problems.append(FieldProblem(key, _("unknown value %(value)s"), {"value": text}))
    return text


def _customer_changes(customer: Customer, changes: Mapping[str, Any], *, today: date) -> dict[str, Any]:
    """The column values ``changes`` lead to (hashes and initials kept in step), only those that differ."""
    from django.core.exceptions import ValidationError
    from django.core.validators import validate_email

    from ucis.customers.models import CUSTOMER_TYPES, GRADES, ID_TYPES

    problems: list[FieldProblem] = []
    values: dict[str, Any] = {}

    def check(key: str, fn: Any) -> None:
        try:
            values[key] = fn()
        except DomainError as exc:
            problems.extend(exc.problems)

    if "name" in changes:
        check("name", lambda: identity.normalise_name(_text(changes["name"])))
    if "phone" in changes:
        check("phone", lambda: identity.validate_phone(_text(changes["phone"])) if _text(changes["phone"]) else "")
    if "email" in changes:
        values["email"] = _text(changes["email"])
        if values["email"]:
            try:
                validate_email(values["email"])
            except ValidationError:
                problems.append(FieldProblem("email", _("is not an email address")))
    if "customer_type" in changes:
        values["customer_type"] = _choice(problems, "customer_type", changes["customer_type"], CUSTOMER_TYPES)
    if "grade" in changes:
        values["grade"] = _choice(problems, "grade", changes["grade"], GRADES)
    if "id_type" in changes or "id_number" in changes:
        id_type = _text(changes.get("id_type", customer.id_type))
        raw_number = _text(changes.get("id_number", customer.id_number))
        if id_type:
            _choice(problems, "id_type", id_type, ID_TYPES)
        values["id_type"] = id_type
        if raw_number and not id_type:
            problems.append(FieldProblem("id_type", _("say which kind of ID document the number is")))
        check("id_number", lambda: identity.validate_resident_id(raw_number, on_date=today)
              if id_type == "resident_id" and raw_number else raw_number)
    if problems:
        raise DomainError(problems=problems)
    current = {key: getattr(customer, key) or "" for key in values}
    changed = {key: value for key, value in values.items() if value != current[key]}
    if "name" in changed:
        changed["name_initials"] = identity.pinyin_initials(changed["name"])
    if "phone" in changed:
        changed["phone_hash"] = crypto.keyed_hash(changed["phone"], kind="phone") if changed["phone"] else ""
    if "id_number" in changed:
        number = changed["id_number"]
        changed["id_number_hash"] = crypto.keyed_hash(number, kind="id_number") if number else ""
    return changed


def customer_update(*, actor: Any, customer_id: Any, changes: Mapping[str, Any], reason: str,
                    today: date) -> Customer:
    """Change a customer's details (name, phone, email, ID document, type, grade), validated as at
    registration. An ID number another customer holds is refused. Nothing is written when nothing
    differs."""
    _unknown_keys(changes, CUSTOMER_CHANGEABLE)
    reason = _reason_required(reason)
    with transaction.atomic(), audit_context(actor=actor, reason=reason, source="service"):
        customer = access_by_id(Customer.objects.all(), actor, customer_id, for_update=True,
                                company_wide=selectors._company_wide(actor))
        require(actor, "customers.change_customer")
        changed = _customer_changes(customer, changes, today=today)
        if not changed:
            return customer
        if changed.get("id_number_hash") and Customer.objects.filter(
                id_number_hash=changed["id_number_hash"]).exclude(pk=customer.pk).exists():
            raise DomainError("id_number", _("another customer holds this ID number"))
        for key, value in changed.items():
            setattr(customer, key, value)
        customer.save(update_fields=[*changed, "updated_at"])
    return customer


def account_update(*, actor: Any, account_id: Any, changes: Mapping[str, Any], reason: str) -> Account:
    """Change how an open account pays and gets its bills, its deposit, or where bills go (a billing
    premise brings its address unless ``billing_address`` is given too)."""
    from ucis.customers.models import DELIVERY_CHANNELS, PAYMENT_METHODS

    _unknown_keys(changes, ACCOUNT_CHANGEABLE)
    reason = _reason_required(reason)
    with transaction.atomic(), audit_context(actor=actor, reason=reason, source="service"):
        account = access_by_id(Account.objects.all(), actor, account_id, for_update=True)
        require(actor, "customers.change_account")
        if account.status == "closed":
            raise DomainError("status", _("account %(no)s is closed"), no=account.account_no)
        problems: list[FieldProblem] = []
        values: dict[str, Any] = {}
        if "payment_method" in changes:
            values["payment_method"] = _choice(problems, "payment_method", changes["payment_method"], PAYMENT_METHODS)
        if "bill_delivery" in changes:
            values["bill_delivery"] = _choice(problems, "bill_delivery", changes["bill_delivery"], DELIVERY_CHANNELS)
        if "deposit" in changes:
            try:
                deposit = Decimal(_text(changes["deposit"]))
            except ArithmeticError:
                problems.append(FieldProblem("deposit", _("is not an amount")))
            else:
                if not deposit.is_finite() or deposit < 0 or deposit != deposit.quantize(Decimal("0.01")) \
                        or deposit >= Decimal("1e10"):
                    problems.append(FieldProblem("deposit", _("must be an amount of at least 0 in yuan and fen")))
                else:
                    values["deposit"] = deposit
        if changes.get("billing_premise_id") not in (None, ""):
            premise = Premise.objects.filter(pk=changes["billing_premise_id"]).first() \
                if str(changes["billing_premise_id"]).isdigit() else None
            if premise is None:
                problems.append(FieldProblem("billing_premise_id", _("unknown premise %(id)s"),
                                             {"id": changes["billing_premise_id"]}))
            else:
                values["billing_premise_id"] = premise.pk
                values["billing_address"] = premise.address
        if "debit_bank_account" in changes:
            bank_account = _text(changes["debit_bank_account"]).replace(" ", "")
            if bank_account and not (bank_account.isdigit() and 8 <= len(bank_account) <= 32):
                problems.append(FieldProblem("debit_bank_account", _("a bank account number is 8–32 digits")))
            else:
                values["debit_bank_account"] = bank_account
        if "billing_address" in changes:
            values["billing_address"] = _text(changes["billing_address"])
            if len(values["billing_address"]) > 200:
                problems.append(FieldProblem("billing_address", _("at most %(n)s characters"), {"n": 200}))
        if problems:
            raise DomainError(problems=problems)
        changed = {key: value for key, value in values.items() if value != getattr(account, key)}
        if changed:
            for key, value in changed.items():
                setattr(account, key, value)
            account.save(update_fields=[*changed, "updated_at"])
    return account


def account_close(*, actor: Any, account_id: Any, closed_date: date, reason: str) -> Account:
    """Close an account (销户): every service agreement still running on ``closed_date`` ends then
    (``active_to`` is exclusive, so the account is billed up to the day before).

    Refused for an account already closed, a date before it was opened, or a date not after the
    start of one of its agreements. Balances do not exist yet: the ledger issue adds the rule
    that the balance must be zero (and the deposit refunded) before an account closes."""
    reason = _reason_required(reason)
    with transaction.atomic(), audit_context(actor=actor, reason=reason, source="service"):
        account = access_by_id(Account.objects.all(), actor, account_id, for_update=True)
        require(actor, "customers.change_account")
        if account.status == "closed":
            raise DomainError("status", _("account %(no)s is already closed"), no=account.account_no)
        if closed_date < account.opened_date:
            raise DomainError("closed_date", _("must not be before the account was opened (%(date)s)"),
                              date=account.opened_date.isoformat())
        running = list(ServiceAgreement.objects.select_for_update().filter(account=account).filter(
            Q(active_to__isnull=True) | Q(active_to__gt=closed_date)).select_related("service_point"))
        for agreement in running:
            if closed_date <= agreement.active_from:
                raise DomainError("closed_date", _("the %(commodity)s agreement starts on %(date)s; close the "
                                                   "account after that day"),
                                  commodity=agreement.service_point.commodity,
                                  date=agreement.active_from.isoformat())
        for agreement in running:
            agreement.active_to = closed_date
            agreement.save(update_fields=["active_to"])
        account.status, account.closed_date = "closed", closed_date
        account.save(update_fields=["status", "closed_date", "updated_at"])
    return account


def _meter_reading(value: Any, field_name: str) -> Decimal:
    try:
        reading = Decimal(_text(value))
    except ArithmeticError:
        raise DomainError(field_name, _("is not a meter reading")) from None
    if not reading.is_finite() or reading < 0 or reading != reading.quantize(Decimal("0.01")) \
            or reading >= Decimal("1e12"):
        raise DomainError(field_name, _("is not a meter reading"))
    return reading


def _remove(meter: Meter, *, removed_date: date, removal_reading: Any, reason: str) -> MeterInstallation:
    reading = _meter_reading(removal_reading, "removal_reading")
    installation = (MeterInstallation.objects.select_for_update().filter(meter=meter, removed_date__isnull=True)
                    .select_related("service_point").first())
    if installation is None:
        raise DomainError("meter_id", _("meter %(serial)s is not installed"), serial=meter.serial)
    if removed_date < installation.installed_date:
        raise DomainError("removed_date", _("must not be before the meter was installed (%(date)s)"),
                          date=installation.installed_date.isoformat())
    if reading < installation.install_reading:
        raise DomainError("removal_reading", _("must not be below the reading at install (%(reading)s)"),
                          reading=installation.install_reading)
    installation.removed_date, installation.removal_reading = removed_date, reading
    installation.reason = reason[:100]
    installation.save(update_fields=["removed_date", "removal_reading", "reason"])
    meter.status = "removed"
    meter.save(update_fields=["status", "updated_at"])
    return installation


def meter_remove(*, actor: Any, meter_id: Any, removed_date: date, removal_reading: Any,
                 reason: str) -> MeterInstallation:
    """Take an installed meter off its service point with its final reading."""
    reason = _reason_required(reason)
    with transaction.atomic(), audit_context(actor=actor, reason=reason, source="service"):
        meter = access_by_id(Meter, actor, meter_id, for_update=True)
        require(actor, "customers.change_meter")
        return _remove(meter, removed_date=removed_date, removal_reading=removal_reading, reason=reason)


def meter_replace(*, actor: Any, meter_id: Any, new_meter_id: Any, replaced_date: date, removal_reading: Any,
                  install_reading: Any, reason: str) -> MeterInstallation:
    """Replace a meter (换表): the old one comes off with its final reading and the new one goes on
    the same service point on the same day — both or neither."""
    reason = _reason_required(reason)
    with transaction.atomic(), audit_context(actor=actor, reason=reason, source="service"):
        meter = access_by_id(Meter, actor, meter_id, for_update=True)
        new_meter = access_by_id(Meter, actor, new_meter_id, for_update=True)
        require(actor, "customers.change_meter")
        if new_meter.pk == meter.pk:
            raise DomainError("new_meter_id", _("choose another meter than the one taken off"))
        start = _meter_reading(install_reading, "install_reading")
        if new_meter.status == "installed":
            raise DomainError("new_meter_id", _("meter %(serial)s is installed elsewhere"), serial=new_meter.serial)
        old = _remove(meter, removed_date=replaced_date, removal_reading=removal_reading, reason=reason)
        try:
            return _install(new_meter, old.service_point, installed_date=replaced_date, install_reading=start)
        except DomainError as exc:
            # Problems of the meter going on are about the new meter, not the one named in the URL.
            raise DomainError(problems=[p.at("new_meter_id") if p.field in ("meter_id", "service_point_id") else p
                                        for p in exc.problems]) from exc


# --- bulk load (demo city now; legacy-system migration builds on it) ---------------------------


BULK_MODELS = ("AddressArea", "Customer", "CustomerCategory", "Premise", "Account", "ServicePoint",
               "ServiceAgreement", "Meter", "MeterInstallation", "Appliance")


@dataclass(frozen=True)
class RegistryBatch:
    """Rows keyed by their own keys (``key`` / ``customer_key`` …) so one file or generator can
    describe a whole city; ids are assigned here. Column tuples:

    areas:      (code, name, level, parent_code | None)
    customers:  (key, name, customer_type, phone, id_type, id_number, grade)
    categories: (customer_key, category, active_from)
    premises:   (key, area_code, room, floor_area | None, residents | None)
    accounts:   (key, customer_key, node_code, premise_key, payment_method, bill_delivery, opened_date,
                 commodities tuple)
    meters:     (serial, commodity, meter_type, dial_digits, manufacturer, model, account_key, installed_date,
                 install_reading)
    appliances: (premise_key, kind, brand, installed_date)

    Optional trailing columns (legacy imports): customers + (legacy_ref, email); premises +
    (legacy_ref,); accounts + (legacy_ref,); meters + (multiplier, ic_card_no). Rows may refer to
    customers and premises already in the database through ``known_customers`` (key → id) and
    ``known_premises`` (key → (id, address)).
    """

    areas: list[tuple]
    customers: list[tuple]
    categories: list[tuple]
    premises: list[tuple]
    accounts: list[tuple]
    meters: list[tuple]
    appliances: list[tuple]
    known_customers: dict[Any, int] = field(default_factory=dict)
    known_premises: dict[Any, tuple[int, str]] = field(default_factory=dict)


def _tail(row: tuple, width: int, defaults: tuple) -> tuple:
    """The optional trailing columns of a batch row past ``width``, filled with ``defaults``."""
    extra = row[width:]
    return tuple(extra) + defaults[len(extra):]


def registry_bulk_load(*, actor: Any, batch: RegistryBatch, reason: str) -> dict[str, int]:
    """Write a whole registry with COPY in one transaction (all or nothing)."""
    from django.utils import timezone

    require(actor, "customers.add_customer")
    now = timezone.now()
    rule = customer_number_rule()
    nodes = {n.code: n for n in org_selectors.org_node_list(actor=actor)}
    by_id = {n.pk: n for n in nodes.values()}
    # Per-row insert events would double the cost of a city-sized load; the load is recorded as a
    # batch instead (rows carry created_at; updates and deletes stay tracked row by row).
    inserts = [f"customers.{m}:insert_insert" for m in BULK_MODELS]
    tables = [f"customers_{m.lower()}" for m in BULK_MODELS]
    with transaction.atomic(), audit_context(actor=actor, reason=reason, source="bulk"), pgtrigger.ignore(*inserts):
        with connection.cursor() as cursor:
            # Check foreign keys as rows arrive instead of queueing millions of deferred checks.
            cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")
        with bulk.indexes_built_after(tables) if bulk.tables_empty(tables) else nullcontext() as rebuild:
            return _registry_copy(batch, nodes=nodes, by_id=by_id, now=now, rule=rule,
                                  ready=rebuild.ready if rebuild else None)



def _registry_copy(batch: RegistryBatch, *, nodes: dict, by_id: dict, now: Any,
                   rule: identity.NumberingRule, ready: Callable[..., None] | None = None) -> dict[str, int]:
    next_ids = bulk.next_ids

    def copy_rows(table: str, columns: list[str], rows: Any) -> int:
        # Each table's indexes and constraints (into empty tables) are built while the next is prepared.
        count = bulk.copy_rows(table, columns, rows, binary=True)
        if ready is not None:
            ready(table)
        return count

    # Address areas: parents first (the batch lists them top-down).
    area_ids = dict(zip([a[0] for a in batch.areas], next_ids("customers_addressarea", len(batch.areas)),
                        strict=True))
    known = {a.code: (a.pk, a.path, a.level) for a in AddressArea.objects.filter(
        code__in={a[3] for a in batch.areas if a[3]} - set(area_ids))}
    area_rows = []
    for code, name, level, parent_code in batch.areas:
        parent = known.get(parent_code) if parent_code else None
        if parent_code and parent is None:
            raise DomainError("areas", _("unknown parent address %(code)s"), code=parent_code)
        path = (parent[1] if parent else "/") + f"{code}/"
        known[code] = (area_ids[code], path, level)
        area_rows.append((area_ids[code], parent[0] if parent else None, level, code, name, path))
    copy_rows("customers_addressarea", ["id", "parent_id", "level", "code", "name", "path"], area_rows)
    # Premises on areas already in the database (legacy imports): their chains, with names.
    stored_names: dict[str, str] = {}
    missing = {p[1] for p in batch.premises} - set(known)
    if missing:
        chain = {c for path in AddressArea.objects.filter(code__in=missing).values_list("path", flat=True)
                 for c in path.strip("/").split("/")}
        for a in AddressArea.objects.filter(code__in=chain).only("id", "code", "path", "level", "name"):
            known.setdefault(a.code, (a.pk, a.path, a.level))
            stored_names[a.code] = a.name

    customer_ids = next_ids("customers_customer", len(batch.customers))
    numbers = _next_values("customers_customer_no_seq", len(batch.customers))
    customer_by_key = dict(batch.known_customers)
    customer_rows = []
    phones = _sealed([row[3] for row in batch.customers], kind="phone")
    id_numbers = _sealed([row[5] for row in batch.customers], kind="id_number")
    for cid, seq, row, (phone_token, phone_hash), (id_token, id_hash) in zip(
            customer_ids, numbers, batch.customers, phones, id_numbers, strict=True):
        key, name, ctype, _phone, id_type, _id_number, grade = row[:7]
        legacy_ref, email = _tail(row, 7, (None, ""))
        customer_by_key[key] = cid
        customer_rows.append((
            cid, rule.format(seq), name, identity.pinyin_initials(name), ctype, grade, "active", id_type,
            id_token, id_hash, phone_token, phone_hash, email, legacy_ref, now, now))
    copy_rows("customers_customer", [
        "id", "customer_no", "name", "name_initials", "customer_type", "grade", "status", "id_type",
        "id_number", "id_number_hash", "phone", "phone_hash", "email", "legacy_ref", "created_at",
        "updated_at"], customer_rows)
    copy_rows("customers_customercategory", ["customer_id", "category", "active_from", "note"],
              ((customer_by_key[k], cat, start, "") for k, cat, start in batch.categories))

    premise_ids = next_ids("customers_premise", len(batch.premises))
    premise_nos = _next_values("customers_premise_no_seq", len(batch.premises))
    names = {**stored_names, **{code: name for code, name, _lv, _p in batch.areas}}
    premise_by_key, premise_rows = dict(batch.known_premises), []
    for pid, seq, row in zip(premise_ids, premise_nos, batch.premises, strict=True):
        key, area_code, room, floor_area, residents = row[:5]
        (premise_ref,) = _tail(row, 5, (None,))
        area_id, path, _level = known[area_code]
        chain = path.strip("/").split("/")
        levels = {known[c][2]: known[c][0] for c in chain}
        premise_by_key[key] = (pid, "".join(names.get(c, "") for c in chain) + (f"{room}室" if room else ""))
        premise_rows.append((pid, f"P{seq:010d}", area_id, levels["district"], levels.get("street"),
                             levels.get("community"), levels.get("building"), room, premise_by_key[key][1],
                             floor_area, residents, premise_ref, now, now))
    copy_rows("customers_premise", [
        "id", "premise_no", "area_id", "district_id", "street_id", "community_id", "building_id", "room",
        "address", "floor_area", "residents", "legacy_ref", "created_at", "updated_at"], premise_rows)

    account_ids = next_ids("customers_account", len(batch.accounts))
    account_nos = _next_values("customers_account_no_seq", len(batch.accounts))
    account_by_key: dict[Any, tuple[int, Any, dict[str, int]]] = {}
    account_rows, point_rows, agreement_rows = [], [], []
    point_count = sum(len(a[7]) for a in batch.accounts)
    point_ids = iter(next_ids("customers_servicepoint", point_count))
    for aid, seq, row in zip(account_ids, account_nos, batch.accounts, strict=True):
        key, customer_key, node_code, premise_key, method, delivery, opened, commodities = row[:8]
        (account_ref,) = _tail(row, 8, (None,))
        node = nodes.get(node_code)
        if node is None or node.company_id is None:
            raise DomainError("accounts", _("unknown node %(code)s"), code=node_code)
        premise_id, address = premise_by_key[premise_key]
        company = by_id.get(node.company_id) or node.company  # a branch's actor does not see its company
        account_rows.append((aid, f"{company.code}{seq:08d}", customer_by_key[customer_key], node.company_id,
                             node.pk, premise_id, address, method, delivery, Decimal("0"), "active", opened,
                             None, account_ref, now, now))
        points = {}
        for commodity in commodities:
            spid = next(point_ids)
            points[commodity] = spid
            point_rows.append((spid, premise_id, commodity, node.company_id, node.pk, now))
            agreement_rows.append((aid, spid, opened, None))
        account_by_key[key] = (aid, node, points)
    copy_rows("customers_account", [
        "id", "account_no", "customer_id", "company_id", "node_id", "billing_premise_id", "billing_address",
        "payment_method", "bill_delivery", "deposit", "status", "opened_date", "closed_date", "legacy_ref",
        "created_at", "updated_at"], account_rows)
    copy_rows("customers_servicepoint", ["id", "premise_id", "commodity", "company_id", "node_id", "created_at"],
              point_rows)
    # Agreements and installations carry exclusion constraints (GiST): written scrambled.
    copy_rows("customers_serviceagreement", ["account_id", "service_point_id", "active_from", "active_to"],
              bulk.scrambled(agreement_rows))

    meter_ids = next_ids("customers_meter", len(batch.meters))
    meter_rows, install_rows = [], []
    for mid, row in zip(meter_ids, batch.meters, strict=True):
        serial, commodity, mtype, digits, maker, model, account_key, installed, reading = row[:9]
        multiplier, card = _tail(row, 9, (Decimal("1"), ""))
        _aid, node, points = account_by_key[account_key]
        meter_rows.append((mid, serial, commodity, mtype, maker, model, "", digits, multiplier, "installed",
                           node.company_id, node.pk, None, now, now, card))
        install_rows.append((mid, points[commodity], installed, reading, None, None, ""))
    copy_rows("customers_meter", [
        "id", "serial", "commodity", "meter_type", "manufacturer", "model", "size", "dial_digits", "multiplier",
        "status", "company_id", "node_id", "legacy_ref", "created_at", "updated_at", "ic_card_no"], meter_rows)
    copy_rows("customers_meterinstallation", [
        "meter_id", "service_point_id", "installed_date", "install_reading", "removed_date", "removal_reading",
        "reason"], bulk.scrambled(install_rows))
    copy_rows("customers_appliance", ["premise_id", "kind", "brand", "model", "installed_date",
                                      "last_inspected_date", "is_active"],
              ((premise_by_key[k][0], kind, brand, "", installed, None, True)
               for k, kind, brand, installed in batch.appliances))
    return {"areas": len(area_rows), "customers": len(customer_rows), "premises": len(premise_rows),
            "accounts": len(account_rows), "service_points": len(point_rows), "meters": len(meter_rows),
            "categories": len(batch.categories), "appliances": len(batch.appliances)}


def _sealed(values: list[str], *, kind: str) -> list[tuple[str, str]]:
    """(token, keyed hash) per value, both empty for an empty value — encrypted in one batch."""
    present = [v for v in values if v]
    sealed = iter(zip(crypto.encrypt_many(present), crypto.keyed_hash_many(present, kind=kind), strict=True))
    return [next(sealed) if v else ("", "") for v in values]


def _next_values(sequence: str, count: int) -> list[int]:
    return bulk.sequence_block(sequence, count)


def account_open_from_counter(*, actor: Any, customer_no: str, new_customer: CustomerInput, data: AccountInput,
                              today: date, documents: Sequence[tuple[str, Any]] = ()) -> Account:
    """The counter's open-account form: an existing customer by number, else the new customer's details.
    An existing customer's extra fields filled in on the form are updated; ``documents`` ((kind,
    uploaded file), …) are attached to the customer — all in one step (CUS-4)."""
    with extras.files_discarded_on_error(), transaction.atomic():
        if customer_no:
            customer = Customer.objects.filter(customer_no=customer_no).only("pk").first()
            if customer is None:
                raise DomainError("customer_no", _("unknown customer number %(no)s"), no=customer_no)
            account = account_open(actor=actor, customer_id=customer.pk, new_customer=None, data=data, today=today)
            filled = {k: v for k, v in new_customer.extra.items() if not extrafields.is_blank(v)}
            if filled:
                extras.customer_extra_set(actor=actor, customer_id=customer.pk, values=filled, reason="open account")
        else:
            account = account_open(actor=actor, customer_id=None, new_customer=new_customer, data=data, today=today)
        for kind, upload in documents:
            extras.attachment_add(actor=actor, customer_id=account.customer_id, kind=kind, upload=upload)
    return account
