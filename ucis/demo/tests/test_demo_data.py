from django.core.management import call_command

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
    call_command("demo_data", customers=300, seed=3)  # second run: already present, changes nothing
    assert User.objects.filter(username="water.01.counter-clerk1").count() == 1
