"""Posting into the receivables ledger: the one way money moves (记账).

``journal_post`` posts one balanced entry (payments, adjustments, reversals); ``bill_postings_post``
posts a whole bill run set-based from a staging table the billing app fills. Both are idempotent on
their key: a repeat returns the first entry and posts nothing. Closed periods, unbalanced entries and
edits of posted rows are refused by the service with a clear error and again by the database.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from typing import Any

from django.db import connection, transaction
from django.utils import timezone

from ucis.kernel.errors import Conflict, DomainError, FieldProblem, reason_required
from ucis.kernel.errors import gettext_noop as _
from ucis.kernel.periods import month_start
from ucis.ledger import chart
from ucis.ledger.models import JournalEntry, LedgerPeriod
from ucis.org import selectors as org_selectors
from ucis.platform.audit import audit_context
from ucis.platform.bulk import copy_rows
from ucis.platform.permissions import require
from ucis.platform.tenancy import access_by_id, acting_user


@dataclass(frozen=True)
class Posting:
    """One line to post: ledger account code, signed amount (debit +), customer account and bill."""

    ledger_account: str
    amount: Decimal
    account_id: int | None = None
    bill_id: int | None = None


def ledger_account_ids(*, company_id: int, codes: Iterable[str]) -> dict[str, int]:
    """Ids of the company's accounts named ``codes``, creating the missing ones from the chart."""
    wanted = sorted(set(codes))
    kinds = {code: chart.account_of(code) for code in wanted}
    with connection.cursor() as cursor:
        cursor.execute(
            "WITH ins AS (INSERT INTO ledger_ledgeraccount (company_id, code, kind, receivable) "
            "SELECT %s, c.code, c.kind, c.receivable FROM unnest(%s::text[], %s::text[], %s::bool[]) "
            "AS c(code, kind, receivable) ON CONFLICT (company_id, code) DO NOTHING RETURNING code, id) "
            "SELECT code, id FROM ins UNION ALL "
            "SELECT code, id FROM ledger_ledgeraccount WHERE company_id = %s AND code = ANY(%s)",
            [company_id, wanted, [kinds[c].kind for c in wanted], [kinds[c].receivable for c in wanted],
             company_id, wanted])
        found = dict(cursor.fetchall())
        if len(found) < len(wanted):
            # Another transaction created one meanwhile: our statement's snapshot predates it.
            cursor.execute("SELECT code, id FROM ledger_ledgeraccount WHERE company_id = %s AND code = ANY(%s)",
                           [company_id, wanted])
            found = dict(cursor.fetchall())
        return found


def _closed(company_id: int, effective_date: date) -> bool:
    return LedgerPeriod.objects.filter(company_id=company_id, period=month_start(effective_date),
                                       closed_at__isnull=False).exists()


def _check_lines(lines: Sequence[Posting]) -> None:
    problems: list[FieldProblem] = []
    if len(lines) < 2:
        problems.append(FieldProblem("lines", _("an entry needs at least two lines"), {}))
    total = Decimal(0)
    for i, line in enumerate(lines):
        if not isinstance(line.amount, Decimal) or line.amount.as_tuple().exponent < -2:  # type: ignore[operator]
            problems.append(FieldProblem(f"lines[{i}].amount", _("amounts are Decimal yuan with at most two "
                                                                  "decimals"), {}))
            continue
        if line.amount == 0:
            problems.append(FieldProblem(f"lines[{i}].amount", _("a line of zero posts nothing"), {}))
        try:
            kind = chart.account_of(line.ledger_account)
        except DomainError as exc:
            problems.extend(p.at(f"lines[{i}].ledger_account") for p in exc.problems)
            continue
        if kind.receivable and line.account_id is None:
            problems.append(FieldProblem(f"lines[{i}].account", _("a receivable line names the customer "
                                                                   "account"), {}))
        total += line.amount
    if not problems and total != 0:
        problems.append(FieldProblem("lines", _("debits and credits differ by %(total)s"), {"total": total}))
    if problems:
        raise DomainError(problems=problems)


def journal_post(*, actor: Any, company_id: int, node_id: int, kind: str, effective_date: date,
                 lines: Sequence[Posting], idempotency_key: str | None = None, source_type: str = "",
                 source_id: int | None = None, memo: str = "", reverses_id: int | None = None) -> JournalEntry:
    """Post one balanced entry; with ``idempotency_key`` a repeat returns the first entry unchanged."""
    _check_lines(lines)
    # No audit context: an entry carries its own provenance (created_by, posted_at, source, memo)
    # and is never changed; the database refuses UPDATE and DELETE.
    with transaction.atomic():
        if _closed(company_id, effective_date):
            raise Conflict("effective_date", _("the period %(period)s is closed; post into an open period"),
                           period=f"{effective_date:%Y-%m}")
        ids = ledger_account_ids(company_id=company_id, codes=[p.ledger_account for p in lines])
        with connection.cursor() as cursor:
            if reverses_id is not None:
                cursor.execute("SELECT 1 FROM ledger_journalentry WHERE reverses_id = %s", [reverses_id])
                if cursor.fetchone():
                    raise Conflict("entry", _("this entry has already been reversed"))
            cursor.execute(
                """INSERT INTO ledger_journalentry (company_id, node_id, kind, effective_date, posted_at, line_count,
                                                    idempotency_key, source_type, source_id, memo, reverses_id,
                                                    created_by_id)
                   VALUES (%s, %s, %s, %s, now(), %s, %s, %s, %s, %s, %s, %s)
                   ON CONFLICT (idempotency_key) DO NOTHING RETURNING id""",
                [company_id, node_id, kind, effective_date, len(lines), idempotency_key or None, source_type,
                 source_id, memo[:200], reverses_id, getattr(acting_user(actor), "pk", None)])
            row = cursor.fetchone()
            if row is None:  # the key was posted before: the first entry is the outcome
                return JournalEntry.objects.get(idempotency_key=idempotency_key)
            cursor.execute(
                "INSERT INTO ledger_journalline (entry_id, seq, ledger_account_id, account_id, bill_id, amount) "
                "SELECT %s, s, a, c, b, m FROM unnest(%s::int[], %s::bigint[], %s::bigint[], %s::bigint[], "
                "%s::numeric[]) AS t(s, a, c, b, m)",
                [row[0], list(range(1, len(lines) + 1)), [ids[p.ledger_account] for p in lines],
                 [p.account_id for p in lines], [p.bill_id for p in lines], [p.amount for p in lines]])
    entry = JournalEntry(id=row[0], company_id=company_id, node_id=node_id, kind=kind, effective_date=effective_date,
                         line_count=len(lines), idempotency_key=idempotency_key or None, source_type=source_type,
                         source_id=source_id, memo=memo[:200], reverses_id=reverses_id)
    entry._state.adding = False
    return entry


@dataclass(frozen=True)
class BulkEntry:
    """One entry of a set-based posting: its idempotency key, unit, source and lines."""

    key: str
    node_id: int
    lines: Sequence[Posting]
    source_id: int | None = None
    memo: str = ""


def journal_post_many(*, actor: Any, company_id: int, kind: str, effective_date: date,
                      entries: Sequence[BulkEntry], source_type: str = "") -> int:
    """Post many balanced entries at once (late fees, credits, bank files): validated here, written
    with COPY into staging and two INSERT … SELECT. Entries whose key was posted before are skipped.
    Returns the number of entries posted now."""
    if not entries:
        return 0
    problems: list[FieldProblem] = []
    for i, entry in enumerate(entries):
        try:
            _check_lines(entry.lines)
        except DomainError as exc:
            problems.extend(p.at(f"entries[{i}].{p.field}") for p in exc.problems)
    if problems:
        raise DomainError(problems=problems)
    if _closed(company_id, effective_date):
        raise Conflict("effective_date", _("the period %(period)s is closed; post into an open period"),
                       period=f"{effective_date:%Y-%m}")
    ids = ledger_account_ids(company_id=company_id, codes={p.ledger_account for e in entries for p in e.lines})
    with transaction.atomic(), audit_context(actor=actor, reason=kind, source="ledger"), connection.cursor() as cursor:
        cursor.execute("DROP TABLE IF EXISTS bulk_entries, bulk_lines")
        cursor.execute("CREATE TEMP TABLE bulk_entries (key text, node_id bigint, source_id bigint, line_count int, "
                       "memo text) ON COMMIT DROP")
        cursor.execute("CREATE TEMP TABLE bulk_lines (key text, seq int, ledger_account_id bigint, account_id bigint, "
                       "bill_id bigint, amount numeric(14, 2)) ON COMMIT DROP")
        copy_rows("bulk_entries", ["key", "node_id", "source_id", "line_count", "memo"],
                  ((e.key, e.node_id, e.source_id, len(e.lines), e.memo[:200]) for e in entries))
        copy_rows("bulk_lines", ["key", "seq", "ledger_account_id", "account_id", "bill_id", "amount"],
                  ((e.key, n, ids[p.ledger_account], p.account_id, p.bill_id, p.amount)
                   for e in entries for n, p in enumerate(e.lines, start=1)))
        cursor.execute(
            """WITH e AS (
                 INSERT INTO ledger_journalentry (company_id, node_id, kind, effective_date, posted_at, line_count,
                                                  idempotency_key, source_type, source_id, memo, created_by_id)
                 SELECT %s, b.node_id, %s, %s, now(), b.line_count, b.key, %s, b.source_id, b.memo, %s
                   FROM bulk_entries b
                 ON CONFLICT (idempotency_key) DO NOTHING RETURNING id, idempotency_key),
               l AS (
                 INSERT INTO ledger_journalline (entry_id, seq, ledger_account_id, account_id, bill_id, amount)
                 SELECT e.id, l.seq, l.ledger_account_id, l.account_id, l.bill_id, l.amount
                   FROM e JOIN bulk_lines l ON l.key = e.idempotency_key
                 RETURNING entry_id)
               SELECT count(DISTINCT entry_id) FROM l""",
            [company_id, kind, effective_date, source_type, getattr(acting_user(actor), "pk", None)])
        return int(cursor.fetchone()[0])


def journal_reverse(*, actor: Any, entry_id: int, reason: str, effective_date: date,
                    idempotency_key: str | None = None) -> JournalEntry:
    """Reverse a posted entry (冲正) with a new entry of the opposite lines; the original stays."""
    require(actor, "ledger.add_journalentry")
    text = reason_required(reason)
    entry = access_by_id(JournalEntry, actor, entry_id)
    if entry.kind == "reversal":
        raise Conflict("entry", _("a reversal is not reversed; post a new entry instead"))
    if JournalEntry.objects.filter(reverses_id=entry.pk).exists():
        raise Conflict("entry", _("this entry has already been reversed"))
    lines = [Posting(line.ledger_account.code, -line.amount, line.account_id, line.bill_id)
             for line in entry.lines.select_related("ledger_account").order_by("seq")]
    return journal_post(actor=actor, company_id=entry.company_id, node_id=entry.node_id, kind="reversal",
                        effective_date=effective_date, lines=lines,
                        idempotency_key=idempotency_key or f"reversal:{entry.pk}", source_type=entry.source_type,
                        source_id=entry.source_id, memo=text, reverses_id=entry.pk)


def period_close(*, actor: Any, company_id: int, period: date | str) -> LedgerPeriod:
    """Close a company's accounting month: from now on nothing can be posted into it."""
    require(actor, "ledger.change_ledgerperiod")
    company = org_selectors.org_node_get(actor=actor, node_id=company_id)
    if company.kind != "company":
        raise DomainError("company_id", _("periods are closed per company"))
    start = month_start(period)
    with transaction.atomic(), audit_context(actor=actor, reason="close period", source="ledger"):
        row, _created = LedgerPeriod.objects.select_for_update().get_or_create(company_id=company_id, period=start)
        if row.closed_at is not None:
            raise Conflict("period", _("the period %(period)s is already closed"), period=f"{start:%Y-%m}")
        if start >= month_start(timezone.localdate()):
            raise DomainError("period", _("only a past month can be closed"))
        row.closed_at, row.closed_by = timezone.now(), acting_user(actor)
        row.save(update_fields=["closed_at", "closed_by"])
    return row


def bill_postings_post(*, actor: Any, company_id: int, commodity: str, effective_date: date,
                       staging: str) -> int:
    """Post a run's bills as receivables, set-based: one entry per bill, two lines per receivable.

    ``staging`` names a temporary table (bill_id, account_id, node_id, receivable, amount) with one
    row per bill and receivable whose amount is not zero. The customer's side debits RECEIVABLE:…,
    the other side credits revenue or the on-behalf payable (see ``chart.bill_line_accounts``).
    Idempotent on ``bill:<id>``: bills already posted are skipped. Returns the entries posted."""
    if _closed(company_id, effective_date):
        raise Conflict("effective_date", _("the period %(period)s is closed; post into an open period"),
                       period=f"{effective_date:%Y-%m}")
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT DISTINCT receivable FROM {staging}")  # noqa: S608 - our own temp table
        receivables = [r for (r,) in cursor.fetchall()]
        if not receivables:
            return 0
        pairs = {r: chart.bill_line_accounts(r, commodity) for r in receivables}
        ids = ledger_account_ids(company_id=company_id, codes=[c for pair in pairs.values() for c in pair])
        cursor.execute(
            f"""
            WITH map(receivable, debit_id, credit_id) AS (SELECT * FROM unnest(%s::text[], %s::bigint[], %s::bigint[])),
            e AS (
              INSERT INTO ledger_journalentry (company_id, node_id, kind, effective_date, posted_at, line_count,
                                               idempotency_key, source_type, source_id, memo, created_by_id)
              SELECT %s, min(s.node_id), 'bill', %s, now(), 2 * count(*), 'bill:' || s.bill_id, 'bill', s.bill_id,
                     '', %s
                FROM {staging} s GROUP BY s.bill_id
              ON CONFLICT (idempotency_key) DO NOTHING
              RETURNING id, source_id),
            s AS (SELECT s.*, row_number() OVER (PARTITION BY s.bill_id ORDER BY s.receivable) AS rn FROM {staging} s)
            INSERT INTO ledger_journalline (entry_id, seq, ledger_account_id, account_id, bill_id, amount)
            SELECT e.id, 2 * s.rn - 2 + v.side,
                   CASE v.side WHEN 1 THEN m.debit_id ELSE m.credit_id END,
                   CASE v.side WHEN 1 THEN s.account_id END, s.bill_id,
                   CASE v.side WHEN 1 THEN s.amount ELSE -s.amount END
              FROM e JOIN s ON s.bill_id = e.source_id JOIN map m ON m.receivable = s.receivable
             CROSS JOIN (VALUES (1), (2)) AS v(side)
            """,  # noqa: S608
            [receivables, [ids[pairs[r][0]] for r in receivables], [ids[pairs[r][1]] for r in receivables],
             company_id, effective_date, getattr(acting_user(actor), "pk", None)])
        cursor.execute(f"SELECT count(DISTINCT bill_id) FROM {staging}")  # noqa: S608
        return int(cursor.fetchone()[0])


def payments_post_staged(*, actor: Any, company_id: int, channel: str, staging: str) -> int:
    """Post many payments at once, set-based (bank files): ``staging`` is a temporary table
    (payment_id, account_id, node_id, amount, effective_date, seq) of payments already stored and
    whose accounts the caller has locked. Each is allocated exactly as ``allocation.allocate_oldest_first``
    would — oldest bill first, commodity, then fees for others, then late fees, the rest as credit —
    payments of one account one after another in ``seq`` order, as intervals over the account's
    open items. One entry per payment under ``payment:<id>``. Returns the entries posted."""
    cash, credit = chart.cash_account(channel), chart.CUSTOMER_CREDIT
    ids = ledger_account_ids(company_id=company_id, codes=[cash, credit])
    with connection.cursor() as cursor:
        cursor.execute("SELECT DISTINCT effective_date FROM " + staging)  # noqa: S608 - our own temp table
        for (day,) in cursor.fetchall():
            if _closed(company_id, day):
                raise Conflict("effective_date", _("the period %(period)s is closed; post into an open period"),
                               period=f"{day:%Y-%m}")
        cursor.execute("DROP TABLE IF EXISTS staged_open, staged_alloc, staged_pay")
        cursor.execute(
            f"""CREATE TEMP TABLE staged_open ON COMMIT DROP AS
                SELECT l.account_id, l.bill_id, l.ledger_account_id, sum(l.amount) AS open, b.period,
                       -- chart.allocation_rank, in SQL
                       CASE WHEN a.code = %s THEN 2 WHEN a.code LIKE 'RECEIVABLE:ON_BEHALF:%%' THEN 1 ELSE 0 END AS rank,
                       a.code
                  FROM ledger_journalline l
                  JOIN ledger_ledgeraccount a ON a.id = l.ledger_account_id AND a.receivable AND a.company_id = %s
                  JOIN billing_bill b ON b.id = l.bill_id
                 WHERE l.account_id IN (SELECT account_id FROM {staging})
                 GROUP BY l.account_id, l.bill_id, l.ledger_account_id, b.period, a.code HAVING sum(l.amount) > 0""",
            [chart.LATE_FEE_RECEIVABLE, company_id])
        cursor.execute(
            f"""CREATE TEMP TABLE staged_alloc ON COMMIT DROP AS
                WITH p AS (SELECT s.*, sum(s.amount) OVER (PARTITION BY s.account_id ORDER BY s.seq, s.payment_id)
                                       - s.amount AS p0 FROM {staging} s),
                     o AS (SELECT o.*, sum(o.open) OVER (PARTITION BY o.account_id
                                                         ORDER BY o.period, o.bill_id, o.rank, o.code) - o.open AS o0
                             FROM staged_open o)
                SELECT p.payment_id, o.account_id, o.bill_id, o.ledger_account_id, o.o0,
                       least(p.p0 + p.amount, o.o0 + o.open) - greatest(p.p0, o.o0) AS amount
                  FROM p JOIN o ON o.account_id = p.account_id
                 WHERE o.o0 < p.p0 + p.amount AND p.p0 < o.o0 + o.open""")
        cursor.execute(
            f"""CREATE TEMP TABLE staged_pay ON COMMIT DROP AS
                SELECT s.payment_id, s.account_id, s.node_id, s.amount, s.effective_date,
                       coalesce(a.n, 0) AS n, coalesce(a.total, 0) AS allocated
                  FROM {staging} s LEFT JOIN (SELECT payment_id, count(*) AS n, sum(amount) AS total
                                               FROM staged_alloc GROUP BY payment_id) a USING (payment_id)""")
        cursor.execute(
            """WITH e AS (
                 INSERT INTO ledger_journalentry (company_id, node_id, kind, effective_date, posted_at, line_count,
                                                  idempotency_key, source_type, source_id, memo, created_by_id)
                 SELECT %s, p.node_id, 'payment', p.effective_date, now(),
                        1 + p.n + (p.amount > p.allocated)::int, 'payment:' || p.payment_id, 'payment', p.payment_id,
                        %s, %s
                   FROM staged_pay p
                 ON CONFLICT (idempotency_key) DO NOTHING RETURNING id, source_id),
               x AS (
                 SELECT payment_id, 1 AS seq, %s::bigint AS ledger_account_id, NULL::bigint AS account_id,
                        NULL::bigint AS bill_id, amount FROM staged_pay
                 UNION ALL
                 SELECT payment_id, 1 + row_number() OVER (PARTITION BY payment_id ORDER BY o0), ledger_account_id,
                        account_id, bill_id, -amount FROM staged_alloc
                 UNION ALL
                 SELECT payment_id, 2 + n, %s, account_id, NULL, -(amount - allocated) FROM staged_pay
                  WHERE amount > allocated),
               l AS (
                 INSERT INTO ledger_journalline (entry_id, seq, ledger_account_id, account_id, bill_id, amount)
                 SELECT e.id, x.seq, x.ledger_account_id, x.account_id, x.bill_id, x.amount
                   FROM e JOIN x ON x.payment_id = e.source_id
                 RETURNING entry_id)
               SELECT count(DISTINCT entry_id) FROM l""",
            [company_id, f"{channel} batch", getattr(acting_user(actor), "pk", None), ids[cash], ids[credit]])
        return int(cursor.fetchone()[0])
