"""Writes the synthetic city into the database, set-based (COPY). Later issues add customers,
premises, meters and reads to the same generator, sized by ``--customers``."""

from __future__ import annotations

import time
from datetime import date
from typing import Any

from django.db import connection, transaction
from django.utils import timezone

from ucis.customers import services as customer_services
from ucis.demo.cityplan import plan_city
from ucis.demo.registryplan import plan_registry
from ucis.org import selectors as org_selectors
from ucis.org import services as org_services
from ucis.platform.tenancy import SYSTEM


def demo_present() -> bool:
    return org_selectors.org_node_list(actor=SYSTEM).filter(parent__isnull=True).exists()


def demo_reset() -> None:
    """Remove all business data (not the schema). Only for demo/test databases."""
    from django.apps import apps

    tables = [m._meta.db_table for label in ("org", "customers") for m in apps.get_app_config(label).get_models()]
    tables += ["org_user_groups", "pghistory_context", "axes_accessattempt", "otp_totp_totpdevice", "django_session",
               "django_admin_log"]
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(f"TRUNCATE {', '.join(tables)} RESTART IDENTITY CASCADE")


def demo_data_load(*, customers: int, seed: int, password: str, progress: Any = None,
                   today: date | None = None) -> dict[str, Any]:
    started = time.perf_counter()
    org_services.roles_sync()
    plan = plan_city(customers=customers, seed=seed)
    counts = org_services.org_bulk_load(
        actor=SYSTEM,
        nodes=[org_services.NodeRow(code=n.code, name=n.name, name_en=n.name_en, kind=n.kind,
                                    parent_code=n.parent_code, commodities=n.commodities) for n in plan.nodes],
        staff=[org_services.StaffRow(username=s.username, node_code=s.node_code, roles=s.roles,
                                     display_name=s.display_name, employee_no=s.employee_no,
                                     is_staff=s.is_staff, is_superuser=s.is_superuser) for s in plan.staff],
        password=password, reason=f"demo data (seed {seed}, {customers} customers)")
    if progress:
        progress("organisation", counts["nodes"], counts["nodes"])
    registry = plan_registry(city=plan, customers=customers, seed=seed, today=today or timezone.localdate())
    counts.update(customer_services.registry_bulk_load(
        actor=SYSTEM, batch=customer_services.RegistryBatch(**vars(registry)),
        reason=f"demo data (seed {seed}, {customers} customers)"))
    from ucis.demo.pricebook import price_book
    from ucis.tariffs import services as tariff_services

    for text in price_book():
        tariff_services.tariff_import(actor=SYSTEM, text=text, reason="demo price book")
    counts["tariffs"] = len(price_book())
    # Fresh statistics: right after a city-sized load the planner otherwise guesses tenancy
    # filters badly (a 7 ms customer list took 450 ms until ANALYZE).
    with connection.cursor() as cursor:
        for table in customer_services.BULK_MODELS:
            cursor.execute(f'ANALYZE "customers_{table.lower()}"')
        cursor.execute('ANALYZE "org_orgnode"')
    if progress:
        progress("customers", customers, customers)
    counts["seconds"] = round(time.perf_counter() - started, 2)
    counts["sample_logins"] = _sample_logins(plan)
    return counts


def _sample_logins(plan) -> list[tuple[str, str, str]]:
    """One login per role, for the README and the demo banner."""
    seen: dict[str, tuple[str, str, str]] = {}
    for s in plan.staff:
        for role in s.roles:
            if role not in seen or (s.username == "admin"):
                seen[role] = (role, s.username, s.node_code)
    return sorted(seen.values())
