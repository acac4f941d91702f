"""Use cases of tariffs: import/export tariff files, policy discounts reaching many accounts at
once, standing reductions, late-fee policies, and bill simulation."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date
from decimal import Decimal, InvalidOperation
from typing import Any

from django.db import IntegrityError, connection, transaction
from django.http import Http404

from ucis.customers import selectors as customer_selectors
from ucis.kernel.errors import Conflict, DomainError, FieldProblem, reason_required
from ucis.kernel.errors import gettext_noop as _
from ucis.org import selectors as org_selectors
from ucis.platform.audit import audit_context
from ucis.platform.tenancy import access_by_id, acting_user
from ucis.tariffs import definitions, latefees, rating
from ucis.tariffs.models import Discount, LateFeePolicy, StandingReduction, Tariff, TariffVersion

COMMODITIES = ("water", "gas", "electricity")



def _company(actor: Any, code: str) -> Any:
    try:
        node = org_selectors.org_node_by_code(actor=actor, code=code)
    except Http404:
        node = None
    if node is None or node.kind != "company":
        raise DomainError("company", _("there is no company %(code)s in your area"), code=code)
    return node


def _stored(version: rating.Version) -> list[dict[str, Any]]:
    doc = definitions.dump_tariff(definitions.TariffDefinition("x", "x", "x", "water", ("x",), (version,)))
    return list(doc["versions"][0]["components"])


def tariff_versions(*, tariff: Tariff) -> list[rating.Version]:
    """The stored versions of a tariff as the rating engine's values."""
    rows = list(tariff.versions.order_by("active_from"))
    if not rows:
        return []
    doc = {"code": tariff.code, "name": tariff.name, "company": "x", "commodity": tariff.commodity,
           "customer_types": list(tariff.customer_types),
           "versions": [{"version": v.version, "active_from": v.active_from.isoformat(),
                         "active_to": v.active_to.isoformat() if v.active_to else None,
                         "components": v.components} for v in rows]}
    return list(definitions.parse_tariff(doc).versions)


@dataclass(frozen=True)
class ImportOutcome:
    tariff: Tariff
    created: bool
    versions_added: list[str]
    versions_ended: list[str]


def tariff_import(*, actor: Any, text: str, fmt: str = "yaml", reason: str) -> ImportOutcome:
    """Store a tariff file. The file is the whole truth of the tariff: versions already stored
    must appear unchanged (only an open version may be given an end date, to make room for the
    next); new versions are added. Anything else is refused, with every problem named."""
    reason = reason_required(reason)
    defn = definitions.load_text(text, fmt=fmt)
    company = _company(actor, defn.company)
    with transaction.atomic(), audit_context(actor=actor, reason=reason, source="tariffs"):
        tariff = Tariff.objects.select_for_update().filter(code=defn.code).first()
        created = tariff is None
        if tariff is None:
            tariff = Tariff.objects.create(code=defn.code, name=defn.name, company=company, commodity=defn.commodity,
                                           customer_types=list(defn.customer_types))
        else:
            tariff = access_by_id(Tariff, actor, tariff.pk)
            if (tariff.company_id, tariff.commodity) != (company.pk, defn.commodity):
                raise Conflict("company", _("tariff %(code)s belongs to another company or commodity"), code=defn.code)
            tariff.name, tariff.customer_types = defn.name, list(defn.customer_types)
            tariff.save(update_fields=["name", "customer_types"])
        stored = {v.version: v for v in tariff.versions.all()}
        given = {v.version: v for v in defn.versions}
        problems = [FieldProblem("versions", _("version %(version)s is stored but missing from the file"),
                                 {"version": label}) for label in stored if label not in given]
        added, ended, updates = [], [], []
        for label, version in given.items():
            old = stored.get(label)
            if old is None:
                added.append(version)
                continue
            same = old.active_from == version.active_from and old.components == _stored(version)
            if not same:
                problems.append(FieldProblem("versions", _("version %(version)s is already stored with other prices or "
                                                           "dates; add a new version instead"), {"version": label}))
            elif old.active_to != version.active_to:
                if old.active_to is not None:
                    problems.append(FieldProblem("versions", _("version %(version)s already ends on %(end)s"),
                                                 {"version": label, "end": old.active_to.isoformat()}))
                else:
                    old.active_to = version.active_to
                    updates.append(old)
                    ended.append(label)
        if problems:
            raise DomainError(problems=problems)
        for old in updates:
            old.save(update_fields=["active_to"])
        try:
            TariffVersion.objects.bulk_create([TariffVersion(
                tariff=tariff, version=v.version, active_from=v.active_from, active_to=v.active_to,
                components=_stored(v), created_by=acting_user(actor)) for v in added])
        except IntegrityError:
            raise Conflict("versions", _("the versions overlap the ones stored")) from None
    return ImportOutcome(tariff, created, [v.version for v in added], ended)


def tariff_export(*, actor: Any, tariff_id: Any, fmt: str = "yaml") -> str:
    tariff = access_by_id(Tariff.objects.select_related("company"), actor, tariff_id, company_wide=True)
    defn = definitions.TariffDefinition(tariff.code, tariff.name, tariff.company.code, tariff.commodity,
                                        tuple(tariff.customer_types), tuple(tariff_versions(tariff=tariff)))
    return definitions.dump_text(defn, fmt=fmt)


def _volume(value: Any, name: str) -> Decimal:
    try:
        result = Decimal(str(value).strip())
    except (InvalidOperation, ValueError):
        raise DomainError(name, _("%(value)s is not a number"), value=value) from None
    if not result.is_finite() or result < 0 or result != result.quantize(rating.VOLUME):
        raise DomainError(name, _("a volume is a non-negative number with at most 2 decimals, not %(value)s"),
                          value=value)
    return result


def bill_simulate(*, actor: Any, tariff_id: Any, period_from: date, period_to: date, usage: dict[str, Any],
                  residents: int = 0, year_to_date: Any = "0", meters: int = 1, meter_size: str = "") -> list[rating.Line]:
    """What an account would pay under a tariff for a usage (试算): for clerks answering a customer
    and for administrators trying a new version before it is in force."""
    # A company's prices serve every unit of it: a branch's counter clerk simulates with them too.
    tariff = access_by_id(Tariff, actor, tariff_id, company_wide=True)
    volumes = {k: _volume(v, f"usage.{k}") for k, v in usage.items()}
    if "total" not in volumes:
        raise DomainError("usage.total", _("give the total usage"))
    account = rating.Account(period_from, period_to, volumes, residents=residents,
                             year_to_date=_volume(year_to_date, "year_to_date"), meters=meters, meter_size=meter_size)
    return rating.rate(tariff_versions(tariff=tariff), account)


# --- discounts and reductions (TAR-4) ---------------------------------------------------------------


@dataclass(frozen=True)
class DiscountInput:
    code: str
    label: str
    company: str
    commodity: str
    of: tuple[str, ...]
    active_from: date
    active_to: date | None
    percent: Decimal = Decimal(0)
    free_volume: Decimal = Decimal(0)
    message: str = ""


def discount_create(*, actor: Any, data: DiscountInput, reason: str, area_codes: Sequence[str] = (),
                    account_numbers: Sequence[str] = ()) -> tuple[Discount, int]:
    """A policy discount for the accounts in the given address areas (any level: a district, a
    street, a community …) and/or listed by account number (an imported list); members are
    written set-based so 100,000 households take seconds. Unknown account numbers are refused,
    all of them named."""
    reason = reason_required(reason)
    company = _company(actor, data.company)
    problems = []
    if data.commodity not in COMMODITIES:
        problems.append(FieldProblem("commodity", _("unknown commodity %(value)s"), {"value": data.commodity}))
    if not data.of:
        problems.append(FieldProblem("of", _("name the charge components the discount applies to")))
    try:
        rating.Reduction(data.code, data.label, data.of, data.active_from, data.active_to,
                         free_volume=data.free_volume, percent=data.percent)
    except DomainError as err:
        problems += [p.at(p.field.removeprefix(f"{data.code}.")) for p in err.problems]
    if not data.percent and not data.free_volume:
        problems.append(FieldProblem("percent", _("give a percentage off or a free volume")))
    if data.active_to is not None and data.active_to <= data.active_from:
        problems.append(FieldProblem("active_to", _("the discount must end after it starts")))
    if not area_codes and not account_numbers:
        problems.append(FieldProblem("accounts", _("choose the accounts: address areas or a list of account numbers")))
    if problems:
        raise DomainError(problems=problems)
    ids, unknown = customer_selectors.account_ids_for(actor=actor, company_id=company.pk, area_codes=area_codes,
                                                       account_numbers=account_numbers)
    if unknown:
        raise DomainError(problems=[FieldProblem(f"accounts[{n}]", _("there is no account %(number)s of %(company)s "
                                                                     "in your area"),
                                                 {"number": number, "company": company.code})
                                    for n, number in unknown])
    with transaction.atomic(), audit_context(actor=actor, reason=reason, source="tariffs"):
        if Discount.objects.filter(code=data.code).exists():
            raise DomainError("code", _("discount code %(code)s is already used"), code=data.code)
        discount = Discount.objects.create(
            code=data.code, label=data.label, company=company, commodity=data.commodity, of=list(data.of),
            percent=data.percent, free_volume=data.free_volume, active_from=data.active_from,
            active_to=data.active_to, message=data.message, reason=reason,
            created_by=acting_user(actor))
        with connection.cursor() as cursor:
            cursor.execute("INSERT INTO tariffs_discountmember (discount_id, account_id) "
                           "SELECT %s, unnest(%s::bigint[]) ON CONFLICT DO NOTHING", [discount.pk, ids])
            count = cursor.rowcount
    return discount, count


def standing_reduction_set(*, actor: Any, company: str, commodity: str, category: str, label: str,
                           of: Sequence[str], active_from: date, reason: str, percent: Decimal = Decimal(0),
                           free_volume: Decimal = Decimal(0), message: str = "") -> StandingReduction:
    """Set the reduction of a special category from ``active_from`` (ending the one before)."""
    reason = reason_required(reason)
    node = _company(actor, company)
    rating.Reduction(category, label, tuple(of), active_from, free_volume=free_volume, percent=percent)
    with transaction.atomic(), audit_context(actor=actor, reason=reason, source="tariffs"):
        current = (StandingReduction.objects.select_for_update()
                   .filter(company=node, commodity=commodity, category=category, active_to__isnull=True).first())
        if current is not None:
            if current.active_from >= active_from:
                raise DomainError("active_from", _("the current reduction starts on %(date)s; a new one must start "
                                                   "later"), date=current.active_from.isoformat())
            current.active_to = active_from
            current.save(update_fields=["active_to"])
        return StandingReduction.objects.create(company=node, commodity=commodity, category=category, label=label,
                                                of=list(of), percent=percent, free_volume=free_volume,
                                                message=message, active_from=active_from)


def late_fee_policy_set(*, actor: Any, company: str, commodity: str, grace_days: int,
                        rates: dict[str, tuple[str, str]], minimum: str, active_from: date,
                        reason: str) -> LateFeePolicy:
    """Set a company's late-fee rule for a commodity from ``active_from`` (ending the one before)."""
    reason = reason_required(reason)
    node = _company(actor, company)
    try:
        parsed = {k: (Decimal(str(a)), Decimal(str(b))) for k, (a, b) in rates.items()}
        floor = Decimal(str(minimum))
    except (InvalidOperation, ValueError, TypeError):
        raise DomainError("rates", _("rates and the minimum are decimals such as 0.001 and 1.00")) from None
    latefees.LateFeeRule(grace_days=grace_days, rates=parsed, minimum=floor)
    with transaction.atomic(), audit_context(actor=actor, reason=reason, source="tariffs"):
        current = (LateFeePolicy.objects.select_for_update()
                   .filter(company=node, commodity=commodity, active_to__isnull=True).first())
        if current is not None:
            if current.active_from >= active_from:
                raise DomainError("active_from", _("the current policy starts on %(date)s; a new one must start "
                                                   "later"), date=current.active_from.isoformat())
            current.active_to = active_from
            current.save(update_fields=["active_to"])
        return LateFeePolicy.objects.create(company=node, commodity=commodity, grace_days=grace_days,
                                            rates={k: [str(a), str(b)] for k, (a, b) in parsed.items()},
                                            minimum=floor, active_from=active_from)


def late_fee_rule(*, policy: LateFeePolicy) -> latefees.LateFeeRule:
    return latefees.LateFeeRule(grace_days=policy.grace_days, minimum=policy.minimum,
                                rates={k: (Decimal(a), Decimal(b)) for k, (a, b) in policy.rates.items()})
