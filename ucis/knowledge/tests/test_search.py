"""Chinese full-text search over character bigrams, against PostgreSQL."""

from __future__ import annotations

from django.db import connection

from ucis.knowledge import selectors, services
from ucis.platform.tenancy import SYSTEM


def titles(hits):
    return [h.article.title for h in hits]


def test_partial_phrasing_finds_the_question(kb, org):
    hits = selectors.article_search(kb.agent_b, text="停水了怎么办")
    assert titles(hits)[0] == "计划停水通知在哪里查看？"
    assert not hits[0].matched_all  # no article has every bigram: the best partial matches
    hits = selectors.article_search(kb.agent_b, text="停水通知")
    assert titles(hits) == ["计划停水通知在哪里查看？"] and hits[0].matched_all


def test_question_words_alone_do_not_drag_in_unrelated_articles(kb):
    # 怎么 appears in the group's 账单上的用量是怎么来的？ — but a question about 停水 is not about bills.
    assert "账单上的用量是怎么来的？" not in titles(selectors.article_search(kb.agent_b, text="停水了怎么办"))


def test_title_match_ranks_before_answer_match(kb):
    hits = selectors.article_search(kb.agent_b, text="水表")
    assert titles(hits)[:2] == ["水表多久抄一次？", "账单上的用量是怎么来的？"]
    assert hits[0].rank > hits[1].rank


def test_unrelated_text_finds_nothing(kb):
    assert selectors.article_search(kb.agent_b, text="信用卡积分兑换") == []
    assert selectors.article_search(kb.agent_b, text="xyzzy") == []


def test_snippet_marks_the_matched_bigrams_and_is_escaped(kb, org):
    a = services.article_create(actor=SYSTEM, node_id=org.water.pk, data=services.ArticleInput(
        title="停水期间<script>", answer="<b>停水</b>期间请储水。", category_id=kb.outage.pk))
    services.article_publish(actor=SYSTEM, article_id=a.pk)
    hit = next(h for h in selectors.article_search(kb.agent_b, text="停水期间") if h.article.pk == a.pk)
    assert "&lt;b&gt;<mark>停水</mark>&lt;/b&gt;<mark>期间</mark>" in hit.snippet
    assert "<script>" not in hit.title_html and "&lt;script&gt;" in hit.title_html


def test_typing_a_first_character_already_finds_words(kb):
    assert "计划停水通知在哪里查看？" in titles(selectors.article_search(kb.agent_b, text="停"))


def test_tags_and_latin_words_are_searchable(kb):
    assert titles(selectors.article_search(kb.agent_b, text="公告")) == ["计划停水通知在哪里查看？"]
    assert titles(selectors.article_search(kb.agent_b, text="95598")) == ["计划停水通知在哪里查看？"]


def test_filters_category_commodity_and_status(kb):
    assert set(titles(selectors.article_search(kb.agent_b, text="", category=kb.pay.pk))) == {
        "可以通过哪些方式缴费？", "内部口径：代扣失败如何处理"}
    # Articles for every commodity always qualify; gas filters out the water ones.
    gas = titles(selectors.article_search(kb.agent_b, text="", commodity="gas"))
    assert "可以通过哪些方式缴费？" in gas and "水表多久抄一次？" not in gas
    assert "预存款草稿问题" not in titles(selectors.article_search(kb.agent_b, text="预存款"))
    assert titles(selectors.article_search(SYSTEM, text="预存款", status="draft")) == ["预存款草稿问题"]


def test_an_edit_refreshes_the_search_column(kb):
    services.article_update(actor=SYSTEM, article_id=kb.meter_title.pk, data=services.ArticleInput(
        title="燃气表多久抄一次？", answer="每两个月抄表一次。", category_id=kb.meter.pk))
    assert "燃气表多久抄一次？" in titles(selectors.article_search(kb.agent_b, text="燃气表"))
    assert "燃气表多久抄一次？" not in titles(selectors.article_search(kb.agent_b, text="智能表"))


def test_suggest_uses_the_gin_index_in_one_query(kb, org, django_assert_max_num_queries):
    agent = type(kb.agent_b).objects.select_related("node").get(pk=kb.agent_b.pk)
    with django_assert_max_num_queries(1):
        hits = selectors.article_suggest(agent, text="客户来电反映小区停水，询问什么时候恢复", company_id=org.water.pk)
    assert titles(hits)[0] == "计划停水通知在哪里查看？"
    # Another company's id gives only what the agent may see anyway (the group's).
    assert selectors.article_suggest(agent, text="峰谷电价", company_id=org.power.pk) == []
    with connection.cursor() as cursor:
        cursor.execute("SET LOCAL enable_seqscan = off")
        cursor.execute("EXPLAIN SELECT id FROM knowledge_knowledgearticle "
                       "WHERE search_tokens @@ to_tsquery('simple', '停水')")
        plan = " ".join(r[0] for r in cursor.fetchall())
    assert "knowledgearticle_search" in plan
