"""Shared fixtures: a small organisation tree with staff in two branches of one company."""

from __future__ import annotations

from dataclasses import dataclass

import pytest

PASSWORD = "Corr3ct-Horse-Battery"


@dataclass
class Org:
    group: object
    water: object
    branch_a: object
    station_a: object
    branch_b: object
    station_b: object
    power: object
    group_admin: object
    admin_a: object
    admin_b: object
    clerk_b: object
    manager_b: object


@pytest.fixture
def org(db) -> Org:
    from ucis.org import services
    from ucis.org.services import UnitSpec
    from ucis.platform.tenancy import SYSTEM

    services.roles_sync()
    group = services.org_node_create(actor=SYSTEM, parent_id=None, code="TG", name="测试集团", kind="group")
    water = services.company_create(
        actor=SYSTEM, code="TW", name="测试水务", commodities=["water"],
        units=[UnitSpec("TW-A", "甲分公司", children=(UnitSpec("TW-A-1", "甲一服务站", kind="station"),)),
               UnitSpec("TW-B", "乙分公司", children=(UnitSpec("TW-B-1", "乙一服务站", kind="station"),))])
    power = services.company_create(actor=SYSTEM, code="TE", name="测试供电", commodities=["electricity"],
                                    units=[UnitSpec("TE-A", "供电甲分公司")])
    from ucis.org.models import OrgNode

    nodes = {n.code: n for n in OrgNode.objects.all()}

    def staff(username, code, roles, **kw):
        return services.staff_create(actor=SYSTEM, username=username, password=PASSWORD,
                                     node_id=nodes[code].pk, roles=roles, **kw)

    return Org(
        group=group, water=water, branch_a=nodes["TW-A"], station_a=nodes["TW-A-1"], branch_b=nodes["TW-B"],
        station_b=nodes["TW-B-1"], power=power,
        group_admin=staff("root", "TG", ["administrator"], is_staff=True, is_superuser=True),
        admin_a=staff("admin.a", "TW-A", ["administrator"]),
        admin_b=staff("admin.b", "TW-B", ["administrator"]),
        clerk_b=staff("clerk.b", "TW-B", ["counter_clerk"]),
        manager_b=staff("manager.b", "TW-B", ["manager"]),
    )


@pytest.fixture
def login(client):
    def _login(user):
        client.force_login(user, backend="django.contrib.auth.backends.ModelBackend")
        return client

    return _login
