"""The plan of the synthetic utility group (pure): which units and staff exist, from a seed.

临江市 (Linjiang) is a made-up city: a group with a water, an electricity and a gas company,
each with district branches, service stations, a customer-service centre and staff for every
role. The same seed and size always give the same plan.
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass, field

from faker import Faker

from ucis.org import roles

GROUP_CODE = "LJ"

COMPANIES = (
    # code, name, English name, commodity, username prefix
    ("LJW", "临江水务集团有限公司", "Linjiang Water Co., Ltd.", "water", "water"),
    ("LJE", "临江供电有限公司", "Linjiang Power Supply Co., Ltd.", "electricity", "power"),
    ("LJG", "临江燃气有限公司", "Linjiang Gas Co., Ltd.", "gas", "gas"),
)

DISTRICTS = (
    ("01", "城东", "East"), ("02", "城西", "West"), ("03", "城南", "South"), ("04", "城北", "North"),
    ("05", "滨江", "Riverside"), ("06", "高新区", "Hi-tech Zone"), ("07", "临港", "Port"),
    ("08", "东湖", "East Lake"), ("09", "西山", "West Hills"), ("10", "南湖", "South Lake"),
    ("11", "青石县", "Qingshi County"), ("12", "白沙县", "Baisha County"),
)

STATION_WORDS = ("中心", "新城", "老街", "工业园", "大学城", "火车站", "江湾", "花园", "石桥", "梅林",
                 "枫林", "金港", "桃源", "双井", "龙泉", "柳岸")

# Staff per branch for each role (managers and administrators sit at the company).
BRANCH_STAFF = ((roles.COUNTER_CLERK, 2), (roles.METER_READER, 3), (roles.BILLING_CLERK, 1),
                (roles.BILLING_APPROVER, 1), (roles.MANAGER, 1))
SERVICE_CENTRE_STAFF = ((roles.HOTLINE_AGENT, 3), (roles.DISPATCHER, 1), (roles.MANAGER, 1))
COMPANY_STAFF = ((roles.ADMINISTRATOR, 1), (roles.MANAGER, 1), (roles.BILLING_APPROVER, 1))
# The 95598 side: each branch's repair crew (抢修班) and each company's expert group (专家组).
CREW_STAFF = ((roles.DISPATCHER, 2),)
EXPERT_STAFF = ((roles.DISPATCHER, 1),)


@dataclass(frozen=True)
class PlannedNode:
    code: str
    name: str
    name_en: str
    kind: str
    parent_code: str | None
    commodities: tuple[str, ...] = ()


@dataclass(frozen=True)
class PlannedStaff:
    username: str
    display_name: str
    node_code: str
    roles: tuple[str, ...]
    employee_no: str
    is_staff: bool = False
    is_superuser: bool = False


@dataclass
class CityPlan:
    nodes: list[PlannedNode] = field(default_factory=list)
    staff: list[PlannedStaff] = field(default_factory=list)


def branches_for(customers: int) -> int:
    """About one branch per 60,000 customers of a company, at least 3, at most 12."""
    return max(3, min(len(DISTRICTS), math.ceil(customers / 60_000)))


def stations_for(customers: int, branches: int) -> int:
    """About one service station per 15,000 customers, at least 2 per branch."""
    return max(2, min(len(STATION_WORDS), math.ceil(customers / branches / 15_000)))


def plan_city(*, customers: int = 1000, seed: int = 2026) -> CityPlan:
    rng = random.Random(seed)
    fake = Faker("zh_CN")
    fake.seed_instance(seed)
    plan = CityPlan()
    plan.nodes.append(PlannedNode(GROUP_CODE, "临江城市公用事业集团", "Linjiang Public Utilities Group",
                                  "group", None))
    plan.nodes.append(PlannedNode(f"{GROUP_CODE}-IT", "集团信息中心", "Group IT Centre", "department", GROUP_CODE))
    plan.staff.append(PlannedStaff("admin", "系统管理员", GROUP_CODE, (roles.ADMINISTRATOR,), "G0001",
                                   is_staff=True, is_superuser=True))
    plan.staff.append(PlannedStaff("group.manager", fake.name(), GROUP_CODE, (roles.MANAGER,), "G0002"))
    serial = 0

    def add_staff(prefix: str, node_code: str, role_counts: tuple[tuple[str, int], ...], company_code: str) -> None:
        nonlocal serial
        for role, count in role_counts:
            for i in range(1, count + 1):
                serial += 1
                suffix = node_code.split("-", 1)[1].lower() if "-" in node_code else "hq"
                plan.staff.append(PlannedStaff(
                    f"{prefix}.{suffix}.{role.replace('_', '-')}{i}", fake.name(), node_code, (role,),
                    f"{company_code}{serial:05d}"))

    branches = branches_for(customers)
    stations = stations_for(customers, branches)
    for code, name, name_en, commodity, prefix in COMPANIES:
        plan.nodes.append(PlannedNode(code, name, name_en, "company", GROUP_CODE, (commodity,)))
        add_staff(prefix, code, COMPANY_STAFF, code)
        centre = f"{code}-KF"
        plan.nodes.append(PlannedNode(centre, f"{name[:4]}客户服务中心", "Customer Service Centre",
                                      "department", code))
        add_staff(prefix, centre, SERVICE_CENTRE_STAFF, code)
        experts = f"{code}-ZJ"
        plan.nodes.append(PlannedNode(experts, f"{name[:4]}专家组", "Expert Group", "department", code))
        add_staff(prefix, experts, EXPERT_STAFF, code)
        for d_code, d_name, d_en in DISTRICTS[:branches]:
            branch = f"{code}-{d_code}"
            kind = "office" if d_name.endswith("县") else "branch"
            label = "营业所" if kind == "office" else "分公司"
            plan.nodes.append(PlannedNode(branch, f"{d_name}{label}", f"{d_en} {kind.title()}", kind, code))
            add_staff(prefix, branch, BRANCH_STAFF, code)
            crew = f"{branch}-QX"
            plan.nodes.append(PlannedNode(crew, f"{d_name}抢修班", f"{d_en} repair crew", "department", branch))
            add_staff(prefix, crew, CREW_STAFF, code)
            words = rng.sample(STATION_WORDS, stations)
            for s, word in enumerate(words, start=1):
                plan.nodes.append(PlannedNode(f"{branch}-{s:02d}", f"{d_name}{word}服务站",
                                              f"{d_en} station {s}", "station", branch))
    return plan
