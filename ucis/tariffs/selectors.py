"""Reads of tariffs for billing and the screens (through the tenancy layer where a person asks)."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping
from datetime import date
from typing import Any

from django.db.models import Q

from ucis.tariffs import rating
from ucis.tariffs.models import Discount, DiscountMember, StandingReduction, Tariff


def tariff_list(*, actor: Any) -> Any:
    return Tariff.objects.visible_to(actor).select_related("company").order_by("company__code", "code")


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
