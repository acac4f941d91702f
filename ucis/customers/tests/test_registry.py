from datetime import date

import pytest
from django.db import connection
from django.http import Http404

from ucis.customers import identity, selectors, services
from ucis.customers.models import Customer
from ucis.customers.services import AccountInput, CustomerInput
from ucis.kernel.errors import DomainError
from ucis.platform.tenancy import SYSTEM

TODAY = date(2026, 11, 23)
ID_NUMBER = "11010519491231002X"


def test_open_account_for_a_new_customer(org, premise, account):
    customer = account.customer
    assert identity.NumberingRule(prefix="1", width=10).parse(customer.customer_no) > 0
    assert customer.name_initials == "ZS"
    assert account.account_no.startswith("TW") and account.company == org.water
    assert premise.address == "城东区解放路街道幸福小区3幢2单元502室"
    point = account.agreements.get().service_point
    assert point.commodity == "water" and point.node == org.station_b


def test_sensitive_numbers_are_encrypted_at_rest_and_searchable(org, account):
    with connection.cursor() as cursor:
        cursor.execute("SELECT phone, id_number FROM customers_customer WHERE id = %s", [account.customer_id])
        raw_phone, raw_id = cursor.fetchone()
    assert "13812345678" not in raw_phone and ID_NUMBER not in raw_id and raw_phone
    assert Customer.objects.get(pk=account.customer_id).phone == "13812345678"
    for q in ("13812345678", "138-1234-5678", ID_NUMBER, "ZS", "张", account.customer.customer_no,
              account.account_no):
        assert selectors.customer_search(actor=org.admin_b, q=q) == [account.customer], q
    assert selectors.customer_search(actor=org.admin_b, q="幸福", kind="address") == [account.customer]


def test_visibility_and_company_wide_lookup(org, account):
    # Branch A's administrator does not see branch B's customer …
    assert selectors.customer_search(actor=org.admin_a, q="13812345678") == []
    with pytest.raises(Http404):
        selectors.customer_get(actor=org.admin_a, customer_id=account.customer_id)
    # … but a counter clerk of the same company finds any customer of the company (ORG-3).
    from ucis.org import services as org_services

    clerk_a = org_services.staff_create(actor=SYSTEM, username="clerk.a", password="Corr3ct-Horse-Battery",
                                        node_id=org.station_a.pk, roles=["counter_clerk"])
    assert selectors.customer_search(actor=clerk_a, q="13812345678") == [account.customer]
    contact = selectors.customer_contact(actor=clerk_a, customer=account.customer)
    assert contact == {"phone": "138****5678", "id_number": "110105********002X"}
    assert selectors.customer_contact(actor=org.admin_b, customer=account.customer)["phone"] == "13812345678"


def test_bad_input_names_each_field_and_writes_nothing(org, premise):
    before = Customer.objects.count()
    with pytest.raises(DomainError) as exc:
        services.account_open(
            actor=org.admin_b, customer_id=None,
            new_customer=CustomerInput(name="  ", customer_type="resident", phone="12345",
                                       id_type="resident_id", id_number="110105194912310021"),
            data=AccountInput(node_id=org.station_b.pk, premise_id=premise.pk, commodities=("water",)), today=TODAY)
    assert {p.field for p in exc.value.problems} >= {"name", "phone", "id_number"}
    with pytest.raises(DomainError) as exc:
        services.account_open(
            actor=org.admin_b, customer_id=None, new_customer=CustomerInput(name="李四", customer_type="resident"),
            data=AccountInput(node_id=org.station_b.pk, premise_id=premise.pk, commodities=("gas",)), today=TODAY)
    assert exc.value.problems[0].field == "commodities"
    assert Customer.objects.count() == before


def test_meters_install_once_at_a_time(org, account):
    point = account.agreements.get().service_point
    meter = services.meter_register(actor=org.admin_b, node_id=org.station_b.pk, serial="wm-0001",
                                    commodity="water", meter_type="mechanical", dial_digits=5)
    services.meter_install(actor=org.admin_b, meter_id=meter.pk, service_point_id=point.pk,
                           installed_date=date(2026, 1, 1))
    with pytest.raises(DomainError, match="already registered"):
        services.meter_register(actor=org.admin_b, node_id=org.station_b.pk, serial="WM-0001", commodity="water",
                                meter_type="mechanical")
    second = services.meter_register(actor=org.admin_b, node_id=org.station_b.pk, serial="WM-0002",
                                     commodity="water", meter_type="smart")
    with pytest.raises(DomainError) as exc:
        services.meter_install(actor=org.admin_b, meter_id=second.pk, service_point_id=point.pk,
                               installed_date=date(2026, 6, 1))
    assert exc.value.problems[0].field == "service_point_id"
    gas = services.meter_register(actor=org.admin_b, node_id=org.station_b.pk, serial="GM-1", commodity="gas",
                                  meter_type="ic_prepaid")
    with pytest.raises(DomainError, match="cannot measure"):
        services.meter_install(actor=org.admin_b, meter_id=gas.pk, service_point_id=point.pk,
                               installed_date=date(2026, 6, 1))
    assert selectors.customer_search(actor=org.admin_b, q="WM-00", kind="meter") == [account.customer]


def test_special_categories_do_not_overlap(org, account):
    services.customer_category_add(actor=org.admin_b, customer_id=account.customer_id, category="low_income",
                                   active_from=date(2026, 1, 1), active_to=date(2027, 1, 1))
    with pytest.raises(DomainError):
        services.customer_category_add(actor=org.admin_b, customer_id=account.customer_id, category="low_income",
                                       active_from=date(2026, 6, 1))
    services.customer_category_add(actor=org.admin_b, customer_id=account.customer_id, category="disabled",
                                   active_from=date(2026, 6, 1))
