"""Printed notices as PDF in Chinese (BIL-6, BIL-7): payment notices (缴款单) for the bills of an
issued run, dunning notices (催缴单) for arrears and the home-collection list (上门收费清单) of
disabled customers — batched by route in walking order, one PDF per route for printing and postal
delivery.

HTML templates (``billing/notices/``) are rendered in Chinese and laid out by WeasyPrint with the
CJK fonts named in the templates (Noto Sans/Serif CJK SC from Debian's ``fonts-noto-cjk``),
embedded as subsets. Nothing is fetched while rendering except ``data:`` URIs (the QR codes).

The dunning notices and the home-collection list take plain rows (``Arrears``) so that they do not
depend on how the receivables ledger computes arrears; ``arrears_from_ledger`` turns the ledger's
rows into them.
"""

from __future__ import annotations

import functools
import logging
import shutil
import subprocess
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import date, timedelta
from decimal import Decimal
from typing import Any

import segno
from django.core.exceptions import ImproperlyConfigured
from django.http import Http404
from django.template.loader import render_to_string
from django.utils import timezone, translation
from django.utils.translation import gettext_lazy

from ucis.billing import printing, selectors
from ucis.billing.models import Bill, BillRunItem
from ucis.customers import selectors as customer_selectors
from ucis.kernel.errors import Conflict, DomainError
from ucis.kernel.errors import gettext_noop as _
from ucis.ledger import selectors as ledger_selectors
from ucis.metering import selectors as metering_selectors
from ucis.metering import usage as metering_usage
from ucis.org import selectors as org_selectors
from ucis.platform.permissions import require
from ucis.platform.tenancy import SYSTEM

logger = logging.getLogger(__name__)

NOTICE_LANGUAGE = "zh-hans"  # printed for the customers: always in Chinese, whatever the staff's language
FONT_FAMILIES = ("Noto Sans CJK SC", "Noto Serif CJK SC")  # named in billing/notices/_style.css
HOME_COLLECTION_CATEGORY = "disabled"

TITLES = {"water": gettext_lazy("Water bill payment notice"),
          "electricity": gettext_lazy("Electricity bill payment notice"),
          "gas": gettext_lazy("Gas bill payment notice")}
UNITS = {"water": "m³", "electricity": "kWh", "gas": "m³"}


# --- plain rows --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ArrearsBill:
    """One unpaid bill of an account: what was billed, what is still open, when it fell due."""

    bill_id: int
    period: date
    total: Decimal
    open_amount: Decimal
    due_date: date | None


@dataclass(frozen=True)
class Arrears:
    """An account's arrears on a day: its unpaid bills, their open total and the late fee."""

    account_id: int
    bills: tuple[ArrearsBill, ...]
    open_total: Decimal
    late_fee: Decimal = Decimal("0.00")

    @property
    def amount_due(self) -> Decimal:
        return self.open_total + self.late_fee


def _field(row: Any, name: str, index: int) -> Any:
    return row[index] if isinstance(row, tuple | list) else getattr(row, name)


def arrears_from_ledger(rows: Iterable[Any]) -> list[Arrears]:
    """The ledger's ``ArrearsRow``s (account_id, bills as (bill_id, period, total, open_amount,
    due_date), open_total, late_fee) as plain ``Arrears`` rows."""
    return [Arrears(account_id=row.account_id,
                    bills=tuple(ArrearsBill(*(_field(b, n, i) for i, n in enumerate(
                        ("bill_id", "period", "total", "open_amount", "due_date")))) for b in row.bills),
                    open_total=row.open_total, late_fee=getattr(row, "late_fee", None) or Decimal("0.00"))
            for row in rows]


@dataclass
class NoticeLine:
    label: str
    quantity: str
    price: str
    amount: str
    note: str = ""
    reduction: bool = False


@dataclass
class NoticeRead:
    meter: str
    previous_date: date
    previous_reading: str
    read_date: date
    reading: str
    usage: str
    estimated: bool


@dataclass
class Addressee:
    account_id: int
    account_no: str
    customer_no: str
    name: str
    address: str
    sequence: int | None = None  # walking order on the route (1-based), None when not on it
    categories: list[str] = field(default_factory=list)


# --- formatting ---------------------------------------------------------------------------------------------


def _money(amount: Decimal) -> str:
    return f"{amount:,.2f}"


def _number(value: Decimal) -> str:
    """A quantity or reading without trailing zeros (8.0000 → 8, 12.5000 → 12.5)."""
    return format(value.normalize(), "f")


def _price(value: Decimal | None) -> str:
    if value is None:
        return ""
    cents = value.quantize(Decimal("0.01"))
    return f"{cents:.2f}" if cents == value else _number(value)


def _qr_svg(payload: str) -> str:
    return str(segno.make(payload, error="m").svg_data_uri(scale=3, border=0))


@functools.cache
def _fonts_installed() -> bool:
    """Whether fontconfig knows the CJK fonts the templates name (``fc-list`` when present)."""
    if not shutil.which("fc-list"):
        return True  # cannot tell; WeasyPrint falls back to any font it finds
    found = subprocess.run(["fc-list", ":lang=zh", "family"], capture_output=True, text=True, check=False).stdout
    return any(family in found for family in FONT_FAMILIES)


def _in_chinese(render: Any) -> Any:
    """Notices are printed for customers: always in Chinese, whatever the staff member's language."""
    @functools.wraps(render)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        with translation.override(NOTICE_LANGUAGE):
            return render(*args, **kwargs)
    return wrapper


def _pdf(template: str, context: dict[str, Any]) -> bytes:
    if not _fonts_installed():
        raise ImproperlyConfigured("no Chinese font for printed notices: install the Debian package fonts-noto-cjk "
                                   "(apt-get install fonts-noto-cjk)")
    from weasyprint import HTML
    from weasyprint.urls import URLFetcher

    html = render_to_string(template, context)
    # Only inline data: resources (the QR codes): a notice never fetches anything from a network or a file.
    fetcher = URLFetcher(allowed_protocols=["data"])
    pdf: bytes = HTML(string=html, url_fetcher=fetcher).write_pdf()
    return pdf


def _walking_order(*, company_id: int, commodity: str, route_id: int | None,
                   addressees: dict[int, dict[str, Any]]) -> dict[int, int]:
    """Account → its position on the route (its first stop in walking order, 1-based)."""
    if route_id is None:
        return {}
    stops = metering_usage.route_points(company_id=company_id, commodity=commodity, route_ids=[route_id])
    position = {sp: n for n, (_route, sp) in enumerate(stops, start=1)}
    order: dict[int, int] = {}
    for account_id, info in addressees.items():
        places = [position[sp] for sp in info["service_point_ids"] if sp in position]
        if places:
            order[account_id] = min(places)
    return order


def _addressees(*, actor: Any, account_ids: Sequence[int], company_id: int, commodity: str, on: date,
                route_id: int | None) -> tuple[list[Addressee], dict[int, list[int]]]:
    """The accounts with what a notice prints about them, in walking order along the route (those
    no longer on it after, by account number), and each account's service points."""
    found = customer_selectors.notice_addressees(actor=actor, account_ids=account_ids, commodity=commodity, on=on)
    order = _walking_order(company_id=company_id, commodity=commodity, route_id=route_id, addressees=found)
    people = [Addressee(account_id=a, account_no=info["account_no"], customer_no=info["customer_no"],
                        name=info["name"], address=info["address"], sequence=order.get(a),
                        categories=info["categories"]) for a, info in found.items()]
    people.sort(key=lambda p: (p.sequence is None, p.sequence or 0, p.account_no))
    return people, {a: info["service_point_ids"] for a, info in found.items()}


# --- payment notices (缴款单) ------------------------------------------------------------------------------------


def _line(ln: Any, *, laddered: bool) -> NoticeLine:
    """A bill line as printed: reductions (negative amounts, free volume) with their explanation,
    the blocks of a charge billed in several ladder blocks (阶梯) named."""
    reduction = ln.amount < 0 or (ln.price is not None and ln.price == 0)
    note = ""
    if reduction:
        note = selectors.explanation_text(ln.explanation)
    elif laddered and ln.block:
        note = str(gettext_lazy("block %(block)s") % {"block": ln.block})
    return NoticeLine(label=ln.label, quantity=_number(ln.quantity), price=_price(ln.price),
                      amount=_money(ln.amount), note=note, reduction=reduction)


def _lines(bill: Bill) -> list[NoticeLine]:
    lines = sorted(bill.lines.all(), key=lambda ln: ln.seq)
    blocks: dict[str, set[int]] = {}
    for ln in lines:
        blocks.setdefault(ln.code, set()).add(ln.block)
    return [_line(ln, laddered=len(blocks[ln.code]) > 1) for ln in lines]


def bill_notice_routes(*, actor: Any, run_id: Any) -> list[dict[str, Any]]:
    """The routes of a run that have bills to print, with their code, name and number of bills."""
    run = selectors.run_get(actor=actor, run_id=run_id)
    counts: dict[int, int] = {}
    for route_id in (BillRunItem.objects.filter(run=run, status="billed").exclude(route_id=None)
                     .values_list("route_id", flat=True)):
        counts[route_id] = counts.get(route_id, 0) + 1
    names = metering_usage.route_codes(route_ids=list(counts))
    return [{"route_id": r, "code": names.get(r, str(r)), "bills": counts[r]} for r in sorted(counts, key=names.get)]


def bill_notices(*, actor: Any, run_id: Any, route_id: Any) -> dict[str, Any]:
    """What the payment notices of one route of an issued run print, in walking order."""
    require(actor, "billing.view_bill")
    run = selectors.run_get(actor=actor, run_id=run_id)
    route = metering_selectors.route_get(actor=actor, route_id=route_id)
    if run.status != "issued":
        raise Conflict("status", _("notices are printed for an issued run; run %(run)s is %(status)s"),
                       run=run.pk, status=run.status)
    account_ids = list(BillRunItem.objects.filter(run=run, route_id=route.pk, status="billed")
                       .values_list("account_id", flat=True))
    bills = {b.account_id: b for b in Bill.objects.visible_to(actor)
             .filter(run=run, account_id__in=account_ids).exclude(status="cancelled")
             .select_related("node").prefetch_related("lines")}
    if not bills:
        raise DomainError("route_id", _("run %(run)s has no bills on route %(route)s"), run=run.pk,
                          route=route.code)
    period_end = (run.period + timedelta(days=32)).replace(day=1) - timedelta(days=1)
    people, points = _addressees(actor=actor, account_ids=list(bills), company_id=run.company_id,
                                 commodity=run.commodity, on=period_end, route_id=route.pk)
    reads = metering_usage.period_reads(period=run.period, service_point_ids=[
        sp for sps in points.values() for sp in sps])
    notices = []
    for person in people:
        bill = bills[person.account_id]
        account_reads = [NoticeRead(meter=r["meter"], previous_date=r["previous_date"],
                                    previous_reading=_number(r["previous_reading"]), read_date=r["read_date"],
                                    reading=_number(r["reading"]), usage=_number(r["usage"]),
                                    estimated=r["estimated"])
                         for sp in points[person.account_id] for r in reads.get(sp, [])]
        reference = printing.payment_reference(person.account_no, bill.period)
        notices.append({
            "bill": bill, "person": person, "reads": account_reads,
            "lines": _lines(bill),
            "total": _money(bill.total), "total_in_words": printing.yuan_in_words(bill.total),
            "usage": _number(bill.usage), "period_last_day": bill.period_to - timedelta(days=1),
            "due_date": getattr(bill, "due_date", None), "reference": reference,
            "qr": _qr_svg(printing.qr_payload(company_code=run.company.code, reference=reference, amount=bill.total)),
            "messages": list(bill.messages)})
    return {"run": run, "route": route, "company": run.company, "notices": notices,
            "title": TITLES.get(run.commodity, TITLES["water"]), "unit": UNITS.get(run.commodity, ""),
            "printed_on": timezone.localdate()}


def bill_notices_filename(*, actor: Any, run_id: Any, route_id: Any) -> str:
    """``notices-<run>-<route code>.pdf``: the name a route's notices are saved under."""
    run = selectors.run_get(actor=actor, run_id=run_id)
    route = metering_selectors.route_get(actor=actor, route_id=route_id)
    return f"notices-{run.pk}-{_safe(route.code)}.pdf"


def _safe(text: str) -> str:
    return "".join(c if c.isascii() and (c.isalnum() or c in "-_.") else "_" for c in text)


@_in_chinese
def bill_notices_render(*, actor: Any, run_id: Any, route_id: Any) -> bytes:
    """The payment notices (缴款单) of one route of an issued run as one PDF: one A4 page per bill,
    in walking order along the route. Another company's run or route is a 404."""
    return _pdf("billing/notices/bill_notices.html", bill_notices(actor=actor, run_id=run_id, route_id=route_id))


# --- dunning notices (催缴单) and the home-collection list (上门收费清单) -------------------------------------


def _company(actor: Any, company_id: Any) -> Any:
    """The company whose arrears are printed: one the actor sees, or the company of the actor's own
    unit (a branch prints its own customers' notices; what it sees of them stays its subtree)."""
    try:
        return org_selectors.org_node_get(actor=actor, node_id=company_id)
    except Http404:
        node = getattr(actor, "node", None)
        if node is None or str(node.company_id) != str(company_id):
            raise
        return org_selectors.org_node_get(actor=SYSTEM, node_id=node.company_id)


def _arrears_page(*, actor: Any, company_id: Any, as_of: date, rows: Sequence[Arrears],
                  route_id: Any = None) -> dict[str, Any]:
    require(actor, "billing.view_bill")
    company = _company(actor, company_id)
    if company.kind != "company":
        raise DomainError("company_id", _("notices are printed for a company"))
    route = metering_selectors.route_get(actor=actor, route_id=route_id) if route_id is not None else None
    commodity = route.commodity if route is not None else (list(company.commodities) or ["water"])[0]
    by_account = {row.account_id: row for row in rows if row.amount_due > 0}
    people, _points = _addressees(actor=actor, account_ids=list(by_account), company_id=company.pk, commodity=commodity,
                         on=as_of, route_id=route.pk if route is not None else None)
    return {"company": company, "route": route, "as_of": as_of, "commodity": commodity,
            "people": people, "arrears": by_account, "printed_on": timezone.localdate()}


@_in_chinese
def dunning_notices_from_rows(*, actor: Any, company_id: Any, as_of: date, rows: Sequence[Arrears],
                              route_id: Any = None) -> bytes:
    """Dunning notices (催缴单) for the given arrears as one PDF: one A4 page per account with
    arrears, in walking order along the route when one is given."""
    page = _arrears_page(actor=actor, company_id=company_id, as_of=as_of, rows=rows, route_id=route_id)
    notices = []
    for person in page["people"]:
        row = page["arrears"][person.account_id]
        notices.append({
            "person": person, "row": row,
            "bills": [{"period": b.period, "total": _money(b.total), "open": _money(b.open_amount),
                       "due_date": b.due_date} for b in sorted(row.bills, key=lambda b: b.period)],
            "open_total": _money(row.open_total), "late_fee": _money(row.late_fee),
            "amount_due": _money(row.amount_due), "amount_in_words": printing.yuan_in_words(row.amount_due),
            "qr": _qr_svg(printing.qr_payload(company_code=page["company"].code, reference=person.account_no,
                                              amount=row.amount_due))})
    if not notices:
        raise DomainError("route_id" if route_id is not None else "company_id", _("there are no arrears to print"))
    return _pdf("billing/notices/dunning_notices.html", {**page, "notices": notices})


@_in_chinese
def home_collection_list_from_rows(*, actor: Any, company_id: Any, as_of: date, rows: Sequence[Arrears],
                                   route_id: Any = None) -> bytes:
    """The home-collection list (上门收费清单) as one PDF: the customers holding the disabled
    category on ``as_of`` who have arrears, in walking order, with what to collect from each and
    room for the amount received and the signatures."""
    page = _arrears_page(actor=actor, company_id=company_id, as_of=as_of, rows=rows, route_id=route_id)
    entries = []
    totals = {"open": Decimal("0.00"), "late_fee": Decimal("0.00"), "due": Decimal("0.00")}
    for person in page["people"]:
        if HOME_COLLECTION_CATEGORY not in person.categories:
            continue
        row = page["arrears"][person.account_id]
        totals["open"] += row.open_total
        totals["late_fee"] += row.late_fee
        totals["due"] += row.amount_due
        entries.append({"person": person, "periods": [b.period for b in sorted(row.bills, key=lambda b: b.period)],
                        "open_total": _money(row.open_total), "late_fee": _money(row.late_fee),
                        "amount_due": _money(row.amount_due)})
    return _pdf("billing/notices/home_collection.html", {
        **page, "entries": entries, "totals": {k: _money(v) for k, v in totals.items()},
        "total_in_words": printing.yuan_in_words(totals["due"])})


# --- from the receivables ledger ------------------------------------------------------------------------------


def _ledger_arrears(*, actor: Any, company_id: Any, as_of: date, route_id: Any) -> list[Arrears]:
    require(actor, "ledger.view_journalentry")
    _company(actor, company_id)  # another company's: 404 before anything is read
    if route_id is not None:
        metering_selectors.route_get(actor=actor, route_id=route_id)
    return arrears_from_ledger(ledger_selectors.arrears_list(actor=actor, company_id=int(company_id), as_of=as_of,
                                                             route_id=None if route_id is None else int(route_id)))


def dunning_notices_render(*, actor: Any, company_id: Any, as_of: date, route_id: Any = None) -> bytes:
    """Dunning notices (催缴单) for the accounts of a company (of one route, in walking order) with
    bills past due and still open on ``as_of`` in the receivables ledger, as one PDF."""
    rows = _ledger_arrears(actor=actor, company_id=company_id, as_of=as_of, route_id=route_id)
    return dunning_notices_from_rows(actor=actor, company_id=company_id, as_of=as_of, rows=rows, route_id=route_id)


def home_collection_list_render(*, actor: Any, company_id: Any, as_of: date, route_id: Any = None) -> bytes:
    """The home-collection list (上门收费清单) of a company's (or a route's) disabled customers with
    arrears on ``as_of`` in the receivables ledger, as one PDF."""
    rows = _ledger_arrears(actor=actor, company_id=company_id, as_of=as_of, route_id=route_id)
    return home_collection_list_from_rows(actor=actor, company_id=company_id, as_of=as_of, rows=rows,
                                          route_id=route_id)
