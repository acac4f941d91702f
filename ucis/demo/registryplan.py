"""The people and places of the synthetic city (pure, seeded): addresses, customers with valid ID
numbers and phones, accounts with one to three companies, premises, service points, meters of all
three types, special categories and gas appliances in realistic shares."""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from datetime import date, timedelta

from faker.providers.person.zh_CN import Provider as ChinesePeople

from ucis.customers import identity
from ucis.demo.cityplan import COMPANIES, DISTRICTS, CityPlan

STREET_WORDS = ("解放路", "人民路", "中山路", "建设路", "文化路", "和平路", "新华路", "胜利路")
COMMUNITY_WORDS = ("幸福", "阳光", "翠苑", "锦绣", "金色", "绿城", "春江", "桂花", "紫荆", "丹桂", "望江", "香樟")
COMMUNITY_SUFFIX = ("小区", "花园", "家园", "公寓", "新村", "苑")
TYPE_SHARES = (("resident", 0.92), ("non_resident", 0.06), ("special", 0.01), ("industrial", 0.005),
               ("public", 0.005))
METER_MIX = {
    "water": (("mechanical", 0.80), ("smart", 0.15), ("ic_prepaid", 0.05)),
    "electricity": (("smart", 0.92), ("mechanical", 0.05), ("ic_prepaid", 0.03)),
    "gas": (("ic_prepaid", 0.55), ("mechanical", 0.30), ("smart", 0.15)),
}
MAKERS = {"water": ("宁波水表", "三川智慧", "汇中仪表"), "electricity": ("威胜集团", "林洋能源", "华立科技"),
          "gas": ("金卡智能", "先锋电子", "新天科技")}
BRANDS = ("方太", "老板", "华帝", "万和", "林内", "能率")
MOBILE_PREFIXES = ("130", "131", "132", "135", "136", "137", "138", "139", "150", "151", "152", "157", "158",
                   "159", "177", "180", "186", "187", "188", "189", "199")


@dataclass
class RegistryPlan:
    areas: list[tuple] = field(default_factory=list)
    customers: list[tuple] = field(default_factory=list)
    categories: list[tuple] = field(default_factory=list)
    premises: list[tuple] = field(default_factory=list)
    accounts: list[tuple] = field(default_factory=list)
    meters: list[tuple] = field(default_factory=list)
    appliances: list[tuple] = field(default_factory=list)


def _pick(rng: random.Random, shares: tuple[tuple[str, float], ...]) -> str:
    x = rng.random()
    for value, share in shares:
        x -= share
        if x < 0:
            return value
    return shares[-1][0]


def plan_registry(*, city: CityPlan, customers: int, seed: int, today: date) -> RegistryPlan:
    rng = random.Random(seed + 1)
    plan = RegistryPlan()
    surnames = [s for s in ChinesePeople.last_names if len(s) == 1]
    given = list(ChinesePeople.first_names)
    branches = sorted({n.code.split("-")[1] for n in city.nodes if n.kind in ("branch", "office")})
    stations = {}
    for node in city.nodes:
        if node.kind == "station":
            company, branch = node.code.split("-")[:2]
            stations.setdefault((company, branch), []).append(node.code)
    # Addresses: one district per branch area, 4 streets each, communities of ~300 households.
    units: list[tuple[str, str]] = []  # (unit code, branch number)
    communities = max(len(branches) * 4, customers // 300 + 1)
    per_street = max(1, -(-communities // (len(branches) * 4)))
    for b, branch in enumerate(branches):
        d_code = f"A{branch}"
        plan.areas.append((d_code, DISTRICTS[b][1] + "区", "district", None))
        for s in range(4):
            s_code = f"{d_code}{s + 1:02d}"
            plan.areas.append((s_code, STREET_WORDS[(b + s) % len(STREET_WORDS)] + "街道", "street", d_code))
            for c in range(per_street):
                c_code = f"{s_code}{c + 1:03d}"
                plan.areas.append((c_code, rng.choice(COMMUNITY_WORDS) + rng.choice(COMMUNITY_SUFFIX) +
                                   (f"{c // 12 + 1}期" if c >= 12 else ""), "community", s_code))
                for bld in range(10):
                    b_code = f"{c_code}{bld + 1:02d}"
                    plan.areas.append((b_code, f"{bld + 1}幢", "building", c_code))
                    for u in range(2):
                        u_code = f"{b_code}{u + 1}"
                        plan.areas.append((u_code, f"{u + 1}单元", "unit", b_code))
                        units.append((u_code, branch))
    start = today - timedelta(days=3650)
    for i in range(customers):
        unit, branch = units[i % len(units)]
        room = f"{rng.randint(1, 18)}{rng.randint(1, 4):02d}"
        ctype = _pick(rng, TYPE_SHARES)
        name = rng.choice(surnames) + rng.choice(given)
        if ctype != "resident":
            name = name[:1] + rng.choice(("记", "氏", "家")) + rng.choice(("商行", "餐饮店", "超市", "工作室", "科技公司"))
        birth = date(1940, 1, 1) + timedelta(days=rng.randint(0, 365 * 62))
        id_number = identity.make_resident_id(rng, region="330102", birth=birth) if ctype == "resident" else ""
        phone = rng.choice(MOBILE_PREFIXES) + f"{rng.randint(0, 99_999_999):08d}"
        key = i
        plan.customers.append((key, name, ctype, phone, "resident_id" if id_number else "", id_number,
                               rng.choice("ABCCCCDD")))
        if ctype == "resident" and rng.random() < 0.015:
            plan.categories.append((key, "low_income", start + timedelta(days=rng.randint(0, 3000))))
        if ctype == "resident" and rng.random() < 0.005:
            plan.categories.append((key, "disabled", start + timedelta(days=rng.randint(0, 3000))))
        if ctype in ("industrial", "special") or (ctype == "non_resident" and rng.random() < 0.05):
            plan.categories.append((key, "large_user", start))
        if ctype == "public":
            plan.categories.append((key, "hospital" if rng.random() < 0.2 else "government", start))
        plan.premises.append((key, unit, room, round(rng.uniform(45, 160), 2), rng.choice((1, 2, 3, 3, 4, 5, 6))))
        opened = start + timedelta(days=rng.randint(0, 3500))
        for code, _name, _en, commodity, _prefix in COMPANIES:
            share = {"water": 1.0, "electricity": 0.7, "gas": 0.45}[commodity]
            if rng.random() >= share:
                continue
            node = rng.choice(stations[(code, branch)])
            account_key = (key, commodity)
            plan.accounts.append((account_key, key, node, key,
                                  rng.choice(("counter", "bank_debit", "wechat", "alipay")),
                                  rng.choice(("sms", "wechat", "paper")), opened, (commodity,)))
            mtype = _pick(rng, METER_MIX[commodity])
            plan.meters.append((f"{commodity[0].upper()}{seed % 100:02d}{i:08d}", commodity, mtype,
                                {"water": 5, "electricity": 6, "gas": 5}[commodity], rng.choice(MAKERS[commodity]),
                                f"{mtype[:2].upper()}-{rng.randint(10, 99)}", account_key, opened,
                                round(rng.uniform(0, 50), 2)))
            if commodity == "gas":
                plan.appliances.append((key, "stove", rng.choice(BRANDS), opened))
                if rng.random() < 0.5:
                    plan.appliances.append((key, rng.choice(("water_heater", "boiler")), rng.choice(BRANDS),
                                            opened))
    return plan
