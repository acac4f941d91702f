"""A service desk: the water company's 95598 centre and branch B's repair crew and complaints
desk, with routing rules, and three households of branch B (from the metering fixtures)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from zoneinfo import ZoneInfo

import pytest

from conftest import PASSWORD
from ucis.metering.tests.conftest import make_site
from ucis.org import services as org_services
from ucis.platform.tenancy import SYSTEM
from ucis.service import services

SHANGHAI = ZoneInfo("Asia/Shanghai")
# A Monday morning inside business hours.
MONDAY = datetime(2026, 11, 23, 9, 0, tzinfo=SHANGHAI)


@dataclass
class Desk:
    org: object
    site: object
    centre: object     # 客服中心 under the water company
    crew: object       # 抢修班 under branch B
    experts: object    # 专家组 under the water company
    agent: object      # hotline agent at the centre
    agent2: object
    fixer: object      # crew member (dispatcher role) in branch B
    fixer2: object
    supervisor: object  # manager at the company


def make_desk(org) -> Desk:
    site = make_site(org)

    def unit(code, name, parent):
        return org_services.org_node_create(actor=SYSTEM, parent_id=parent.pk, code=code, name=name, kind="department")

    centre = unit("TW-HC", "客服中心", org.water)
    crew = unit("TW-B-R", "乙抢修班", org.branch_b)
    experts = unit("TW-EX", "水务专家组", org.water)

    def staff(username, node, roles, name):
        return org_services.staff_create(actor=SYSTEM, username=username, password=PASSWORD, node_id=node.pk,
                                         roles=roles, display_name=name)

    desk = Desk(org=org, site=site, centre=centre, crew=crew, experts=experts,
                agent=staff("agent.1", centre, ["hotline_agent"], "话务员甲"),
                agent2=staff("agent.2", centre, ["hotline_agent"], "话务员乙"),
                fixer=staff("fixer.1", crew, ["dispatcher"], "抢修工甲"),
                fixer2=staff("fixer.2", crew, ["dispatcher"], "抢修工乙"),
                supervisor=staff("boss.1", org.water, ["manager"], "主管"))
    services.routing_rule_create(actor=SYSTEM, company_id=org.water.pk, name="乙片区抢修", priority=10,
                                 order_types=["repair"], area_code="D01", target_id=crew.pk)
    services.routing_rule_create(actor=SYSTEM, company_id=org.water.pk, name="投诉归口", priority=20,
                                 order_types=["complaint"], target_id=centre.pk, skill="complaints")
    services.routing_rule_create(actor=SYSTEM, company_id=org.water.pk, name="其余归客服中心", priority=100,
                                 target_id=centre.pk)
    return desk


@pytest.fixture
def desk(org) -> Desk:
    return make_desk(org)


def repair(desk, *, now=MONDAY, account=0, urgency="normal", **kw):
    data = {"order_type": "repair", "channel": "hotline", "subject": "水表漏水", "caller_phone": "13812340000",
            "account_id": desk.site.accounts[account].pk, "urgency": urgency, **kw}
    return services.order_intake(actor=desk.agent, now=now, **data)
