"""Bill runs (出账, BIL-1): start (select accounts) → calculate (rate, write bills) → approve (a
different person) → issue. Set-based: inputs are loaded in bulk per chunk, rated with the pure
engine (integer path for the common case), and bills and lines are written with COPY into staging
then one guarded INSERT. ``(account, period)`` is unique among live bills, so a run killed at any
point is simply calculated again: what was written stays, what was not is written, nothing twice.
"""

from __future__ import annotations

import json
import time
from collections import defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import date, timedelta
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

import numpy as np
import pgtrigger
from django.conf import settings
from django.db import IntegrityError, connection, transaction
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
from ucis.platform.bulk import Column, copy_chunks, copy_rows, fetch_columns, format_columns, id_block
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
        route_col = np.array([r for r, _sp in points], dtype=np.int64)
        sp_col = np.array([sp for _r, sp in points], dtype=np.int64)
        payers = customer_selectors.billing_payer_columns(
            service_point_ids=metering_usage.int_array(np.unique(sp_col)), on=period_end, details=False)
        # Each paying account once, on the route of its first stop (routes in order, stops in walking order).
        by_sp = np.argsort(payers["sp"])
        pos = np.minimum(np.searchsorted(payers["sp"][by_sp], sp_col), max(len(by_sp) - 1, 0))
        paid = (payers["sp"][by_sp][pos] == sp_col) if len(by_sp) else np.zeros(len(sp_col), dtype=np.bool_)
        account_col = payers["account"][by_sp][pos][paid]
        accounts, first = np.unique(account_col, return_index=True)
        in_route_order = np.argsort(first)
        accounts, routes_of = accounts[in_route_order], route_col[paid][first][in_route_order]
        with connection.cursor() as cursor:
            cursor.execute(
                """INSERT INTO billing_billrunitem (run_id, account_id, route_id, status, reason)
                   SELECT %s, t.account, t.route, 'pending', ''
                     FROM unnest(%s::bigint[], %s::bigint[]) AS t(account, route)
                    WHERE NOT EXISTS (SELECT 1 FROM billing_bill b WHERE b.account_id = t.account AND b.period = %s
                                        AND b.status <> 'cancelled')""",
                [run.pk, metering_usage.int_array(accounts), metering_usage.int_array(routes_of), month])
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


@dataclass
class _RunInputs:
    """What a run loads once: who pays for its service points (columns sorted by account), the
    period's usage of the company's service points, the tariffs by customer type and the meter
    sizes priced by size. A calculation bills the reads accepted when it starts, as it bills the
    payers of that moment."""

    payers: dict[str, Any]
    usage: dict[str, Any]
    tariffs: dict[str, list[tuple[Any, list[rating.Version]]]]
    customer_types: list[str]
    sizes: tuple[str, ...]


def _run_inputs(run: BillRun, service_point_ids: list[int], clock: _Clock) -> _RunInputs:
    period_end = (run.period + timedelta(days=32)).replace(day=1) - timedelta(days=1)
    tariffs = tariff_selectors.tariffs_by_type(company_id=run.company_id, commodity=run.commodity)
    sizes = tuple(sorted({size for choices in tariffs.values() for _t, versions in choices for v in versions
                          for c in v.components if isinstance(c, rating.FixedCharge) for size in c.by_size}))
    types = customer_selectors.customer_type_codes()
    payers = customer_selectors.billing_payer_columns(
        service_point_ids=metering_usage.int_array(sorted(set(service_point_ids))), on=period_end,
        customer_types=types, sizes=sizes)
    clock.tick("load payers")
    usage = metering_usage.billable_usage_columns(period=run.period, company_id=run.company_id,
                                                  commodity=run.commodity)
    clock.tick("load usage")
    return _RunInputs(payers, usage, tariffs, types, sizes)


def bill_run_calculate(*, actor: Any, run_id: Any, route_id: int | None = None, chunk: int = 50_000,
                       progress: Callable[[int, int], None] | None = None,
                       timings: dict[str, float] | None = None) -> dict[str, int]:
    """Rate and write the run's pending items (of one route when ``route_id`` is given — workers
    share a run by route). Refused while any service point of the run waits in the review queue.
    ``timings`` (phase → seconds) is filled in when given (the bench prints it)."""
    require(actor, "billing.calculate_billrun")
    run = access_by_id(BillRun, actor, run_id)
    if run.status not in ("created", "calculating"):
        raise Conflict("status", _("the run is %(status)s; only a new or interrupted run is calculated"),
                       status=run.status)
    clock = _Clock(timings)
    routes = [route_id] if route_id else run.route_ids
    metering_usage.review_gate_routes(period=run.period, company_id=run.company_id, commodity=run.commodity,
                                      route_ids=routes)
    points = metering_usage.route_points(company_id=run.company_id, commodity=run.commodity, route_ids=routes)
    BillRun.objects.filter(pk=run.pk, status="created").update(status="calculating")
    done = {"billed": 0, "exception": 0}
    # Who pays for each service point, loaded once for the whole run rather than once per chunk.
    clock.tick("review gate, routes")
    inputs = _run_inputs(run, [sp for _r, sp in points], clock)
    retried = False
    while True:
        try:
            with transaction.atomic(), audit_context(actor=actor, reason=f"bill run {run.pk}", source="billing"):
                items = fetch_columns(
                    "FROM (SELECT id, account_id FROM billing_billrunitem WHERE run_id = %s AND status = 'pending'"
                    + (" AND route_id = %s" if route_id else "") + " ORDER BY id LIMIT %s FOR UPDATE SKIP LOCKED) t",
                    [run.pk, route_id, chunk] if route_id else [run.pk, chunk],
                    [("id", "id", "int8"), ("account", "account_id", "int8")])
                if not len(items["id"]):
                    break
                clock.tick("select items")
                outcome = _calculate_chunk(run, items["id"], items["account"], inputs, clock)
        except IntegrityError:
            # Another run wrote a bill of one of these accounts for the period between our check
            # and our COPY: the chunk rolled back; once more, and those accounts are found billed.
            if retried:
                raise
            retried = True
            continue
        retried = False
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
        clock.tick("finish (count items)")
        if not counts.get("pending") and locked.status == "calculating":
            locked.status = "calculated"
            locked.calculated_by = acting_user(actor)
            locked.calculated_at = timezone.now()
            locked.totals = _totals(locked)
        locked.save()
    clock.tick("finish (totals)")
    return done


class _Clock:
    def __init__(self, timings: dict[str, float] | None) -> None:
        self.timings = timings
        self.last = time.perf_counter()

    def tick(self, phase: str) -> None:
        now = time.perf_counter()
        if self.timings is not None:
            self.timings[phase] = self.timings.get(phase, 0.0) + now - self.last
        self.last = now


def _milli_to_centi(milli: Any) -> Any:
    """Thousandths → hundredths, half-up away from zero (``_volume``)."""
    magnitude = (np.abs(milli) + 5) // 10
    return np.where(milli < 0, -magnitude, magnitude)


@dataclass
class _Out:
    """A chunk's output as columns: bills (one row per billed account) and lines — integer-path
    lines as columns keyed to (version, component), the reference path's lines as objects."""

    bill_account: list[Any] = field(default_factory=list)
    batch: list[tuple[Any, rating.Version, rating.BatchLines, Any]] = field(default_factory=list)
    objects: dict[int, list[rating.Line]] = field(default_factory=dict)


def _calculate_chunk(run: BillRun, item_ids: Any, item_accounts: Any, inputs: _RunInputs,
                     clock: _Clock) -> dict[str, int]:
    period_end = (run.period + timedelta(days=32)).replace(day=1) - timedelta(days=1)
    payers = inputs.payers
    exceptions: dict[int, str] = {}
    accounts = np.unique(item_accounts)
    # The chunk's payer rows (sorted by account, then service point).
    lo = np.searchsorted(payers["account"], accounts, side="left")
    hi = np.searchsorted(payers["account"], accounts, side="right")
    for account_id in accounts[hi == lo].tolist():
        exceptions[account_id] = models.NO_AGREEMENT
    has = hi > lo
    accounts, lo, hi = accounts[has], lo[has], hi[has]
    rows = np.repeat(lo, hi - lo) + (np.arange(int((hi - lo).sum())) - np.repeat(np.cumsum(hi - lo) - (hi - lo),
                                                                                    hi - lo))
    group = np.repeat(np.arange(len(accounts)), hi - lo)  # chunk account index of each payer row
    sps = payers["sp"][rows]
    first_row = lo  # the account's first service point gives its node, type, residents, size
    usage = inputs.usage
    at = np.searchsorted(usage["sp"], sps)
    at_ok = np.minimum(at, max(len(usage["sp"]) - 1, 0))
    read = (at < len(usage["sp"])) & (usage["sp"][at_ok] == sps) if len(usage["sp"]) else np.zeros(len(sps), bool)
    n = len(accounts)
    meters = np.bincount(group, weights=read, minlength=n).astype(np.int64)
    milli = np.zeros(n, dtype=np.int64)
    np.add.at(milli, group[read], usage["milli"][at_ok[read]])
    far = np.datetime64("9999-12-31", "D")
    near = np.datetime64("0001-01-01", "D")
    start = np.full(n, far)
    end = np.full(n, near)
    np.minimum.at(start, group[read], usage["first"][at_ok[read]])
    np.maximum.at(end, group[read], usage["last"][at_ok[read]])
    total = _milli_to_centi(milli)
    no_read = meters == 0
    no_days = ~no_read & (end <= start)
    negative = ~no_read & ~no_days & (total < 0)
    for account_id in accounts[no_read].tolist():
        exceptions[account_id] = models.NO_READ
    for account_id in accounts[no_days].tolist():
        exceptions[account_id] = models.NO_DAYS
    for account_id, t in zip(accounts[negative].tolist(), total[negative].tolist(), strict=True):
        exceptions[account_id] = models.NEGATIVE_USAGE % {"usage": Decimal(t).scaleb(-2)}
    ok = ~(no_read | no_days | negative)
    # A tariff change inside the period splits the usage at the special read when every service
    # point of the account has one for the same date; else rating splits by days.
    specials = metering_usage.special_usage(period=run.period, service_point_ids=sps[read])
    usage_at: dict[int, dict[date, Decimal]] = {}
    if specials:
        special_of: dict[int, list[Any]] = defaultdict(list)
        for g, sp, r in zip(group.tolist(), sps.tolist(), read.tolist(), strict=True):
            if r:
                special_of[g].append(specials.get(sp))
        for g, found in special_of.items():
            if found and all(x is not None for x in found) and len({x[0] for x in found}) == 1:
                usage_at[g] = {found[0][0]: _volume(sum((Decimal(x[1]) for x in found), Decimal(0)))}
    ytd_rows = _year_to_date(run, accounts[ok])
    ytd = np.zeros(n, dtype=np.int64)
    if len(ytd_rows["account"]):
        year = start.astype("datetime64[Y]").astype(np.int64) + 1970
        key = ytd_rows["account"] * 10_000 + ytd_rows["year"]
        order = np.argsort(key)
        want = accounts * 10_000 + year
        pos = np.minimum(np.searchsorted(key[order], want), len(key) - 1)
        hit = key[order][pos] == want
        ytd = np.where(hit, ytd_rows["centi"][order][pos], 0)
    categories = customer_selectors.account_categories(account_ids=metering_usage.int_array(accounts[ok]),
                                                       on=period_end)
    reductions = tariff_selectors.reductions_for(
        company_id=run.company_id, commodity=run.commodity, start=run.period, end=period_end + timedelta(days=1),
        account_ids=accounts[ok].tolist(), categories=categories)
    clock.tick("load other inputs")
    ctype = payers["customer_type"][first_row]
    out = _Out()
    billed_mask = np.zeros(n, dtype=np.bool_)
    for t in np.unique(ctype[ok]).tolist():
        name = inputs.customer_types[t] if t >= 0 else "?"
        members = ok & (ctype == t)
        choices = inputs.tariffs.get(name, [])
        if len(choices) != 1:
            reason = (models.NO_TARIFF if not choices else models.SEVERAL_TARIFFS) % {"type": name}
            for account_id in accounts[members].tolist():
                exceptions[account_id] = reason
            continue
        _tariff, versions = choices[0]
        special = np.zeros(n, dtype=np.bool_)
        for g in usage_at:
            special[g] = True
        reduced = np.isin(accounts, np.array([a for a, r in reductions.items() if r], dtype=np.int64))
        reference = members & (special | reduced)
        for version in versions:
            inside = members & ~reference & rating.covers(version, start, end)
            if not inside.any():
                continue
            fr = first_row[inside]
            batch = rating.BatchInput(
                days=(end[inside] - start[inside]).astype(np.int64),
                last_month=((end[inside] - np.timedelta64(1, "D")).astype("datetime64[M]").astype(np.int64) % 12) + 1,
                residents=payers["residents"][fr], volume={"total": total[inside]}, year_to_date=ytd[inside],
                meters=meters[inside], meter_size=payers["size"][fr], sizes=inputs.sizes)
            out.batch.append((np.flatnonzero(inside), version, rating.rate_columns(version, batch),
                              (end[inside] - start[inside]).astype(np.int64)))
            billed_mask |= inside
            reference &= ~inside
        reference |= members & ~billed_mask & ~reference
        for g in np.flatnonzero(reference).tolist():
            account_id = int(accounts[g])
            fr = int(first_row[g])
            size = int(payers["size"][fr])
            account = rating.Account(
                start[g].item(), end[g].item(), {"total": Decimal(int(total[g])).scaleb(-2)},
                residents=int(payers["residents"][fr]),
                year_to_date=Decimal(int(ytd[g])).scaleb(-2), meters=int(meters[g]),
                meter_size=inputs.sizes[size] if size >= 0 else "", usage_at=usage_at.get(g, {}),
                reductions=tuple(reductions.get(account_id, ())))
            try:
                out.objects[g] = rating.rate(versions, account)
            except DomainError as err:
                exceptions[account_id] = str(err)
                continue
            billed_mask[g] = True
    clock.tick("rate")
    shares = metering_usage.apportioned_shares(period=run.period, account_ids=accounts[billed_mask])
    if shares:
        where = {int(a): g for g, a in enumerate(accounts.tolist())}
        for account_id, label, amount, explanation in shares:
            out.objects.setdefault(where[account_id], []).append(rating.Line(
                "apportion", label, Decimal(1), None, amount, rating.RECEIVABLE, "", "%(text)s", {"text": explanation}))
    # Accounts a concurrent or earlier run already billed for the period keep that bill.
    already = _billed_already(run, accounts[billed_mask])
    write = billed_mask & ~np.isin(accounts, already)
    written = _write_bills(run, out, write, accounts, payers["node"][first_row], start, end, total, reductions)
    clock.tick("write bills and lines")
    exception_accounts = np.array(sorted(exceptions), dtype=np.int64)
    is_exception = np.isin(item_accounts, exception_accounts)
    _mark_items(item_ids[~is_exception], "billed", None)
    if is_exception.any():
        _mark_items(item_ids[is_exception], "exception",
                    [exceptions[a] for a in item_accounts[is_exception].tolist()])
    clock.tick("mark items")
    return {"billed": int((~is_exception).sum()), "exception": int(is_exception.sum()), "written": written}


def _year_to_date(run: BillRun, account_ids: Any) -> dict[str, Any]:
    """Annual-ladder volume already billed this calendar year, per (account, year), in 1/100 unit."""
    return fetch_columns(
        """FROM (SELECT account_id, extract(year FROM period_from)::int8 AS year, (sum(usage) * 100)::int8 AS centi
                   FROM billing_bill
                  WHERE account_id = ANY(%s::bigint[]) AND period < %s AND period >= %s AND status <> 'cancelled'
                  GROUP BY 1, 2) t""",
        [metering_usage.int_array(account_ids), run.period, date(run.period.year - 1, 1, 1)],
        [("account", "account_id", "int8"), ("year", "year", "int8"), ("centi", "centi", "int8")])


def _billed_already(run: BillRun, account_ids: Any) -> Any:
    return fetch_columns(
        """FROM billing_bill WHERE account_id = ANY(%s::bigint[]) AND period = %s AND status <> 'cancelled'""",
        [metering_usage.int_array(account_ids), run.period], [("account", "account_id", "int8")])["account"]


BILL_COLUMNS = ("id", "run_id", "account_id", "company_id", "node_id", "period", "period_from", "period_to", "usage",
                "total", "status", "messages")
LINE_COLUMNS = ("bill_id", "seq", "code", "label", "quantity", "price", "amount", "receivable", "version", "block",
                "explanation")
CHARGE_LINE = _("%(label)s block %(block)s: %(quantity)s × %(price)s for %(days)s days, version %(version)s")
FIXED_LINE = _("%(label)s: %(amount)s × %(quantity)s, version %(version)s")
MINIMUM_LINE = _("%(label)s: topped up to the minimum, version %(version)s")


def _json(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False)


def _write_bills(run: BillRun, out: _Out, write: Any, accounts: Any, node: Any, start: Any, end: Any,
                 usage: Any, reductions: dict[int, list[rating.Reduction]]) -> int:
    """COPY the bills of the accounts ``write`` marks and their lines, columns in, text out.

    Line numbers: an account's integer-path lines in the engine's order (component, then block),
    then its reference or apportionment lines."""
    index = np.flatnonzero(write)
    count = len(index)
    if not count:
        return 0
    bill_of = np.full(len(accounts), -1, dtype=np.int64)
    first_id = id_block("billing_bill", count)
    bill_of[index] = first_id + np.arange(count)
    bill_total = np.zeros(len(accounts), dtype=np.int64)  # fen
    groups: list[tuple[list[Column], int]] = []
    line_count = np.zeros(len(accounts), dtype=np.int64)
    charge_parts: list[dict[str, Any]] = []
    for rows, version, lines, days in out.batch:
        g = rows[lines.account]
        keep = write[g]
        comp = lines.component[keep]
        g = g[keep]
        np.add.at(bill_total, g, lines.amount_fen[keep])
        charge_parts.append({"g": g, "version": version, "comp": comp, "block": lines.block[keep],
                             "quantity": lines.quantity[keep], "price": lines.price[keep],
                             "amount": lines.amount_fen[keep], "days": days[lines.account[keep]]})
    # Sequence numbers over all the integer-path lines of the chunk, in emission order.
    if charge_parts:
        all_g = np.concatenate([p["g"] for p in charge_parts])
        order = np.argsort(all_g, kind="stable")
        ranked = np.empty(len(all_g), dtype=np.int64)
        sorted_g = all_g[order]
        starts = np.searchsorted(sorted_g, sorted_g, side="left")
        ranked[order] = np.arange(len(all_g)) - starts + 1
        line_count = np.bincount(all_g, minlength=len(accounts)).astype(np.int64)
        offset = 0
        for p in charge_parts:
            p["seq"] = ranked[offset:offset + len(p["g"])]
            offset += len(p["g"])
            groups.extend(_line_groups(p, bill_of))
    object_rows = []
    for g, lines in sorted(out.objects.items()):
        if not write[g]:
            continue
        for k, ln in enumerate(lines, start=1):
            bill_total[g] += int(ln.amount * 100)
            object_rows.append((int(bill_of[g]), int(line_count[g]) + k, ln.code, ln.label, ln.quantity, ln.price,
                                ln.amount, ln.receivable, ln.version, ln.block,
                                _explanation(ln.template, dict(ln.params))))
    messages = {}
    for account_id, held in reductions.items():
        texts = sorted({r.message for r in held if r.message})
        if texts:
            messages[account_id] = "{" + ",".join(_json(m) for m in texts) + "}"
    message_choices = ["{}"] + sorted(set(messages.values()))
    message_index = np.zeros(count, dtype=np.int64)
    if messages:
        at = {m: k for k, m in enumerate(message_choices)}
        message_index = np.array([at[messages.get(a, "{}")] for a in accounts[index].tolist()], dtype=np.int64)
    copy_chunks("billing_bill", BILL_COLUMNS, format_columns([
        Column("id", "int", bill_of[index]), Column("run_id", "text", run.pk),
        Column("account_id", "int", accounts[index]), Column("company_id", "text", run.company_id),
        Column("node_id", "int", node[index]), Column("period", "text", run.period.isoformat()),
        Column("period_from", "date", start[index]), Column("period_to", "date", end[index]),
        Column("usage", "decimal", (usage[index], 2, 2)), Column("total", "decimal", (bill_total[index], 2, 2)),
        Column("status", "text", "calculated"), Column("messages", "choice", (message_index, message_choices)),
    ], count))
    # A generator: numpy formats the next rows while PostgreSQL (another core) parses these.
    copy_chunks("billing_billline", LINE_COLUMNS,
                (chunk for columns, rows_count in groups for chunk in format_columns(columns, rows_count)))
    if object_rows:
        copy_rows("billing_billline", LINE_COLUMNS, object_rows)
    return count


def _line_groups(part: dict[str, Any], bill_of: Any) -> list[tuple[list[Column], int]]:
    """The COPY columns of one version's integer-path lines, a group per kind of component (each
    kind has its own explanation)."""
    version: rating.Version = part["version"]
    comps = version.components
    kinds = np.array([0 if isinstance(c, rating.Charge) else 1 if isinstance(c, rating.FixedCharge) else 2
                      for c in comps], dtype=np.int64)
    codes = [c.code for c in comps]
    labels = [c.label for c in comps]
    receivables = [c.receivable if not isinstance(c, rating.MinimumCharge) else rating.RECEIVABLE for c in comps]
    label_json = [_json(c.label) for c in comps]
    version_json = _json(version.version)
    result = []
    for kind in (0, 1, 2):
        m = kinds[part["comp"]] == kind
        rows = int(m.sum())
        if not rows:
            continue
        comp = part["comp"][m]

        def text(value: str) -> Column:
            return Column("", "text", value)

        if kind == 0:
            quantity = Column("quantity", "decimal", (part["quantity"][m], 2, 0))
            price = Column("price", "decimal", (part["price"][m], 4, 0))
            explanation = [text('{"template": ' + _json(CHARGE_LINE) + ', "params": {"label": '),
                           Column("", "choice", (comp, label_json)), text(', "block": '),
                           Column("", "decimal", (part["block"][m], 0, 0)), text(', "quantity": "'),
                           Column("", "decimal", (part["quantity"][m], 2, 0)), text('", "price": "'),
                           Column("", "decimal", (part["price"][m], 4, 0)), text('", "version": ' + version_json
                                                                                   + ', "days": '),
                           Column("", "decimal", (part["days"][m], 0, 0)), text("}}")]
        elif kind == 1:
            quantity = Column("quantity", "decimal", (part["quantity"][m], 4, 0))
            price = Column("price", "decimal", (part["price"][m], 4, 0))
            explanation = [text('{"template": ' + _json(FIXED_LINE) + ', "params": {"label": '),
                           Column("", "choice", (comp, label_json)), text(', "amount": "'),
                           Column("", "decimal", (part["price"][m], 4, 0)), text('", "quantity": "'),
                           Column("", "decimal", (part["quantity"][m], 4, 0)),
                           text('", "version": ' + version_json + "}}")]
        else:
            quantity = Column("quantity", "text", "1")
            price = Column("price", "choice", (np.zeros(rows, dtype=np.int64), [None]))
            explanation = [text('{"template": ' + _json(MINIMUM_LINE) + ', "params": {"label": '),
                           Column("", "choice", (comp, label_json)), text(', "version": ' + version_json + "}}")]
        result.append(([
            Column("bill_id", "int", bill_of[part["g"][m]]), Column("seq", "int", part["seq"][m]),
            Column("code", "choice", (comp, codes)), Column("label", "choice", (comp, labels)), quantity, price,
            Column("amount", "decimal", (part["amount"][m], 2, 2)),
            Column("receivable", "choice", (comp, receivables)),
            Column("version", "text", version.version), Column("block", "int", part["block"][m]),
            Column("explanation", "concat", explanation)], rows))
    return result


def _mark_items(item_ids: Any, status: str, reasons: list[str] | None) -> None:
    if not len(item_ids):
        return
    with connection.cursor() as cursor:
        if reasons is None:
            cursor.execute("UPDATE billing_billrunitem SET status = %s, reason = '' WHERE id = ANY(%s::bigint[])",
                           [status, metering_usage.int_array(item_ids)])
            return
        cursor.execute(
            """UPDATE billing_billrunitem i SET status = %s, reason = t.reason
                 FROM unnest(%s::bigint[], %s::text[]) AS t(id, reason) WHERE i.id = t.id""",
            [status, metering_usage.int_array(item_ids), [r[:300] for r in reasons]])


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


def bill_run_issue(*, actor: Any, run_id: Any, issued_on: date | None = None) -> BillRun:
    """Issue an approved run: its bills become due and are posted as receivables in the ledger
    (one balanced entry per bill, set-based), credit customers hold pays them at once, and the due
    date is the issue day plus ``UCIS_BILL_DUE_DAYS``. ``issued_on`` dates the issue in the past
    (loading a legacy system's history); the ledger refuses a day in a closed period."""
    require(actor, "billing.issue_billrun")
    with transaction.atomic(), audit_context(actor=actor, reason="issue bill run", source="billing"):
        run = access_by_id(BillRun.objects.select_for_update(), actor, run_id)
        if run.status != "approved":
            raise Conflict("status", _("only an approved run can be issued; this one is %(status)s"),
                           status=run.status)
        now = timezone.now()
        today = issued_on or timezone.localdate()
        if today > timezone.localdate():
            raise DomainError("issued_on", _("a run cannot be issued in the future"))
        with connection.cursor() as cursor:
            # The postings' aggregate and the journal insert's sort and hashes spilled to disk
            # with the default 4 MB; this transaction only.
            cursor.execute("SELECT set_config('work_mem', '256MB', true)")
            cursor.execute("DROP TABLE IF EXISTS bill_postings")
            cursor.execute(
                """CREATE TEMP TABLE bill_postings ON COMMIT DROP AS
                   SELECT b.id AS bill_id, b.account_id, b.node_id, l.receivable, sum(l.amount) AS amount
                     FROM billing_bill b JOIN billing_billline l ON l.bill_id = b.id
                    WHERE b.run_id = %s AND b.status = 'calculated'
                    GROUP BY b.id, b.account_id, b.node_id, l.receivable HAVING sum(l.amount) <> 0""", [run.pk])
        # The bills are updated before the journal is written (a bill-history trigger would
        # otherwise wait on the journal lines' pending foreign-key checks: bills × lines), and
        # without a history row each: issuing is the pipeline's own step, recorded once on the run
        # (issued_by/at, audited) and by each bill's journal entry; bills' history is for corrections.
        with pgtrigger.ignore("billing.Bill:update_update"):
            Bill.objects.filter(run=run, status="calculated").update(
                status="issued", issued_at=now, due_date=today + timedelta(days=settings.UCIS_BILL_DUE_DAYS))
        ledger_services.bill_postings_post(actor=actor, company_id=run.company_id, commodity=run.commodity,
                                           effective_date=today, staging="bill_postings")
        # Money customers hold with us (预存) pays the new bills at once.
        ledger_accrual.credits_apply(actor=actor, company_id=run.company_id, effective_date=today, key=f"run{run.pk}")
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
