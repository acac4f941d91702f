"""The work-order console in headless Chromium: a crew member locks an order in one browser; his
colleague's console, open in another, shows it as locked by him without a reload (htmx polling).
Then the agent screen pops up for a ringing call and N opens the pre-filled order form."""

from __future__ import annotations

from datetime import date

import pytest
from playwright.sync_api import expect

from tests.browser.conftest import PASSWORD
from tests.browser.test_staff_ui import login

pytestmark = pytest.mark.browser


@pytest.fixture
def desk(browser_org):
    from ucis.customers import services as customer_services
    from ucis.customers.services import AccountInput, CustomerInput
    from ucis.org import services as org_services
    from ucis.platform.tenancy import SYSTEM
    from ucis.service import services

    crew = org_services.org_node_create(actor=SYSTEM, parent_id=browser_org.branch_b.pk, code="BW-B-R",
                                        name="乙抢修班", kind="department")
    fixers = [org_services.staff_create(actor=SYSTEM, username=f"fixer.{i}", password=PASSWORD, node_id=crew.pk,
                                        roles=["dispatcher"], display_name=name)
              for i, name in ((1, "抢修工甲"), (2, "抢修工乙"))]
    agent = org_services.staff_create(actor=SYSTEM, username="agent.1", password=PASSWORD,
                                      node_id=browser_org.company.pk, roles=["hotline_agent"], display_name="话务员")
    area = customer_services.address_area_get_or_create(actor=SYSTEM, levels=[("district", "BD01", "城东区")])
    premise = customer_services.premise_create(actor=SYSTEM, area_code=area.code, room="101")
    account = customer_services.account_open(
        actor=SYSTEM, customer_id=None, new_customer=CustomerInput(name="张三", customer_type="resident",
                                                                   phone="13812345678"),
        data=AccountInput(node_id=browser_org.branch_b.pk, premise_id=premise.pk, commodities=("water",)),
        today=date(2026, 11, 1))
    services.routing_rule_create(actor=SYSTEM, company_id=browser_org.company.pk, name="抢修", priority=10,
                                 order_types=["repair"], target_id=crew.pk)
    order = services.order_intake(actor=agent, order_type="repair", channel="hotline", subject="水管爆裂",
                                  account_id=account.pk)
    return {"fixers": fixers, "agent": agent, "order": order, "account": account}


def test_a_lock_taken_in_one_browser_shows_in_the_others_console(desk, chromium, live_server):
    order = desk["order"]
    contexts = [chromium.new_context(base_url=live_server.url, locale="zh-CN") for _ in range(2)]
    try:
        mine, theirs = (c.new_page() for c in contexts)
        for p in (mine, theirs):
            p.set_default_timeout(15_000)
        login(mine, "fixer.1", PASSWORD)
        login(theirs, "fixer.2", PASSWORD)
        # At sign-in the home page shows what waits for them.
        expect(theirs.locator("[data-testid=home-console]")).to_contain_text(order.order_no)
        theirs.goto("/service/")
        waiting = theirs.locator("[data-testid=console-waiting]")
        expect(waiting).to_contain_text(order.order_no)
        expect(theirs.locator(f"[data-testid=lock-{order.order_no}]")).to_have_text("")

        mine.goto("/service/")
        mine.locator(f"input[name=order_ids][value='{order.pk}']").check()
        mine.locator("[data-testid=batch-lock]").click()
        expect(mine.locator(f"[data-testid=console-waiting] [data-testid=lock-{order.order_no}]")).to_contain_text(
            "我")

        # No reload in the other browser: the panel refreshes itself every 5 seconds.
        others = theirs.locator("[data-testid=console-others]")
        expect(others).to_contain_text(order.order_no, timeout=12_000)
        expect(others.locator(f"[data-testid=lock-{order.order_no}]")).to_contain_text("抢修工甲")

        # Working it is refused to the colleague, with the holder named.
        theirs.goto(f"/service/orders/{order.pk}/")
        expect(theirs.locator("[data-testid=lock-state]")).to_contain_text("抢修工甲")
        expect(theirs.locator("[data-testid=lock]")).to_have_count(0)
    finally:
        for c in contexts:
            c.close()


def test_the_agent_screen_pops_up_and_n_opens_the_prefilled_order(desk, page):
    login(page, "agent.1", PASSWORD)
    page.goto("/service/agent/?phone=13812345678")
    expect(page.locator("[data-testid=agent-customer]")).to_contain_text("张三")
    expect(page.locator("[data-testid=agent-open-orders]")).to_contain_text(desk["order"].order_no)
    page.locator("body").click()
    page.keyboard.press("n")
    expect(page.locator("#new-order select[name=order_type]")).to_be_focused()
    assert page.locator("#new-order input[name=account_id]").input_value() == str(desk["account"].pk)
    assert page.locator("#new-order input[name=caller_phone]").input_value() == "13812345678"
    page.select_option("#new-order select[name=order_type]", "consultation")
    page.fill("#new-order input[name=subject]", "怎么交水费")
    page.fill("#new-order textarea[name=reply]", "可在营业厅、微信或支付宝缴费。")
    page.locator("#new-order button.primary").click()
    expect(page.locator("[data-testid=order-status]")).to_contain_text("已归档")
