"""End-to-end journeys of the staff UI in headless Chromium: sign-in, language, lock-out, TOTP,
the htmx history tab, subtree visibility and "no request leaves the server".

Assertions use ``data-testid`` hooks, form field ids, URLs and HTTP statuses — never translated
text — so they hold in either language.
"""

from __future__ import annotations

import base64
import time
from urllib.parse import urlsplit

import pytest
from playwright.sync_api import Page, expect

pytestmark = pytest.mark.browser

LOGIN_ERRORS = "form:has(#id_username) .errorlist"


# --- helpers ----------------------------------------------------------------------------------


def submit_login(page: Page, username: str, password: str, otp_token: str | None = None):
    """Fill the sign-in form on the current page and submit it; returns the POST's response."""
    page.fill("#id_username", username)
    page.fill("#id_password", password)
    if otp_token is not None:
        page.fill("#id_otp_token", otp_token)
    with page.expect_response(lambda r: r.request.method == "POST" and urlsplit(r.url).path == "/login/") as info:
        page.locator("form:has(#id_username) button[type=submit]").click()
    page.wait_for_load_state()
    return info.value


def login(page: Page, username: str, password: str, otp_token: str | None = None):
    page.goto("/login/")
    return submit_login(page, username, password, otp_token)


def path_of(page: Page) -> str:
    return urlsplit(page.url).path


def assert_signed_in_as(page: Page, user) -> None:
    assert path_of(page) == "/", f"expected the home page after sign-in, got {page.url}"
    expect(page.locator("[data-testid=current-user]")).to_contain_text(str(user))


def assert_not_signed_in(page: Page) -> None:
    """Home is behind login: a browser without a session is sent to the sign-in page."""
    page.goto("/")
    assert path_of(page) == "/login/", f"expected a redirect to the sign-in page, got {page.url}"
    expect(page.locator("[data-testid=current-user]")).to_have_count(0)


def totp_for(secret_b32: str):
    from django_otp.oath import TOTP

    key = base64.b32decode(secret_b32 + "=" * (-len(secret_b32) % 8))
    return key, TOTP(key, step=30, t0=0, digits=6)


def totp_token_at(key: bytes, t: int) -> str:
    """The code of time step ``t`` (django-otp counts steps of 30 s from the Unix epoch)."""
    from django_otp.oath import TOTP

    totp = TOTP(key, step=30, t0=0, digits=6)
    totp.time = t * 30 + 1
    return f"{totp.token():06d}"


# --- a. sign-in and language ------------------------------------------------------------------


def test_login_lands_on_home_and_language_switch_changes_html_lang(page: Page, browser_org):
    page.goto("/login/")
    html = page.locator("html")
    expect(html).to_have_attribute("lang", "zh-hans")
    expect(page.locator("#id_username")).to_be_visible()

    response = submit_login(page, "admin.a", browser_org.password)
    assert response.status == 302, "a successful sign-in redirects"
    assert_signed_in_as(page, browser_org.admin_a)
    expect(page.locator("[data-testid=current-user]")).to_contain_text(browser_org.branch_a.name)
    expect(html).to_have_attribute("lang", "zh-hans")

    language = page.locator("select[name=language]")
    expect(language).to_have_count(1)
    expect(language).to_have_value("zh-hans")
    language.select_option("en")  # onchange submits the set_language form
    expect(html).to_have_attribute("lang", "en")
    assert path_of(page) == "/", "set_language returns to the page it was chosen on"
    expect(page.locator("select[name=language]")).to_have_value("en")
    assert_signed_in_as(page, browser_org.admin_a)

    # The choice sticks for later pages of the session, and can be switched back.
    page.goto(f"/org/nodes/{browser_org.branch_a.pk}/")
    expect(html).to_have_attribute("lang", "en")
    page.locator("select[name=language]").select_option("zh-hans")
    expect(html).to_have_attribute("lang", "zh-hans")
    assert path_of(page) == f"/org/nodes/{browser_org.branch_a.pk}/"


def test_browser_without_a_supported_language_gets_the_default_chinese(chromium, live_server, browser_org):
    context = chromium.new_context(base_url=live_server.url, locale="fr-FR")
    try:
        page = context.new_page()
        page.goto("/login/")
        expect(page.locator("html")).to_have_attribute("lang", "zh-hans")
    finally:
        context.close()


# --- b. lock-out ------------------------------------------------------------------------------


def test_five_wrong_passwords_lock_the_account_even_for_the_right_password(page: Page, browser_org):
    for attempt in range(1, 5):
        response = login(page, "admin.a", f"wrong-password-{attempt}")
        assert response.status == 200, f"attempt {attempt}: the sign-in form is shown again"
        assert path_of(page) == "/login/"
        expect(page.locator(LOGIN_ERRORS)).to_be_visible()
        expect(page.locator("[data-testid=locked-out]")).to_have_count(0)
    response = login(page, "admin.a", "wrong-password-5")
    assert response.status in (403, 429), "the fifth failure reaches AXES_FAILURE_LIMIT"

    response = login(page, "admin.a", browser_org.password)
    assert response.status in (403, 429), f"locked account answered {response.status}"
    expect(page.locator("[data-testid=locked-out]")).to_be_visible()
    expect(page.locator("[data-testid=current-user]")).to_have_count(0)
    assert_not_signed_in(page)

    # The lock is per account: another member of staff still signs in from the same address.
    response = login(page, "clerk.b", browser_org.password)
    assert response.status == 302
    assert_signed_in_as(page, browser_org.clerk_b)


# --- c. TOTP ----------------------------------------------------------------------------------


def test_totp_enrolment_then_sign_in_requires_a_fresh_code(page: Page, browser_org):
    from django_otp.plugins.otp_totp.models import TOTPDevice

    login(page, "admin.a", browser_org.password)
    assert_signed_in_as(page, browser_org.admin_a)

    page.goto("/account/otp/")
    secret = page.locator("[data-testid=otp-secret]").inner_text().strip()
    assert secret, "the key is shown for typing into an authenticator app"
    key, totp = totp_for(secret)
    confirm_step = totp.t()
    page.fill("#id_token", totp_token_at(key, confirm_step))
    page.locator("form:has(#id_token) button").click()
    page.wait_for_url(lambda url: urlsplit(url).path == "/")
    device = TOTPDevice.objects.get(user=browser_org.admin_a)
    assert device.confirmed
    page.goto("/account/otp/")
    expect(page.locator("[data-testid=otp-secret]")).to_have_count(0)

    # Sign out.
    page.locator("form[action='/logout/'] button").click()
    page.wait_for_url(lambda url: urlsplit(url).path == "/login/")
    assert_not_signed_in(page)

    # Password alone is no longer enough.
    response = login(page, "admin.a", browser_org.password)
    assert response.status == 200
    assert path_of(page) == "/login/"
    expect(page.locator(LOGIN_ERRORS)).to_be_visible()
    assert_not_signed_in(page)

    # The enrolment code is spent: replaying it is refused (django-otp keeps the last used step).
    replay_checked = totp_for(secret)[1].t() <= confirm_step + 1  # still inside the tolerance window
    if replay_checked:
        response = login(page, "admin.a", browser_org.password, otp_token=totp_token_at(key, confirm_step))
        assert response.status == 200, "a replayed TOTP code must not sign in"
        expect(page.locator(LOGIN_ERRORS)).to_be_visible()
        assert_not_signed_in(page)
        time.sleep(1.2)  # a failed verification throttles the device for 1 s

    # A code not used before (a later time step than the enrolment code, within the tolerance of
    # one step) lets the user in.
    login_step = max(confirm_step + 1, totp_for(secret)[1].t())
    response = login(page, "admin.a", browser_org.password, otp_token=totp_token_at(key, login_step))
    assert response.status == 302, (
        "password + fresh TOTP code must sign in; the form said: "
        + " | ".join(page.locator(LOGIN_ERRORS).all_inner_texts()))
    assert_signed_in_as(page, browser_org.admin_a)
    expect(page.locator("[data-testid=current-user]")).to_be_visible()


# --- d. history tab (htmx) --------------------------------------------------------------------


def test_edit_node_then_history_tab_shows_before_and_after(page: Page, browser_org):
    node = browser_org.branch_a
    old_name, new_name = node.name, "甲分公司 Renamed 2"
    login(page, "admin.a", browser_org.password)
    detail = f"/org/nodes/{node.pk}/"
    page.goto(detail)
    expect(page.locator("[data-testid=node-title]")).to_contain_text(old_name)

    page.locator(f"a[href='/org/nodes/{node.pk}/edit/']").click()
    page.wait_for_url(lambda url: urlsplit(url).path == f"/org/nodes/{node.pk}/edit/")
    expect(page.locator("#id_name")).to_have_value(old_name)
    page.fill("#id_name", new_name)
    page.locator("form:has(#id_name) button").click()
    page.wait_for_url(lambda url: urlsplit(url).path == detail)
    expect(page.locator("[data-testid=node-title]")).to_contain_text(new_name)

    history = page.locator("[data-testid=history]")
    expect(history).to_have_count(0)
    with page.expect_response(lambda r: urlsplit(r.url).path == f"{detail}history/", timeout=10_000) as info:
        page.locator("[data-testid=history-tab]").click()
    assert info.value.request.headers.get("hx-request") == "true", "the tab is loaded by htmx"
    expect(history).to_be_visible()
    assert path_of(page) == detail, "htmx swapped the tab in place; no navigation"
    expect(page.locator("[data-testid=node-title]")).to_be_visible()
    expect(page.locator("#tab-body [data-testid=history]")).to_have_count(1)
    expect(history).to_contain_text(old_name)
    expect(history).to_contain_text(new_name)
    change = history.locator("tbody tr").filter(
        has=page.locator("td.before", has_text=old_name)).filter(has=page.locator("td.after", has_text=new_name))
    expect(change).to_have_count(1)
    # The change is attributed to the administrator who made it.
    expect(history).to_contain_text(str(browser_org.admin_a.username))


# --- e. subtree visibility --------------------------------------------------------------------


def test_clerk_of_branch_b_gets_404_for_branch_a(page: Page, browser_org):
    login(page, "clerk.b", browser_org.password)
    assert_signed_in_as(page, browser_org.clerk_b)

    own = page.goto(f"/org/nodes/{browser_org.branch_b.pk}/")
    assert own.status == 200
    expect(page.locator("[data-testid=node-title]")).to_contain_text(browser_org.branch_b.code)

    other = page.goto(f"/org/nodes/{browser_org.branch_a.pk}/")
    assert other.status == 404, f"another branch's node must look missing, got {other.status}"
    expect(page.locator("[data-testid=node-title]")).to_have_count(0)
    assert browser_org.branch_a.name not in page.content()

    history = page.goto(f"/org/nodes/{browser_org.branch_a.pk}/history/")
    assert history.status == 404
    missing = page.goto("/org/nodes/987654321/")
    assert missing.status == 404, "a foreign id and a missing id answer alike"


# --- f. no external requests ------------------------------------------------------------------


def test_pages_load_nothing_from_other_hosts(page: Page, browser_org, live_server):
    server = urlsplit(live_server.url)
    requested: list[str] = []
    page.on("request", lambda request: requested.append(request.url))

    page.goto("/login/")
    login(page, "admin.a", browser_org.password)
    assert_signed_in_as(page, browser_org.admin_a)
    page.locator("select[name=language]").select_option("en")
    expect(page.locator("html")).to_have_attribute("lang", "en")
    page.goto(f"/org/nodes/{browser_org.branch_a.pk}/")
    page.locator("[data-testid=history-tab]").click()
    expect(page.locator("[data-testid=history]")).to_be_visible()
    page.goto("/account/otp/")
    expect(page.locator("[data-testid=otp-secret]")).to_be_visible()
    page.wait_for_load_state("networkidle")

    paths = {urlsplit(u).path for u in requested}
    # Not vacuous: the pages' own assets were fetched and recorded.
    assert "/static/ucis/css/ucis.css" in paths, sorted(paths)
    assert "/static/ucis/vendor/htmx.min.js" in paths, sorted(paths)
    assert f"/org/nodes/{browser_org.branch_a.pk}/history/" in paths, sorted(paths)
    external = [u for u in requested
                if urlsplit(u).scheme not in ("data", "blob", "about")
                and (urlsplit(u).scheme, urlsplit(u).hostname, urlsplit(u).port)
                != (server.scheme, server.hostname, server.port)]
    assert not external, f"requests left the live server: {external}"

