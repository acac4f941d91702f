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
    # random.choice/randint cost ~1 µs each; a million customers draw ~20 million values, so draws
    # are taken straight from random() and dates from precomputed tables.
    rand = rng.random

    def pick(seq):
        return seq[int(rand() * len(seq))]

    days_after_start = [start + timedelta(days=d) for d in range(3501)]
    births = [date(1940, 1, 1) + timedelta(days=d) for d in range(365 * 62 + 1)]
    shares = {"water": 1.0, "electricity": 0.7, "gas": 0.45}
    digits = {"water": 5, "electricity": 6, "gas": 5}
    methods, deliveries = ("counter", "bank_debit", "wechat", "alipay"), ("sms", "wechat", "paper")
    residents_choices, grades = (1, 2, 3, 3, 4, 5, 6), "ABCCCCDD"
    customers_out, categories, premises = plan.customers.append, plan.categories.append, plan.premises.append
    accounts_out, meters_out, appliances = plan.accounts.append, plan.meters.append, plan.appliances.append
    for i in range(customers):
        unit, branch = units[i % len(units)]
        room = f"{1 + int(rand() * 18)}{1 + int(rand() * 4):02d}"
        ctype = _pick(rng, TYPE_SHARES)
        name = pick(surnames) + pick(given)
        if ctype != "resident":
            name = name[:1] + pick(("记", "氏", "家")) + pick(("商行", "餐饮店", "超市", "工作室", "科技公司"))
        id_number = (identity.make_resident_id(rng, region="330102", birth=births[int(rand() * len(births))])
                     if ctype == "resident" else "")
        phone = pick(MOBILE_PREFIXES) + f"{int(rand() * 100_000_000):08d}"
        key = i
        customers_out((key, name, ctype, phone, "resident_id" if id_number else "", id_number, pick(grades)))
        if ctype == "resident":
            if rand() < 0.015:
                categories((key, "low_income", days_after_start[int(rand() * 3001)]))
            if rand() < 0.005:
                categories((key, "disabled", days_after_start[int(rand() * 3001)]))
        elif ctype in ("industrial", "special") or (ctype == "non_resident" and rand() < 0.05):
            categories((key, "large_user", start))
        elif ctype == "public":
            categories((key, "hospital" if rand() < 0.2 else "government", start))
        premises((key, unit, room, round(45 + rand() * 115, 2), pick(residents_choices)))
        # Opened at least ~28 months ago, so every meter has a full reading history (readplan).
        opened = days_after_start[int(rand() * 2801)]
        for code, _name, _en, commodity, _prefix in COMPANIES:
            if rand() >= shares[commodity]:
                continue
            node = pick(stations[(code, branch)])
            account_key = (key, commodity)
            accounts_out((account_key, key, node, key, pick(methods), pick(deliveries), opened, (commodity,)))
            mtype = _pick(rng, METER_MIX[commodity])
            meters_out((f"{commodity[0].upper()}{seed % 100:02d}{i:08d}", commodity, mtype, digits[commodity],
                        pick(MAKERS[commodity]), f"{mtype[:2].upper()}-{10 + int(rand() * 90)}", account_key,
                        opened, round(rand() * 50, 2)))
            if commodity == "gas":
                appliances((key, "stove", pick(BRANDS), opened))
                if rand() < 0.5:
                    appliances((key, pick(("water_heater", "boiler")), pick(BRANDS), opened))
    return plan
