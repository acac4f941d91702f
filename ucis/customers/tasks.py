"""Background work of the customer registry: legacy-file imports (dry run, then apply).

With a broker (UCIS_BROKER_URL) these run on a Celery worker and the import page follows their
progress; without one (the demo, the tests) they run in-process when queued. Work is queued only
once the transaction that created the job has committed, so the worker always finds it."""

from __future__ import annotations

from typing import Any

from celery import shared_task
from django.db import transaction

from ucis.customers import imports
from ucis.customers.models import ImportJob


@shared_task(name="customers.import_check")
def import_check_task(job_id: int, apply: bool = False) -> str:
    """The dry run; with ``apply``, the application right after it when the file is clean."""
    job = imports.import_job_check(job_id=job_id)
    if apply and job.status == "checked":
        ImportJob.objects.filter(pk=job_id).update(status="applying", phase="queued")
        job = imports.import_job_apply(job_id=job_id)
    return job.status


@shared_task(name="customers.import_apply")
def import_apply_task(job_id: int) -> str:
    return imports.import_job_apply(job_id=job_id).status


def import_submit(*, actor: Any, content: bytes, filename: str, apply: bool = False) -> ImportJob:
    """Register an upload and queue its dry run (and, with ``apply``, its application if clean)."""
    job = imports.import_job_create(actor=actor, content=content, filename=filename)
    transaction.on_commit(lambda: import_check_task.delay(job.pk, apply))
    return imports.import_job_get(actor=actor, job_id=job.pk)


def import_apply(*, actor: Any, job_id: Any) -> ImportJob:
    """Queue the application of a checked, clean job."""
    job = imports.import_job_apply_start(actor=actor, job_id=job_id)
    transaction.on_commit(lambda: import_apply_task.delay(job.pk))
    return imports.import_job_get(actor=actor, job_id=job.pk)
