"""Staff screens of the knowledge base — search as you type (htmx) with filters, the article page
with publish/retire, the create and edit forms — and the public page (no login)."""

from __future__ import annotations

from django import forms
from django.contrib import messages
from django.contrib.auth.decorators import login_required, permission_required
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _
from django.views.decorators.http import require_POST

from ucis.kernel.errors import DomainError
from ucis.knowledge import selectors, services
from ucis.knowledge.models import COMMODITY_CHOICES, STATUS_CHOICES
from ucis.platform.audit import object_history
from ucis.platform.forms import apply_domain_error
from ucis.platform.i18n import error_text


class SearchForm(forms.Form):
    q = forms.CharField(label=_("Question"), required=False, max_length=200,
                        widget=forms.TextInput(attrs={"type": "search", "autofocus": True, "autocomplete": "off",
                                                      "placeholder": _("e.g. 停水了怎么办")}))
    category = forms.ChoiceField(label=_("category"), required=False)
    commodity = forms.ChoiceField(label=_("commodity"), required=False, choices=COMMODITY_CHOICES)
    status = forms.ChoiceField(label=_("status"), required=False, initial="published",
                               choices=[("", _("Any status")), *STATUS_CHOICES])

    def __init__(self, *args, categories=(), editor=False, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["category"].choices = [("", _("All categories"))] + [(str(c.pk), c.name) for c in categories]
        if not editor:
            del self.fields["status"]


@login_required
@permission_required("knowledge.view_knowledgearticle", raise_exception=True)
def knowledge_search_page(request: HttpRequest) -> HttpResponse:
    editor = request.user.has_perm("knowledge.change_knowledgearticle")
    form = SearchForm(request.GET or None, categories=selectors.category_list(request.user), editor=editor)
    data = form.cleaned_data if form.is_valid() else {}
    status = data.get("status", "published") if editor and "status" in request.GET else "published"
    hits = selectors.article_search(request.user, text=data.get("q", ""), category=data.get("category"),
                                    commodity=data.get("commodity"), status=status or None, limit=30)
    context = {"form": form, "hits": hits, "q": data.get("q", "")}
    if request.htmx:
        return render(request, "knowledge/_results.html", context)
    return render(request, "knowledge/search.html", context)


@login_required
@permission_required("knowledge.view_knowledgearticle", raise_exception=True)
def knowledge_article_page(request: HttpRequest, article_id: int) -> HttpResponse:
    article = selectors.article_get(request.user, article_id=article_id)
    return render(request, "knowledge/article.html", {
        "article": article, "can_edit": selectors.article_can_edit(request.user, article=article),
        "history": object_history(article)})


class ArticleForm(forms.Form):
    node = forms.ChoiceField(label=_("owner"), help_text=_("the company, or the group for every company"))
    category = forms.ChoiceField(label=_("category"))
    title = forms.CharField(label=_("question"), max_length=200)
    answer = forms.CharField(label=_("answer"), widget=forms.Textarea(attrs={"rows": 10}),
                             help_text=_("plain text; a blank line starts a new paragraph"))
    tags = forms.CharField(label=_("tags"), required=False, max_length=300,
                           help_text=_("separated by commas; at most 10, each at most 20 characters"))
    commodity = forms.ChoiceField(label=_("commodity"), required=False, choices=COMMODITY_CHOICES)
    public = forms.BooleanField(label=_("public"), required=False,
                                help_text=_("shown on the public portal once published"))

    def __init__(self, *args, categories=(), owners=(), **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["category"].choices = [(str(c.pk), f"{c.name} · {c.node.name}") for c in categories]
        if owners:
            self.fields["node"].choices = [(str(n.pk), n.name) for n in owners]
        else:
            del self.fields["node"]

    def article_input(self) -> services.ArticleInput:
        d = self.cleaned_data
        return services.ArticleInput(title=d["title"], answer=d["answer"], category_id=d["category"],
                                     tags=d["tags"], commodity=d["commodity"], public=d["public"])


@login_required
@permission_required("knowledge.add_knowledgearticle", raise_exception=True)
def knowledge_article_create(request: HttpRequest) -> HttpResponse:
    form = ArticleForm(request.POST or None, categories=selectors.category_list(request.user),
                       owners=selectors.owner_choices(request.user))
    if request.method == "POST" and form.is_valid():
        try:
            article = services.article_create(actor=request.user, data=form.article_input(),
                                              node_id=form.cleaned_data.get("node"))
        except DomainError as exc:
            apply_domain_error(form, exc)
        else:
            messages.success(request, gettext("Saved as a draft; publish it when it is ready."))
            return redirect("knowledge_article", article_id=article.pk)
    return render(request, "knowledge/article_form.html", {"form": form, "article": None})


@login_required
@permission_required("knowledge.change_knowledgearticle", raise_exception=True)
def knowledge_article_edit(request: HttpRequest, article_id: int) -> HttpResponse:
    article = selectors.article_get(request.user, article_id=article_id)
    if not selectors.article_can_edit(request.user, article=article):
        raise PermissionDenied  # visible (the group's, say) but edited where it is owned
    initial = {"category": str(article.category_id), "title": article.title, "answer": article.answer,
               "tags": ", ".join(article.tags), "commodity": article.commodity, "public": article.public}
    form = ArticleForm(request.POST or None, initial=initial, categories=selectors.category_list(request.user))
    if request.method == "POST" and form.is_valid():
        try:
            services.article_update(actor=request.user, article_id=article.pk, data=form.article_input())
        except DomainError as exc:
            apply_domain_error(form, exc)
        else:
            messages.success(request, gettext("Saved."))
            return redirect("knowledge_article", article_id=article.pk)
    return render(request, "knowledge/article_form.html", {"form": form, "article": article})


@require_POST
@login_required
def knowledge_article_status(request: HttpRequest, article_id: int, action: str) -> HttpResponse:
    change = services.article_publish if action == "publish" else services.article_retire
    try:
        change(actor=request.user, article_id=article_id)
    except DomainError as exc:
        messages.error(request, error_text(exc))
    else:
        messages.success(request, gettext("Published.") if action == "publish" else gettext("Retired."))
    return redirect("knowledge_article", article_id=article_id)


class CategoryForm(forms.Form):
    node = forms.ChoiceField(label=_("owner"))
    code = forms.CharField(label=_("code"), max_length=32)
    name = forms.CharField(label=_("name"), max_length=60)
    sort_order = forms.IntegerField(label=_("sort order"), initial=0, min_value=-999, max_value=999)

    def __init__(self, *args, owners=(), **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["node"].choices = [(str(n.pk), n.name) for n in owners]


@login_required
@permission_required("knowledge.view_knowledgearticle", raise_exception=True)
def knowledge_categories_page(request: HttpRequest) -> HttpResponse:
    form = CategoryForm(request.POST or None, owners=selectors.owner_choices(request.user))
    if request.method == "POST":
        if not request.user.has_perm("knowledge.add_knowledgecategory"):
            raise PermissionDenied
        if form.is_valid():
            d = form.cleaned_data
            try:
                services.category_create(actor=request.user, code=d["code"], name=d["name"],
                                         sort_order=d["sort_order"] or 0, node_id=d["node"])
            except DomainError as exc:
                apply_domain_error(form, exc)
            else:
                messages.success(request, gettext("Category added."))
                return redirect("knowledge_categories")
    return render(request, "knowledge/categories.html",
                  {"form": form, "categories": selectors.category_list(request.user)})


def public_knowledge_page(request: HttpRequest) -> HttpResponse:
    """常见问题 for everyone (no login): published articles marked public, searchable."""
    text = request.GET.get("q", "")[:200]
    hits = selectors.public_article_list(company_id=request.GET.get("company") or None, text=text, limit=50)
    return render(request, "knowledge/public.html", {"hits": hits, "q": text})
