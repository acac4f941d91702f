"""Routes, reading cycles and meter reads of the synthetic city (pure, seeded, numpy).

Given the installed meters (one row each, in walking order within a station and commodity) and the
meter readers of each branch, the plan cuts routes (抄表本) of ~300 service points, gives each a
reading day and a monthly or bi-monthly cycle, and writes ``READS_PER_METER`` reads per meter up
to the last cycle due before ``today``: seasonal usage per commodity and customer type, cumulative
readings on the dial (wrapping at ``10**dial_digits``) and, in the newest cycle, a known number
of anomalies of every kind the validation rules flag, plus service points not read yet.

The plan says what the readers wrote down, never what the rules make of it: usage, flags and
status are computed by ``ucis.metering.bulkload`` with the production rules.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date

import numpy as np
import numpy.typing as npt

IntArray = npt.NDArray[np.int64]
BoolArray = npt.NDArray[np.bool_]
DayArray = npt.NDArray[np.datetime64]

READS_PER_METER = 13  # a year of monthly reads plus the same month last year as a baseline
ROUTE_SIZE = 300
SOURCES = ("hand", "handheld", "remote")
# Anomalies planted in the newest cycle: (name, share of meters, at least this many when possible).
ANOMALIES = (("rollover", 0.003), ("reverse", 0.002), ("wrong_base", 0.003), ("high", 0.004), ("low", 0.003),
             ("zero", 0.003), ("out_of_cycle", 0.003), ("no_read", 0.03))
ANOMALY_MINIMUM = 2
# Mean daily usage in thousandths of a unit: residential water ~12 m³ a month, electricity ~200 kWh,
# gas ~15 m³; other customer types use a multiple of it.
DAILY_USAGE = {"water": 400, "electricity": 6_700, "gas": 500}
TYPE_FACTOR = {"resident": 1.0, "non_resident": 6.0, "special": 4.0, "industrial": 25.0, "public": 10.0}
# Share of routes read every two months (the rest monthly).
BIMONTHLY_SHARE = {"water": 0.0, "electricity": 0.3, "gas": 0.4}
COMMODITY_LETTER = {"water": "W", "electricity": "E", "gas": "G"}
COMMODITY_BOOK = {"water": "水表抄表本", "electricity": "电表抄表本", "gas": "燃气表抄表本"}


@dataclass(frozen=True)
class MeterTable:
    """Installed meters, one row each; rows of one (node, commodity) are in walking order.
    ``commodity``, ``meter_type`` and ``customer_type`` index the name tuples."""

    node_code: Sequence[str]  # per row
    commodity: IntArray
    meter_type: IntArray
    customer_type: IntArray
    dial_digits: IntArray
    install_reading: IntArray  # thousandths
    installed: DayArray
    commodities: tuple[str, ...]
    meter_types: tuple[str, ...]
    customer_types: tuple[str, ...]


@dataclass(frozen=True)
class PlannedRoute:
    code: str
    name: str
    node_code: str
    commodity: str
    reader: str | None  # username
    cycle_months: int
    cycle_parity: int
    read_day: int


@dataclass
class ReadPlan:
    routes: list[PlannedRoute] = field(default_factory=list)
    stop_route: IntArray = field(default_factory=lambda: np.zeros(0, np.int64))  # per meter row
    stop_sequence: IntArray = field(default_factory=lambda: np.zeros(0, np.int64))
    cycle_route: IntArray = field(default_factory=lambda: np.zeros(0, np.int64))
    cycle_period: DayArray = field(default_factory=lambda: np.zeros(0, "datetime64[D]"))
    cycle_scheduled: DayArray = field(default_factory=lambda: np.zeros(0, "datetime64[D]"))
    cycle_from: DayArray = field(default_factory=lambda: np.zeros(0, "datetime64[D]"))
    cycle_to: DayArray = field(default_factory=lambda: np.zeros(0, "datetime64[D]"))
    cycle_open: BoolArray = field(default_factory=lambda: np.zeros(0, np.bool_))
    # Reads, sorted by meter row then date.
    read_row: IntArray = field(default_factory=lambda: np.zeros(0, np.int64))
    read_cycle: IntArray = field(default_factory=lambda: np.zeros(0, np.int64))
    read_date: DayArray = field(default_factory=lambda: np.zeros(0, "datetime64[D]"))
    reading: IntArray = field(default_factory=lambda: np.zeros(0, np.int64))  # thousandths
    stated_previous: IntArray = field(default_factory=lambda: np.zeros(0, np.int64))
    has_stated_previous: BoolArray = field(default_factory=lambda: np.zeros(0, np.bool_))
    read_source: IntArray = field(default_factory=lambda: np.zeros(0, np.int64))  # index into SOURCES
    # Which anomaly was planted in a meter's newest read ("" for none), per meter row.
    anomaly: npt.NDArray[np.str_] = field(default_factory=lambda: np.zeros(0, "<U12"))


def _month_start(month_index: int) -> date:
    return date(month_index // 12, month_index % 12 + 1, 1)


def plan_routes(*, meters: MeterTable, readers: Mapping[str, Sequence[str]], node_names: Mapping[str, str],
                seed: int) -> tuple[list[PlannedRoute], IntArray, IntArray]:
    """Routes of ~``ROUTE_SIZE`` stops per (station, commodity), stops in the given walking order;
    readers of the station's branch take the routes in turn."""
    rng = np.random.default_rng([seed, 1])
    n = len(meters.commodity)
    codes = sorted(set(meters.node_code))
    node_index = {c: i for i, c in enumerate(codes)}
    node_of = np.fromiter((node_index[c] for c in meters.node_code), dtype=np.int64, count=n)
    key = node_of * len(meters.commodities) + meters.commodity
    order = np.argsort(key, kind="stable")
    bounds = np.flatnonzero(np.diff(key[order])) + 1
    stop_route = np.zeros(n, np.int64)
    stop_sequence = np.zeros(n, np.int64)
    routes: list[PlannedRoute] = []
    turn: dict[str, int] = {}
    for group in np.split(order, bounds) if n else []:
        node_code = codes[int(node_of[group[0]])]
        commodity = meters.commodities[int(meters.commodity[group[0]])]
        branch = node_code.rsplit("-", 1)[0] if node_code.count("-") >= 2 else node_code
        staff = list(readers.get(branch, ()))
        for number, stops in enumerate(np.array_split(group, max(1, round(len(group) / ROUTE_SIZE))), start=1):
            bimonthly = rng.random() < BIMONTHLY_SHARE.get(commodity, 0.0)
            reader = None
            if staff:
                reader = staff[turn.get(branch, 0) % len(staff)]
                turn[branch] = turn.get(branch, 0) + 1
            stop_route[stops] = len(routes)
            stop_sequence[stops] = np.arange(1, len(stops) + 1) * 10  # gaps leave room to insert stops
            routes.append(PlannedRoute(
                code=f"{node_code}-{COMMODITY_LETTER.get(commodity, 'X')}{number:02d}",
                name=f"{node_names.get(node_code, node_code)}{COMMODITY_BOOK.get(commodity, '抄表本')}{number}号",
                node_code=node_code, commodity=commodity, reader=reader, cycle_months=2 if bimonthly else 1,
                cycle_parity=int(rng.integers(0, 2)) if bimonthly else 1, read_day=int(rng.integers(5, 26))))
    return routes, stop_route, stop_sequence


def _cycles(plan: ReadPlan, today: date) -> IntArray:
    """Every route's cycles, oldest first: ``READS_PER_METER`` cycles due before ``today`` and the
    current month's cycle when it is not due yet. Returns (routes × READS_PER_METER) cycle indexes
    of the read cycles."""
    current = today.year * 12 + today.month - 1
    k = READS_PER_METER
    route_ix: list[int] = []
    periods: list[date] = []
    scheduled: list[date] = []
    read_cycles = np.zeros((len(plan.routes), k), np.int64)
    for r, route in enumerate(plan.routes):
        month = current
        if route.cycle_months == 2:
            while (month % 12 + 1) % 2 != route.cycle_parity:
                month -= 1
        months = [month - route.cycle_months * i for i in range(k + 1)][::-1]
        newest_due = _month_start(months[-1]).replace(day=route.read_day) < today
        # Due: the newest k months are read. Not due yet: the k before it are, and it waits open.
        first = len(periods)
        for m in months[1:] if newest_due else months:
            start = _month_start(m)
            route_ix.append(r)
            periods.append(start)
            scheduled.append(start.replace(day=route.read_day))
        read_cycles[r] = np.arange(first, first + k)
    plan.cycle_route = np.array(route_ix, np.int64)
    plan.cycle_period = np.array(periods, "datetime64[D]")
    plan.cycle_scheduled = np.array(scheduled, "datetime64[D]")
    plan.cycle_from = plan.cycle_scheduled - np.timedelta64(2, "D")
    plan.cycle_to = plan.cycle_scheduled + np.timedelta64(5, "D")
    this_month = np.datetime64(_month_start(current), "D")
    plan.cycle_open = plan.cycle_period == this_month
    return read_cycles


def _season(commodity: str, day_of_year: npt.NDArray[np.float64]) -> npt.NDArray[np.float64]:
    """Seasonal factor around 1: water peaks in summer, gas in winter, electricity in both."""
    angle = 2 * np.pi * day_of_year / 365.25
    if commodity == "gas":
        return np.asarray(1 + 0.4 * np.cos(angle - 2 * np.pi * 15 / 365.25))
    if commodity == "electricity":
        return np.asarray(1 + 0.25 * np.cos(2 * (angle - 2 * np.pi * 15 / 365.25)))
    return np.asarray(1 + 0.2 * np.cos(angle - 2 * np.pi * 200 / 365.25))


def _pick(rng: np.random.Generator, candidates: IntArray, share: float, total: int) -> IntArray:
    want = min(len(candidates), max(ANOMALY_MINIMUM, round(share * total)))
    return np.sort(rng.choice(candidates, size=want, replace=False)) if want else candidates[:0]


def plan_reads(*, meters: MeterTable, readers: Mapping[str, Sequence[str]], node_names: Mapping[str, str],
               seed: int, today: date) -> ReadPlan:
    n, k = len(meters.commodity), READS_PER_METER
    plan = ReadPlan()
    plan.routes, plan.stop_route, plan.stop_sequence = plan_routes(
        meters=meters, readers=readers, node_names=node_names, seed=seed)
    read_cycles = _cycles(plan, today)
    plan.anomaly = np.full(n, "", "<U12")
    if n == 0:
        return plan
    rng = np.random.default_rng([seed, 2])
    today64 = np.datetime64(today, "D")
    cyc = read_cycles[plan.stop_route]  # (n, k)
    smart = meters.meter_type == meters.meter_types.index("smart")
    # Remote reads arrive on the reading day; readers walk the route over the window.
    jitter = np.where(smart[:, None], 0, rng.integers(-2, 5, size=(n, k)))
    dates = np.minimum(plan.cycle_scheduled[cyc] + jitter.astype("timedelta64[D]"), today64)

    # Anomalies of the newest cycle: disjoint sets of meters.
    everyone = np.arange(n)
    newest_open = plan.cycle_open[cyc[:, -1]]
    chosen: dict[str, IntArray] = {}
    taken = np.zeros(n, np.bool_)
    for name, share in ANOMALIES:
        if name == "no_read":
            pool = everyone[newest_open & ~taken]
        elif name == "wrong_base":  # a base typed from the sheet: hand and handheld reads
            pool = everyone[~smart & ~taken]
        else:
            pool = everyone[~taken]
        chosen[name] = _pick(rng, pool, share, n)
        taken[chosen[name]] = True
        plan.anomaly[chosen[name]] = name
    late = chosen["out_of_cycle"]
    dates[late, -1] = plan.cycle_from[cyc[late, -1]] - rng.integers(1, 4, size=len(late)).astype("timedelta64[D]")

    # Usage in "unit days" (days × season × noise); the first period runs from the installation.
    previous = np.concatenate([meters.installed.astype("datetime64[D]")[:, None], dates[:, :-1]], axis=1)
    days = (dates - previous).astype(np.int64)
    middle = previous + (days // 2).astype("timedelta64[D]")
    day_of_year = (middle - middle.astype("datetime64[Y]").astype("datetime64[D]")).astype(np.float64)
    unit = days * rng.lognormal(0.0, 0.08, size=(n, k))
    unit[:, 0] = days[:, 0] * rng.lognormal(0.0, 0.03, size=n)  # years since fitting: the annual mean
    for c, commodity in enumerate(meters.commodities):
        rows = meters.commodity == c
        unit[rows, 1:] *= _season(commodity, day_of_year[rows, 1:])
    cumulative = np.cumsum(unit, axis=1)
    cap = np.power(10, meters.dial_digits + 3).astype(np.int64)
    base_daily = np.array([DAILY_USAGE.get(c, 500) for c in meters.commodities])[meters.commodity]
    daily = base_daily * np.array([TYPE_FACTOR.get(t, 1.0) for t in meters.customer_types])[meters.customer_type]
    daily = np.asarray(daily * rng.lognormal(0.0, 0.3, size=n), dtype=np.float64)
    room = (cap - meters.install_reading).astype(np.float64)
    # The dial must not wrap unseen between installation and the first read: big users on small
    # dials are slowed to what the dial can show.
    daily = np.minimum(daily, 0.85 * room / cumulative[:, -1])
    rolled = chosen["rollover"]
    part = rng.uniform(0.2, 0.8, size=len(rolled))
    # A meter whose dial passes its capacity inside the newest period, at a steady daily usage.
    daily[rolled] = room[rolled] / (cumulative[rolled, -2] + part * (cumulative[rolled, -1] - cumulative[rolled, -2]))
    # Mechanical and card meters are read in whole units, smart meters to the thousandth.
    step = np.where(smart, 1, 1000)[:, None]
    total = (np.floor(daily[:, None] * cumulative / step) * step).astype(np.int64)
    readings = meters.install_reading[:, None] + total
    previous_reading = readings[:, -2].copy()
    last_usage = readings[:, -1] - readings[:, -2]
    unit_step = step[:, 0]

    high = chosen["high"]
    readings[high, -1] = previous_reading[high] + (
        np.floor(last_usage[high] * rng.uniform(4, 8, size=len(high)) / unit_step[high]) * unit_step[high]).astype(
            np.int64)
    low = chosen["low"]
    readings[low, -1] = previous_reading[low] + np.maximum(
        unit_step[low], (np.floor(last_usage[low] * rng.uniform(0.03, 0.12, size=len(low)) / unit_step[low])
                         * unit_step[low]).astype(np.int64))
    zero = chosen["zero"]
    readings[zero, -1] = previous_reading[zero]
    back = chosen["reverse"]
    readings[back, -1] = np.maximum(0, previous_reading[back] - rng.integers(1, 30, size=len(back)) * unit_step[back])
    readings %= cap[:, None]

    stated = np.zeros((n, k), np.int64)
    has_stated = np.zeros((n, k), np.bool_)
    typo = chosen["wrong_base"]
    stated[typo, -1] = (previous_reading[typo] + rng.choice([10_000, 100_000, -10_000], size=len(typo))) % cap[typo]
    has_stated[typo, -1] = True

    source = np.where(smart[:, None], np.where(rng.random((n, k)) < 0.96, 2, 1),
                      np.where(rng.random((n, k)) < 0.7, 1, 0))
    keep = np.ones((n, k), np.bool_)
    keep[chosen["no_read"], -1] = False
    # Never a read before the meter was fitted (the registry fits meters years before the history).
    keep &= days > 0
    plan.read_row = np.broadcast_to(everyone[:, None], (n, k))[keep]
    plan.read_cycle = cyc[keep]
    plan.read_date = dates[keep]
    plan.reading = readings[keep]
    plan.stated_previous = stated[keep]
    plan.has_stated_previous = has_stated[keep]
    plan.read_source = source[keep].astype(np.int64)
    return plan
