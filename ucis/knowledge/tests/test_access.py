"""Who sees and who edits knowledge: shared down the tree, edited where it is owned; the public
page; the API's error shape; the screens."""

from __future__ import annotations

import json

import pytest
from django.core.exceptions import PermissionDenied
from django.http import Http404

from ucis.kernel.errors import DomainError
from ucis.knowledge import selectors, services
from ucis.platform.tenancy import SYSTEM


def _input(kb, **kw):
    data = {"title": "新问题", "answer": "新答案", "category_id": kb.pay.pk}
    data.update(kw)
    return services.ArticleInput(**data)


def test_a_branch_agent_sees_the_group_and_company_articles_not_another_company(kb, login):
    assert selectors.article_get(kb.agent_b, article_id=kb.pay_group.pk) == kb.pay_group
    assert selectors.article_get(kb.agent_b, article_id=kb.notice.pk) == kb.notice
    with pytest.raises(Http404):
        selectors.article_get(kb.agent_b, article_id=kb.power.pk)
    assert "峰谷电价怎么申请？" not in [h.article.title for h in selectors.article_search(kb.agent_b, text="峰谷电价")]
    client = login(kb.agent_b)
    assert client.get(f"/knowledge/{kb.pay_group.pk}/").status_code == 200
    assert client.get(f"/knowledge/{kb.power.pk}/").status_code == 404
    assert client.get(f"/api/v1/knowledge/articles/{kb.power.pk}").status_code == 404
    body = client.get("/api/v1/knowledge/articles?q=电价").json()
    assert body == []


def test_staff_of_the_group_see_every_company(kb, org):
    assert selectors.article_get(org.group_admin, article_id=kb.power.pk) == kb.power


def test_anonymous_sees_nothing_through_the_staff_paths(kb, client):
    assert client.get("/knowledge/").status_code == 302
    assert client.get(f"/api/v1/knowledge/articles/{kb.notice.pk}").status_code == 401


def test_public_page_lists_only_public_published_articles(kb, client, org):
    body = client.get("/public/knowledge/").content.decode()
    assert "计划停水通知在哪里查看？" in body and "可以通过哪些方式缴费？" in body and "峰谷电价怎么申请？" in body
    assert "预存款草稿问题" not in body and "内部口径" not in body and "水表多久抄一次？" not in body
    body = client.get("/public/knowledge/", {"q": "停水了怎么办"}).content.decode()
    assert "<mark>停水</mark>" in body and "缴费" not in body
    body = client.get("/public/knowledge/", {"company": org.power.pk}).content.decode()
    assert "峰谷电价" in body and "可以通过哪些方式缴费？" in body and "计划停水" not in body
    services.article_retire(actor=SYSTEM, article_id=kb.notice.pk)
    assert "计划停水" not in client.get("/public/knowledge/").content.decode()


def test_editing_needs_the_permission_and_the_owner_in_reach(kb, org):
    # A branch manager keeps the company's answers current …
    services.article_update(actor=org.manager_b, article_id=kb.notice.pk, data=_input(kb, title="改过的问题"))
    # … but not the group's (edited at the group), and cannot reach another company's at all.
    with pytest.raises(PermissionDenied):
        services.article_update(actor=org.manager_b, article_id=kb.pay_group.pk, data=_input(kb))
    with pytest.raises(Http404):
        services.article_update(actor=org.manager_b, article_id=kb.power.pk, data=_input(kb))
    with pytest.raises(PermissionDenied):
        services.article_publish(actor=kb.agent_b, article_id=kb.draft.pk)
    with pytest.raises(PermissionDenied):
        services.article_create(actor=org.clerk_b, data=_input(kb))
    services.article_update(actor=org.group_admin, article_id=kb.pay_group.pk, data=_input(kb, title="集团改"))


def test_new_articles_belong_to_the_company_of_the_author(kb, org):
    a = services.article_create(actor=org.manager_b, data=_input(kb))
    assert a.node_id == org.water.pk and a.status == "draft" and a.created_by == org.manager_b
    with pytest.raises(DomainError) as err:
        services.article_create(actor=org.manager_b, data=_input(kb), node_id=org.group.pk)
    assert err.value.problems[0].field == "node"
    with pytest.raises(DomainError) as err:
        services.article_create(actor=org.manager_b, data=_input(kb), node_id=org.power.pk)
    assert err.value.problems[0].field == "node"


@pytest.mark.parametrize("changes, field", [
    ({"title": "  "}, "title"),
    ({"title": "问" * 201}, "title"),
    ({"answer": ""}, "answer"),
    ({"tags": tuple(f"t{i}" for i in range(11))}, "tags"),
    ({"tags": ("好", "长" * 21)}, "tags[1]"),
    ({"commodity": "steam"}, "commodity"),
    ({"category_id": None}, "category"),
])
def test_bad_input_names_the_field(kb, org, changes, field):
    with pytest.raises(DomainError) as err:
        services.article_create(actor=org.manager_b, data=_input(kb, **changes))
    assert [p.field for p in err.value.problems] == [field]


def test_a_category_of_another_company_is_refused(kb, org):
    with pytest.raises(DomainError) as err:
        services.article_create(actor=SYSTEM, node_id=org.water.pk, data=_input(kb, category_id=kb.power_cat.pk))
    assert err.value.problems[0].field == "category"


def test_status_changes(kb, org):
    assert services.article_publish(actor=org.manager_b, article_id=kb.draft.pk).status == "published"
    with pytest.raises(DomainError) as err:
        services.article_publish(actor=org.manager_b, article_id=kb.draft.pk)
    assert [(p.field, p.reason) for p in err.value.problems] == [("status", "the article is already published")]
    assert services.article_retire(actor=org.manager_b, article_id=kb.draft.pk).status == "retired"


def test_api_writes_and_errors(kb, org, login):
    client = login(org.manager_b)
    created = client.post("/api/v1/knowledge/articles", json.dumps(
        {"title": "怎样申请阶梯水量？", "answer": "携带户口簿办理。", "category_id": kb.pay.pk, "tags": ["阶梯"],
         "commodity": "water"}), content_type="application/json")
    assert created.status_code == 201, created.content
    article_id = created.json()["id"]
    assert created.json()["status"] == "draft" and created.json()["owner"] == "TW"
    bad = client.post("/api/v1/knowledge/articles", json.dumps(
        {"title": "", "answer": "", "category_id": kb.pay.pk, "tags": ["x" * 21]}), content_type="application/json",
        HTTP_ACCEPT_LANGUAGE="en")
    assert bad.status_code == 422
    assert {e["field"] for e in bad.json()["errors"]} == {"title", "answer", "tags[0]"}
    assert client.post("/api/v1/knowledge/articles", "{}", content_type="application/json").status_code == 422
    put = client.put(f"/api/v1/knowledge/articles/{article_id}", json.dumps(
        {"title": "怎样申请增加阶梯水量？", "answer": "携带户口簿到营业厅办理。", "category_id": kb.pay.pk}),
        content_type="application/json")
    assert put.status_code == 200 and put.json()["title"] == "怎样申请增加阶梯水量？"
    assert client.post(f"/api/v1/knowledge/articles/{article_id}/publish").json()["status"] == "published"
    hits = client.get("/api/v1/knowledge/articles", {"q": "阶梯水量"}).json()
    assert hits[0]["id"] == article_id and "<mark>" in hits[0]["title_html"]
    foreign = client.put(f"/api/v1/knowledge/articles/{kb.power.pk}", json.dumps(
        {"title": "x", "answer": "y", "category_id": kb.pay.pk}), content_type="application/json")
    assert foreign.status_code == 404
    group = client.put(f"/api/v1/knowledge/articles/{kb.pay_group.pk}", json.dumps(
        {"title": "x", "answer": "y", "category_id": kb.pay.pk}), content_type="application/json")
    assert group.status_code == 403
    suggest = client.get("/api/v1/knowledge/suggest", {"q": "客户说家里停水了"}).json()
    assert suggest[0]["id"] == kb.notice.pk


def test_agents_may_read_but_not_write_over_the_api(kb, login):
    client = login(kb.agent_b)
    assert client.get(f"/api/v1/knowledge/articles/{kb.notice.pk}").status_code == 200
    response = client.post("/api/v1/knowledge/articles", json.dumps(
        {"title": "x", "answer": "y", "category_id": kb.pay.pk}), content_type="application/json")
    assert response.status_code == 403


def test_search_screen_live_results_and_navigation(kb, login):
    client = login(kb.agent_b)
    page = client.get("/knowledge/").content.decode()
    assert 'data-testid="nav-knowledge"' in page and "htmx.min.js" in page and "hx-get" in page
    partial = client.get("/knowledge/", {"q": "停水了怎么办"}, HTTP_HX_REQUEST="true").content.decode()
    assert "<mark>停水</mark>" in partial and "<html" not in partial
    assert "New article" not in page and "kb-new" not in page
    article = client.get(f"/knowledge/{kb.notice.pk}/").content.decode()
    assert "计划停水会提前24小时" in article and "kb-edit" not in article
    assert client.get(f"/knowledge/{kb.notice.pk}/edit/").status_code == 403
    assert client.post(f"/knowledge/{kb.draft.pk}/publish/").status_code == 403


def test_no_knowledge_link_without_the_permission(org, login):
    page = login(org.group_admin).get("/").content.decode()
    assert 'data-testid="nav-knowledge"' in page
    from ucis.org import services as org_services

    reader = org_services.staff_create(actor=SYSTEM, username="reader.b", password="Corr3ct-Horse-Battery",
                                       node_id=org.branch_b.pk, roles=["meter_reader"])
    assert 'data-testid="nav-knowledge"' not in login(reader).get("/").content.decode()
    assert login(reader).get("/knowledge/").status_code == 403


def test_editor_screens_create_edit_publish_retire(kb, org, login):
    client = login(org.manager_b)
    form = client.get("/knowledge/new/").content.decode()
    assert 'name="node"' in form
    bad = client.post("/knowledge/new/", {"node": org.water.pk, "category": kb.pay.pk, "title": "问",
                                          "answer": "答", "tags": ", ".join("t" * 21 for _ in range(1))},
                      HTTP_ACCEPT_LANGUAGE="en")
    assert bad.status_code == 200 and "at most 20 characters" in bad.content.decode()
    ok = client.post("/knowledge/new/", {"node": org.water.pk, "category": kb.pay.pk, "title": "燃气费可以代扣吗？",
                                         "answer": "可以。\n\n请到营业厅签约。", "tags": "代扣，燃气", "public": "on"})
    assert ok.status_code == 302
    article_id = int(ok["Location"].rstrip("/").split("/")[-1])
    assert selectors.article_get(SYSTEM, article_id=article_id).tags == ["代扣", "燃气"]
    page = client.get(f"/knowledge/{article_id}/").content.decode()
    assert "kb-publish" in page and "<p>请到营业厅签约。</p>" in page
    assert client.post(f"/knowledge/{article_id}/publish/").status_code == 302
    edit = client.post(f"/knowledge/{article_id}/edit/", {"category": kb.pay.pk, "title": "燃气费能代扣吗？",
                                                          "answer": "可以。", "tags": ""})
    assert edit.status_code == 302
    got = selectors.article_get(SYSTEM, article_id=article_id)
    assert got.title == "燃气费能代扣吗？" and got.status == "published" and got.updated_by == org.manager_b
    assert client.post(f"/knowledge/{article_id}/retire/").status_code == 302
    page = client.get(f"/knowledge/{article_id}/").content.decode()
    assert 'data-testid="history"' in page and "燃气费能代扣吗？" in page
    assert client.get(f"/knowledge/{kb.pay_group.pk}/").content.decode().count("kb-edit") == 0
    assert client.get(f"/knowledge/{kb.pay_group.pk}/edit/").status_code == 403
    assert client.post(f"/knowledge/{kb.pay_group.pk}/edit/", {"category": kb.pay.pk, "title": "改",
                                                               "answer": "改"}).status_code == 403
    assert selectors.article_get(SYSTEM, article_id=kb.pay_group.pk).title == "可以通过哪些方式缴费？"


def test_categories_page(kb, org, login):
    client = login(org.manager_b)
    assert "停水停电停气" in client.get("/knowledge/categories/").content.decode()
    response = client.post("/knowledge/categories/", {"node": org.water.pk, "code": "tw-faq", "name": "水务常见问题",
                                                      "sort_order": 5})
    assert response.status_code == 302
    assert [c.code for c in selectors.category_list(org.manager_b)].count("tw-faq") == 1
    assert "供电专区" not in client.get("/knowledge/categories/").content.decode()


def test_admin_lists_articles_read_only(kb, org, client):
    client.force_login(org.group_admin, backend="django.contrib.auth.backends.ModelBackend")
    body = client.get("/admin/knowledge/knowledgearticle/").content.decode()
    assert "峰谷电价怎么申请？" in body and "计划停水通知在哪里查看？" in body
    assert client.get("/admin/knowledge/knowledgearticle/add/").status_code == 403
