"""The forced review queue (强制审核, MTR-4): which service points must be looked at before a
period is billed, and the gate the bill run asks.

A service point enters the queue for a period when

* a read of the period has a flag that needs review (``flagged``),
* the cycle closed without a read (``no_read``),
* its business changed since its last read — new agreement, change of payer, meter fitted,
  removed or replaced (``new_business``),
* its last bill was corrected, reversed or back-billed (``bill_corrected``; the ledger raises it
  through ``read_review_require``).

A new clean read resolves ``flagged`` and ``no_read`` by itself (a re-read was done); the other
reasons always need a person. The bill run refuses a period while any entry of it is open.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import date
from typing import Any

from django.db import connection
from django.db.models.expressions import RawSQL
from django.utils import timezone

from ucis.kernel.errors import DomainError
from ucis.kernel.errors import gettext_noop as _
from ucis.metering.models import ReadReview, RereadOrder
from ucis.platform.lookups import pg_array

SELF_RESOLVING = ("flagged", "no_read")


def _upsert(rows: Sequence[tuple[Any, Any, date, Any, Any, list[str], int]]) -> int:
    """(service point, node, period, cycle, read, reasons, flags): open or re-open one entry per
    service point and period, adding reasons rather than replacing them."""
    if not rows:
        return 0
    with connection.cursor() as cursor:
        cursor.execute(
            """INSERT INTO metering_readreview
                      (service_point_id, node_id, period, cycle_id, read_id, reasons, flags, status, note, created_at)
               SELECT sp, node, period, cycle, read, string_to_array(reasons, ','), flags, 'open', '', now()
                 FROM unnest(%s::bigint[], %s::bigint[], %s::date[], %s::bigint[], %s::bigint[], %s::text[],
                             %s::int[]) AS t(sp, node, period, cycle, read, reasons, flags)
               ON CONFLICT (service_point_id, period) DO UPDATE
                  SET status = 'open', decided_by_id = NULL, decided_at = NULL,
                      read_id = COALESCE(EXCLUDED.read_id, metering_readreview.read_id),
                      cycle_id = COALESCE(EXCLUDED.cycle_id, metering_readreview.cycle_id),
                      flags = CASE WHEN EXCLUDED.read_id IS NULL THEN metering_readreview.flags ELSE EXCLUDED.flags END,
                      reasons = ARRAY(SELECT DISTINCT unnest(metering_readreview.reasons || EXCLUDED.reasons)
                                      ORDER BY 1)
                WHERE metering_readreview.status = 'open'
                   OR NOT (EXCLUDED.reasons <@ metering_readreview.reasons)
                   OR EXCLUDED.read_id IS DISTINCT FROM metering_readreview.read_id""",
            [pg_array(r[0] for r in rows), pg_array(r[1] for r in rows), pg_array(r[2] for r in rows),
             pg_array(r[3] for r in rows), pg_array(r[4] for r in rows), pg_array(",".join(r[5]) for r in rows),
             pg_array(r[6] for r in rows)])
        return cursor.rowcount


def reviews_after_reads(staged: Sequence[tuple], *, actor: Any) -> None:
    """After reads are stored (rows as ``reads._insert`` staged them): flagged reads enter the
    queue; clean reads resolve the self-resolving reasons and close open re-read orders."""
    flagged = [(r[2], r[3], r[20], r[4], r[0], ["flagged"], r[14]) for r in staged if r[13] == "pending"]
    _upsert(flagged)
    clean = [r for r in staged if r[13] == "accepted"]
    if clean:
        with connection.cursor() as cursor:
            cursor.execute(
                """UPDATE metering_readreview v
                      SET read_id = t.read, flags = t.flags,
                          reasons = ARRAY(SELECT unnest(v.reasons) EXCEPT SELECT unnest(%s::varchar[]) ORDER BY 1),
                          status = CASE WHEN v.reasons <@ %s::varchar[] THEN 'accepted' ELSE v.status END,
                          decided_at = CASE WHEN v.reasons <@ %s::varchar[] THEN now() ELSE v.decided_at END,
                          note = CASE WHEN v.reasons <@ %s::varchar[] THEN 'resolved by a new read' ELSE v.note END
                     FROM unnest(%s::bigint[], %s::date[], %s::bigint[], %s::int[]) AS t(sp, period, read, flags)
                    WHERE v.service_point_id = t.sp AND v.period = t.period AND v.status IN ('open', 'reread')""",
                [list(SELF_RESOLVING)] * 4 + [pg_array(r[2] for r in clean), pg_array(r[20] for r in clean),
                                              pg_array(r[0] for r in clean), pg_array(r[14] for r in clean)])
    done = [(r[2], r[0]) for r in staged]
    if done:
        with connection.cursor() as cursor:
            cursor.execute(
                """UPDATE metering_rereadorder o SET status = 'done', read_id = t.read
                     FROM unnest(%s::bigint[], %s::bigint[]) AS t(sp, read)
                    WHERE o.service_point_id = t.sp AND o.status = 'open'""",
                [pg_array(d[0] for d in done), pg_array(d[1] for d in done)])


def read_review_require(*, service_points: Iterable[tuple[Any, Any]], period: date, reason: str) -> int:
    """Put (service point, node) pairs in the queue for ``period`` — e.g. ``bill_corrected`` from
    the ledger when a bill is corrected, so the next cycle is looked at by a person."""
    if reason not in {"new_business", "bill_corrected", "no_read", "flagged", "estimated"}:
        raise DomainError("reason", _("unknown review reason %(reason)s"), reason=reason)
    rows = [(sp, node, period, None, None, [reason], 0) for sp, node in service_points]
    return _upsert(rows)


def open_reviews(*, period: date, service_point_ids: Iterable[Any] | None = None,
                 node_path: str | None = None, service_point_sql: tuple[str, list[Any]] | None = None) -> Any:
    qs = ReadReview.objects.filter(period=period, status="open")
    if service_point_ids is not None:
        qs = qs.filter(service_point_id__in=list(service_point_ids))
    if service_point_sql is not None:
        sql, params = service_point_sql
        qs = qs.filter(service_point_id__in=RawSQL(sql, params))
    if node_path:
        qs = qs.filter(node__path__startswith=node_path)
    return qs


def billing_gate_check(*, period: date, service_point_ids: Iterable[Any] | None = None,
                       node_path: str | None = None, service_point_sql: tuple[str, list[Any]] | None = None) -> None:
    """The bill run's question: may these service points be billed for ``period``? Refused, with
    the count and the first few, while any has an open review. ``service_point_sql`` (a query of
    service point ids and its parameters) names many service points without listing them."""
    pending = open_reviews(period=period, service_point_ids=service_point_ids, node_path=node_path,
                           service_point_sql=service_point_sql)
    count = pending.count()
    if count:
        sample = list(pending.order_by("service_point_id").values_list("service_point_id", flat=True)[:5])
        raise DomainError("period", _("%(count)s service point(s) still wait in the review queue for %(period)s "
                                      "(e.g. %(sample)s); review them before billing"),
                          count=count, period=period.strftime("%Y-%m"), sample=", ".join(map(str, sample)))


def reread_orders_open(*, service_point_ids: Iterable[Any]) -> set[Any]:
    return set(RereadOrder.objects.filter(service_point_id__in=list(service_point_ids), status="open")
               .values_list("service_point_id", flat=True))


def now() -> Any:
    return timezone.now()
