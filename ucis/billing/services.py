"""Bill runs (出账, BIL-1): start (select accounts) → calculate (rate, write bills) → approve (a
different person) → issue. Set-based: inputs are loaded in bulk per chunk, rated with the pure
engine (integer path for the common case), and bills and lines are written with COPY into staging
then one guarded INSERT. ``(account, period)`` is unique among live bills, so a run killed at any
point is simply calculated again: what was written stays, what was not is written, nothing twice.
"""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Callable, Sequence
from datetime import date, timedelta
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from django.conf import settings
from django.db import connection, transaction
from django.utils import timezone

from ucis.billing import models
from ucis.billing.models import Bill, BillRun
from ucis.customers import selectors as customer_selectors
from ucis.kernel.errors import Conflict, DomainError
from ucis.kernel.errors import gettext_noop as _
from ucis.kernel.periods import month_start
from ucis.ledger import accrual as ledger_accrual
from ucis.ledger import services as ledger_services
from ucis.metering import usage as metering_usage
from ucis.org import selectors as org_selectors
from ucis.platform.audit import audit_context
from ucis.platform.bulk import copy_rows, next_ids
from ucis.platform.permissions import require
from ucis.platform.tenancy import access_by_id, acting_user
from ucis.tariffs import rating
from ucis.tariffs import selectors as tariff_selectors

OPEN_STATUSES = ("created", "calculating", "calculated", "approved", "issuing")
VOLUME = Decimal("0.01")




# --- start: select the accounts ----------------------------------------------------------------------


def bill_run_start(*, actor: Any, company_id: Any, commodity: str, period: date | str,
                   route_ids: Sequence[int] = ()) -> BillRun:
    """Create a run and its items: every account paying for a service point on the routes (all
    the company's routes of the commodity when none are named) not yet billed for the period."""
    require(actor, "billing.calculate_billrun")
    month = month_start(period)
    company = org_selectors.org_node_get(actor=actor, node_id=company_id)
    if company.kind != "company":
        raise DomainError("company_id", _("a bill run is for a company"))
    routes = sorted({int(r) for r in route_ids})
    points = metering_usage.route_points(company_id=company.pk, commodity=commodity, route_ids=routes)
    if routes and {r for r, _sp in points} != set(routes):
        raise DomainError("route_ids", _("some routes are not active routes of %(company)s for %(commodity)s"),
                          company=company.code, commodity=commodity)
    if not points:
        raise DomainError("route_ids", _("there are no service points to bill on these routes"))
    with transaction.atomic(), audit_context(actor=actor, reason=f"bill run {month:%Y-%m}", source="billing"):
        clash = BillRun.objects.select_for_update().filter(company=company, commodity=commodity, period=month,
                                                           status__in=OPEN_STATUSES)
        for other in clash:
            if not other.route_ids or not routes or set(other.route_ids) & set(routes):
                raise Conflict("route_ids", _("bill run %(run)s for %(period)s already covers these routes"),
                               run=other.pk, period=f"{month:%Y-%m}")
        run = BillRun.objects.create(company=company, commodity=commodity, period=month, route_ids=routes,
                                     created_by=acting_user(actor))
        period_end = (month + timedelta(days=32)).replace(day=1) - timedelta(days=1)
        payers = customer_selectors.billing_accounts(service_point_ids=[sp for _r, sp in points], on=period_end)
        route_of: dict[int, int] = {}
        for route, sp in points:
            if sp in payers:
                route_of.setdefault(payers[sp]["account_id"], route)
        with connection.cursor() as cursor:
            cursor.execute(
                """INSERT INTO billing_billrunitem (run_id, account_id, route_id, status, reason)
                   SELECT %s, t.account, t.route, 'pending', '' FROM unnest(%s::bigint[], %s::bigint[]) AS t(account, route)
                    WHERE NOT EXISTS (SELECT 1 FROM billing_bill b WHERE b.account_id = t.account AND b.period = %s
                                        AND b.status <> 'cancelled')""",
                [run.pk, list(route_of), list(route_of.values()), month])
            run.items_total = cursor.rowcount
        run.save(update_fields=["items_total"])
    return run


# --- calculate ------------------------------------------------------------------------------------------


def bill_run_pending_routes(*, actor: Any, run_id: Any) -> list[int | None]:
    """The routes of a run that still have accounts to calculate (its work partitions)."""
    run = access_by_id(BillRun, actor, run_id)
    with connection.cursor() as cursor:
        cursor.execute("SELECT DISTINCT route_id FROM billing_billrunitem WHERE run_id = %s AND status = 'pending' "
                       "ORDER BY route_id", [run.pk])
        return [r for (r,) in cursor.fetchall()]


def _volume(thousandths_sum: Decimal) -> Decimal:
    """Reads are exact to 0.001; bills to 0.01, rounded half-up (the documented point)."""
    return Decimal(thousandths_sum).quantize(VOLUME, rounding=ROUND_HALF_UP)


def _explanation(template: str, params: dict[str, Any]) -> str:
    return json.dumps({"template": template, "params": params}, ensure_ascii=False)


def bill_run_calculate(*, actor: Any, run_id: Any, route_id: int | None = None, chunk: int = 50_000,
                       progress: Callable[[int, int], None] | None = None) -> dict[str, int]:
    """Rate and write the run's pending items (of one route when ``route_id`` is given — workers
    share a run by route). Refused while any service point of the run waits in the review queue."""
    require(actor, "billing.calculate_billrun")
    run = access_by_id(BillRun, actor, run_id)
    if run.status not in ("created", "calculating"):
        raise Conflict("status", _("the run is %(status)s; only a new or interrupted run is calculated"),
                       status=run.status)
    points = metering_usage.route_points(company_id=run.company_id, commodity=run.commodity,
                                         route_ids=[route_id] if route_id else run.route_ids)
    metering_usage.review_gate(period=run.period, service_point_ids=[sp for _r, sp in points])
    BillRun.objects.filter(pk=run.pk, status="created").update(status="calculating")
    done = {"billed": 0, "exception": 0}
    period_end = (run.period + timedelta(days=32)).replace(day=1) - timedelta(days=1)
    # Who pays for each service point, loaded once for the whole run rather than once per chunk.
    payers = customer_selectors.billing_accounts(service_point_ids=[sp for _r, sp in points], on=period_end)
    by_account: dict[int, list[int]] = defaultdict(list)
    for sp, payer in payers.items():
        by_account[payer["account_id"]].append(sp)
    while True:
        with transaction.atomic(), audit_context(actor=actor, reason=f"bill run {run.pk}", source="billing"):
            with connection.cursor() as cursor:
                sql = ("SELECT id, account_id, route_id FROM billing_billrunitem WHERE run_id = %s AND status = 'pending'"
                       + (" AND route_id = %s" if route_id else "") + " ORDER BY id LIMIT %s FOR UPDATE SKIP LOCKED")
                cursor.execute(sql, [run.pk, route_id, chunk] if route_id else [run.pk, chunk])
                items = cursor.fetchall()
            if not items:
                break
            outcome = _calculate_chunk(run, items, payers, by_account)
            for key in done:
                done[key] += outcome[key]
        if progress:
            progress(done["billed"] + done["exception"], run.items_total)
    with transaction.atomic(), audit_context(actor=actor, reason=f"bill run {run.pk}", source="billing"):
        locked = BillRun.objects.select_for_update().get(pk=run.pk)
        with connection.cursor() as cursor:
            cursor.execute("SELECT status, count(*) FROM billing_billrunitem WHERE run_id = %s GROUP BY status",
                           [run.pk])
            counts = dict(cursor.fetchall())
        locked.items_done = counts.get("billed", 0) + counts.get("exception", 0)
        locked.exceptions = counts.get("exception", 0)
        if not counts.get("pending") and locked.status == "calculating":
            locked.status = "calculated"
            locked.calculated_by = acting_user(actor)
            locked.calculated_at = timezone.now()
            locked.totals = _totals(locked)
        locked.save()
    return done


def _calculate_chunk(run: BillRun, items: list[tuple[int, int, int]], payers: dict[int, dict[str, Any]],
                     by_account: dict[int, list[int]]) -> dict[str, int]:
    account_ids = [a for _i, a, _r in items]
    wanted = set(account_ids)
    period_end = (run.period + timedelta(days=32)).replace(day=1) - timedelta(days=1)
    points_of: dict[int, list[int]] = {}
    info: dict[int, dict[str, Any]] = {}
    for account_id in wanted:
        sps = by_account.get(account_id)
        if sps:
            points_of[account_id] = sps
            info[account_id] = payers[sps[0]]
    usage = metering_usage.billable_usage(period=run.period, service_point_ids=[sp for sps in points_of.values()
                                                                                for sp in sps])
    specials = metering_usage.special_usage(period=run.period, service_point_ids=[
        sp for sps in points_of.values() for sp in sps])
    tariffs = tariff_selectors.tariffs_by_type(company_id=run.company_id, commodity=run.commodity)
    ytd = _year_to_date(run, account_ids)
    exceptions: dict[int, str] = {}
    accounts: dict[int, rating.Account] = {}
    for account_id in account_ids:
        payer = info.get(account_id)
        rows = [usage[sp] for sp in points_of.get(account_id, []) if sp in usage]
        if payer is None:
            exceptions[account_id] = models.NO_AGREEMENT
            continue
        if not rows:
            exceptions[account_id] = models.NO_READ
            continue
        start = min(r[1] for r in rows)
        end = max(r[2] for r in rows)
        if end <= start:
            exceptions[account_id] = models.NO_DAYS
            continue
        total = _volume(sum((Decimal(r[0]) for r in rows), Decimal(0)))
        if total < 0:
            exceptions[account_id] = models.NEGATIVE_USAGE % {"usage": total}
            continue
        # A tariff change inside the period splits the usage at the special read when every
        # service point of the account has one for the same date; else rating splits by days.
        sp_specials = [specials.get(sp) for sp in points_of.get(account_id, []) if sp in usage]
        usage_at = {}
        if sp_specials and all(x is not None for x in sp_specials) and len({x[0] for x in sp_specials}) == 1:
            usage_at = {sp_specials[0][0]: _volume(sum((Decimal(x[1]) for x in sp_specials), Decimal(0)))}
        accounts[account_id] = rating.Account(start, end, {"total": total}, residents=payer["residents"],
                                              year_to_date=ytd.get((account_id, start.year), Decimal(0)),
                                              meters=len(rows), meter_size=payer["meter_size"], usage_at=usage_at)
    reductions = tariff_selectors.reductions_for(
        company_id=run.company_id, commodity=run.commodity, start=run.period, end=period_end + timedelta(days=1),
        account_ids=list(accounts), categories={a: info[a]["categories"] for a in accounts})
    by_tariff: dict[int, list[int]] = defaultdict(list)
    versions_of: dict[int, list[rating.Version]] = {}
    for account_id in list(accounts):
        choices = tariffs.get(info[account_id]["customer_type"], [])
        if len(choices) != 1:
            exceptions[account_id] = (models.NO_TARIFF if not choices else models.SEVERAL_TARIFFS) % {
                "type": info[account_id]["customer_type"]}
            del accounts[account_id]
            continue
        tariff, versions = choices[0]
        if reductions.get(account_id):
            a = accounts[account_id]
            accounts[account_id] = rating.Account(a.period_from, a.period_to, a.usage, residents=a.residents,
                                                  year_to_date=a.year_to_date, meters=a.meters,
                                                  meter_size=a.meter_size, usage_at=a.usage_at,
                                                  reductions=tuple(reductions[account_id]))
        by_tariff[tariff.pk].append(account_id)
        versions_of[tariff.pk] = versions
    lines_of: dict[int, list[rating.Line]] = {}
    for tariff_pk, members in by_tariff.items():
        versions = versions_of[tariff_pk]
        lines_of.update(_rate_members(versions, members, accounts, exceptions))
    shares = defaultdict(list)
    for account_id, label, amount, explanation in metering_usage.apportioned_shares(period=run.period,
                                                                                    account_ids=list(lines_of)):
        shares[account_id].append(rating.Line("apportion", label, Decimal(1), None, amount, rating.RECEIVABLE, "",
                                              "%(text)s", {"text": explanation}))
    for account_id, extra in shares.items():
        lines_of[account_id] = lines_of[account_id] + extra
    billed = _write_bills(run, lines_of, accounts, info, reductions)
    _mark_items(run, [i for i, a, _r in items if a in billed], "billed", {})
    _mark_items(run, [i for i, a, _r in items if a in exceptions], "exception",
                {i: exceptions[a] for i, a, _r in items if a in exceptions})
    # Items whose bill a concurrent or earlier attempt already wrote are billed, not pending.
    leftover = [i for i, a, _r in items if a not in billed and a not in exceptions]
    _mark_items(run, leftover, "billed", {})
    return {"billed": len(billed) + len(leftover), "exception": len(exceptions)}


def _rate_members(versions: list[rating.Version], members: list[int], accounts: dict[int, rating.Account],
                  exceptions: dict[int, str]) -> dict[int, list[rating.Line]]:
    """Group accounts by the one version their period lies in (the integer path rates those);
    periods spanning a change are rated by the reference path."""
    result: dict[int, list[rating.Line]] = {}
    groups: dict[int, list[int]] = defaultdict(list)
    for account_id in members:
        a = accounts[account_id]
        inside = [n for n, v in enumerate(versions) if v.active_from <= a.period_from
                  and (v.active_to is None or a.period_to <= v.active_to)]
        if inside:
            groups[inside[0]].append(account_id)
            continue
        try:
            result[account_id] = rating.rate(versions, a)
        except DomainError as err:
            exceptions[account_id] = str(err)
    for n, ids in groups.items():
        version = versions[n]
        batch, others = rating.rate_batch(version, [accounts[i] for i in ids])
        for index, lines in others.items():
            result[ids[index]] = lines
        comps = version.components
        for a, c, b, q, p, amount in zip(batch.account.tolist(), batch.component.tolist(), batch.block.tolist(),
                                         batch.quantity.tolist(), batch.price.tolist(), batch.amount_fen.tolist(),
                                         strict=True):
            comp = comps[c]
            account_id = ids[a]
            if isinstance(comp, rating.Charge):
                quantity = Decimal(q) / 100
                price: Decimal | None = Decimal(p) / 10000
                template = _("%(label)s block %(block)s: %(quantity)s × %(price)s for %(days)s days, version "
                             "%(version)s")
                params = {"label": comp.label, "block": b, "quantity": str(quantity), "price": str(price),
                          "version": version.version,
                          "days": (accounts[account_id].period_to - accounts[account_id].period_from).days}
            elif isinstance(comp, rating.FixedCharge):
                quantity = Decimal(q) / 10000
                price = Decimal(p) / 10000
                template = _("%(label)s: %(amount)s × %(quantity)s, version %(version)s")
                params = {"label": comp.label, "amount": str(price), "quantity": str(quantity),
                          "version": version.version}
            else:
                quantity, price = Decimal(1), None
                template = _("%(label)s: topped up to the minimum, version %(version)s")
                params = {"label": comp.label, "version": version.version}
            receivable = comp.receivable if not isinstance(comp, rating.MinimumCharge) else rating.RECEIVABLE
            result.setdefault(account_id, []).append(rating.Line(
                comp.code, comp.label, quantity, price, Decimal(amount) / 100, receivable, version.version,
                template, params, block=b))
        for account_id in ids:
            result.setdefault(account_id, [])
    return result


def _year_to_date(run: BillRun, account_ids: list[int]) -> dict[tuple[int, int], Decimal]:
    """Annual-ladder volume already billed this calendar year, per (account, year)."""
    with connection.cursor() as cursor:
        cursor.execute(
            """SELECT account_id, extract(year FROM period_from)::int, sum(usage) FROM billing_bill
                WHERE account_id = ANY(%s) AND period < %s AND period >= %s AND status <> 'cancelled'
                GROUP BY 1, 2""", [account_ids, run.period, date(run.period.year - 1, 1, 1)])
        return {(a, y): u for a, y, u in cursor.fetchall()}


BILL_COLUMNS = ("id", "run_id", "account_id", "company_id", "node_id", "period", "period_from", "period_to", "usage",
                "total", "status", "messages")
LINE_COLUMNS = ("bill_id", "seq", "code", "label", "quantity", "price", "amount", "receivable", "version", "block",
                "explanation")


def _write_bills(run: BillRun, lines_of: dict[int, list[rating.Line]], accounts: dict[int, rating.Account],
                 info: dict[int, dict[str, Any]], reductions: dict[int, list[rating.Reduction]]) -> set[int]:
    """COPY bills and lines into staging, then insert the bills no earlier attempt wrote and the
    lines of exactly those bills. Returns the accounts billed now."""
    ordered = sorted(lines_of)
    ids = next_ids("billing_bill", len(ordered))
    bill_rows, line_rows = [], []
    for bill_id, account_id in zip(ids, ordered, strict=True):
        lines = lines_of[account_id]
        a = accounts[account_id]
        messages = sorted({r.message for r in reductions.get(account_id, []) if r.message})
        bill_rows.append((bill_id, run.pk, account_id, run.company_id, info[account_id]["node_id"], run.period,
                          a.period_from, a.period_to, a.usage["total"], rating.total(lines), "calculated",
                          "{" + ",".join(json.dumps(m, ensure_ascii=False) for m in messages) + "}"))
        for seq, ln in enumerate(lines, start=1):
            line_rows.append((bill_id, seq, ln.code, ln.label, ln.quantity, ln.price, ln.amount, ln.receivable,
                              ln.version, ln.block, _explanation(ln.template, dict(ln.params))))
    with connection.cursor() as cursor:
        cursor.execute("CREATE TEMP TABLE IF NOT EXISTS billing_bill_stage (LIKE billing_bill) ON COMMIT DELETE ROWS")
        cursor.execute("CREATE TEMP TABLE IF NOT EXISTS billing_line_stage (LIKE billing_billline) ON COMMIT DELETE ROWS")
        cursor.execute("TRUNCATE billing_bill_stage, billing_line_stage")
    copy_rows("billing_bill_stage", BILL_COLUMNS + ("created_at",), (r + (timezone.now(),) for r in bill_rows))
    copy_rows("billing_line_stage", ("id",) + LINE_COLUMNS, ((0,) + r for r in line_rows))
    cols = ", ".join(BILL_COLUMNS)
    line_cols = ", ".join(LINE_COLUMNS)
    with connection.cursor() as cursor:
        # One statement: the lines of exactly the bills this attempt inserted (a join, not a
        # 50,000-element ANY() probed for every line).
        cursor.execute(
            f"""WITH bills AS (INSERT INTO billing_bill ({cols}, created_at) SELECT {cols}, now() FROM billing_bill_stage
                               ON CONFLICT DO NOTHING RETURNING id, account_id),
                     lines AS (INSERT INTO billing_billline ({line_cols})
                               SELECT {", ".join("s." + c for c in LINE_COLUMNS)}
                                 FROM billing_line_stage s JOIN bills b ON b.id = s.bill_id)
                SELECT account_id FROM bills""")
        return {a for (a,) in cursor.fetchall()}


def _mark_items(run: BillRun, item_ids: list[int], status: str, reasons: dict[int, str]) -> None:
    if not item_ids:
        return
    with connection.cursor() as cursor:
        cursor.execute(
            """UPDATE billing_billrunitem i SET status = %s, reason = t.reason
                 FROM unnest(%s::bigint[], %s::text[]) AS t(id, reason) WHERE i.id = t.id""",
            [status, item_ids, [reasons.get(i, "")[:300] for i in item_ids]])


def _totals(run: BillRun) -> dict[str, Any]:
    with connection.cursor() as cursor:
        cursor.execute(
            """SELECT i.route_id, count(b.id), coalesce(sum(b.usage), 0), coalesce(sum(b.total), 0)
                 FROM billing_billrunitem i LEFT JOIN billing_bill b ON b.account_id = i.account_id
                      AND b.period = %s AND b.status <> 'cancelled'
                WHERE i.run_id = %s GROUP BY i.route_id ORDER BY i.route_id""", [run.period, run.pk])
        routes = [{"route_id": r, "bills": n, "usage": str(u), "total": str(t)} for r, n, u, t in cursor.fetchall()]
        cursor.execute(
            """SELECT l.receivable, sum(l.amount) FROM billing_billline l JOIN billing_bill b ON b.id = l.bill_id
                WHERE b.run_id = %s GROUP BY 1 ORDER BY 1""", [run.pk])
        receivables = {k: str(v) for k, v in cursor.fetchall()}
    return {"routes": routes, "receivables": receivables,
            "bills": sum(r["bills"] for r in routes),
            "total": str(sum((Decimal(r["total"]) for r in routes), Decimal("0.00")))}


# --- review, approve, issue ---------------------------------------------------------------------------------


def bill_run_review(*, actor: Any, run_id: Any, outlier_ratio: Decimal = Decimal(2),
                    bills_shown: int = 50) -> dict[str, Any]:
    """What a billing clerk checks before approval: totals by route and receivable, the exceptions,
    and outliers — bills more than ``outlier_ratio`` × (or less than 1/ratio of) the account's last
    bill — and the run's first ``bills_shown`` bills."""
    run = access_by_id(BillRun, actor, run_id)
    with connection.cursor() as cursor:
        cursor.execute(
            """SELECT b.id, b.account_id, b.total, prev.total FROM billing_bill b
                 JOIN LATERAL (SELECT p.total FROM billing_bill p WHERE p.account_id = b.account_id
                                 AND p.period < b.period AND p.status <> 'cancelled'
                               ORDER BY p.period DESC LIMIT 1) prev ON true
                WHERE b.run_id = %s AND prev.total > 0
                  AND (b.total > prev.total * %s OR b.total * %s < prev.total)
                ORDER BY b.total DESC LIMIT 500""", [run.pk, outlier_ratio, outlier_ratio])
        outliers = [{"bill_id": b, "account_id": a, "total": str(t), "previous": str(p)}
                    for b, a, t, p in cursor.fetchall()]
        cursor.execute("SELECT account_id, reason FROM billing_billrunitem WHERE run_id = %s AND status = 'exception' "
                       "ORDER BY account_id LIMIT 1000", [run.pk])
        exceptions = [{"account_id": a, "reason": r} for a, r in cursor.fetchall()]
    numbers = customer_selectors.account_numbers(
        account_ids=[o["account_id"] for o in outliers] + [e["account_id"] for e in exceptions])
    for row in outliers + exceptions:
        row["account_no"] = numbers.get(row["account_id"], "")
    route_ids = [r["route_id"] for r in run.totals.get("routes", []) if r.get("route_id")]
    bills = list(Bill.objects.filter(run=run).select_related("account").order_by("id")[:bills_shown])
    return {"run": run, "totals": run.totals, "outliers": outliers, "exceptions": exceptions, "bills": bills,
            "route_codes": metering_usage.route_codes(route_ids=route_ids)}


def bill_run_ready(*, actor: Any, run_id: Any) -> BillRun:
    """Check before queueing that a run can be calculated now (new or interrupted, none of its
    service points waiting in the review queue), so a refusal is shown at once rather than lost
    in a background task."""
    require(actor, "billing.calculate_billrun")
    run = access_by_id(BillRun, actor, run_id)
    if run.status not in ("created", "calculating"):
        raise Conflict("status", _("the run is %(status)s; only a new or interrupted run is calculated"),
                       status=run.status)
    points = metering_usage.route_points(company_id=run.company_id, commodity=run.commodity, route_ids=run.route_ids)
    metering_usage.review_gate(period=run.period, service_point_ids=[sp for _r, sp in points])
    return run


def bill_run_approve(*, actor: Any, run_id: Any) -> BillRun:
    """Approval (审核) by someone other than the person who calculated the run."""
    require(actor, "billing.approve_billrun")
    with transaction.atomic(), audit_context(actor=actor, reason="approve bill run", source="billing"):
        run = access_by_id(BillRun.objects.select_for_update(), actor, run_id)
        if run.status != "calculated":
            raise Conflict("status", _("only a calculated run can be approved; this one is %(status)s"),
                           status=run.status)
        if run.calculated_by_id is not None and run.calculated_by_id == getattr(actor, "pk", None):
            raise DomainError("approved_by", _("the run must be approved by someone other than who calculated it"))
        run.status, run.approved_by, run.approved_at = "approved", acting_user(actor), timezone.now()
        run.save(update_fields=["status", "approved_by", "approved_at"])
    return run


def bill_run_issue(*, actor: Any, run_id: Any) -> BillRun:
    """Issue an approved run: its bills become due and are posted as receivables in the ledger
    (one balanced entry per bill, set-based), credit customers hold pays them at once, and the due
    date is today plus ``UCIS_BILL_DUE_DAYS``."""
    require(actor, "billing.issue_billrun")
    with transaction.atomic(), audit_context(actor=actor, reason="issue bill run", source="billing"):
        run = access_by_id(BillRun.objects.select_for_update(), actor, run_id)
        if run.status != "approved":
            raise Conflict("status", _("only an approved run can be issued; this one is %(status)s"),
                           status=run.status)
        now = timezone.now()
        today = timezone.localdate()
        with connection.cursor() as cursor:
            cursor.execute("DROP TABLE IF EXISTS bill_postings")
            cursor.execute(
                """CREATE TEMP TABLE bill_postings ON COMMIT DROP AS
                   SELECT b.id AS bill_id, b.account_id, b.node_id, l.receivable, sum(l.amount) AS amount
                     FROM billing_bill b JOIN billing_billline l ON l.bill_id = b.id
                    WHERE b.run_id = %s AND b.status = 'calculated'
                    GROUP BY b.id, b.account_id, b.node_id, l.receivable HAVING sum(l.amount) <> 0""", [run.pk])
        ledger_services.bill_postings_post(actor=actor, company_id=run.company_id, commodity=run.commodity,
                                           effective_date=today, staging="bill_postings")
        # Money customers hold with us (预存) pays the new bills at once.
        ledger_accrual.credits_apply(actor=actor, company_id=run.company_id, effective_date=today, key=f"run{run.pk}")
        Bill.objects.filter(run=run, status="calculated").update(
            status="issued", issued_at=now, due_date=today + timedelta(days=settings.UCIS_BILL_DUE_DAYS))
        run.status, run.issued_by, run.issued_at = "issued", acting_user(actor), now
        run.save(update_fields=["status", "issued_by", "issued_at"])
    return run


def bill_cancel(*, actor: Any, bill_id: int, reason: str) -> Bill:
    """Mark an issued bill cancelled (its ledger entries are reversed by the correction order that
    calls this); the account can then be billed again for the period by a run over its route."""
    with transaction.atomic(), audit_context(actor=actor, reason=reason, source="billing"):
        bill = Bill.objects.select_for_update().get(pk=bill_id)
        if bill.status != "issued":
            raise Conflict("bill", _("only an issued bill can be cancelled; this one is %(status)s"),
                           status=bill.status)
        bill.status = "cancelled"
        bill.save(update_fields=["status"])
    return bill
