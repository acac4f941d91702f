"""Printed notices (BIL-6, BIL-7) as real PDFs: a route's payment notices of an issued run in walking
order, with the customer's Chinese name, the lines (reductions as on the bill), the total in figures
and in capital numerals, the messages and the embedded CJK fonts; dunning notices and the
home-collection list from arrears rows; the screen, the API and the CLI; tenancy (404)."""

from __future__ import annotations

import io
import re
from datetime import date
from decimal import Decimal

import pytest
from django.core.management import call_command
from pypdf import PdfReader

from ucis.billing import notices, services
from ucis.billing.models import Bill, BillRun
from ucis.customers import services as customer_services
from ucis.kernel.errors import Conflict, DomainError
from ucis.metering import services as metering_services
from ucis.metering.reads import ReadInput, meter_reads_record
from ucis.platform.tenancy import SYSTEM
from ucis.tariffs import services as tariff_services
from ucis.tariffs.services import DiscountInput

from .conftest import make_site
from .test_bill_run import TARIFF, TODAY

pytestmark = pytest.mark.django_db


def pdf_pages(data: bytes) -> list[str]:
    assert data.startswith(b"%PDF-")
    return [page.extract_text() for page in PdfReader(io.BytesIO(data)).pages]


def embedded_fonts(data: bytes) -> set[str]:
    """The base names of the fonts whose program is embedded in the PDF (every font must be)."""
    names = set()
    for page in PdfReader(io.BytesIO(data)).pages:
        for ref in page["/Resources"]["/Font"].values():
            font = ref.get_object()
            descendant = font["/DescendantFonts"][0].get_object() if "/DescendantFonts" in font else font
            descriptor = descendant["/FontDescriptor"].get_object()
            assert any(k in descriptor for k in ("/FontFile", "/FontFile2", "/FontFile3")), font["/BaseFont"]
            names.add(str(font["/BaseFont"]).split("+", 1)[-1])
    return names


def flat(text: str) -> str:
    return re.sub(r"\s+", "", text)


@pytest.fixture
def month(org):
    """Three households on one route, read for 2025-02 (8, 15 and 25.004 m³)."""
    site = make_site(org)
    tariff_services.tariff_import(actor=SYSTEM, text=TARIFF, reason="price book")
    metering_services.read_cycle_open(actor=SYSTEM, company_id=org.water.pk, period="2025-02")
    meter_reads_record(actor=SYSTEM, source="hand", today=TODAY, reads=[
        ReadInput("WM00000", date(2025, 2, 10), "8"), ReadInput("WM00001", date(2025, 2, 10), "15"),
        ReadInput("WM00002", date(2025, 2, 10), "25.004")])
    return site


@pytest.fixture
def issued(org, month):
    tariff_services.discount_create(actor=SYSTEM, data=DiscountInput(
        code="SALT", label="咸潮优惠", company="TW", commodity="water", of=("water",), active_from=date(2025, 1, 1),
        active_to=None, percent=Decimal("10"), message="咸潮期间水费九折"), reason="policy",
        account_numbers=[month.accounts[1].account_no])
    # Walking order: the third household first.
    points = [p.pk for p in month.points]
    metering_services.route_reorder(actor=SYSTEM, route_id=month.route.pk, service_point_ids=[points[2], *points[:2]],
                                    reason="the postman starts at 301")
    run = services.bill_run_start(actor=SYSTEM, company_id=org.water.pk, commodity="water", period="2025-02")
    services.bill_run_calculate(actor=SYSTEM, run_id=run.pk)
    services.bill_run_approve(actor=SYSTEM, run_id=run.pk)
    services.bill_run_issue(actor=SYSTEM, run_id=run.pk)
    return run


def test_a_routes_payment_notices_in_walking_order(org, month, issued):
    data = notices.bill_notices_render(actor=SYSTEM, run_id=issued.pk, route_id=month.route.pk)
    pages = pdf_pages(data)
    bills = {b.account_id: b for b in Bill.objects.filter(run=issued)}
    assert len(pages) == len(bills) == 3
    # One page per bill, in walking order (301 first), each with its customer's Chinese name and account.
    order = [month.accounts[2], month.accounts[0], month.accounts[1]]
    for page, account in zip(pages, order, strict=True):
        text = flat(page)
        bill = bills[account.pk]
        assert account.customer.name in text and account.account_no in text
        assert f"¥{bill.total:,.2f}" in text
        assert notices.printing.yuan_in_words(bill.total) in text
        assert "测试水务" in text and month.route.code in text
        assert notices.printing.payment_reference(account.account_no, bill.period) in text
        # The due date the ledger set when the run was issued.
        assert bill.due_date is not None and f"{bill.due_date.year}年{bill.due_date.month}月{bill.due_date.day}日" in text
    # 25 m³: three ladder blocks and the sewage line, each with quantity, price and amount.
    third = flat(pages[0])
    assert bills[month.accounts[2].pk].total == Decimal("98.75")
    assert "玖拾捌元柒角伍分" in third and "98.75" in third
    assert "水费" in third and "污水处理费" in third and "23.75" in third and "0.95" in third
    assert "幸福小区" in third  # the premise's address
    # The reduction is printed as it is on the bill, with the bill's message (温馨提示).
    second = flat(pages[2])
    assert bills[month.accounts[1].pk].total == Decimal("45.75")  # 35.00 − 3.50 + 14.25
    assert "咸潮优惠" in second and "-3.50" in second and "咸潮期间水费九折" in second
    assert "肆拾伍元柒角伍分" in second
    # The meter's previous and current reading next to the usage.
    assert "WM00001" in second and "15" in second
    assert embedded_fonts(data) >= {"Noto-Sans-CJK-SC"}


def test_notices_are_for_issued_runs_and_routes_with_bills(org, month):
    run = services.bill_run_start(actor=SYSTEM, company_id=org.water.pk, commodity="water", period="2025-02")
    services.bill_run_calculate(actor=SYSTEM, run_id=run.pk)
    with pytest.raises(Conflict, match="issued run"):
        notices.bill_notices_render(actor=SYSTEM, run_id=run.pk, route_id=month.route.pk)
    services.bill_run_approve(actor=SYSTEM, run_id=run.pk)
    services.bill_run_issue(actor=SYSTEM, run_id=run.pk)
    empty = metering_services.route_create(actor=SYSTEM, data=metering_services.RouteInput(
        code="R-B-009", name="空本", node_id=org.station_b.pk, commodity="water"))
    with pytest.raises(DomainError, match="no bills on route R-B-009"):
        notices.bill_notices_render(actor=SYSTEM, run_id=run.pk, route_id=empty.pk)
    assert notices.bill_notice_routes(actor=SYSTEM, run_id=run.pk) == [
        {"route_id": month.route.pk, "code": month.route.code, "bills": 3}]


@pytest.fixture
def power_clerk(org):
    from conftest import PASSWORD
    from ucis.org import services as org_services

    return org_services.staff_create(actor=SYSTEM, username="billing.te", password=PASSWORD, node_id=org.power.pk,
                                     roles=["billing_clerk"])


@pytest.fixture
def water_clerk(org):
    from conftest import PASSWORD
    from ucis.org import services as org_services

    return org_services.staff_create(actor=SYSTEM, username="billing.tw", password=PASSWORD, node_id=org.water.pk,
                                     roles=["billing_clerk"])


def test_screen_and_api_download_a_routes_pdf_and_another_company_gets_404(org, month, issued, login, water_clerk,
                                                                           power_clerk):
    client = login(water_clerk)
    page = client.get(f"/billing/runs/{issued.pk}/", HTTP_ACCEPT_LANGUAGE="en").content.decode()
    url = f"/billing/runs/{issued.pk}/notices/{month.route.pk}/"
    assert f'href="{url}"' in page and 'data-testid="route-notices"' in page
    response = client.get(url)
    assert response.status_code == 200 and response["Content-Type"] == "application/pdf"
    assert f"notices-{issued.pk}-{month.route.code}.pdf" in response["Content-Disposition"]
    assert len(pdf_pages(response.content)) == 3
    api = client.get(f"/api/v1/billing/runs/{issued.pk}/notices/{month.route.pk}")
    assert api.status_code == 200 and api["Content-Type"] == "application/pdf"
    assert "住户0" in flat("".join(pdf_pages(api.content)))
    # Another company's staff: the run is not there at all.
    other = login(power_clerk)
    assert other.get(url).status_code == 404
    assert other.get(f"/api/v1/billing/runs/{issued.pk}/notices/{month.route.pk}").status_code == 404
    # A run not yet issued: said plainly (422 on the API, a message on the screen).
    draft = BillRun.objects.create(company=org.water, commodity="water", period=date(2025, 3, 1))
    client = login(water_clerk)
    bad = client.get(f"/api/v1/billing/runs/{draft.pk}/notices/{month.route.pk}", HTTP_ACCEPT_LANGUAGE="en")
    assert bad.status_code in (409, 422) and "issued run" in bad.json()["errors"][0]["reason"]
    shown = client.get(f"/billing/runs/{draft.pk}/notices/{month.route.pk}/", HTTP_ACCEPT_LANGUAGE="en", follow=True)
    assert "issued run" in shown.content.decode()


def test_cli_writes_one_pdf_per_route(org, month, issued, tmp_path):
    out = io.StringIO()
    call_command("print_notices", "--run", str(issued.pk), "--out", str(tmp_path), stdout=out)
    written = sorted(tmp_path.iterdir())
    assert [p.name for p in written] == [f"notices-{issued.pk}-{month.route.code}.pdf"]
    assert len(pdf_pages(written[0].read_bytes())) == 3
    assert "3 notices" in out.getvalue()
    call_command("print_notices", "--run", str(issued.pk), "--route", month.route.code, "--out",
                 str(tmp_path / "one"), stdout=out)
    assert len(list((tmp_path / "one").iterdir())) == 1


def _arrears(month, issued):
    bills = {b.account_id: b for b in Bill.objects.filter(run=issued)}
    rows = []
    for account, late_fee in ((month.accounts[0], Decimal("1.20")), (month.accounts[2], Decimal("0"))):
        bill = bills[account.pk]
        rows.append(notices.Arrears(account_id=account.pk, bills=(
            notices.ArrearsBill(bill.pk, bill.period, bill.total, bill.total - Decimal("3.00"), date(2025, 3, 15)),),
            open_total=bill.total - Decimal("3.00"), late_fee=late_fee))
    return rows


def test_dunning_notices_from_arrears_rows(org, month, issued):
    rows = _arrears(month, issued)
    data = notices.dunning_notices_from_rows(actor=SYSTEM, company_id=org.water.pk, as_of=date(2025, 4, 20),
                                             rows=rows, route_id=month.route.pk)
    pages = [flat(p) for p in pdf_pages(data)]
    assert len(pages) == 2
    # Walking order: household 2 (stop 1) before household 0.
    assert "住户2" in pages[0] and "住户0" in pages[1]
    # 23.60 billed, 20.60 open, 1.20 late fee → 21.80 due.
    assert "20.60" in pages[1] and "1.20" in pages[1] and "¥21.80" in pages[1] and "贰拾壹元捌角整" in pages[1]
    assert "95.75" in pages[0] and "玖拾伍元柒角伍分" in pages[0]
    assert embedded_fonts(data) >= {"Noto-Sans-CJK-SC"}
    with pytest.raises(DomainError, match="no arrears"):
        notices.dunning_notices_from_rows(actor=SYSTEM, company_id=org.water.pk, as_of=date(2025, 4, 20), rows=[])


def test_home_collection_list_holds_only_disabled_customers(org, month, issued):
    rows = _arrears(month, issued)
    customer_services.customer_category_add(actor=SYSTEM, customer_id=month.accounts[0].customer_id,
                                            category="disabled", active_from=date(2024, 1, 1), note="残疾证")
    data = notices.home_collection_list_from_rows(actor=SYSTEM, company_id=org.water.pk, as_of=date(2025, 4, 20),
                                                  rows=rows, route_id=month.route.pk)
    text = flat("".join(pdf_pages(data)))
    assert "住户0" in text and month.accounts[0].account_no in text and "21.80" in text
    assert "住户2" not in text and month.accounts[2].account_no not in text
    assert "贰拾壹元捌角整" in text and "2025-02" in text


def test_another_companys_arrears_are_404(org, month, issued, power_clerk):
    from django.http import Http404

    with pytest.raises(Http404):
        notices.dunning_notices_from_rows(actor=power_clerk, company_id=org.water.pk, as_of=date(2025, 4, 20),
                                          rows=_arrears(month, issued))


def test_ledger_rows_become_plain_rows():
    from dataclasses import dataclass

    @dataclass
    class Row:
        account_id: int
        bills: list
        open_total: Decimal
        late_fee: Decimal

    rows = notices.arrears_from_ledger([Row(7, [(1, date(2025, 2, 1), Decimal("10.00"), Decimal("4.00"), None)],
                                            Decimal("4.00"), Decimal("0.10"))])
    assert rows == [notices.Arrears(7, (notices.ArrearsBill(1, date(2025, 2, 1), Decimal("10.00"), Decimal("4.00"),
                                                              None),), Decimal("4.00"), Decimal("0.10"))]
    assert rows[0].amount_due == Decimal("4.10")


@pytest.fixture
def power_manager(org):
    from conftest import PASSWORD
    from ucis.org import services as org_services

    return org_services.staff_create(actor=SYSTEM, username="manager.te", password=PASSWORD, node_id=org.power.pk,
                                     roles=["manager"])


def test_dunning_notices_and_home_collection_from_the_ledger(org, month, issued, power_manager, login, tmp_path):
    from datetime import timedelta

    from django.http import Http404

    from ucis.payments import services as payments

    due = Bill.objects.filter(run=issued).values_list("due_date", flat=True).first()
    payments.payment_post(actor=SYSTEM, account_id=month.accounts[0].pk, amount="10.00", channel="counter")
    customer_services.customer_category_add(actor=SYSTEM, customer_id=month.accounts[2].customer_id,
                                            category="disabled", active_from=date(2024, 1, 1), note="残疾证")
    as_of = due + timedelta(days=10)
    # Before the due date nothing is in arrears.
    with pytest.raises(DomainError, match="no arrears"):
        notices.dunning_notices_render(actor=SYSTEM, company_id=org.water.pk, as_of=due, route_id=month.route.pk)
    data = notices.dunning_notices_render(actor=SYSTEM, company_id=org.water.pk, as_of=as_of, route_id=month.route.pk)
    pages = [flat(p) for p in pdf_pages(data)]
    assert len(pages) == 3
    assert "住户2" in pages[0] and "住户0" in pages[1] and "住户1" in pages[2]  # walking order
    assert "13.60" in pages[1] and "壹拾叁元陆角整" in pages[1]  # 23.60 billed, 10.00 paid
    assert "98.75" in pages[0] and "玖拾捌元柒角伍分" in pages[0]
    listing = flat("".join(pdf_pages(notices.home_collection_list_render(
        actor=SYSTEM, company_id=org.water.pk, as_of=as_of, route_id=month.route.pk))))
    assert "住户2" in listing and "98.75" in listing and "住户0" not in listing and "住户1" not in listing
    # Another company's manager (who may read arrears) finds no such company.
    with pytest.raises(Http404):
        notices.dunning_notices_render(actor=power_manager, company_id=org.water.pk, as_of=as_of)
    with pytest.raises(Http404):
        notices.home_collection_list_render(actor=power_manager, company_id=org.water.pk, as_of=as_of)
    # The branch's manager prints them over the API; another company's manager gets a 404.
    query = f"company_id={org.water.pk}&as_of={as_of.isoformat()}&route_id={month.route.pk}"
    client = login(org.manager_b)
    response = client.get(f"/api/v1/billing/notices/dunning?{query}")
    assert response.status_code == 200 and response["Content-Type"] == "application/pdf"
    assert len(pdf_pages(response.content)) == 3
    response = client.get(f"/api/v1/billing/notices/home-collection?{query}")
    assert response.status_code == 200 and "住户2" in flat("".join(pdf_pages(response.content)))
    other = login(power_manager)
    assert other.get(f"/api/v1/billing/notices/dunning?{query}").status_code == 404
    assert other.get(f"/api/v1/billing/notices/home-collection?{query}").status_code == 404
    # And from the command line, one PDF per route named.
    out = io.StringIO()
    call_command("print_notices", "--dunning", "--home-collection", "--company", "TW", "--as-of", as_of.isoformat(),
                 "--route", month.route.code, "--out", str(tmp_path), stdout=out)
    names = sorted(p.name for p in tmp_path.iterdir())
    day = f"{as_of:%Y%m%d}"
    assert names == [f"dunning-TW-{day}-{month.route.code}.pdf", f"home-collection-TW-{day}-{month.route.code}.pdf"]
    assert len(pdf_pages((tmp_path / names[0]).read_bytes())) == 3
