"""Fixtures of the headless-browser tests: Debian's Chromium driven by Playwright's sync API against
pytest-django's live server, with a small organisation tree made through the project's services.

Chromium comes from the distribution (``apt-get install chromium``); Playwright's own browser
download is not used. Without ``/usr/bin/chromium`` the tests are skipped on a workstation but fail
when ``CI`` is set, so a CI image that lost the browser cannot pass silently.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest

# Playwright's sync API runs its own event loop in this thread; Django's guard against ORM use
# inside an event loop would otherwise refuse the fixtures' (synchronous, test-thread) queries.
os.environ.setdefault("DJANGO_ALLOW_ASYNC_UNSAFE", "true")

CHROMIUM = os.environ.get("UCIS_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
PASSWORD = "Corr3ct-Horse-Battery"
DEFAULT_TIMEOUT_MS = 15_000


def _on_ci() -> bool:
    return os.environ.get("CI", "").strip().lower() not in {"", "0", "false", "no", "off"}


def _missing(reason: str) -> None:
    if _on_ci():
        pytest.fail(f"{reason} (CI is set: browser tests must run there)", pytrace=False)
    pytest.skip(reason)


@pytest.fixture(scope="session")
def _playwright() -> Iterator[Any]:
    if not (os.path.isfile(CHROMIUM) and os.access(CHROMIUM, os.X_OK)) and not shutil.which(CHROMIUM):
        _missing(f"Chromium not found at {CHROMIUM} (apt-get install chromium)")
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:  # pragma: no cover - depends on the environment
        _missing("the playwright Python package is not installed")
    with sync_playwright() as p:
        yield p


@pytest.fixture(scope="session")
def chromium(_playwright) -> Iterator[Any]:
    browser = _playwright.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
    try:
        yield browser
    finally:
        browser.close()


@pytest.fixture
def page(chromium, live_server) -> Iterator[Any]:
    """A fresh browser context (no cookies) per test, as a browser set to Chinese (zh-CN) would be."""
    context = chromium.new_context(base_url=live_server.url, locale="zh-CN")
    context.set_default_timeout(DEFAULT_TIMEOUT_MS)
    page = context.new_page()
    try:
        yield page
    finally:
        context.close()


@dataclass
class BrowserOrg:
    group: Any
    company: Any
    branch_a: Any
    branch_b: Any
    admin_a: Any
    clerk_b: Any
    password: str = PASSWORD


@pytest.fixture
def axes_reset(transactional_db) -> Iterator[None]:
    """No lock-out carries over between browser tests (django-axes keeps attempts per username+IP)."""
    from axes.utils import reset

    reset()
    yield
    reset()


@pytest.fixture
def browser_org(transactional_db, axes_reset) -> BrowserOrg:
    """Group → water company → branches A and B; an administrator at A and a counter clerk at B.

    Made with the services (audited, tenancy-checked) as the SYSTEM actor and committed, so the
    live server's threads see it."""
    from ucis.org import services
    from ucis.org.models import OrgNode
    from ucis.org.services import UnitSpec
    from ucis.platform.tenancy import SYSTEM

    services.roles_sync()
    group = services.org_node_create(actor=SYSTEM, parent_id=None, code="BG", name="浏览器测试集团",
                                     name_en="Browser test group", kind="group")
    company = services.company_create(
        actor=SYSTEM, code="BW", name="浏览器水务", name_en="Browser Water", commodities=["water"],
        units=[UnitSpec("BW-A", "甲分公司", name_en="Branch A"), UnitSpec("BW-B", "乙分公司", name_en="Branch B")])
    nodes = {n.code: n for n in OrgNode.objects.filter(company_id=company.pk)}
    admin_a = services.staff_create(actor=SYSTEM, username="admin.a", password=PASSWORD,
                                    node_id=nodes["BW-A"].pk, roles=["administrator"], display_name="Admin Alpha")
    clerk_b = services.staff_create(actor=SYSTEM, username="clerk.b", password=PASSWORD,
                                    node_id=nodes["BW-B"].pk, roles=["counter_clerk"], display_name="Clerk Bravo")
    return BrowserOrg(group=group, company=company, branch_a=nodes["BW-A"], branch_b=nodes["BW-B"],
                      admin_a=admin_a, clerk_b=clerk_b)
