"""Request middleware: the audit context (who, from where) of every change made in a request."""

from __future__ import annotations

import contextvars
from typing import Any

from pghistory import config as pghistory_config
from pghistory.middleware import HistoryMiddleware

# The request being served when pghistory's context is not opened for it (reads: GET, HEAD): an
# explicit ``audit_context`` inside such a request (a download counter, say) still records who
# and from where, without every read query of every page carrying the context's SET prefix.
current_request: contextvars.ContextVar[Any] = contextvars.ContextVar("ucis_current_request", default=None)


def client_ip(request) -> str | None:
    # REMOTE_ADDR only: X-Forwarded-For is trusted just when a proxy is configured to set it.
    forwarded = request.META.get("HTTP_X_FORWARDED_FOR") if request.META.get("UCIS_TRUST_PROXY") else None
    if forwarded:
        return forwarded.split(",")[0].strip()
    return request.META.get("REMOTE_ADDR")


class AuditContextMiddleware(HistoryMiddleware):
    """Every change made during a request is recorded with user, URL, method, client IP and agent."""

    def get_context(self, request) -> dict[str, Any]:
        context = super().get_context(request)
        context.update(
            method=request.method,
            ip=client_ip(request),
            user_agent=(request.META.get("HTTP_USER_AGENT") or "")[:200],
            source="web",
        )
        return context

    def __call__(self, request):
        if request.method in pghistory_config.middleware_methods():
            return super().__call__(request)
        token = current_request.set((self, request))
        try:
            return self.get_response(request)
        finally:
            current_request.reset(token)


def read_request_context() -> dict[str, Any]:
    """The audit metadata of the read request being served (empty outside one)."""
    current = current_request.get()
    if current is None:
        return {}
    middleware, request = current
    return middleware.get_context(request)
