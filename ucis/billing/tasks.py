"""Background bill runs: each route of a run is one Celery task, so several workers share a run;
without a broker (the demo) the routes run one after another in a server thread. A task that dies
leaves its items pending; calculating again picks them up (bills are unique per account and period)."""

from __future__ import annotations

import logging
import threading
from typing import Any

from celery import shared_task
from django.conf import settings
from django.db import connection, transaction

from ucis.billing import services
from ucis.kernel.errors import DomainError
from ucis.org import selectors as org_selectors
from ucis.platform.tenancy import SYSTEM

log = logging.getLogger(__name__)


def _actor(user_id: Any) -> Any:
    return org_selectors.staff_get(actor=SYSTEM, staff_id=user_id) if user_id else SYSTEM


@shared_task(name="billing.calculate_route", acks_late=True)
def calculate_route_task(run_id: int, route_id: int | None, user_id: int | None) -> dict[str, int]:
    return services.bill_run_calculate(actor=_actor(user_id), run_id=run_id, route_id=route_id)


def _in_thread(run_id: int, routes: list[int | None], user_id: int | None) -> None:
    try:
        for route in routes:
            calculate_route_task.apply(args=(run_id, route, user_id), throw=False)
    finally:
        connection.close()


def bill_run_queue(*, actor: Any, run_id: Any) -> list[int | None]:
    """Queue the calculation of a run, one task per route with pending accounts (one task for the
    whole run when nothing is pending, which marks it calculated). Refused at once, before anything
    is queued, when the run cannot be calculated now."""
    services.bill_run_ready(actor=actor, run_id=run_id)
    routes = services.bill_run_pending_routes(actor=actor, run_id=run_id) or [None]
    user_id = getattr(actor, "pk", None)
    if settings.CELERY_TASK_ALWAYS_EAGER and getattr(settings, "UCIS_TASKS_IN_THREAD", False):
        transaction.on_commit(lambda: threading.Thread(target=_in_thread, args=(int(run_id), routes, user_id),
                                                       name=f"ucis-billrun-{run_id}", daemon=True).start())
    else:
        for route in routes:
            transaction.on_commit(lambda route=route: calculate_route_task.delay(int(run_id), route, user_id))
    return routes


def bill_run_submit(*, actor: Any, company_id: Any, commodity: str, period: Any,
                    route_ids: Any = ()) -> tuple[Any, DomainError | None]:
    """Start a run and queue its calculation (the start form and the API). When the calculation
    cannot start yet (reads waiting in the review queue) the run stays created and the refusal is
    returned; queueing it again later calculates it."""
    with transaction.atomic():
        run = services.bill_run_start(actor=actor, company_id=company_id, commodity=commodity, period=period,
                                      route_ids=route_ids)
    try:
        bill_run_queue(actor=actor, run_id=run.pk)
    except DomainError as exc:
        return run, exc
    return run, None
