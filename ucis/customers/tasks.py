"""Background work of the customer registry: legacy-file imports (dry run, then apply).

With a broker (UCIS_BROKER_URL) these run on a Celery worker and the import page follows their
progress. Without one (the demo) they run in a thread of the server process, so the page still
shows the progress bar; the tests run them inline (``UCIS_TASKS_IN_THREAD = False``). Work is
queued only once the transaction that created the job has committed, so it always finds the job.
A job whose work crashes is marked failed with the error, never left "checking" for ever."""

from __future__ import annotations

import logging
import threading
from typing import Any

from celery import shared_task
from django.conf import settings
from django.db import connection, transaction
from django.utils import timezone

from ucis.customers import imports
from ucis.customers.models import ImportJob

log = logging.getLogger(__name__)


def _failed(job_id: int, exc: Exception) -> None:
    log.exception("import %s failed", job_id)
    ImportJob.objects.filter(pk=job_id).update(status="failed", phase="failed", finished_at=timezone.now(),
                                               report={"error": f"{type(exc).__name__}: {exc}"[:500]})


@shared_task(name="customers.import_check")
def import_check_task(job_id: int, apply: bool = False) -> str:
    """The dry run; with ``apply``, the application right after it when the file is clean."""
    try:
        job = imports.import_job_check(job_id=job_id)
        if apply and job.status == "checked":
            ImportJob.objects.filter(pk=job_id).update(status="applying", phase="queued")
            job = imports.import_job_apply(job_id=job_id)
    except Exception as exc:
        _failed(job_id, exc)
        raise
    return job.status


@shared_task(name="customers.import_apply")
def import_apply_task(job_id: int) -> str:
    try:
        return imports.import_job_apply(job_id=job_id).status
    except Exception as exc:
        _failed(job_id, exc)
        raise


def _in_thread(task: Any, args: tuple) -> None:
    try:
        task.apply(args=args, throw=False)
    finally:
        connection.close()  # the thread's own connection


def _queue(task: Any, *args: Any) -> None:
    if settings.CELERY_TASK_ALWAYS_EAGER and getattr(settings, "UCIS_TASKS_IN_THREAD", False):
        threading.Thread(target=_in_thread, args=(task, args), name=f"ucis-{task.name}", daemon=True).start()
    else:
        task.delay(*args)


def import_submit(*, actor: Any, content: bytes, filename: str, apply: bool = False) -> ImportJob:
    """Register an upload and queue its dry run (and, with ``apply``, its application if clean)."""
    job = imports.import_job_create(actor=actor, content=content, filename=filename)
    transaction.on_commit(lambda: _queue(import_check_task, job.pk, apply))
    return imports.import_job_get(actor=actor, job_id=job.pk)


def import_apply(*, actor: Any, job_id: Any) -> ImportJob:
    """Queue the application of a checked, clean job."""
    job = imports.import_job_apply_start(actor=actor, job_id=job_id)
    transaction.on_commit(lambda: _queue(import_apply_task, job.pk))
    return imports.import_job_get(actor=actor, job_id=job.pk)
