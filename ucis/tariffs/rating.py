"""Rating (计费): a period's usage and the tariff versions in force → bill lines with explanations.

Pure: plain values in, ``Line``s out; no Django, no clock. Two paths give the same lines:

* ``rate`` — one account, ``Decimal`` throughout, every case (version changes mid-period, annual
  ladders across the new year, free volume, …). The reference.
* ``rate_batch`` — many accounts of one tariff version at once with numpy on exact integers
  (volumes in 1/100 unit, prices in 1/10000 yuan, amounts in 1/1000000 yuan rounded once per
  line to the fen). Accounts the integer path does not cover (a version change or the new year
  inside the period, free volume) are rated by ``rate``. A property test holds the two together.
  ``rate_columns`` is the same integer path over columns (``BatchInput``: numpy arrays, no
  ``Account`` objects) — what the bill run calls; ``covers`` says which periods it may take.

Units and rounding — the one documented point: volumes are exact to 0.01 (a bill never shows a
finer volume; callers round reads' thousandths half-up before rating), prices to 0.0001 yuan. Each
line's amount is ``quantity × price`` rounded half-up to the fen (``round_yuan``) once; a bill's
total is the sum of its rounded lines, so the lines always add up to the total.

Ladders (阶梯): a charge's blocks give ascending upper bounds; the last block is open. The bounds
apply per billing ``period``, per ``month`` (× the months the period covers) or per ``year``
(cumulative annual volume of the household, reset on 1 January: the part of a period before the new
year continues last year's total, the rest starts again from zero). Large households get wider
blocks: each bounded block widens by ``widen_per_person[k]`` per resident above ``base_residents``.
Seasonal charges choose their blocks by the month of the (segment's) last day.

Version changes inside a period split it into segments at each change date; the usage of each
segment comes from the special read on that date (MTR-5) when there is one, else from the days
(cumulative usage at the date = total × days so far / days, rounded half-up to 0.01, so the
segments add up to the total exactly). Period and month bounds of a segment shrink with its days.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import date, timedelta
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

import numpy as np
import numpy.typing as npt

from ucis.kernel.errors import DomainError, render_reason
from ucis.kernel.errors import gettext_noop as _
from ucis.kernel.money import round_yuan

VOLUME = Decimal("0.01")
PRICE = Decimal("0.0001")
BASES = ("period", "month", "year")
RECEIVABLE = "RECEIVABLE"


def _volume(value: Decimal) -> Decimal:
    return value.quantize(VOLUME, rounding=ROUND_HALF_UP)


def _exact(name: str, value: Any, quantum: Decimal, *, negative: bool = False) -> Decimal:
    if not isinstance(value, Decimal) or not value.is_finite() or value != value.quantize(quantum):
        raise DomainError(name, _("must be a decimal with at most %(places)s decimals, not %(value)s"),
                          places=-int(quantum.as_tuple().exponent), value=str(value))
    if value < 0 and not negative:
        raise DomainError(name, _("must not be negative, not %(value)s"), value=str(value))
    return value


# --- definitions -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Block:
    upto: Decimal | None  # upper bound of the block's volume; None = the open last block
    price: Decimal


@dataclass(frozen=True)
class Season:
    months: frozenset[int]
    blocks: tuple[Block, ...]


def check_blocks(blocks: Sequence[Block], where: str) -> None:
    if not blocks:
        raise DomainError(where, _("needs at least one block"))
    last = Decimal(0)
    for n, block in enumerate(blocks):
        _exact(f"{where}[{n}].price", block.price, PRICE)
        if block.upto is None:
            if n != len(blocks) - 1:
                raise DomainError(f"{where}[{n}].upto", _("only the last block is open-ended"))
            continue
        _exact(f"{where}[{n}].upto", block.upto, VOLUME)
        if block.upto <= last:
            raise DomainError(f"{where}[{n}].upto", _("blocks must ascend: %(upto)s does not exceed %(last)s"),
                              upto=str(block.upto), last=str(last))
        last = block.upto
    if blocks[-1].upto is not None:
        raise DomainError(f"{where}[{len(blocks) - 1}].upto", _("the last block must be open-ended"))


@dataclass(frozen=True)
class Charge:
    """A volumetric charge: a ladder (one open block = a flat price) on one register's usage.
    Surcharges collected for others (污水处理费, 垃圾费, 水资源费) are charges with their own
    ``receivable`` (``ON_BEHALF:<fee>``) so the ledger keeps the money apart."""

    code: str
    label: str
    blocks: tuple[Block, ...]
    basis: str = "period"
    register: str = "total"
    receivable: str = RECEIVABLE
    seasons: tuple[Season, ...] = ()
    widen_per_person: tuple[Decimal, ...] = ()
    base_residents: int = 0

    def __post_init__(self) -> None:
        if self.basis not in BASES:
            raise DomainError(f"{self.code}.basis", _("unknown ladder basis %(basis)s; expected period, month or year"),
                              basis=self.basis)
        check_blocks(self.blocks, f"{self.code}.blocks")
        for n, season in enumerate(self.seasons):
            check_blocks(season.blocks, f"{self.code}.seasons[{n}].blocks")
            if not season.months or not season.months <= set(range(1, 13)):
                raise DomainError(f"{self.code}.seasons[{n}].months", _("months are 1 to 12"))
        for n, width in enumerate(self.widen_per_person):
            _exact(f"{self.code}.widen_per_person[{n}]", width, VOLUME)

    def blocks_for(self, month: int) -> tuple[Block, ...]:
        for season in self.seasons:
            if month in season.months:
                return season.blocks
        return self.blocks

    def bounds(self, blocks: Sequence[Block], residents: int) -> list[Decimal | None]:
        """Upper bounds with the per-person widening (cumulative over the blocks)."""
        extra = max(0, residents - self.base_residents) if self.base_residents else 0
        widened: list[Decimal | None] = []
        added = Decimal(0)
        for n, block in enumerate(blocks):
            if block.upto is None:
                widened.append(None)
                continue
            added += (self.widen_per_person[n] if n < len(self.widen_per_person) else Decimal(0)) * extra
            widened.append(block.upto + added)
        return widened


@dataclass(frozen=True)
class FixedCharge:
    """A fixed amount per month (× the months of the period), per account or per meter; by meter
    size when ``by_size`` names the meter's size."""

    code: str
    label: str
    amount: Decimal
    per: str = "account"
    by_size: Mapping[str, Decimal] = field(default_factory=dict)
    receivable: str = RECEIVABLE

    def __post_init__(self) -> None:
        _exact(f"{self.code}.amount", self.amount, Decimal("0.01"))
        if self.per not in ("account", "meter"):
            raise DomainError(f"{self.code}.per", _("a fixed charge is per account or per meter"))


@dataclass(frozen=True)
class MinimumCharge:
    """Tops the charges ``of`` up to ``amount`` per month (最低消费)."""

    code: str
    label: str
    amount: Decimal
    of: tuple[str, ...]

    def __post_init__(self) -> None:
        _exact(f"{self.code}.amount", self.amount, Decimal("0.01"))


Component = Charge | FixedCharge | MinimumCharge


@dataclass(frozen=True)
class Version:
    tariff: str
    version: str
    active_from: date
    active_to: date | None
    components: tuple[Component, ...]

    def __post_init__(self) -> None:
        if self.active_to is not None and self.active_to <= self.active_from:
            raise DomainError("active_to", _("a version must end after it starts"))
        codes = [c.code for c in self.components]
        if len(set(codes)) != len(codes):
            raise DomainError("components", _("component codes repeat in version %(version)s"), version=self.version)
        for c in self.components:
            if isinstance(c, MinimumCharge) and not set(c.of) <= set(codes):
                raise DomainError(f"{c.code}.of", _("the minimum charge counts unknown components"))


def check_versions(versions: Sequence[Version]) -> list[Version]:
    """Versions of one tariff in order; overlaps and gaps are refused (at definition time)."""
    ordered = sorted(versions, key=lambda v: v.active_from)
    for before, after in zip(ordered, ordered[1:], strict=False):
        if before.active_to is None or before.active_to > after.active_from:
            raise DomainError("active_from", _("version %(later)s overlaps version %(earlier)s"),
                              later=after.version, earlier=before.version)
        if before.active_to < after.active_from:
            raise DomainError("active_from", _("there is a gap from %(start)s to %(end)s between versions %(earlier)s "
                                               "and %(later)s"), start=before.active_to.isoformat(),
                              end=after.active_from.isoformat(), earlier=before.version, later=after.version)
    return ordered


@dataclass(frozen=True)
class Reduction:
    """A reduction for one account (TAR-4): ``free_volume`` per month off a charge's lowest blocks
    (低保户 free water), or ``percent`` off charges (a policy discount, e.g. after a salt tide),
    for the days of the period inside ``[active_from, active_to)``; ``message`` is printed on the bill."""

    code: str
    label: str
    of: tuple[str, ...]
    active_from: date
    active_to: date | None = None
    free_volume: Decimal = Decimal(0)
    percent: Decimal = Decimal(0)
    message: str = ""

    def __post_init__(self) -> None:
        _exact(f"{self.code}.free_volume", self.free_volume, VOLUME)
        _exact(f"{self.code}.percent", self.percent, Decimal("0.01"))
        if self.percent > 100:
            raise DomainError(f"{self.code}.percent", _("a discount cannot exceed 100%%"))


@dataclass(frozen=True)
class Account:
    """What rating needs to know about one account for one period ``[period_from, period_to)``."""

    period_from: date
    period_to: date
    usage: Mapping[str, Decimal]  # register → volume; "total" at least
    residents: int = 0
    year_to_date: Decimal = Decimal(0)  # annual-ladder volume billed this calendar year before the period
    meters: int = 1
    meter_size: str = ""
    usage_at: Mapping[date, Decimal] = field(default_factory=dict)  # special reads: total usage from period_from
    reductions: tuple[Reduction, ...] = ()


@dataclass(frozen=True)
class Line:
    code: str
    label: str
    quantity: Decimal
    price: Decimal | None
    amount: Decimal
    receivable: str
    version: str
    template: str
    params: Mapping[str, Any]
    block: int = 0  # 1-based ladder block, 0 when not a block line

    @property
    def explanation(self) -> str:
        return render_reason(self.template, self.params)


# --- the reference path --------------------------------------------------------------------------------


def months_in(days: int) -> int:
    """Billing months a period covers: 28–31 days = 1, 59–62 = 2, … (days × 12 / 365, rounded)."""
    return max(1, int((Decimal(days) * 12 / 365).quantize(Decimal(1), rounding=ROUND_HALF_UP)))


@dataclass(frozen=True)
class Segment:
    start: date
    end: date
    version: Version
    usage: Mapping[str, Decimal]


def segments(versions: Sequence[Version], account: Account) -> list[Segment]:
    start, end = account.period_from, account.period_to
    if end <= start:
        raise DomainError("period_to", _("the period must end after it starts"))
    days = (end - start).days
    cuts = {start, end}
    for v in versions:
        for d in (v.active_from, v.active_to):
            if d is not None and start < d < end:
                cuts.add(d)
    if any(isinstance(c, Charge) and c.basis == "year" for v in versions for c in v.components):
        for year in range(start.year + 1, (end - timedelta(days=1)).year + 1):
            cuts.add(date(year, 1, 1))
    ordered = sorted(cuts)
    total = account.usage

    def cumulative(register: str, on: date) -> Decimal:
        if on == start:
            return Decimal(0)
        if on == end:
            return total[register]
        if register == "total" and on in account.usage_at:
            return account.usage_at[on]
        if on in account.usage_at and total.get("total"):
            return _volume(total[register] * account.usage_at[on] / total["total"])
        return _volume(total[register] * (on - start).days / days)

    result = []
    for a, b in zip(ordered, ordered[1:], strict=False):
        version = next((v for v in versions if v.active_from <= a and (v.active_to is None or a < v.active_to)), None)
        if version is None:
            raise DomainError("tariff", _("no tariff version is in force on %(date)s"), date=a.isoformat())
        usage = {r: cumulative(r, b) - cumulative(r, a) for r in total}
        result.append(Segment(a, b, version, usage))
    return result


def _share(value: Decimal, part_days: int, days: int) -> Decimal:
    return value * part_days / days


def _overlap(r: Reduction, start: date, end: date) -> int:
    lo = max(start, r.active_from)
    hi = min(end, r.active_to) if r.active_to else end
    return max(0, (hi - lo).days)


def rate(versions: Sequence[Version], account: Account) -> list[Line]:
    """The bill lines of one account for its period (see the module docstring)."""
    for register, value in account.usage.items():
        _exact(f"usage.{register}", value, VOLUME)
    if "total" not in account.usage:
        raise DomainError("usage", _("the usage needs a total"))
    _exact("year_to_date", account.year_to_date, VOLUME)
    days = (account.period_to - account.period_from).days
    months = months_in(days) if days > 0 else 1
    lines: list[Line] = []
    ytd: dict[str, Decimal] = {}
    for seg in segments(versions, account):
        seg_days = (seg.end - seg.start).days
        last_day = seg.end - timedelta(days=1)
        for comp in seg.version.components:
            if isinstance(comp, Charge):
                lines += _charge_lines(comp, seg, account, months=months, days=days, seg_days=seg_days,
                                       last_day=last_day, ytd=ytd)
            elif isinstance(comp, FixedCharge):
                base = comp.by_size.get(account.meter_size, comp.amount)
                count = account.meters if comp.per == "meter" else 1
                quantity = Decimal(months * count) * seg_days / days
                amount = round_yuan(base * quantity)
                lines.append(Line(comp.code, comp.label, quantity.quantize(Decimal("0.0001")), base, amount,
                                  comp.receivable, seg.version.version,
                                  _("%(label)s: %(amount)s × %(months)s month(s) × %(count)s for %(days)s of "
                                    "%(period_days)s days (version %(version)s)"),
                                  {"label": comp.label, "amount": str(base), "months": months, "count": count,
                                   "days": seg_days, "period_days": days, "version": seg.version.version}))
        for comp in seg.version.components:
            if isinstance(comp, MinimumCharge):
                counted = sum((ln.amount for ln in lines if ln.code in comp.of and ln.version == seg.version.version),
                              Decimal(0))
                floor = round_yuan(comp.amount * months * seg_days / days)
                if counted < floor:
                    lines.append(Line(comp.code, comp.label, Decimal(1), None, floor - counted, RECEIVABLE,
                                      seg.version.version,
                                      _("%(label)s: charges of %(counted)s are below the minimum %(minimum)s"),
                                      {"label": comp.label, "counted": str(counted), "minimum": str(floor)}))
    for red in account.reductions:
        if red.percent:
            lines += _percent_lines(red, lines, account, days)
    return lines


def _charge_lines(comp: Charge, seg: Segment, account: Account, *, months: int, days: int, seg_days: int,
                  last_day: date, ytd: dict[str, Decimal]) -> list[Line]:
    volume = seg.usage.get(comp.register, Decimal(0))
    free = Decimal(0)
    for red in account.reductions:
        if red.free_volume and comp.code in red.of:
            share = _overlap(red, seg.start, seg.end)
            free += _volume(red.free_volume * months * share / days)
    free = min(free, volume)
    blocks = comp.blocks_for(last_day.month)
    bounds = comp.bounds(blocks, account.residents)
    if comp.basis == "year":
        key = f"{comp.code}:{seg.start.year}"
        if key not in ytd:
            ytd[key] = account.year_to_date if seg.start.year == account.period_from.year else Decimal(0)
        start_at = ytd[key]
        scaled = bounds
        ytd[key] = start_at + volume
    else:
        start_at = Decimal(0)
        factor = Decimal(months if comp.basis == "month" else 1) * seg_days / days
        scaled = [None if b is None else _volume(b * factor) for b in bounds]
    lines = []
    lower = Decimal(0)
    end_at = start_at + volume
    for n, (block, upper) in enumerate(zip(blocks, scaled, strict=True)):
        block_lower = lower
        lo = max(start_at, lower)
        hi = end_at if upper is None else min(end_at, upper)
        quantity = max(Decimal(0), hi - lo)
        lower = upper if upper is not None else lower
        if quantity == 0:
            continue
        if free:  # free volume comes off the lowest blocks first
            taken = min(free, quantity)
            free -= taken
            quantity -= taken
            lines.append(Line(comp.code, comp.label, taken, Decimal(0), Decimal("0.00"), comp.receivable,
                              seg.version.version, _("%(label)s: %(quantity)s free (%(reductions)s)"),
                              {"label": comp.label, "quantity": str(taken),
                               "reductions": ", ".join(r.label for r in account.reductions if r.free_volume)},
                              block=n + 1))
            if quantity == 0:
                continue
        amount = round_yuan(quantity * block.price)
        lines.append(Line(
            comp.code, comp.label, quantity, block.price, amount, comp.receivable, seg.version.version,
            _("%(label)s block %(block)s (%(lower)s–%(upper)s %(basis)s): %(quantity)s × %(price)s, %(start)s to "
              "%(end)s, version %(version)s"),
            {"label": comp.label, "block": n + 1, "lower": str(block_lower),
             "upper": "∞" if upper is None else str(upper), "basis": comp.basis, "quantity": str(quantity),
             "price": str(block.price), "start": seg.start.isoformat(),
             "end": (seg.end - timedelta(days=1)).isoformat(), "version": seg.version.version},
            block=n + 1))
    return lines


def _percent_lines(red: Reduction, lines: Sequence[Line], account: Account, days: int) -> list[Line]:
    share = _overlap(red, account.period_from, account.period_to)
    if not share:
        return []
    base = sum((ln.amount for ln in lines if ln.code in red.of), Decimal(0))
    amount = -round_yuan(base * red.percent / 100 * share / days)
    if not amount:
        return []
    return [Line(red.code, red.label, Decimal(1), None, amount, RECEIVABLE, "",
                 _("%(label)s: %(percent)s%% off %(base)s for %(days)s of %(period_days)s days"),
                 {"label": red.label, "percent": str(red.percent), "base": str(base), "days": share,
                  "period_days": days})]


def total(lines: Sequence[Line]) -> Decimal:
    return sum((ln.amount for ln in lines), Decimal("0.00"))


# --- the integer path ------------------------------------------------------------------------------------

IntArray = npt.NDArray[np.int64]


def _fen(micro: IntArray) -> IntArray:
    """1/1000000 yuan → fen, half-up (away from zero), as ``round_yuan``."""
    magnitude = (np.abs(micro) + 5000) // 10000
    return np.where(micro < 0, -magnitude, magnitude)


@dataclass(frozen=True)
class BatchLines:
    """Lines of many accounts as columns: ``account`` indexes the input; ``component`` indexes the
    version's components; ``block`` is 1-based for ladder lines (0 otherwise). Quantities in 1/100
    unit (fixed charges: 1/10000 month), prices in 1/10000 yuan (−1 when none), amounts in fen."""

    account: IntArray
    component: IntArray
    block: IntArray
    quantity: IntArray
    price: IntArray
    amount_fen: IntArray


def _integer_path_covers(version: Version, account: Account) -> bool:
    if account.period_from < version.active_from or (version.active_to and account.period_to > version.active_to):
        return False
    if account.usage_at or any(r.free_volume for r in account.reductions):
        return False
    annual = any(isinstance(c, Charge) and c.basis == "year" for c in version.components)
    return not annual or account.period_from.year == (account.period_to - timedelta(days=1)).year


@dataclass(frozen=True)
class BatchInput:
    """Accounts as columns for the integer path, every one covered by the version (``covers``):
    period days, the month of the period's last day, residents, usage per register and the annual
    volume billed before the period (1/100 unit), meters, and the meter size as an index into
    ``sizes`` (−1 when none)."""

    days: IntArray
    last_month: IntArray
    residents: IntArray
    volume: Mapping[str, IntArray]
    year_to_date: IntArray
    meters: IntArray
    meter_size: IntArray
    sizes: tuple[str, ...] = ()


def months_of(days: IntArray) -> IntArray:
    """``months_in`` for many periods: days × 12 / 365 rounded half-up, at least 1."""
    return np.maximum(1, (24 * days + 365) // 730)


def covers(version: Version, period_from: Any, period_to: Any) -> Any:
    """Which periods (datetime64[D] arrays) the integer path rates under ``version``: inside the
    version, and — for annual ladders — inside one calendar year. (Free volume and special reads
    are the caller's to leave out.)"""
    start = np.datetime64(version.active_from, "D")
    inside = period_from >= start
    if version.active_to is not None:
        inside &= period_to <= np.datetime64(version.active_to, "D")
    if any(isinstance(c, Charge) and c.basis == "year" for c in version.components):
        inside &= (period_from.astype("datetime64[Y]") == (period_to - np.timedelta64(1, "D")).astype("datetime64[Y]"))
    return inside


def rate_columns(version: Version, batch: BatchInput) -> BatchLines:
    """The integer path over columns (``account`` indexes the batch's rows)."""
    n = len(batch.days)
    idx = np.arange(n, dtype=np.int64)
    months = months_of(batch.days)
    last_month = batch.last_month
    residents = batch.residents
    cols: dict[str, list[IntArray]] = {k: [] for k in BatchLines.__dataclass_fields__}

    def emit(mask: Any, component: int, block: int, quantity: IntArray, price: IntArray | int,
             amount: IntArray) -> None:
        m = np.asarray(mask, dtype=np.bool_)
        cols["account"].append(idx[m])
        cols["component"].append(np.full(int(m.sum()), component, dtype=np.int64))
        cols["block"].append(np.full(int(m.sum()), block, dtype=np.int64))
        cols["quantity"].append(np.asarray(quantity, dtype=np.int64)[m])
        cols["price"].append(np.broadcast_to(np.asarray(price, dtype=np.int64), m.shape)[m])
        cols["amount_fen"].append(np.asarray(amount, dtype=np.int64)[m])

    charged = np.zeros((len(version.components), n), dtype=np.int64)  # fen per component, for minimums
    for ci, comp in enumerate(version.components):
        if isinstance(comp, Charge):
            volume = batch.volume.get(comp.register, np.zeros(n, dtype=np.int64))
            start_at = batch.year_to_date if comp.basis == "year" else np.zeros(n, dtype=np.int64)
            end_at = start_at + volume
            factor = months if comp.basis == "month" else np.ones(n, dtype=np.int64)
            extra = np.maximum(residents - comp.base_residents, 0) if comp.base_residents else np.zeros(n, np.int64)
            # Seasons pick the blocks by the month of the period's last day: rate each block set on its rows.
            choices = [(frozenset(s.months), s.blocks) for s in comp.seasons]
            seasonal_months = frozenset().union(*(m for m, _b in choices)) if choices else frozenset()
            groups = [(np.isin(last_month, sorted(m)), b) for m, b in choices]
            groups.append((~np.isin(last_month, sorted(seasonal_months)), comp.blocks))
            for rows, blocks in groups:
                if not rows.any():
                    continue
                lower = np.zeros(n, dtype=np.int64)
                added = np.zeros(n, dtype=np.int64)
                for k, block in enumerate(blocks):
                    price = int(block.price * 10000)
                    if block.upto is None:
                        upper = None
                    else:
                        widen = comp.widen_per_person[k] if k < len(comp.widen_per_person) else Decimal(0)
                        added = added + int(widen * 100) * extra
                        upper = (int(block.upto * 100) + added) * factor
                    lo = np.maximum(start_at, lower)
                    hi = end_at if upper is None else np.minimum(end_at, upper)
                    quantity = np.maximum(hi - lo, 0)
                    amount = _fen(quantity * price)
                    emit(rows & (quantity > 0), ci, k + 1, quantity, price, amount)
                    charged[ci] += np.where(rows, amount, 0)
                    if upper is not None:
                        lower = upper
        elif isinstance(comp, FixedCharge):
            default = int(comp.amount * 100)
            table = np.array([int(comp.by_size.get(size, comp.amount) * 100) for size in batch.sizes] + [default],
                             dtype=np.int64)
            base = table[np.where(batch.meter_size >= 0, batch.meter_size, len(batch.sizes))]
            count = batch.meters if comp.per == "meter" else np.ones(n, dtype=np.int64)
            amount = base * months * count  # fen × whole months: exact, nothing to round
            emit(np.ones(n, dtype=np.bool_), ci, 0, months * count * 10000, base * 100, amount)
            charged[ci] += amount
    for ci, comp in enumerate(version.components):
        if isinstance(comp, MinimumCharge):
            counted = sum((charged[j] for j, c in enumerate(version.components) if c.code in comp.of),
                          np.zeros(n, dtype=np.int64))
            floor = int(comp.amount * 100) * months
            top_up = floor - counted
            emit(top_up > 0, ci, 0, np.full(n, 10000, dtype=np.int64), -1, top_up)
    return BatchLines(**{k: (np.concatenate(v) if v else np.array([], dtype=np.int64)) for k, v in cols.items()})


def rate_batch(version: Version, accounts: Sequence[Account]) -> tuple[BatchLines, dict[int, list[Line]]]:
    """Rate many accounts under ``version``: the integer path for those it covers (returned as
    columns), ``rate`` for the rest (returned per account index). Accounts with a percent
    reduction are rated by ``rate`` too (their own date ranges: a rare case not vectorised)."""
    covered = [i for i, a in enumerate(accounts) if _integer_path_covers(version, a)
               and not any(r.percent for r in a.reductions)]
    covered_set = set(covered)
    others = {i: rate([version], accounts[i]) for i in range(len(accounts)) if i not in covered_set}
    subset = [accounts[i] for i in covered]
    sizes = tuple(sorted({a.meter_size for a in subset}))
    registers = {c.register for c in version.components if isinstance(c, Charge)}
    batch = BatchInput(
        days=np.array([(a.period_to - a.period_from).days for a in subset], dtype=np.int64),
        last_month=np.array([(a.period_to - timedelta(days=1)).month for a in subset], dtype=np.int64),
        residents=np.array([a.residents for a in subset], dtype=np.int64),
        volume={r: np.array([int(a.usage.get(r, Decimal(0)) * 100) for a in subset], dtype=np.int64)
                for r in registers},
        year_to_date=np.array([int(a.year_to_date * 100) for a in subset], dtype=np.int64),
        meters=np.array([a.meters for a in subset], dtype=np.int64),
        meter_size=np.array([sizes.index(a.meter_size) for a in subset], dtype=np.int64), sizes=sizes)
    lines = rate_columns(version, batch)
    idx = np.array(covered, dtype=np.int64)
    return BatchLines(idx[lines.account], lines.component, lines.block, lines.quantity, lines.price,
                      lines.amount_fen), others


def volume_for_amount(versions: Sequence[Version], account: Account, amount: Decimal) -> tuple[Decimal, list[Line]]:
    """The most volume ``amount`` buys (prepaid meters, 购气/购水): the largest usage, in 0.01 units,
    whose lines add up to at most ``amount`` for ``account`` (its period, year-to-date and residents
    as given; its usage is ignored). Rating is monotone in usage, so halving the interval finds it."""
    _exact("amount", amount, Decimal("0.01"))
    if amount <= 0:
        raise DomainError("amount", _("the amount must be more than zero"))

    def cost(hundredths: int) -> tuple[Decimal, list[Line]]:
        usage = {"total": Decimal(hundredths) / 100}
        lines = rate(versions, replace(account, usage=usage, usage_at={}))
        return sum((ln.amount for ln in lines), Decimal("0.00")), lines

    lo, hi = 0, 100
    while cost(hi)[0] <= amount:
        lo, hi = hi, hi * 2
        if hi > 10 ** 12:
            raise DomainError("amount", _("the tariff charges nothing for volume; it cannot be sold by amount"))
    while hi - lo > 1:
        mid = (lo + hi) // 2
        if cost(mid)[0] <= amount:
            lo = mid
        else:
            hi = mid
    total, lines = cost(lo)
    if lo == 0 or total > amount:
        raise DomainError("amount", _("%(amount)s does not buy any volume"), amount=str(amount))
    return Decimal(lo) / 100, lines
