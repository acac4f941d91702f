"""The demo city's knowledge base loads, once, and behaves like the real one."""

from __future__ import annotations

from ucis.demo import knowledgedemo
from ucis.knowledge import selectors
from ucis.org import services as org_services
from ucis.org.services import UnitSpec
from ucis.platform.tenancy import SYSTEM


def test_demo_knowledge(db):
    org_services.roles_sync()
    group = org_services.org_node_create(actor=SYSTEM, parent_id=None, code="LJ", name="临江集团", kind="group")
    companies = {code: org_services.company_create(actor=SYSTEM, code=code, name=name, commodities=[c],
                                                   parent_id=group.pk, units=[UnitSpec(f"{code}-01", "城东分公司")])
                 for code, name, c in (("LJW", "水务", "water"), ("LJE", "供电", "electricity"), ("LJG", "燃气", "gas"))}
    assert knowledgedemo.demo_knowledge() == {"knowledge_articles": len(knowledgedemo.ARTICLES)}
    assert knowledgedemo.demo_knowledge() == {"knowledge_articles": 0}  # once
    assert len(knowledgedemo.ARTICLES) >= 40
    assert len(selectors.category_list(SYSTEM)) == 7
    agent = org_services.staff_create(actor=SYSTEM, username="water.kf.hotline-agent1", password="Corr3ct-Horse-Battery",
                                      node_id=companies["LJW"].pk, roles=["hotline_agent"])
    hits = selectors.article_search(agent, text="停水了怎么办")
    assert hits[0].article.title == "突然停水了怎么办？" and hits[0].matched_all
    seen = {h.article.node.code for h in selectors.article_search(agent, text="", limit=100)}
    assert seen == {"LJ", "LJW"}
    public = selectors.public_article_list(text="", limit=100)
    assert 15 <= len(public) < len(knowledgedemo.ARTICLES)
    assert all(h.article.public and h.article.status == "published" for h in public)
