from datetime import date

from django.core.management import call_command
from django.utils import timezone

from ucis.customers import identity
from ucis.demo.cityplan import plan_city
from ucis.org import roles
from ucis.org.models import OrgNode, User


def test_plan_is_repeatable_and_covers_every_role():
    a, b = plan_city(customers=500, seed=7), plan_city(customers=500, seed=7)
    assert a == b
    assert {r for s in a.staff for r in s.roles} == set(roles.ROLE_CODES)
    assert {n.kind for n in a.nodes} >= {"group", "company", "branch", "station", "department"}
    assert len({n.code for n in a.nodes}) == len(a.nodes)
    assert len(plan_city(customers=600_000).nodes) > len(a.nodes)


def test_demo_data_loads_with_copy_and_logins_work(db, client, settings):
    call_command("demo_data", customers=300, seed=3)
    assert OrgNode.objects.filter(kind="company").count() == 3
    assert OrgNode.objects.get(code="LJW-01-01").company.code == "LJW"
    clerk = User.objects.get(username="water.01.counter-clerk1")
    assert clerk.password.startswith("argon2") and clerk.groups.filter(name="counter_clerk").exists()
    assert client.post("/login/", {"username": "water.01.counter-clerk1",
                                   "password": settings.UCIS_DEMO_PASSWORD}).status_code == 302
    assert client.get(f"/org/nodes/{OrgNode.objects.get(code='LJE-01').pk}/").status_code == 404
    from ucis.customers import selectors as customer_selectors
    from ucis.customers.models import Account, Customer, Meter

    assert Customer.objects.count() == 300
    assert Account.objects.filter(company__code="LJW").count() == 300  # everyone has water
    assert set(Meter.objects.values_list("meter_type", flat=True)) == {"mechanical", "smart", "ic_prepaid"}
    some = Customer.objects.filter(customer_type="resident").first()
    assert identity.validate_resident_id(some.id_number, on_date=date(2026, 11, 23)) == some.id_number
    clerk_accounts = Account.objects.visible_to(clerk)
    assert clerk_accounts.exists() and not clerk_accounts.exclude(node__path__startswith=clerk.node.path).exists()
    # The clerk finds any customer of the water company by phone (cross-site service).
    assert customer_selectors.customer_search(actor=clerk, q=some.phone) == [some]
    # The price book: every customer type of every company has exactly one tariff; a branch's
    # counter clerk sees the company's prices (and simulates bills with them), not the others'.
    from ucis.tariffs import selectors as tariff_selectors

    for company in OrgNode.objects.filter(kind="company"):
        by_type = tariff_selectors.tariffs_by_type(company_id=company.pk, commodity=company.commodities[0])
        assert all(len(by_type[t]) == 1 for t in set(Customer.objects.values_list("customer_type", flat=True)))
    assert {t.code for t in tariff_selectors.tariff_list(actor=clerk)} == {"LJW-RES", "LJW-NONRES", "LJW-SPECIAL",
                                                                           "LJW-IND"}
    # Last month is billed, approved and issued for every route the review queue released.
    from ucis.billing.models import Bill, BillRun

    assert set(BillRun.objects.values_list("status", flat=True)) == {"issued"}
    assert Bill.objects.filter(status="issued").count() > 0 and not Bill.objects.filter(total=0).exists()
    # The 95598 desk has real work: orders of every type in every state, some locked, some overdue.
    from ucis.service import selectors as service_selectors
    from ucis.service.models import ORDER_TYPES, Outage, Supervision, WorkOrder, WorkOrderLock

    assert set(WorkOrder.objects.values_list("order_type", flat=True)) == {t for t, _l in ORDER_TYPES}
    assert set(WorkOrder.objects.values_list("status", flat=True)) >= {
        "dispatched", "accepted", "replied", "archived", "cancelled"}
    assert WorkOrderLock.objects.exists() and Supervision.objects.exists() and Outage.objects.exists()
    assert WorkOrder.objects.filter(status__in=("dispatched", "accepted"), complete_due_at__lt=timezone.now()).exists()
    crew_member = User.objects.get(username="water.01-qx.dispatcher1")
    assert service_selectors.console(actor=crew_member)["waiting"]
    call_command("demo_data", customers=300, seed=3)  # second run: already present, changes nothing
    assert User.objects.filter(username="water.01.counter-clerk1").count() == 1
