"""Writes the synthetic city into the database, set-based (COPY). Later issues add customers,
premises, meters and reads to the same generator, sized by ``--customers``."""

from __future__ import annotations

import time
from datetime import date, timedelta
from typing import Any

from django.db import connection, transaction
from django.utils import timezone

from ucis.customers import services as customer_services
from ucis.demo import billingdemo, knowledgedemo, paymentsdemo, servicedemo
from ucis.demo.cityplan import plan_city
from ucis.demo.readplan import SOURCES, MeterTable, plan_reads
from ucis.demo.registryplan import plan_registry
from ucis.metering import bulkload as metering_bulkload
from ucis.org import roles
from ucis.org import selectors as org_selectors
from ucis.org import services as org_services
from ucis.platform.tenancy import SYSTEM


def demo_present() -> bool:
    return org_selectors.org_node_list(actor=SYSTEM).filter(parent__isnull=True).exists()


def demo_reset() -> None:
    """Remove all business data (not the schema). Only for demo/test databases. The mass tables
    have no database foreign keys (CASCADE does not reach them), so their apps are named here."""
    from django.apps import apps

    tables = [m._meta.db_table for label in ("org", "customers", "metering", "tariffs", "billing", "ledger")
              for m in apps.get_app_config(label).get_models()]
    tables += ["org_user_groups", "pghistory_context", "axes_accessattempt", "otp_totp_totpdevice", "django_session",
               "django_admin_log"]
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(f"TRUNCATE {', '.join(tables)} RESTART IDENTITY CASCADE")


def demo_data_load(*, customers: int, seed: int, password: str, progress: Any = None,
                   today: date | None = None, bills: bool = True, reads: bool = True) -> dict[str, Any]:
    """The whole city; ``reads=False`` stops after the registry (no reads, so no bills either)."""
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
    counts["tariffs"] = billingdemo.demo_tariffs_load(today=today or timezone.localdate())
    # Fresh statistics: right after a city-sized load the planner otherwise guesses tenancy
    # filters badly (a 7 ms customer list took 450 ms until ANALYZE).
    with connection.cursor() as cursor:
        for table in customer_services.BULK_MODELS:
            cursor.execute(f'ANALYZE "customers_{table.lower()}"')
        cursor.execute('ANALYZE "org_orgnode"')
    counts["registry_s"] = round(time.perf_counter() - started, 2)
    if progress:
        progress("customers", customers, customers)
    if reads:
        counts.update(_reads_load(plan, seed=seed, today=today or timezone.localdate()))
        if progress:
            progress("reads", counts["reads"], counts["reads"])
    if bills and reads:
        counts.update(_bills_load(today=today or timezone.localdate(), progress=progress))
    counts["seconds"] = round(time.perf_counter() - started, 2)
    counts["sample_logins"] = _sample_logins(plan)
    return counts


def _reads_load(city, *, seed: int, today: date) -> dict[str, Any]:
    """Routes, cycles and a year of reads for every installed meter, with anomalies in the newest
    cycle; timed on its own (it is most of a large city's rows)."""
    started = time.perf_counter()
    meters = metering_bulkload.installed_meters()
    readers: dict[str, list[str]] = {}
    for s in city.staff:
        if roles.METER_READER in s.roles:
            readers.setdefault(s.node_code, []).append(s.username)
    plan = plan_reads(
        meters=MeterTable(node_code=meters.node_code, commodity=meters.commodity, meter_type=meters.meter_type,
                          customer_type=meters.customer_type, dial_digits=meters.dial_digits,
                          install_reading=meters.install_reading, installed=meters.installed,
                          commodities=meters.commodities, meter_types=meters.meter_types,
                          customer_types=meters.customer_types),
        readers=readers, node_names={n.code: n.name for n in city.nodes}, seed=seed, today=today)
    planned = time.perf_counter() - started
    history = metering_bulkload.ReadHistory(
        meters=meters, routes=[metering_bulkload.RouteRow(**vars(r)) for r in plan.routes], stop_route=plan.stop_route, stop_sequence=plan.stop_sequence,
        cycle_route=plan.cycle_route, cycle_period=plan.cycle_period, cycle_scheduled=plan.cycle_scheduled,
        cycle_from=plan.cycle_from, cycle_to=plan.cycle_to, cycle_open=plan.cycle_open, read_row=plan.read_row,
        read_cycle=plan.read_cycle, read_date=plan.read_date, reading=plan.reading,
        stated_previous=plan.stated_previous, has_stated_previous=plan.has_stated_previous,
        read_source=plan.read_source, sources=SOURCES)
    counts = metering_bulkload.reads_bulk_load(actor=SYSTEM, history=history, today=today,
                                               reason=f"demo reads (seed {seed})", batch_ref=f"demo-{seed}")
    counts["reads_plan_s"] = round(planned, 2)
    counts["reads_s"] = round(time.perf_counter() - started, 2)
    return counts


def _bills_load(*, today: date, progress: Any = None) -> dict[str, Any]:
    """Last month billed, approved and issued for every route the review queue has released."""
    started = time.perf_counter()
    period = (today.replace(day=1) - timedelta(days=1)).replace(day=1)
    before = (period - timedelta(days=1)).replace(day=1)
    # The month before last was issued a month ago (now overdue), last month today.
    runs = billingdemo.demo_bill_cycle(period=before, progress=progress, issued_on=period)
    runs += billingdemo.demo_bill_cycle(period=period, progress=progress)
    money = paymentsdemo.demo_payments(today=today)
    knowledgedemo.demo_knowledge()
    desk = servicedemo.demo_service()
    return {**{f"payments_{k}": v for k, v in money.items()}, **{f"service_{k}": v for k, v in desk.items()}, "bills": sum(r["billed"] for r in runs),
            "bill_exceptions": sum(r["exception"] for r in runs), "bills_period": f"{period:%Y-%m}",
            "bills_s": round(time.perf_counter() - started, 2)}


def _sample_logins(plan) -> list[tuple[str, str, str]]:
    """One login per role, for the README and the demo banner."""
    seen: dict[str, tuple[str, str, str]] = {}
    for s in plan.staff:
        for role in s.roles:
            if role not in seen or (s.username == "admin"):
                seen[role] = (role, s.username, s.node_code)
    return sorted(seen.values())
