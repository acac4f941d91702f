"""The JSON API (django-ninja): one NinjaAPI, errors in one shape naming field and reason.

Bad input → 422 ``{"errors": [{"field": ..., "reason": ...}]}``; another branch's object → 404;
missing permission → 403. Authentication: the staff session (with CSRF) — machine clients use the
same accounts.
"""

from __future__ import annotations

from django.core.exceptions import PermissionDenied
from django.http import Http404
from ninja import NinjaAPI, Schema
from ninja.errors import AuthenticationError
from ninja.errors import ValidationError as NinjaValidationError
from ninja.security import django_auth

from ucis.kernel.errors import DomainError
from ucis.platform.i18n import problem_text


class ErrorItem(Schema):
    field: str
    reason: str


class ErrorOut(Schema):
    errors: list[ErrorItem]


class DetailOut(Schema):
    detail: str


# Responses every endpoint may give besides its own.
ERRORS = {401: DetailOut, 403: DetailOut, 404: DetailOut, 422: ErrorOut}

api = NinjaAPI(title="ucis API", version="1", urls_namespace="api", auth=django_auth,
               docs_url="/docs")


@api.exception_handler(DomainError)
def on_domain_error(request, exc: DomainError):
    errors = [{"field": p.field, "reason": problem_text(p)} for p in exc.problems]
    return api.create_response(request, {"errors": errors}, status=422)


@api.exception_handler(NinjaValidationError)
def on_validation_error(request, exc: NinjaValidationError):
    items = []
    for err in exc.errors:
        loc = [str(part) for part in err.get("loc", []) if part not in ("body", "query", "path", "payload")]
        items.append({"field": ".".join(loc) or "__all__", "reason": err.get("msg", "invalid")})
    return api.create_response(request, {"errors": items}, status=422)


@api.exception_handler(Http404)
def on_not_found(request, exc):
    return api.create_response(request, {"detail": "Not found"}, status=404)


@api.exception_handler(PermissionDenied)
def on_forbidden(request, exc):
    return api.create_response(request, {"detail": str(exc) or "Permission denied"}, status=403)


@api.exception_handler(AuthenticationError)
def on_unauthenticated(request, exc):
    return api.create_response(request, {"detail": "Authentication required"}, status=401)
