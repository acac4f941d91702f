def test_search_page_detail_and_history(org, login, account):
    client = login(org.admin_b)
    page = client.get("/customers/", {"q": "13812345678"}).content.decode()
    assert account.customer.customer_no in page
    live = client.get("/customers/", {"q": "ZS"}, HTTP_HX_REQUEST="true").content.decode()
    assert 'data-testid="customer-results"' in live and "<html" not in live
    detail = client.get(f"/customers/{account.customer_id}/").content.decode()
    assert account.account_no in detail and "13812345678" in detail and "WM-" not in detail
    history = client.get(f"/customers/{account.customer_id}/history/").content.decode()
    assert "张三" in history
    bad = client.get("/customers/", {"q": "123", "kind": "phone"}).content.decode()
    assert "errorlist" in bad


def test_clerk_sees_masked_numbers_company_wide(org, login, account):
    from ucis.org import services as org_services
    from ucis.platform.tenancy import SYSTEM

    clerk_a = org_services.staff_create(actor=SYSTEM, username="clerk.a", password="Corr3ct-Horse-Battery",
                                        node_id=org.station_a.pk, roles=["counter_clerk"])
    client = login(clerk_a)
    detail = client.get(f"/customers/{account.customer_id}/").content.decode()
    assert "138****5678" in detail and "13812345678" not in detail
    api = client.get("/api/v1/registry/customers", {"q": "13812345678"}).json()
    assert api[0]["phone"] == "138****5678"
    # A meter reader of branch A has no company-wide lookup: branch B's customer is not there.
    reader = org_services.staff_create(actor=SYSTEM, username="reader.a", password="Corr3ct-Horse-Battery",
                                       node_id=org.station_a.pk, roles=["meter_reader"])
    assert login(reader).get(f"/customers/{account.customer_id}/").status_code == 404


def test_open_account_over_the_api(org, login, premise):
    client = login(org.admin_b)
    body = {"node_id": org.station_b.pk, "premise_id": premise.pk, "commodities": ["water"],
            "new_customer": {"name": "王五", "phone": "13900001111", "id_type": "resident_id",
                             "id_number": "11010519491231002X"}}
    created = client.post("/api/v1/registry/accounts", body, content_type="application/json")
    assert created.status_code == 201, created.content
    again = client.post("/api/v1/registry/accounts", body, content_type="application/json",
                        HTTP_ACCEPT_LANGUAGE="en")
    assert again.status_code == 422
    assert again.json()["errors"][0]["field"] == "id_number"
    bad = client.post("/api/v1/registry/accounts", {**body, "new_customer": {"name": "x", "phone": "12"}},
                      content_type="application/json")
    assert bad.status_code == 422 and bad.json()["errors"][0]["field"] == "phone"


def test_counter_opens_an_account_for_a_new_then_an_existing_customer(org, login, premise):
    from ucis.customers.models import Account

    client = login(org.admin_b)
    assert client.get("/customers/open-account/").status_code == 200
    form = {"node": org.station_b.pk, "name": "赵六", "customer_type": "resident", "phone": "13700001111",
            "area_code": premise.area.code, "room": "601", "commodities": ["water"], "payment_method": "wechat",
            "bill_delivery": "sms"}
    created = client.post("/customers/open-account/", form)
    assert created.status_code == 302, created.content.decode()[-3000:]
    account = Account.objects.get(customer__name="赵六")
    assert account.billing_address.endswith("601室") and account.payment_method == "wechat"
    again = client.post("/customers/open-account/", {**form, "customer_no": account.customer.customer_no,
                                                     "room": "602"})
    assert again.status_code == 302
    assert Account.objects.filter(customer=account.customer).count() == 2
    bad = client.post("/customers/open-account/", {**form, "phone": "123", "area_code": "NOPE", "room": "603"},
                      HTTP_ACCEPT_LANGUAGE="en")
    assert bad.status_code == 200
    text = bad.content.decode()
    assert "unknown address code NOPE" in text or "is not a mobile number" in text
    assert "Open an account" in text


def test_admin_lists_only_the_subtree_and_hides_numbers(org, client, account):
    org.admin_a.is_staff = True
    org.admin_a.save()
    client.force_login(org.admin_a, backend="django.contrib.auth.backends.ModelBackend")
    assert account.account_no not in client.get("/admin/customers/account/").content.decode()
    org.admin_b.is_staff = True
    org.admin_b.save()
    client.force_login(org.admin_b, backend="django.contrib.auth.backends.ModelBackend")
    assert account.account_no in client.get("/admin/customers/account/").content.decode()
    page = client.get(f"/admin/customers/customer/{account.customer_id}/change/").content.decode()
    assert "13812345678" not in page and "张三" in page
