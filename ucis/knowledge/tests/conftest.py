"""A small knowledge base over the shared test organisation: group categories, articles of the
group, the water company (TW) and the power company (TE), and a hotline agent in water's branch B."""

from __future__ import annotations

from dataclasses import dataclass

import pytest

from ucis.knowledge import services
from ucis.platform.tenancy import SYSTEM


@dataclass
class KB:
    outage: object
    pay: object
    meter: object
    power_cat: object
    notice: object        # water, published, public: 计划停水通知在哪里查看？
    meter_title: object   # water, published: 水表多久抄一次？
    meter_answer: object  # group, published: mentions 水表 only in the answer
    pay_group: object     # group, published, public
    draft: object         # water, draft, public
    private: object       # water, published, not public
    power: object         # power company, published, public
    agent_b: object


def article(node, category, title, answer, *, publish=True, public=False, tags=(), commodity=""):
    a = services.article_create(actor=SYSTEM, node_id=node.pk, data=services.ArticleInput(
        title=title, answer=answer, category_id=category.pk, tags=tags, commodity=commodity, public=public))
    if publish:
        services.article_publish(actor=SYSTEM, article_id=a.pk)
    return a


@pytest.fixture
def kb(org) -> KB:
    from ucis.org import services as org_services

    outage = services.category_create(actor=SYSTEM, code="outage", name="停水停电停气", node_id=org.group.pk)
    pay = services.category_create(actor=SYSTEM, code="pay", name="缴费方式", node_id=org.group.pk)
    meter = services.category_create(actor=SYSTEM, code="meter", name="抄表与水表", node_id=org.group.pk)
    power_cat = services.category_create(actor=SYSTEM, code="power-only", name="供电专区", node_id=org.power.pk)
    return KB(
        outage=outage, pay=pay, meter=meter, power_cat=power_cat,
        notice=article(org.water, outage, "计划停水通知在哪里查看？",
                       "计划停水会提前24小时在公众号“停水公告”栏目发布。\n\n也可以拨打95598查询。",
                       public=True, tags=("停水", "公告"), commodity="water"),
        meter_title=article(org.water, meter, "水表多久抄一次？", "居民每月抄表一次，智能表自动上传读数。",
                            commodity="water"),
        meter_answer=article(org.group, meter, "账单上的用量是怎么来的？",
                             "用量等于本次抄表读数减去上次读数，读数来自水表或电表。"),
        pay_group=article(org.group, pay, "可以通过哪些方式缴费？", "微信、支付宝、银行代扣、营业厅柜台。",
                          public=True, tags=("缴费", "微信")),
        draft=article(org.water, pay, "预存款草稿问题", "还没有写完的答案。", publish=False, public=True),
        private=article(org.water, pay, "内部口径：代扣失败如何处理", "请引导客户改用其他方式缴费。"),
        power=article(org.power, power_cat, "峰谷电价怎么申请？", "已安装智能电表的居民可以申请峰谷电价。",
                      public=True, commodity="electricity"),
        agent_b=org_services.staff_create(actor=SYSTEM, username="agent.b", password="Corr3ct-Horse-Battery",
                                          node_id=org.branch_b.pk, roles=["hotline_agent"]),
    )
