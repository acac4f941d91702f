"""What billing reads from metering: each service point's billable usage for a period, the
service points a run covers, the apportioned shares, and the review gate (set-based; one query each)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date
from typing import Any

from django.db import connection

from ucis.metering import review
from ucis.platform.bulk import fetch_columns


def int_array(values: Any) -> str:
    """A bigint[] literal of many ids (numpy array or list) in one string: cast it ``%s::bigint[]``."""
    items = values.tolist() if hasattr(values, "tolist") else list(values)
    return "{" + ",".join(map(str, items)) + "}"


def billable_usage_columns(*, period: date, company_id: Any, commodity: str) -> dict[str, Any]:
    """``billable_usage`` of every service point read on the company's routes of the commodity,
    as numpy columns sorted by service point: ``sp``, ``milli`` (usage incl. carried true-ups in
    thousandths), ``first`` and ``last`` (exclusive) days (datetime64[D]). One query for a whole
    bill run: the period's cycles, then their accepted reads by the (cycle, status) index."""
    return fetch_columns(
        """FROM (SELECT r.service_point_id AS sp, (sum(r.usage + r.carried_usage) * 1000)::int8 AS milli,
                        min(r.previous_date) AS first, max(r.read_date) AS last
                   FROM metering_meterread r JOIN metering_readcycle c ON c.id = r.cycle_id
                   JOIN metering_route ro ON ro.id = c.route_id
                  WHERE c.period = %s AND ro.company_id = %s AND ro.commodity = %s AND r.status = 'accepted'
                  GROUP BY r.service_point_id ORDER BY r.service_point_id) t""",
        [period, company_id, commodity],
        [("sp", "sp", "int8"), ("milli", "milli", "int8"), ("first", "first", "date"), ("last", "last", "date")])


def route_points(*, company_id: Any, commodity: str, route_ids: Sequence[int] = ()) -> list[tuple[int, int]]:
    """(route id, service point id) of every stop on the company's active routes of the commodity
    (only ``route_ids`` when given)."""
    sql = ("SELECT s.route_id, s.service_point_id FROM metering_routestop s JOIN metering_route r ON r.id = s.route_id "
           "WHERE r.company_id = %s AND r.commodity = %s AND r.active")
    params: list[Any] = [company_id, commodity]
    if route_ids:
        sql += " AND r.id = ANY(%s)"
        params.append(list(route_ids))
    with connection.cursor() as cursor:
        cursor.execute(sql + " ORDER BY s.route_id, s.sequence", params)
        return cursor.fetchall()


def billable_usage(*, period: date, service_point_ids: Sequence[int]) -> dict[int, tuple[Any, ...]]:
    """Service point → (usage incl. carried true-ups, first day, last day (exclusive), estimated
    reads) from the accepted reads of the period's cycles. Usage is in thousandths as read."""
    with connection.cursor() as cursor:
        cursor.execute(
            """SELECT r.service_point_id, sum(r.usage + r.carried_usage), min(r.previous_date), max(r.read_date),
                      count(*) FILTER (WHERE r.kind = 'estimated')
                 FROM metering_meterread r JOIN metering_readcycle c ON c.id = r.cycle_id
                WHERE c.period = %s AND r.status = 'accepted' AND r.service_point_id = ANY(%s)
                GROUP BY r.service_point_id""", [period, list(service_point_ids)])
        return {row[0]: row[1:] for row in cursor.fetchall()}


def apportioned_shares(*, period: date, account_ids: Sequence[int]) -> list[tuple[Any, ...]]:
    """(account id, label, amount, explanation) of the apportionment shares of the period."""
    with connection.cursor() as cursor:
        cursor.execute(
            """SELECT s.account_id, g.line_label, s.amount, s.explanation FROM metering_apportionshare s
                 JOIN metering_apportiongroup g ON g.id = s.group_id
                WHERE s.period = %s AND s.account_id = ANY(%s::bigint[]) ORDER BY s.account_id, s.id""",
            [period, int_array(account_ids)])
        return cursor.fetchall()


def review_gate(*, period: date, service_point_ids: Sequence[int]) -> None:
    """Raise while any of these service points waits in the review queue for the period."""
    review.billing_gate_check(period=period, service_point_ids=service_point_ids)


def review_gate_routes(*, period: date, company_id: Any, commodity: str, route_ids: Sequence[int] = ()) -> None:
    """``review_gate`` for the service points on the company's active routes of the commodity
    (``route_ids`` when given), found by a join rather than a list of ids."""
    sql = ("SELECT s.service_point_id FROM metering_routestop s JOIN metering_route r ON r.id = s.route_id "
           "WHERE r.company_id = %s AND r.commodity = %s AND r.active")
    params: list[Any] = [company_id, commodity]
    if route_ids:
        sql += " AND r.id = ANY(%s::bigint[])"
        params.append(int_array(route_ids))
    review.billing_gate_check(period=period, service_point_sql=(sql, params))


def route_ids_by_code(*, company_id: Any, codes: Sequence[str]) -> dict[str, int]:
    with connection.cursor() as cursor:
        cursor.execute("SELECT code, id FROM metering_route WHERE company_id = %s AND code = ANY(%s)",
                       [company_id, list(codes)])
        return dict(cursor.fetchall())


def routes_ready(*, company_id: Any, commodity: str, period: date) -> list[int]:
    """The company's routes whose cycle of ``period`` has accepted reads and nothing waiting in the
    review queue — the routes a bill run can take now."""
    with connection.cursor() as cursor:
        cursor.execute(
            """SELECT r.id FROM metering_route r JOIN metering_readcycle c ON c.route_id = r.id AND c.period = %s
                WHERE r.company_id = %s AND r.commodity = %s AND r.active
                  AND EXISTS (SELECT 1 FROM metering_meterread m WHERE m.cycle_id = c.id AND m.status = 'accepted')
                  AND NOT EXISTS (SELECT 1 FROM metering_readreview v
                                    JOIN metering_routestop s ON s.service_point_id = v.service_point_id
                                   WHERE s.route_id = r.id AND v.period = %s AND v.status = 'open')
                ORDER BY r.id""", [period, company_id, commodity, period])
        return [r for (r,) in cursor.fetchall()]


def route_codes(*, route_ids: Sequence[int]) -> dict[int, str]:
    """Route id → code (for totals by route)."""
    if not route_ids:
        return {}
    with connection.cursor() as cursor:
        cursor.execute("SELECT id, code FROM metering_route WHERE id = ANY(%s)", [list(route_ids)])
        return dict(cursor.fetchall())


def special_usage(*, period: date, service_point_ids: Sequence[int]) -> dict[int, tuple[date, Any]]:
    """Service point → (special read date, usage from the start of the period's reads to that
    date) for tariff-change dates inside the period's reads (MTR-5), so rating splits the usage at
    the read instead of by days. A reading below the period's base (a wrapped dial) is left out:
    such a period is split by days. Only service points with a special reading are looked at
    (few: special reads are taken on tariff-change dates)."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT DISTINCT service_point_id FROM metering_specialread WHERE reading IS NOT NULL "
                       "AND service_point_id = ANY(%s::bigint[])", [int_array(service_point_ids)])
        candidates = [sp for (sp,) in cursor.fetchall()]
        if not candidates:
            return {}
        cursor.execute(
            """WITH spans AS (
                   SELECT DISTINCT ON (r.service_point_id) r.service_point_id, r.previous_date, r.previous_reading,
                          max(r.read_date) OVER (PARTITION BY r.service_point_id) AS last_date
                     FROM metering_meterread r JOIN metering_readcycle c ON c.id = r.cycle_id
                    WHERE c.period = %s AND r.status = 'accepted' AND r.service_point_id = ANY(%s::bigint[])
                    ORDER BY r.service_point_id, r.previous_date)
               SELECT s.service_point_id, h.read_date, p.reading - s.previous_reading
                 FROM spans s JOIN metering_specialread p ON p.service_point_id = s.service_point_id
                 JOIN metering_specialreadschedule h ON h.id = p.schedule_id
                WHERE h.read_date > s.previous_date AND h.read_date < s.last_date AND p.reading IS NOT NULL
                  AND p.reading >= s.previous_reading""", [period, int_array(candidates)])
        return {sp: (on, used) for sp, on, used in cursor.fetchall()}


def period_reads(*, period: date, service_point_ids: Sequence[int]) -> dict[int, list[dict[str, Any]]]:
    """Service point → the accepted reads of the period's cycles (meter serial, previous and
    current reading with their dates, usage including carried true-ups, estimated or not), in
    date order — what a printed notice shows next to the usage billed."""
    with connection.cursor() as cursor:
        cursor.execute(
            """SELECT r.service_point_id, m.serial, r.previous_date, r.previous_reading, r.read_date, r.reading,
                      r.usage + r.carried_usage, r.kind = 'estimated'
                 FROM metering_meterread r JOIN metering_readcycle c ON c.id = r.cycle_id
                 JOIN customers_meter m ON m.id = r.meter_id
                WHERE c.period = %s AND r.status = 'accepted' AND r.service_point_id = ANY(%s)
                ORDER BY r.service_point_id, r.read_date, r.id""", [period, list(service_point_ids)])
        found: dict[int, list[dict[str, Any]]] = {}
        for sp, serial, prev_date, prev, read_date, reading, used, estimated in cursor.fetchall():
            found.setdefault(sp, []).append({"meter": serial, "previous_date": prev_date, "previous_reading": prev,
                                             "read_date": read_date, "reading": reading, "usage": used,
                                             "estimated": estimated})
        return found
