"""Reads of bill runs and bills for the screens and the API (through the tenancy layer)."""

from __future__ import annotations

import re
from typing import Any

from django.db import connection
from django.utils.translation import gettext

from ucis.billing.models import EXCEPTION_REASONS, Bill, BillRun
from ucis.metering import selectors as metering_selectors
from ucis.org import selectors as org_selectors
from ucis.platform.tenancy import access_by_id
from ucis.tariffs import selectors as tariff_selectors


def run_list(*, actor: Any, status: str = "") -> Any:
    qs = BillRun.objects.visible_to(actor).select_related("company", "created_by")
    if status:
        qs = qs.filter(status=status)
    return qs.order_by("-period", "-id")


def run_get(*, actor: Any, run_id: Any) -> BillRun:
    return access_by_id(BillRun.objects.select_related("company", "created_by", "calculated_by", "approved_by",
                                                       "issued_by"), actor, run_id)


def progress(run: BillRun) -> int:
    """Percent of the run's accounts calculated (100 once calculated, also when it had none)."""
    if run.status not in ("created", "calculating"):
        return 100
    return min(100, 100 * run.items_done // run.items_total) if run.items_total else 0


def run_start_choices(*, actor: Any) -> dict[str, Any]:
    """The companies and routes a start form offers (only what the actor sees)."""
    return {"companies": list(org_selectors.org_node_list(actor=actor, kind="company")),
            "routes": list(metering_selectors.route_list(actor=actor).select_related("company"))}


def runs_page(*, actor: Any, status: str = "") -> dict[str, Any]:
    runs = list(run_list(actor=actor, status=status)[:200])
    return {"runs": [{"run": r, "percent": progress(r)} for r in runs], **run_start_choices(actor=actor)}


def explanation_text(explanation: Any) -> str:
    """A bill line's explanation in the user's language."""
    if not explanation:
        return ""
    return tariff_selectors.explain(explanation.get("template", ""), explanation.get("params"))


def bill_page(*, actor: Any, bill_id: Any) -> dict[str, Any]:
    bill = access_by_id(Bill.objects.select_related("account", "run", "company", "node"), actor, bill_id)
    lines = [{"line": ln, "text": explanation_text(ln.explanation)} for ln in bill.lines.order_by("seq")]
    return {"bill": bill, "lines": lines}


def run_bills(*, actor: Any, run_id: Any, limit: int = 100) -> list[Bill]:
    run = run_get(actor=actor, run_id=run_id)
    return list(Bill.objects.visible_to(actor).filter(run=run).select_related("account").order_by("id")[:limit])


def _pattern(template: str) -> re.Pattern[str]:
    parts = re.split(r"%\((\w+)\)s", template)
    regex = "".join(re.escape(part) if n % 2 == 0 else f"(?P<{part}>.+?)" for n, part in enumerate(parts))
    return re.compile(f"^{regex}$")


_REASON_PATTERNS = [(template, _pattern(template)) for template in EXCEPTION_REASONS]


def exception_text(reason: str) -> str:
    """A run item's stored (English) reason in the user's language when it is one of the known
    reasons; any other text (a rating refusal) as stored."""
    for template, pattern in _REASON_PATTERNS:
        found = pattern.match(reason or "")
        if found:
            return gettext(template) % found.groupdict() if found.groupdict() else gettext(template)
    return reason


def bills_on_route(*, bill_ids: list[int], route_id: int) -> set[int]:
    """Those of ``bill_ids`` whose account was billed on ``route_id`` (by its run's item)."""
    if not bill_ids:
        return set()
    with connection.cursor() as cursor:
        cursor.execute("""SELECT b.id FROM billing_bill b JOIN billing_billrunitem i
                            ON i.run_id = b.run_id AND i.account_id = b.account_id
                           WHERE b.id = ANY(%s) AND i.route_id = %s""", [bill_ids, route_id])
        return {r for (r,) in cursor.fetchall()}


def bill_get(*, actor: Any, bill_id: Any) -> Bill:
    """A bill the actor may see (company-wide for staff who serve the whole company)."""
    return access_by_id(Bill.objects.select_related("account", "run"), actor, bill_id,
                        company_wide=actor.has_perm("customers.lookup_company"))


def bill_priced_lines(*, bill_id: int) -> list[dict[str, Any]]:
    """A bill's lines that have a unit price, in order: code, label, receivable, price, block."""
    return list(Bill.objects.get(pk=bill_id).lines.filter(price__isnull=False).order_by("seq")
                .values("code", "label", "receivable", "price", "block"))


def recent_bills(*, account_ids: list[int], each: int = 3) -> dict[int, list[dict[str, Any]]]:
    """The last ``each`` bills of every account (newest first), one indexed walk per account."""
    out: dict[int, list[dict[str, Any]]] = {a: [] for a in account_ids}
    if not account_ids:
        return out
    with connection.cursor() as cur:
        cur.execute("SELECT b.account_id, b.id, b.period, b.usage, b.total, b.status, b.due_date"
                    " FROM unnest(%s::bigint[]) a(id) CROSS JOIN LATERAL ("
                    "  SELECT * FROM billing_bill WHERE account_id = a.id AND status <> 'cancelled'"
                    "  ORDER BY period DESC LIMIT %s) b", [list(account_ids), each])
        for account_id, bill_id, period, usage, total, status, due in cur.fetchall():
            out[account_id].append({"id": bill_id, "period": period, "usage": usage, "total": total,
                                    "status": status, "due_date": due})
    return out
