"""Reads of the knowledge base, always through ``KnowledgeArticle.objects.visible_to``.

Search is one indexed query: the query text's character bigrams (``ngrams.parse_query``) as two
tsqueries — all bigrams (AND) and the meaningful ones (OR). Rows matching the OR query (GIN index)
are ordered AND-matches first, then by ``ts_rank`` over the weighted vector (question › tags ›
answer); when any row matches every bigram only those are returned, else the best partial matches
are — so "停水了怎么办" still finds "计划停水通知在哪里查看？".
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from django.contrib.postgres.search import SearchQuery, SearchRank
from django.db.models import BooleanField, ExpressionWrapper, F, Q, QuerySet
from django.db.models.expressions import RawSQL
from django.utils.safestring import SafeString, mark_safe

from ucis.knowledge import ngrams
from ucis.knowledge.models import KnowledgeArticle, KnowledgeCategory, ancestor_ids
from ucis.knowledge.rules import in_editor_scope
from ucis.org import selectors as org_selectors
from ucis.platform.tenancy import SYSTEM, access_by_id

SNIPPET_WIDTH = 120


@dataclass(frozen=True)
class ArticleHit:
    """A search result: the article, whether it matched every bigram, its rank and the question and
    an answer excerpt as HTML (escaped, matched characters in ``<mark>``)."""

    article: KnowledgeArticle
    matched_all: bool
    rank: float
    title_html: SafeString
    snippet: SafeString


def _hits(qs: QuerySet[KnowledgeArticle], text: str, limit: int) -> list[ArticleHit]:
    query = ngrams.parse_query(text)
    if query.empty:
        rows = list(qs.order_by("category__sort_order", "-updated_at", "-pk")[:limit])
        return [ArticleHit(a, False, 0.0, _html(a.title, ()), _html(a.answer, (), SNIPPET_WIDTH)) for a in rows]
    every = SearchQuery(query.tsquery_all(), search_type="raw", config="simple")
    some = SearchQuery(query.tsquery_any(), search_type="raw", config="simple")
    rows = list(qs.filter(search_tokens=some)
                .annotate(matched_all=ExpressionWrapper(Q(search_tokens=every), output_field=BooleanField()),
                          rank=SearchRank(F("search_tokens"), some))
                .order_by("-matched_all", "-rank", "-updated_at", "-pk")[:limit])
    if rows and rows[0].matched_all:
        rows = [a for a in rows if a.matched_all]
    # Partial matches mark only the bigrams that found them (not 怎么 …).
    every_word = list(query.words)
    some_words = [t.removesuffix(":*") for t in query.any_terms]
    out = []
    for a in rows:
        words = every_word if a.matched_all else some_words
        out.append(ArticleHit(a, a.matched_all, float(a.rank), _html(a.title, words),
                              _html(a.answer, words, SNIPPET_WIDTH)))
    return out


def _html(text: str, words: Any, width: int = 0) -> SafeString:
    if width:
        text = " ".join(text.split())  # an excerpt runs the paragraphs together
    return mark_safe(ngrams.highlight(text, words, width=width))  # noqa: S308 — escaped by highlight


def _base(actor: Any) -> QuerySet[KnowledgeArticle]:
    return KnowledgeArticle.objects.visible_to(actor).select_related("category", "node")


def article_search(actor: Any, *, text: str = "", category: Any = None, commodity: str | None = None,
                   status: str | None = "published", limit: int = 20) -> list[ArticleHit]:
    """Articles the actor may see matching ``text`` (all when blank), optionally of one category and
    commodity (articles for every commodity always qualify); published ones unless ``status`` says
    otherwise (``None``: any status)."""
    qs = _base(actor)
    if status:
        qs = qs.filter(status=status)
    if category not in (None, ""):
        qs = qs.filter(category_id=int(category) if str(category).isdigit() else None)
    if commodity:
        qs = qs.filter(commodity__in=["", commodity])
    return _hits(qs, text, max(1, min(int(limit), 100)))


def article_get(actor: Any, *, article_id: Any) -> KnowledgeArticle:
    """One article the actor may see (any status), else 404."""
    return access_by_id(KnowledgeArticle.objects.select_related("category", "node", "created_by", "updated_by"),
                        actor, article_id)


def article_can_edit(actor: Any, *, article: KnowledgeArticle) -> bool:
    return bool(actor.has_perm("knowledge.change_knowledgearticle", article))


def _company_and_group(company_id: Any) -> RawSQL:
    """The ids of a company and every node above it (its group), as a subquery of the same statement."""
    return RawSQL("SELECT unnest(string_to_array(trim(both '/' from path), '/'))::bigint FROM org_orgnode "
                  "WHERE id = %s", [int(company_id) if str(company_id).isdigit() else 0])


def article_suggest(actor: Any, *, text: str, company_id: Any, limit: int = 5) -> list[ArticleHit]:
    """Published articles for a work order's text (the agent screen), of the order's company and
    the group above it, best first: one query on the GIN index."""
    if ngrams.parse_query(text).empty:
        return []
    qs = _base(actor).filter(status="published")
    if company_id is not None:
        qs = qs.filter(node_id__in=_company_and_group(company_id))
    return _hits(qs, text, max(1, min(int(limit), 20)))


def public_article_list(*, company_id: Any = None, text: str = "", limit: int = 20) -> list[ArticleHit]:
    """Published articles marked public (no login): of one company and its group, or all."""
    qs = KnowledgeArticle.objects.visible_to(SYSTEM).select_related("category").filter(status="published",
                                                                                      public=True)
    if company_id not in (None, ""):
        qs = qs.filter(node_id__in=_company_and_group(company_id))
    return _hits(qs, text, max(1, min(int(limit), 100)))


def category_list(actor: Any) -> QuerySet[KnowledgeCategory]:
    """Categories the actor may see (the group's, the company's, those below)."""
    return KnowledgeCategory.objects.visible_to(actor).select_related("node").order_by("sort_order", "code", "pk")


def owner_choices(actor: Any) -> list[Any]:
    """The nodes under which the actor may write knowledge: their company, companies in their
    subtree, and the group when they sit at the group."""
    node = getattr(actor, "node", None)
    if node is None:
        return []
    nodes = list(org_selectors.org_node_list(actor=actor).filter(kind__in=["company", "group"]))
    if node.company_id and all(n.pk != node.company_id for n in nodes):
        nodes.insert(0, node.company)
    return [n for n in nodes if in_editor_scope(actor, n)]


def actor_company_id(actor: Any) -> int | None:
    """The actor's company; for staff above the companies, the group root."""
    node = getattr(actor, "node", None)
    if node is None:
        return None
    return node.company_id or ancestor_ids(node.path)[0]
