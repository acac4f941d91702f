from django.urls import path

from ucis.knowledge import views

urlpatterns = [
    path("", views.knowledge_search_page, name="knowledge_search"),
    path("new/", views.knowledge_article_create, name="knowledge_article_create"),
    path("categories/", views.knowledge_categories_page, name="knowledge_categories"),
    path("<int:article_id>/", views.knowledge_article_page, name="knowledge_article"),
    path("<int:article_id>/edit/", views.knowledge_article_edit, name="knowledge_article_edit"),
    path("<int:article_id>/publish/", views.knowledge_article_status, {"action": "publish"},
         name="knowledge_article_publish"),
    path("<int:article_id>/retire/", views.knowledge_article_status, {"action": "retire"},
         name="knowledge_article_retire"),
]

# Mounted at /public/knowledge/ (no login).
public_urlpatterns = [
    path("", views.public_knowledge_page, name="public_knowledge"),
]
