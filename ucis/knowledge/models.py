"""The knowledge base (知识库, SVC-7): questions and answers for hotline agents and the public.

Categories and articles belong to a company or to the group root. Staff see what is owned above
them (the group's and their company's articles) and what is owned inside their subtree — unlike
most business data, which is visible only downwards (``KnowledgeQuerySet.visible_to``).
``search_tokens`` is the article's character-bigram ``tsvector`` (see ``ngrams``), written by the
services whenever the text changes, weighted title (A) › tags (B) › answer (C), GIN-indexed.
"""

from __future__ import annotations

from typing import Any

import pghistory
from django.contrib.postgres.fields import ArrayField
from django.contrib.postgres.indexes import GinIndex
from django.contrib.postgres.search import SearchVectorField
from django.db import models
from django.db.models import Q
from django.utils.translation import gettext_lazy as _

from ucis.platform.audit import trackers
from ucis.platform.tenancy import TenantQuerySet, actor_root_path

COMMODITY_CHOICES = [("", _("All commodities")), ("water", _("Water")), ("gas", _("Gas")),
                     ("electricity", _("Electricity"))]
STATUS_CHOICES = [("draft", _("Draft")), ("published", _("Published")), ("retired", _("Retired"))]


def ancestor_ids(path: str) -> list[int]:
    """The ids of the nodes on a tree path, root first, the node itself last (``/1/7/42/``)."""
    return [int(part) for part in path.strip("/").split("/") if part]


class KnowledgeQuerySet(TenantQuerySet):
    """Knowledge is shared downwards: a row owned by the actor's node, any node above it or any
    node inside its subtree is visible. ``SYSTEM`` sees everything; anonymous callers nothing."""

    def visible_to(self, actor: Any, *, company_wide: bool = False) -> KnowledgeQuerySet:
        root = actor_root_path(actor, company_wide=company_wide)
        if root is None:
            return self.none()
        if root == "":
            return self
        return self.filter(Q(node_id__in=ancestor_ids(root)) | Q(node__path__startswith=root))


KnowledgeManager = models.Manager.from_queryset(KnowledgeQuerySet)


@pghistory.track(*trackers())
class KnowledgeCategory(models.Model):
    """A category of articles (缴费方式, 停水停电停气 …) of a company or of the whole group."""

    tenancy_node_field = "node"

    node = models.ForeignKey("org.OrgNode", on_delete=models.PROTECT, related_name="+",
                             verbose_name=_("owner"))
    code = models.CharField(_("code"), max_length=32)
    name = models.CharField(_("name"), max_length=60)
    sort_order = models.SmallIntegerField(_("sort order"), default=0)

    objects = KnowledgeManager()

    class Meta:
        verbose_name = _("knowledge category")
        verbose_name_plural = _("knowledge categories")
        ordering = ["sort_order", "code"]
        constraints = [models.UniqueConstraint(fields=["node", "code"], name="knowledgecategory_code_unique")]

    def __str__(self) -> str:
        return self.name


@pghistory.track(*trackers(), exclude=["search_tokens"])
class KnowledgeArticle(models.Model):
    """A question and its answer (plain text, paragraphs separated by blank lines)."""

    tenancy_node_field = "node"

    node = models.ForeignKey("org.OrgNode", on_delete=models.PROTECT, related_name="+",
                             verbose_name=_("owner"))
    category = models.ForeignKey(KnowledgeCategory, on_delete=models.PROTECT, related_name="articles",
                                 verbose_name=_("category"))
    title = models.CharField(_("question"), max_length=200)
    answer = models.TextField(_("answer"))
    tags = ArrayField(models.CharField(max_length=20), default=list, blank=True, verbose_name=_("tags"))
    commodity = models.CharField(_("commodity"), max_length=16, choices=COMMODITY_CHOICES, blank=True,
                                 default="")
    status = models.CharField(_("status"), max_length=10, choices=STATUS_CHOICES, default="draft")
    public = models.BooleanField(_("public"), default=False,
                                 help_text=_("shown on the public portal once published"))
    created_by = models.ForeignKey("org.User", on_delete=models.PROTECT, null=True, blank=True,
                                   related_name="+")
    updated_by = models.ForeignKey("org.User", on_delete=models.PROTECT, null=True, blank=True,
                                   related_name="+")
    created_at = models.DateTimeField(_("created at"), auto_now_add=True)
    updated_at = models.DateTimeField(_("updated at"), auto_now=True)
    search_tokens = SearchVectorField(null=True, editable=False)

    objects = KnowledgeManager()

    class Meta:
        verbose_name = _("knowledge article")
        verbose_name_plural = _("knowledge articles")
        indexes = [GinIndex(fields=["search_tokens"], name="knowledgearticle_search"),
                   models.Index(fields=["node", "status"], name="knowledgearticle_node_status")]
        constraints = [models.CheckConstraint(condition=Q(status__in=["draft", "published", "retired"]),
                                              name="knowledgearticle_status_valid"),
                       models.CheckConstraint(condition=Q(commodity__in=["", "water", "gas", "electricity"]),
                                              name="knowledgearticle_commodity_valid")]

    def __str__(self) -> str:
        return self.title

    def paragraphs(self) -> list[str]:
        return [p.strip() for p in self.answer.replace("\r\n", "\n").split("\n\n") if p.strip()]
