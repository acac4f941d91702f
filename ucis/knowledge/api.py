"""JSON API of the knowledge base: search, one article, write, publish/retire, and suggestions for
a work order's text. Bad input → 422 naming the field; an article outside the caller's view → 404."""

from __future__ import annotations

from datetime import datetime

from django.core.exceptions import PermissionDenied
from django.http import HttpRequest
from ninja import Field, Router, Schema, Status

from ucis.knowledge import selectors, services
from ucis.knowledge.models import KnowledgeArticle
from ucis.platform.api import ERRORS

router = Router(tags=["knowledge"])


def _require(request: HttpRequest, perm: str) -> None:
    if not request.user.has_perm(perm):
        raise PermissionDenied(f"missing permission {perm}")


class ArticleOut(Schema):
    id: int
    owner: str = Field(description="code of the company or group that owns the article")
    category_id: int
    category: str
    title: str
    answer: str
    tags: list[str]
    commodity: str = Field(description="water, gas, electricity or blank for every commodity")
    status: str
    public: bool
    created_at: datetime
    updated_at: datetime


class HitOut(Schema):
    id: int
    category: str
    title: str
    commodity: str
    status: str
    public: bool
    tags: list[str]
    matched_all: bool = Field(description="every bigram of the query matched (else: the best partial matches)")
    rank: float
    title_html: str = Field(description="the question, HTML-escaped, matches in <mark>")
    snippet: str = Field(description="an excerpt of the answer, HTML-escaped, matches in <mark>")


class ArticleIn(Schema):
    title: str = Field(description="the question, at most 200 characters")
    answer: str
    category_id: int
    tags: list[str] = Field(default_factory=list, description="at most 10, each at most 20 characters")
    commodity: str = ""
    public: bool = False


class ArticleCreateIn(ArticleIn):
    node_id: int | None = Field(default=None, description="owner (company or group); default: your company")


def _article_out(a: KnowledgeArticle) -> dict:
    return {"id": a.pk, "owner": a.node.code, "category_id": a.category_id, "category": a.category.name,
            "title": a.title, "answer": a.answer, "tags": list(a.tags), "commodity": a.commodity,
            "status": a.status, "public": a.public, "created_at": a.created_at, "updated_at": a.updated_at}


def _hit_out(h: selectors.ArticleHit) -> dict:
    a = h.article
    return {"id": a.pk, "category": a.category.name, "title": a.title, "commodity": a.commodity,
            "status": a.status, "public": a.public, "tags": list(a.tags), "matched_all": h.matched_all,
            "rank": h.rank, "title_html": str(h.title_html), "snippet": str(h.snippet)}


def _input(payload: ArticleIn) -> services.ArticleInput:
    return services.ArticleInput(title=payload.title, answer=payload.answer, category_id=payload.category_id,
                                 tags=tuple(payload.tags), commodity=payload.commodity, public=payload.public)


@router.get("/articles", response={200: list[HitOut], **ERRORS})
def article_search(request: HttpRequest, q: str = "", category: int | None = None, commodity: str = "",
                   status: str = "published", limit: int = 20):
    """Search the articles you may see: the query's character bigrams all matched, else the best
    partial matches by rank; blank ``q`` lists them. ``status``: published (default), draft,
    retired or blank for any."""
    _require(request, "knowledge.view_knowledgearticle")
    return [_hit_out(h) for h in selectors.article_search(request.user, text=q, category=category,
                                                         commodity=commodity or None, status=status or None,
                                                         limit=limit)]


@router.get("/articles/{article_id}", response={200: ArticleOut, **ERRORS})
def article_get(request: HttpRequest, article_id: int):
    _require(request, "knowledge.view_knowledgearticle")
    return _article_out(selectors.article_get(request.user, article_id=article_id))


@router.post("/articles", response={201: ArticleOut, **ERRORS})
def article_create(request: HttpRequest, payload: ArticleCreateIn):
    """A new draft article owned by your company (or ``node_id``: a company or the group you manage)."""
    article = services.article_create(actor=request.user, data=_input(payload), node_id=payload.node_id)
    return Status(201, _article_out(selectors.article_get(request.user, article_id=article.pk)))


@router.put("/articles/{article_id}", response={200: ArticleOut, **ERRORS})
def article_update(request: HttpRequest, article_id: int, payload: ArticleIn):
    """Replace the question, answer, category, tags, commodity and public flag (the status stays)."""
    article = services.article_update(actor=request.user, article_id=article_id, data=_input(payload))
    return _article_out(selectors.article_get(request.user, article_id=article.pk))


@router.post("/articles/{article_id}/publish", response={200: ArticleOut, **ERRORS})
def article_publish(request: HttpRequest, article_id: int):
    article = services.article_publish(actor=request.user, article_id=article_id)
    return _article_out(selectors.article_get(request.user, article_id=article.pk))


@router.post("/articles/{article_id}/retire", response={200: ArticleOut, **ERRORS})
def article_retire(request: HttpRequest, article_id: int):
    article = services.article_retire(actor=request.user, article_id=article_id)
    return _article_out(selectors.article_get(request.user, article_id=article.pk))


@router.get("/suggest", response={200: list[HitOut], **ERRORS})
def article_suggest(request: HttpRequest, q: str, company_id: int | None = None, limit: int = 5):
    """Published articles for a work order's text, of the order's company (default: yours) and the group."""
    _require(request, "knowledge.view_knowledgearticle")
    company = company_id or selectors.actor_company_id(request.user)
    return [_hit_out(h) for h in selectors.article_suggest(request.user, text=q, company_id=company, limit=limit)]
