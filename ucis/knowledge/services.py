"""Use cases of the knowledge base: write categories and articles, publish and retire them.

Every write validates first (each bad field named), is audited, and keeps the article's search
column (``search_tokens``: character bigrams, see ``ngrams``) in step with its text.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from django.contrib.postgres.search import SearchVector
from django.db import IntegrityError, transaction
from django.db.models import Value
from django.http import Http404

from ucis.kernel.errors import Conflict, DomainError, FieldProblem
from ucis.kernel.errors import gettext_noop as _
from ucis.knowledge import ngrams
from ucis.knowledge.models import KnowledgeArticle, KnowledgeCategory, ancestor_ids
from ucis.knowledge.rules import in_editor_scope
from ucis.org import selectors as org_selectors
from ucis.platform.audit import audit_context
from ucis.platform.permissions import require
from ucis.platform.tenancy import SYSTEM, access_by_id, acting_user, is_system

COMMODITIES = ("", "water", "gas", "electricity")
TITLE_MAX = 200
TAGS_MAX = 10
TAG_MAX = 20
OWNER_KINDS = ("company", "group")


@dataclass(frozen=True)
class ArticleInput:
    """What an editor writes: the question, the answer (plain text; a blank line starts a new
    paragraph), its category, up to 10 tags, the commodity (blank = every commodity) and whether
    the public may read it once published."""

    title: str
    answer: str
    category_id: Any
    tags: Sequence[str] = ()
    commodity: str = ""
    public: bool = False


def search_vector(*, title: str, tags: Sequence[str], answer: str) -> SearchVector:
    """The weighted bigram tsvector of an article: question (A) › tags (B) › answer (C)."""
    return (SearchVector(Value(ngrams.token_string(title)), config="simple", weight="A")
            + SearchVector(Value(ngrams.token_string(" ".join(tags))), config="simple", weight="B")
            + SearchVector(Value(ngrams.token_string(answer)), config="simple", weight="C"))


def _owner(actor: Any, node_id: Any) -> Any:
    """The node that will own new knowledge: the given one, else the actor's company (the group
    root for staff above the companies). Must be a company or the group, within the actor's reach."""
    if node_id in (None, ""):
        node = getattr(actor, "node", None)
        if node is None:
            raise DomainError("node", _("choose the company or group that owns it"))
        node_id = node.company_id or ancestor_ids(node.path)[0]
    try:
        node = org_selectors.org_node_get(actor=SYSTEM, node_id=node_id)
    except Http404:
        node = None
    if node is None or node.kind not in OWNER_KINDS or not in_editor_scope(actor, node):
        raise DomainError("node", _("knowledge is owned by your company or, at the top, by the group"))
    return node


def _clean_tags(tags: Sequence[str] | str, problems: list[FieldProblem]) -> list[str]:
    items = tags.replace("，", ",").split(",") if isinstance(tags, str) else list(tags)
    cleaned: list[str] = []
    for tag in items:
        text = " ".join(str(tag).split())
        if text and text not in cleaned:
            cleaned.append(text)
    if len(cleaned) > TAGS_MAX:
        problems.append(FieldProblem("tags", _("at most %(max)s tags"), {"max": TAGS_MAX}))
    for i, tag in enumerate(cleaned):
        if len(tag) > TAG_MAX:
            problems.append(FieldProblem(f"tags[{i}]", _("a tag has at most %(max)s characters"), {"max": TAG_MAX}))
    return cleaned


def _clean(data: ArticleInput, owner: Any) -> dict[str, Any]:
    problems: list[FieldProblem] = []
    title = " ".join((data.title or "").split())
    answer = (data.answer or "").replace("\r\n", "\n").strip()
    if not title:
        problems.append(FieldProblem("title", _("write the question")))
    elif len(title) > TITLE_MAX:
        problems.append(FieldProblem("title", _("at most %(max)s characters"), {"max": TITLE_MAX}))
    if not answer:
        problems.append(FieldProblem("answer", _("write the answer")))
    tags = _clean_tags(data.tags, problems)
    commodity = data.commodity or ""
    if commodity not in COMMODITIES:
        problems.append(FieldProblem("commodity", _("unknown commodity %(value)s"), {"value": commodity}))
    category = None
    if data.category_id in (None, ""):
        problems.append(FieldProblem("category", _("choose a category")))
    else:
        # The owner's own categories or those of the group above it.
        category = KnowledgeCategory.objects.filter(pk=data.category_id if str(data.category_id).isdigit() else None,
                                                    node_id__in=ancestor_ids(owner.path)).first()
        if category is None:
            problems.append(FieldProblem("category", _("there is no such category for %(owner)s"),
                                         {"owner": owner.name}))
    if problems:
        raise DomainError(problems=problems)
    return {"title": title, "answer": answer, "tags": tags, "commodity": commodity, "category": category,
            "public": bool(data.public)}


def category_create(*, actor: Any, code: str, name: str, sort_order: int = 0,
                    node_id: Any = None) -> KnowledgeCategory:
    """A category of the actor's company (or of the group, for staff at the group)."""
    require(actor, "knowledge.add_knowledgecategory")
    owner = _owner(actor, node_id)
    problems: list[FieldProblem] = []
    code = (code or "").strip().lower()
    name = " ".join((name or "").split())
    if not code or len(code) > 32 or not all(ch.isascii() and (ch.isalnum() or ch in "_-") for ch in code):
        problems.append(FieldProblem("code", _("letters, digits, - and _ (at most 32)")))
    if not name:
        problems.append(FieldProblem("name", _("give the category a name")))
    elif len(name) > 60:
        problems.append(FieldProblem("name", _("at most %(max)s characters"), {"max": 60}))
    if problems:
        raise DomainError(problems=problems)
    try:
        with transaction.atomic(), audit_context(actor=actor, reason="knowledge category", source="knowledge"):
            return KnowledgeCategory.objects.create(node=owner, code=code, name=name, sort_order=sort_order)
    except IntegrityError:
        raise Conflict("code", _("category code %(code)s is already used"), code=code) from None


def article_create(*, actor: Any, data: ArticleInput, node_id: Any = None) -> KnowledgeArticle:
    """A new article (a draft until published) owned by the actor's company, or the given
    company or group."""
    require(actor, "knowledge.add_knowledgearticle")
    owner = _owner(actor, node_id)
    clean = _clean(data, owner)
    user = acting_user(actor)
    with transaction.atomic(), audit_context(actor=actor, reason="knowledge article", source="knowledge"):
        return KnowledgeArticle.objects.create(
            node=owner, created_by=user, updated_by=user,
            search_tokens=search_vector(title=clean["title"], tags=clean["tags"], answer=clean["answer"]), **clean)


def _editable(actor: Any, article_id: Any) -> KnowledgeArticle:
    """The article for a change: invisible → 404; visible but not the editor's → 403."""
    article = access_by_id(KnowledgeArticle.objects.select_related("node"), actor, article_id, for_update=True)
    if not is_system(actor):
        require(actor, "knowledge.change_knowledgearticle", article)
    return article


def article_update(*, actor: Any, article_id: Any, data: ArticleInput, reason: str = "") -> KnowledgeArticle:
    """Change the question, answer, category, tags, commodity or public flag (the status stays)."""
    require(actor, "knowledge.change_knowledgearticle")
    with transaction.atomic(), audit_context(actor=actor, reason=reason or "knowledge article",
                                             source="knowledge"):
        article = _editable(actor, article_id)
        clean = _clean(data, article.node)
        for field, value in clean.items():
            setattr(article, field, value)
        article.updated_by = acting_user(actor)
        article.search_tokens = search_vector(title=clean["title"], tags=clean["tags"], answer=clean["answer"])
        article.save()
    article.refresh_from_db()
    return article


def _set_status(actor: Any, article_id: Any, status: str, refused: str) -> KnowledgeArticle:
    require(actor, "knowledge.change_knowledgearticle")
    with transaction.atomic(), audit_context(actor=actor, reason=status, source="knowledge"):
        article = _editable(actor, article_id)
        if article.status == status:
            raise Conflict("status", refused)
        article.status = status
        article.updated_by = acting_user(actor)
        article.save(update_fields=["status", "updated_by", "updated_at"])
    return article


def article_publish(*, actor: Any, article_id: Any) -> KnowledgeArticle:
    """Agents (and, if public, the portal) see the article from now on."""
    return _set_status(actor, article_id, "published", _("the article is already published"))


def article_retire(*, actor: Any, article_id: Any) -> KnowledgeArticle:
    """Withdraw an out-of-date article: it stays in the history, no longer in search."""
    return _set_status(actor, article_id, "retired", _("the article is already retired"))
