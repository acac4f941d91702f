"""Reads of tariffs for billing and the screens (through the tenancy layer where a person asks)."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping
from datetime import date
from decimal import Decimal
from typing import Any

from django.db.models import Count, Q
from django.utils import timezone

from ucis.org import selectors as org_selectors
from ucis.platform.tenancy import access_by_id
from ucis.tariffs import rating
from ucis.tariffs.models import Discount, DiscountMember, LateFeePolicy, StandingReduction, Tariff


def tariff_list(*, actor: Any) -> Any:
    """The tariffs of the actor's company (a company's prices serve all its units) or below."""
    return Tariff.objects.visible_to(actor, company_wide=True).select_related("company").order_by("company__code", "code")


def tariffs_by_type(*, company_id: Any, commodity: str) -> dict[str, list[tuple[Tariff, list[rating.Version]]]]:
    """Customer type → the company's tariffs serving it, each with its versions (one is right;
    more than one is an ambiguity the bill run reports)."""
    from ucis.tariffs.services import tariff_versions

    result: dict[str, list[tuple[Tariff, list[rating.Version]]]] = defaultdict(list)
    for tariff in Tariff.objects.filter(company_id=company_id, commodity=commodity).prefetch_related("versions"):
        versions = tariff_versions(tariff=tariff)
        for customer_type in tariff.customer_types:
            result[customer_type].append((tariff, versions))
    return result


def reductions_for(*, company_id: Any, commodity: str, start: date, end: date, account_ids: Iterable[int],
                   categories: Mapping[int, Iterable[str]]) -> dict[int, list[rating.Reduction]]:
    """The policy discounts and standing reductions each account has for ``[start, end)``, with
    their bill messages."""
    window = Q(active_from__lt=end) & (Q(active_to__isnull=True) | Q(active_to__gt=start))
    discounts = {d.pk: d for d in Discount.objects.filter(window, company_id=company_id, commodity=commodity)}
    result: dict[int, list[rating.Reduction]] = defaultdict(list)
    if discounts:
        for discount_id, account_id in DiscountMember.objects.filter(
                discount_id__in=list(discounts), account_id__in=list(account_ids)).values_list("discount_id",
                                                                                               "account_id"):
            d = discounts[discount_id]
            result[account_id].append(rating.Reduction(d.code, d.label, tuple(d.of), d.active_from, d.active_to,
                                                       free_volume=d.free_volume, percent=d.percent, message=d.message))
    standing = defaultdict(list)
    for r in StandingReduction.objects.filter(window, company_id=company_id, commodity=commodity):
        standing[r.category].append(rating.Reduction(f"{r.category}-{r.pk}", r.label, tuple(r.of), r.active_from,
                                                     r.active_to, free_volume=r.free_volume, percent=r.percent,
                                                     message=r.message))
    if standing:
        for account_id, held in categories.items():
            for category in held:
                result[account_id].extend(standing.get(category, []))
    return result


# --- screens -------------------------------------------------------------------------------------


def tariff_get(*, actor: Any, tariff_id: Any) -> Tariff:
    return access_by_id(Tariff.objects.select_related("company"), actor, tariff_id, company_wide=True)


def _component_view(raw: Mapping[str, Any]) -> dict[str, Any]:
    """A stored component (file format) made easy to show: ladder blocks with their lower bounds."""
    view = dict(raw)
    view.setdefault("receivable", rating.RECEIVABLE)

    def rows(blocks: Iterable[Mapping[str, Any]]) -> list[dict[str, Any]]:
        out, lower = [], "0"
        for n, block in enumerate(blocks, start=1):
            upper = block.get("upto")
            out.append({"n": n, "lower": lower, "upper": upper, "price": block.get("price")})
            lower = str(upper) if upper is not None else lower
        return out

    if raw.get("kind") == "ladder":
        view["block_rows"] = rows(raw.get("blocks") or [])
        view["season_rows"] = [{"months": s.get("months", []), "block_rows": rows(s.get("blocks") or [])}
                               for s in raw.get("seasons") or []]
    view["by_size_items"] = sorted((raw.get("by_size") or {}).items())
    return view


def tariff_page(*, actor: Any, tariff_id: Any) -> dict[str, Any]:
    """A tariff with every version (newest first) and its components ready to show."""
    tariff = tariff_get(actor=actor, tariff_id=tariff_id)
    versions = [{"version": v, "components": [_component_view(c) for c in v.components]}
                for v in tariff.versions.select_related("created_by").order_by("-active_from")]
    return {"tariff": tariff, "versions": versions}


def tariff_rows(*, actor: Any) -> list[dict[str, Any]]:
    """Tariffs the actor sees with their version in force today (or the latest)."""
    today = timezone.localdate()
    rows = []
    for tariff in tariff_list(actor=actor).prefetch_related("versions"):
        versions = sorted(tariff.versions.all(), key=lambda v: v.active_from)
        current = next((v for v in versions if v.active_from <= today
                        and (v.active_to is None or today < v.active_to)), versions[-1] if versions else None)
        rows.append({"tariff": tariff, "current": current, "version_count": len(versions)})
    return rows


def discount_list(*, actor: Any) -> Any:
    return (Discount.objects.visible_to(actor).select_related("company")
            .annotate(member_count=Count("members")).order_by("-active_from", "code"))


def standing_reduction_list(*, actor: Any) -> Any:
    return (StandingReduction.objects.visible_to(actor).select_related("company")
            .order_by("company__code", "commodity", "category", "-active_from"))


def late_fee_policy_list(*, actor: Any) -> Any:
    return LateFeePolicy.objects.visible_to(actor).select_related("company").order_by("company__code", "commodity",
                                                                                      "-active_from")


def company_choices(*, actor: Any) -> list[Any]:
    """The companies the actor may define prices for (those they see)."""
    return list(org_selectors.org_node_list(actor=actor, kind="company"))


def policy_page(*, actor: Any) -> dict[str, Any]:
    return {"companies": company_choices(actor=actor), "reductions": list(standing_reduction_list(actor=actor)),
            "policies": list(late_fee_policy_list(actor=actor))}


def discount_page(*, actor: Any) -> dict[str, Any]:
    return {"companies": company_choices(actor=actor), "discounts": list(discount_list(actor=actor))}


def explain(template: str, params: Mapping[str, Any] | None) -> str:
    """A bill line's explanation in the user's language: the template translated, the ladder
    basis named in words, then the parameters filled in."""
    from django.utils.translation import gettext

    values = {k: str(v) for k, v in dict(params or {}).items()}
    basis = {"period": gettext("per billing period"), "month": gettext("per month"),
             "year": gettext("per calendar year")}
    if values.get("basis") in basis:
        values["basis"] = basis[values["basis"]]
    translated = gettext(template)
    try:
        return translated % values if values else translated
    except (KeyError, TypeError, ValueError):  # a translation that lost a placeholder: the English text
        return template % values if values else template


def late_fee_rule_on(*, company_id: int, commodity: str, on: date) -> Any:
    """The company's late-fee rule for the commodity in force on ``on`` (a pure ``LateFeeRule``), or None."""
    from ucis.tariffs import latefees

    policy = (LateFeePolicy.objects.filter(company_id=company_id, commodity=commodity, active_from__lte=on)
              .filter(Q(active_to__isnull=True) | Q(active_to__gt=on)).first())
    if policy is None:
        return None
    return latefees.LateFeeRule(grace_days=policy.grace_days, minimum=policy.minimum,
                                rates={k: (Decimal(a), Decimal(b)) for k, (a, b) in policy.rates.items()})


def late_fee_scopes_on(*, on: date) -> list[tuple[int, str]]:
    """(company, commodity) of every late-fee rule in force on ``on``."""
    return list(LateFeePolicy.objects.filter(active_from__lte=on).filter(Q(active_to__isnull=True) | Q(active_to__gt=on))
                .values_list("company_id", "commodity").order_by("company_id", "commodity"))
