"""The demo's prices and its latest billed month: real-looking tariffs for the three companies
(``ucis/demo/tariffs/*.yaml``), late-fee policies, the low-income reduction, and a bill run per
company for the latest month whose reads are all reviewed — calculated, approved by another
person and issued, so a newcomer lands on a billed city."""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from pathlib import Path
from typing import Any

import yaml

from ucis.billing import services as billing_services
from ucis.kernel.errors import DomainError
from ucis.metering import usage as metering_usage
from ucis.org import selectors as org_selectors
from ucis.platform.tenancy import SYSTEM
from ucis.tariffs import services as tariff_services

TARIFF_FILES = Path(__file__).resolve().parent / "tariffs"
# company, commodity, the staff prefix of its approver (``water.hq.billing-approver1``)
COMPANIES = (("LJW", "water", "water"), ("LJE", "electricity", "power"), ("LJG", "gas", "gas"))
LATE_FEES = {
    # company: (grace days, {customer type: (this year, later years)}, minimum)
    "LJW": (15, {t: ("0.0005", "0.0005") for t in ("resident", "non_resident", "special", "industrial", "public")},
            "0.00"),
    "LJE": (0, {"resident": ("0.001", "0.001"), **{t: ("0.002", "0.003") for t in
                                                   ("non_resident", "special", "industrial", "public")}}, "1.00"),
    "LJG": (10, {t: ("0.0005", "0.0005") for t in ("resident", "non_resident", "special", "industrial", "public")},
            "0.00"),
}


def demo_tariffs_load(*, today: date) -> int:
    """Import every demo tariff file (idempotent: a re-import changes nothing) and the policies."""
    count = 0
    for path in sorted(TARIFF_FILES.glob("*.yaml")):
        for doc in yaml.safe_load(path.read_text(encoding="utf-8")):
            text = yaml.safe_dump(doc, allow_unicode=True, sort_keys=False)
            tariff_services.tariff_import(actor=SYSTEM, text=text, reason=f"demo price book {path.name}")
            count += 1
    start = date(today.year - 2, 1, 1)
    for company, (grace, rates, minimum) in LATE_FEES.items():
        commodity = {c: m for c, m, _p in COMPANIES}[company]
        try:
            tariff_services.late_fee_policy_set(actor=SYSTEM, company=company, commodity=commodity, grace_days=grace,
                                                rates=rates, minimum=minimum, active_from=start,
                                                reason="demo late-fee policy")
        except DomainError:
            pass  # already set by an earlier run
    try:
        tariff_services.standing_reduction_set(
            actor=SYSTEM, company="LJW", commodity="water", category="low_income", label="低保户减免", of=["water"],
            free_volume=Decimal("5"), active_from=start, reason="demo low-income relief",
            message="您享受低保户每月5立方米免费用水")
    except DomainError:
        pass
    return count


def demo_bill_cycle(*, period: date, progress: Any = None, issued_on: date | None = None) -> list[dict[str, Any]]:
    """Bill ``period`` for every company: start, calculate, approve (by the company's billing
    approver, not the system that calculated) and issue (on ``issued_on``, default today)."""
    results = []
    for code, commodity, prefix in COMPANIES:
        username = f"{prefix}.hq.billing-approver1"
        approver = org_selectors.staff_list(actor=SYSTEM, q=username).filter(username=username).first()
        company = org_selectors.org_node_by_code(actor=SYSTEM, code=code)
        # Routes still waiting in the review queue for the period are left for the reviewers.
        ready = metering_usage.routes_ready(company_id=company.pk, commodity=commodity, period=period)
        if not ready:
            continue
        run = billing_services.bill_run_start(actor=SYSTEM, company_id=company.pk, commodity=commodity, period=period,
                                              route_ids=ready)
        done = billing_services.bill_run_calculate(
            actor=SYSTEM, run_id=run.pk,
            progress=(lambda d, t, code=code: progress(f"bills {code}", d, t)) if progress else None)
        billing_services.bill_run_approve(actor=approver or SYSTEM, run_id=run.pk)
        billing_services.bill_run_issue(actor=approver or SYSTEM, run_id=run.pk, issued_on=issued_on)
        results.append({"company": code, "run": run.pk, "routes": len(ready), **done})
    return results
