"""Browser journey of a legacy import: upload a GBK file → dry-run report with the bad row →
upload the corrected file → apply → progress finished → the customers are there; re-import unchanged."""

from __future__ import annotations

import csv
import io
from datetime import date

import pytest
from playwright.sync_api import Page, expect

from tests.browser.test_staff_ui import login

pytestmark = pytest.mark.browser

HEADER = ["客户编号", "户名", "证件号码", "联系电话", "户号", "营业单位", "开户日期", "地址编号", "地址编码", "房号",
          "业务类别", "表号", "表类型"]


def legacy_csv(phone_of_second: str) -> bytes:
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(HEADER)
    writer.writerow(["OLD-1", "张三", "11010519491231002X", "13812345678", "OLDA-1", "BW-A", "2020-01-02", "OLDP-1",
                     "BD1", "101", "水", "BWM-1", "机械表"])
    writer.writerow(["OLD-2", "李四", "", phone_of_second, "OLDA-2", "BW-A", "2020-01-02", "OLDP-2", "BD1", "102",
                     "水", "BWM-2", "智能表"])
    return out.getvalue().encode("gbk")


def upload(page: Page, tmp_path, name: str, content: bytes) -> None:
    path = tmp_path / name
    path.write_bytes(content)
    page.goto("/customers/import/")
    page.set_input_files("#id_file", str(path))
    page.locator("[data-testid=import-form] button").click()
    page.wait_for_load_state()
    expect(page.locator("[data-testid=import-progress]")).not_to_have_attribute("data-status", "checking")


def test_upload_dry_run_fix_apply_and_reimport(page: Page, browser_org, tmp_path):
    from ucis.customers import services
    from ucis.customers.models import Account, Customer
    from ucis.platform.tenancy import SYSTEM

    services.address_area_get_or_create(actor=SYSTEM, levels=[("district", "BD1", "测试区")])
    login(page, "admin.a", browser_org.password)
    page.goto("/customers/")
    page.locator("[data-testid=import-link]").click()
    upload(page, tmp_path, "bad.csv", legacy_csv("12345"))
    problems = page.locator("[data-testid=import-problems] tbody tr")
    expect(problems).to_have_count(1)
    expect(problems.first.locator("td").nth(0)).to_have_text("3")
    expect(problems.first.locator("td").nth(1)).to_have_text("联系电话")
    expect(page.locator("[data-testid=import-apply]")).to_have_count(0)
    assert Customer.objects.count() == 0

    upload(page, tmp_path, "good.csv", legacy_csv("13900001111"))
    expect(page.locator("[data-testid=count-new]")).to_have_text("2")
    page.locator("[data-testid=import-apply]").click()
    page.wait_for_load_state()
    expect(page.locator("[data-testid=import-applied]")).to_be_visible()
    expect(page.locator("[data-testid=import-progress] progress")).to_have_attribute("value", "100")
    assert Account.objects.filter(legacy_ref__in=["OLDA-1", "OLDA-2"], node=browser_org.branch_a).count() == 2

    upload(page, tmp_path, "good-again.csv", legacy_csv("13900001111"))
    expect(page.locator("[data-testid=count-unchanged]")).to_have_text("2")
    expect(page.locator("[data-testid=count-new]")).to_have_text("0")
    assert Customer.objects.count() == 2 and date.today().year >= 2020
