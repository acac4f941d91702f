import base64
import time

import pytest
from axes.utils import reset
from django_otp.oath import TOTP

from conftest import PASSWORD
from ucis.platform import otp


@pytest.fixture(autouse=True)
def _reset_axes(db):
    reset()
    yield
    reset()


def test_login_and_lockout_after_repeated_failures(org, client):
    response = client.post("/login/", {"username": "clerk.b", "password": PASSWORD})
    assert response.status_code == 302 and response.url == "/"
    client.post("/logout/")
    for _ in range(4):
        assert client.post("/login/", {"username": "clerk.b", "password": "wrong"}).status_code == 200
    assert client.post("/login/", {"username": "clerk.b", "password": "wrong"}).status_code == 429
    locked = client.post("/login/", {"username": "clerk.b", "password": PASSWORD})
    assert locked.status_code in (403, 429)
    assert "_auth_user_id" not in client.session
    # Another user from the same address is not locked out by clerk.b's failures.
    assert client.post("/login/", {"username": "admin.b", "password": PASSWORD}).status_code == 302


def _code(device, offset=0):
    totp = TOTP(device.bin_key, device.step, device.t0, device.digits, device.drift)
    totp.time = time.time() + offset
    return f"{totp.token():0{device.digits}d}"


def test_totp_second_factor(org, client):
    state = otp.totp_state(user=org.clerk_b)
    assert state["qr_svg"].startswith("<svg") and not state["confirmed"]
    assert base64.b32decode(state["secret_b32"] + "=" * (-len(state["secret_b32"]) % 8)) == state["device"].bin_key
    assert otp.totp_confirm(user=org.clerk_b, token=_code(state["device"]))
    device = otp.totp_state(user=org.clerk_b)["device"]
    assert device.confirmed
    without = client.post("/login/", {"username": "clerk.b", "password": PASSWORD})
    assert without.status_code == 200 and "_auth_user_id" not in client.session
    with_code = client.post("/login/", {"username": "clerk.b", "password": PASSWORD,
                                        "otp_token": _code(device, offset=30)})
    assert with_code.status_code == 302, with_code.content.decode()[:2000]
    assert client.get("/").status_code == 200


def test_anonymous_is_sent_to_login_and_api_says_401(org, client):
    assert client.get("/org/").status_code == 302
    assert client.get("/api/v1/org/nodes").status_code == 401


def test_api_errors_name_field_and_reason(org, login):
    client = login(org.admin_b)
    bad = client.post("/api/v1/org/nodes", {"parent_id": org.branch_b.pk, "code": "bad code!", "name": "x",
                                            "kind": "station"}, content_type="application/json")
    assert bad.status_code == 422
    assert bad.json()["errors"][0]["field"] == "code"
    missing = client.post("/api/v1/org/nodes", {"code": "OK1"}, content_type="application/json")
    assert missing.status_code == 422
    assert {"parent_id", "name", "kind"} <= {e["field"] for e in missing.json()["errors"]}
    ok = client.post("/api/v1/org/nodes", {"parent_id": org.branch_b.pk, "code": "tw-b-2", "name": "乙二站",
                                           "kind": "station"}, content_type="application/json")
    assert ok.status_code == 201 and ok.json()["code"] == "TW-B-2"
    forbidden = login(org.clerk_b).patch(f"/api/v1/org/nodes/{org.branch_b.pk}", {"name": "x"},
                                         content_type="application/json")
    assert forbidden.status_code == 403


def test_openapi_declares_422(org, login):
    schema = login(org.admin_b).get("/api/v1/openapi.json").json()
    post = schema["paths"]["/api/v1/org/nodes"]["post"]
    assert "422" in post["responses"]


def test_errors_are_shown_in_the_users_language(org, login):
    client = login(org.admin_b)
    body = {"parent_id": org.branch_b.pk, "code": "TW-A", "name": "x", "kind": "station"}
    zh = client.post("/api/v1/org/nodes", body, content_type="application/json", HTTP_ACCEPT_LANGUAGE="zh-hans")
    en = client.post("/api/v1/org/nodes", body, content_type="application/json", HTTP_ACCEPT_LANGUAGE="en")
    assert zh.json()["errors"] == [{"field": "code", "reason": "编码 TW-A 已被使用"}]
    assert en.json()["errors"] == [{"field": "code", "reason": "code TW-A is already used"}]
    page = client.post(f"/org/nodes/{org.branch_b.pk}/add/", {"code": "TW-A", "name": "x", "kind": "station"},
                       HTTP_ACCEPT_LANGUAGE="zh-hans")
    assert "编码 TW-A 已被使用" in page.content.decode()
