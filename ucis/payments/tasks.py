"""Scheduled payment work: the reconciler that finds lost WeChat/Alipay notices (every few minutes
from Celery beat, or ``ucis reconcile-online``)."""

from __future__ import annotations

import logging

from celery import shared_task
from django.conf import settings

from ucis.payments import online

log = logging.getLogger(__name__)


@shared_task(name="payments.reconcile_online", acks_late=True)
def reconcile_online_task(minutes: int = 15) -> int:
    from datetime import timedelta

    if not settings.UCIS_PAYMENT_SANDBOX:
        # The platforms' order-query APIs need their network; wire a client here when deploying.
        log.warning("online reconciliation needs a platform query client; none is configured")
        return 0
    return online.online_orders_reconcile(query=online.sandbox_query, older_than=timedelta(minutes=minutes))
