"""Read-only Django admin views of the knowledge base (writes go through the services, which keep
the search column current)."""

from __future__ import annotations

from django.contrib import admin

from ucis.knowledge.models import KnowledgeArticle, KnowledgeCategory
from ucis.platform.admin_mixins import ReadOnlyAdminMixin, TenantAdminMixin


@admin.register(KnowledgeCategory)
class KnowledgeCategoryAdmin(ReadOnlyAdminMixin, TenantAdminMixin, admin.ModelAdmin):
    list_display = ("code", "name", "node", "sort_order")
    list_select_related = ("node",)


@admin.register(KnowledgeArticle)
class KnowledgeArticleAdmin(ReadOnlyAdminMixin, TenantAdminMixin, admin.ModelAdmin):
    list_display = ("title", "category", "node", "commodity", "status", "public", "updated_at")
    list_filter = ("status", "public", "commodity")
    search_fields = ("title",)
    list_select_related = ("category", "node")
    exclude = ("search_tokens",)
