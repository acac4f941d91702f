"""Fixtures of the customer registry tests: an address, a premise and an opened account."""

from datetime import date
from decimal import Decimal

import pytest

from ucis.customers import services
from ucis.customers.services import AccountInput, CustomerInput
from ucis.platform.tenancy import SYSTEM

TODAY = date(2026, 11, 23)
ID_NUMBER = "11010519491231002X"


@pytest.fixture
def premise(org):
    area = services.address_area_get_or_create(actor=SYSTEM, levels=[
        ("district", "D01", "城东区"), ("street", "D01-S01", "解放路街道"), ("community", "D01-S01-C01", "幸福小区"),
        ("building", "D01-S01-C01-B03", "3幢"), ("unit", "D01-S01-C01-B03-U2", "2单元")])
    return services.premise_create(actor=SYSTEM, area_code=area.code, room="502", floor_area=Decimal("89.5"),
                                   residents=3)


@pytest.fixture
def account(org, premise):
    return services.account_open(
        actor=org.admin_b, customer_id=None,
        new_customer=CustomerInput(name="张三", customer_type="resident", phone="138 1234 5678",
                                   id_type="resident_id", id_number=ID_NUMBER),
        data=AccountInput(node_id=org.station_b.pk, premise_id=premise.pk, commodities=("water",)), today=TODAY)
