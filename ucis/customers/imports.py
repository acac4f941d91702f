"""Legacy registry imports (CUS-5): dry run, all-or-nothing apply, idempotent re-import.

``registry_import_check`` reads a file (``exchange``) and checks it against the database in one
query per kind of check — never one per row: address codes, units in the actor's subtree that
supply the commodity, keys already imported, serials and IC cards already used, ID numbers of
other customers. ``registry_import_apply`` repeats the check under a lock and, only when the
whole file is clean, writes the new rows with COPY (``registry_bulk_load``) in one transaction.

Keys: a key column holds the legacy system's key (stored as ``legacy_ref``) or a ucis number
(customer / account / premise number), so a file exported from ucis imports back unchanged.
A row whose account is already in the registry with the same values is *unchanged* and writes
nothing; with different values it is a *conflict* naming the columns — changes to imported
records go through the registry's audited change screens, not through a re-import.

``ImportJob`` wraps both steps for the screens, the API and background work (``tasks``): the
upload is kept encrypted until applied or rejected, progress is saved as rows are read.
"""

from __future__ import annotations

import base64
import hashlib
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date
from typing import Any

from django.conf import settings
from django.db import IntegrityError, connection, transaction
from django.utils import timezone

from ucis.customers import exchange
from ucis.customers.exchange import ImportRow, RowProblem
from ucis.customers.models import AddressArea, ImportJob
from ucis.customers.services import RegistryBatch, registry_bulk_load
from ucis.kernel.errors import DomainError
from ucis.kernel.errors import gettext_noop as _
from ucis.org import selectors as org_selectors
from ucis.platform import crypto
from ucis.platform.audit import audit_context
from ucis.platform.permissions import require
from ucis.platform.tenancy import access_by_id, actor_root_path, is_system

Progress = Callable[[str, int, int], None]
_LOCK = 0x5543495349  # pg_advisory_xact_lock key: one import writes at a time


def import_max_bytes() -> int:
    return int(getattr(settings, "UCIS_IMPORT_MAX_BYTES", 64 * 1024 * 1024))


@dataclass
class ImportReport:
    """The outcome of a dry run (or of an apply): every problem, and what would be / was written."""

    filename: str
    total_rows: int
    problems: list[RowProblem]
    counts: dict[str, int]
    encoding: str = ""
    file_format: str = ""
    applied: bool = False
    batch: RegistryBatch | None = field(default=None, repr=False)

    @property
    def clean(self) -> bool:
        return not self.problems

    def as_dict(self) -> dict[str, Any]:
        return {"filename": self.filename, "total_rows": self.total_rows, "encoding": self.encoding,
                "format": self.file_format, "applied": self.applied, "counts": self.counts,
                "problems": [p.as_dict() for p in self.problems]}


def _fetch(sql: str, params: list[Any]) -> list[tuple]:
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        return cursor.fetchall()


def _by_key(records: list[tuple], keys: set[str]) -> dict[str, tuple]:
    """Records matched by legacy key (column 1) first, by ucis number (column 2) otherwise."""
    found: dict[str, tuple] = {}
    for record in records:
        if record[2] in keys:
            found.setdefault(record[2], record)
    for record in records:
        if record[1] in keys:
            found[record[1]] = record
    return found


def _check_against_registry(actor: Any, parsed: exchange.Parsed) -> tuple[list[RowProblem], dict[str, int],
                                                                          RegistryBatch]:
    rows = parsed.rows
    header = parsed.header
    problems: list[RowProblem] = []

    def bad(row: ImportRow, column: str, template: str, **params: Any) -> None:
        problems.append(RowProblem(row.row, header(column), template, params))

    # Units: only the actor's subtree; the company must supply the row's commodity.
    nodes = {n.code: n for n in org_selectors.org_node_list(actor=actor)}
    for row in rows:
        node = nodes.get(row.unit)
        if node is None or node.company_id is None:
            bad(row, "unit", _("unknown unit code %(code)s (or not in your part of the organisation)"), code=row.unit)
        elif row.commodity not in node.company.commodities:
            bad(row, "commodity", _("%(company)s does not supply %(commodity)s"), company=node.company.name,
                commodity=row.commodity)
    areas = set(AddressArea.objects.filter(code__in={r.address_code for r in rows}).values_list("code", flat=True))
    for row in rows:
        if row.address_code not in areas:
            bad(row, "address_code", _("unknown address code %(code)s (load the address book first)"),
                code=row.address_code)

    # Records already in the registry, one query per kind.
    customer_keys = {r.customer_key for r in rows}
    customers = _by_key(_fetch(
        "SELECT id, legacy_ref, customer_no, name, customer_type, id_type, id_number_hash, phone_hash, email, grade "
        "FROM customers_customer WHERE legacy_ref = ANY(%s) OR customer_no = ANY(%s)",
        [list(customer_keys), list(customer_keys)]), customer_keys)
    premise_keys = {r.premise_key for r in rows}
    premises = _by_key(_fetch(
        "SELECT p.id, p.legacy_ref, p.premise_no, p.address, a.code, p.room, p.floor_area, p.residents "
        "FROM customers_premise p JOIN customers_addressarea a ON a.id = p.area_id "
        "WHERE p.legacy_ref = ANY(%s) OR p.premise_no = ANY(%s)", [list(premise_keys), list(premise_keys)]),
        premise_keys)
    supplied = {(premise_id, commodity, company_id) for premise_id, commodity, company_id in _fetch(
        "SELECT premise_id, commodity, company_id FROM customers_servicepoint WHERE premise_id = ANY(%s)",
        [[p[0] for p in premises.values()]])}
    account_keys = {r.account_key for r in rows}
    accounts = _by_key(_fetch(
        "SELECT a.id, a.legacy_ref, a.account_no, c.legacy_ref, c.customer_no, n.code, n.path, p.legacy_ref, "
        "p.premise_no, a.payment_method, a.bill_delivery, a.opened_date FROM customers_account a "
        "JOIN customers_customer c ON c.id = a.customer_id JOIN org_orgnode n ON n.id = a.node_id "
        "LEFT JOIN customers_premise p ON p.id = a.billing_premise_id "
        "WHERE a.legacy_ref = ANY(%s) OR a.account_no = ANY(%s)", [list(account_keys), list(account_keys)]),
        account_keys)
    account_meters: dict[tuple[int, str], tuple] = {}
    for record in _fetch(
            "SELECT ag.account_id, sp.commodity, m.serial, m.meter_type, m.dial_digits, m.multiplier, "
            "m.manufacturer, m.model, i.installed_date, i.install_reading, m.ic_card_no "
            "FROM customers_serviceagreement ag JOIN customers_servicepoint sp ON sp.id = ag.service_point_id "
            "LEFT JOIN customers_meterinstallation i ON i.service_point_id = sp.id AND i.removed_date IS NULL "
            "LEFT JOIN customers_meter m ON m.id = i.meter_id "
            "WHERE ag.account_id = ANY(%s) AND ag.active_to IS NULL", [[a[0] for a in accounts.values()]]):
        account_meters[(record[0], record[1])] = record
    serials = {r.meter_serial for r in rows if r.meter_serial}
    meters = {record[0]: record for record in _fetch(
        "SELECT m.serial, p.legacy_ref, p.premise_no, p.address FROM customers_meter m "
        "LEFT JOIN customers_meterinstallation i ON i.meter_id = m.id AND i.removed_date IS NULL "
        "LEFT JOIN customers_servicepoint sp ON sp.id = i.service_point_id "
        "LEFT JOIN customers_premise p ON p.id = sp.premise_id WHERE m.serial = ANY(%s)", [list(serials)])}
    cards = dict(_fetch("SELECT ic_card_no, serial FROM customers_meter WHERE ic_card_no = ANY(%s)",
                        [[r.ic_card_no for r in rows if r.ic_card_no]]))
    id_hashes = {r.customer_key: crypto.keyed_hash(r.id_number, kind="id_number") for r in rows if r.id_number}
    holders = {h: (cid, ref, no) for cid, ref, no, h in _fetch(
        "SELECT id, legacy_ref, customer_no, id_number_hash FROM customers_customer WHERE id_number_hash = ANY(%s)",
        [list(set(id_hashes.values()))])}

    root = actor_root_path(actor) or ""
    new_rows: list[ImportRow] = []
    unchanged = 0
    for row in rows:
        account = accounts.get(row.account_key)
        customer = customers.get(row.customer_key)
        if customer is not None:
            differs = _customer_differences(row, customer)
            if differs:
                bad(row, differs[0], _("customer %(key)s is already in the registry with other values in "
                                       "%(columns)s; change the customer there, not by re-import"),
                    key=row.customer_key, columns=", ".join(header(c) for c in differs))
        elif row.id_number:
            holder = holders.get(id_hashes[row.customer_key])
            if holder is not None:
                bad(row, "id_number", _("a customer with this ID number is already registered (%(no)s); use "
                                        "that customer's key"), no=holder[1] or holder[2])
        premise = premises.get(row.premise_key)
        if premise is not None:
            differs = [c for c, stored in (("address_code", premise[4]), ("room", premise[5]),
                                           ("floor_area", premise[6]), ("residents", premise[7]))
                       if getattr(row, c) != stored]
            if differs:
                bad(row, differs[0], _("premise %(key)s is already in the registry with other values in "
                                       "%(columns)s; change the premise there, not by re-import"),
                    key=row.premise_key, columns=", ".join(header(c) for c in differs))
        if account is not None:
            if not account[6].startswith(root):
                bad(row, "account_key", _("account key %(key)s is already used by an account outside your part "
                                          "of the organisation"), key=row.account_key)
                continue
            differs = _account_differences(row, account, account_meters.get((account[0], row.commodity)))
            if differs:
                bad(row, differs[0], _("account %(key)s is already in the registry with other values in "
                                       "%(columns)s; change it there (audited), not by re-import"),
                    key=row.account_key, columns=", ".join(header(c) for c in differs))
            else:
                unchanged += 1
            continue
        node = nodes.get(row.unit)
        if premise is not None and node is not None and (premise[0], row.commodity, node.company_id) in supplied:
            bad(row, "premise_key", _("%(commodity)s at premise %(key)s is already on another account of the "
                                      "company; transfer it (过户) in the registry instead"),
                commodity=row.commodity, key=row.premise_key)
        if row.meter_serial in meters:
            stored = meters[row.meter_serial]
            if stored[3] is not None and row.premise_key not in (stored[1], stored[2]):
                bad(row, "meter_serial", _("meter %(serial)s is installed at %(address)s already: a meter is on "
                                           "one premise at a time"), serial=row.meter_serial, address=stored[3])
            else:
                bad(row, "meter_serial", _("meter serial %(serial)s is already registered"), serial=row.meter_serial)
        if row.ic_card_no and cards.get(row.ic_card_no) not in (None, row.meter_serial):
            bad(row, "ic_card_no", _("IC card %(card)s already belongs to meter %(serial)s"), card=row.ic_card_no,
                serial=cards[row.ic_card_no])
        new_rows.append(row)

    batch = _batch(new_rows, customers, premises)
    counts = {"rows": parsed.total_rows, "new": len(new_rows), "unchanged": unchanged,
              "new_customers": len(batch.customers), "new_premises": len(batch.premises),
              "new_accounts": len(batch.accounts), "new_meters": len(batch.meters)}
    return problems, counts, batch


def _customer_differences(row: ImportRow, stored: tuple) -> list[str]:
    _id, _ref, _no, name, ctype, id_type, id_hash, phone_hash, email, grade = stored
    expected = {
        "name": name, "customer_type": ctype, "id_type": id_type, "email": email, "grade": grade,
        "id_number": id_hash, "phone": phone_hash,
    }
    actual = {
        "name": row.name, "customer_type": row.customer_type, "id_type": row.id_type, "email": row.email,
        "grade": row.grade,
        "id_number": crypto.keyed_hash(row.id_number, kind="id_number") if row.id_number else "",
        "phone": crypto.keyed_hash(row.phone, kind="phone") if row.phone else "",
    }
    return [c for c in exchange.CUSTOMER_FIELDS if expected[c] != actual[c]]


def _account_differences(row: ImportRow, stored: tuple, meter: tuple | None) -> list[str]:
    (_id, _ref, _no, customer_ref, customer_no, unit, _path, premise_ref, premise_no, method, delivery,
     opened) = stored
    differs = []
    if row.customer_key not in (customer_ref, customer_no):
        differs.append("customer_key")
    if row.premise_key not in (premise_ref, premise_no):
        differs.append("premise_key")
    for column, value in (("unit", unit), ("payment_method", method), ("bill_delivery", delivery),
                          ("opened_date", opened)):
        if getattr(row, column) != value:
            differs.append(column)
    if meter is None:
        differs.append("commodity")
        return differs
    (_aid, _commodity, serial, mtype, digits, multiplier, maker, model, installed, reading, card) = meter
    if row.meter_serial != (serial or ""):
        differs.append("meter_serial")
    elif serial:
        for column, value in (("meter_type", mtype), ("dial_digits", digits), ("multiplier", multiplier),
                              ("manufacturer", maker), ("model", model), ("installed_date", installed),
                              ("install_reading", reading), ("ic_card_no", card)):
            if getattr(row, column) != value:
                differs.append(column)
    return differs


def _batch(rows: list[ImportRow], customers: dict[str, tuple], premises: dict[str, tuple]) -> RegistryBatch:
    batch = RegistryBatch(areas=[], customers=[], categories=[], premises=[], accounts=[], meters=[], appliances=[],
                          known_customers={k: r[0] for k, r in customers.items()},
                          known_premises={k: (r[0], r[3]) for k, r in premises.items()})
    seen_customers: set[str] = set()
    seen_premises: set[str] = set()
    accounts: dict[str, tuple[ImportRow, list[str]]] = {}
    for row in rows:
        if row.customer_key not in customers and row.customer_key not in seen_customers:
            seen_customers.add(row.customer_key)
            batch.customers.append((row.customer_key, row.name, row.customer_type, row.phone, row.id_type,
                                    row.id_number, row.grade, row.customer_key, row.email))
        if row.premise_key not in premises and row.premise_key not in seen_premises:
            seen_premises.add(row.premise_key)
            batch.premises.append((row.premise_key, row.address_code, row.room, row.floor_area, row.residents,
                                   row.premise_key))
        accounts.setdefault(row.account_key, (row, []))[1].append(row.commodity)
        if row.meter_serial:
            batch.meters.append((row.meter_serial, row.commodity, row.meter_type, row.dial_digits, row.manufacturer,
                                 row.model, row.account_key, row.installed_date, row.install_reading, row.multiplier,
                                 row.ic_card_no))
    for key, (row, commodities) in accounts.items():
        batch.accounts.append((key, row.customer_key, row.unit, row.premise_key, row.payment_method,
                               row.bill_delivery, row.opened_date, tuple(commodities), key))
    return batch


# The last file read by a dry run in this process: applying it right after (the usual flow, and
# always so when tasks run in-process) skips reading 100,000 rows a second time. Reading is a pure
# function of these inputs and the rows are immutable, so a hit is exactly what a re-read gives.
_last_read: dict[tuple[str, str, date, int], exchange.Parsed] = {}


def _parse(content: bytes, filename: str, today: date, progress: Progress | None, *,
           keep: bool = False) -> exchange.Parsed:
    def rows_done(done: int, total: int) -> None:
        if progress:
            progress("reading", done, total)

    key = (hashlib.sha256(content).hexdigest(), filename, today, import_max_bytes())
    parsed = _last_read.pop(key, None)
    if parsed is not None:
        rows_done(parsed.total_rows, parsed.total_rows)
    else:
        parsed = exchange.parse_file(content, filename, today=today, max_bytes=key[3], progress=rows_done)
    _last_read.clear()
    if keep and parsed.rows and not parsed.problems:
        _last_read[key] = parsed
    return parsed


def _report(filename: str, parsed: exchange.Parsed, problems: list[RowProblem], counts: dict[str, int],
            batch: RegistryBatch | None) -> ImportReport:
    problems = sorted(problems, key=lambda p: (p.row, p.column))
    counts = {**counts, "bad_rows": len({p.row for p in problems if p.row})}
    return ImportReport(filename=filename, total_rows=parsed.total_rows, problems=problems, counts=counts,
                        encoding=parsed.encoding, file_format=parsed.file_format, batch=batch)


def registry_import_check(*, actor: Any, content: bytes, filename: str, today: date | None = None,
                          progress: Progress | None = None) -> ImportReport:
    """Dry run: every problem of the file (row, column, reason) and what applying would write."""
    require(actor, "customers.import_registry")
    today = today or timezone.localdate()
    parsed = _parse(content, filename, today, progress, keep=True)
    if not parsed.rows:
        return _report(filename, parsed, parsed.problems, {"rows": parsed.total_rows}, None)
    if progress:
        progress("checking", 0, parsed.total_rows)
    problems, counts, batch = _check_against_registry(actor, parsed)
    return _report(filename, parsed, parsed.problems + problems, counts, batch)


def registry_import_apply(*, actor: Any, content: bytes, filename: str, today: date | None = None,
                          progress: Progress | None = None, on_applied: Callable[[ImportReport], None] | None = None
                          ) -> ImportReport:
    """Check again and, only if the whole file is clean, write its new rows in one transaction.
    Rows already imported unchanged write nothing; any problem writes nothing at all."""
    require(actor, "customers.import_registry")
    require(actor, "customers.add_customer")
    today = today or timezone.localdate()
    parsed = _parse(content, filename, today, progress)
    if not parsed.rows:
        return _report(filename, parsed, parsed.problems, {"rows": parsed.total_rows}, None)
    with transaction.atomic(), audit_context(actor=actor, reason=f"registry import {filename}", source="import"):
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_advisory_xact_lock(%s)", [_LOCK])
        if progress:
            progress("checking", 0, parsed.total_rows)
        problems, counts, batch = _check_against_registry(actor, parsed)
        report = _report(filename, parsed, parsed.problems + problems, counts, batch)
        if not report.clean:
            return report
        if progress:
            progress("writing", 0, counts["new"])
        if batch.accounts:
            try:
                with transaction.atomic():
                    registry_bulk_load(actor=actor, batch=batch, reason=f"registry import {filename}")
            except IntegrityError as exc:
                raise DomainError("file", _("the registry changed while the file was applied (%(detail)s); "
                                            "run the check again"), detail=str(exc).splitlines()[0]) from exc
        report.applied = True
        if on_applied:
            on_applied(report)
        if progress:
            progress("writing", counts["new"], counts["new"])
    return report


# --- jobs: the same two steps for screens, API and background work -----------------------------


def _job_actor(job: ImportJob) -> Any:
    from ucis.platform.tenancy import SYSTEM

    return job.created_by if job.created_by_id else SYSTEM


def import_size_check(size: int) -> None:
    limit = import_max_bytes()
    if size > limit:
        raise DomainError("file", _("the file is %(size)s bytes; at most %(limit)s bytes may be imported at once "
                                    "(split it, or raise UCIS_IMPORT_MAX_BYTES)"), size=size, limit=limit)


def _seal(content: bytes) -> str:
    return crypto.encrypt(base64.b64encode(content).decode("ascii"))


def _unseal(token: str) -> bytes:
    return base64.b64decode(crypto.decrypt(token))


def import_job_create(*, actor: Any, content: bytes, filename: str) -> ImportJob:
    """Register an upload (kept encrypted until applied or rejected); too big a file is refused here."""
    require(actor, "customers.import_registry")
    import_size_check(len(content))
    if not content:
        raise DomainError("file", _("the file is empty"))
    return ImportJob.objects.create(
        created_by=None if is_system(actor) else actor, node=None if is_system(actor) else actor.node,
        filename=(filename or "upload")[-200:], size=len(content), sha256=hashlib.sha256(content).hexdigest(),
        content=_seal(content), status="queued", phase="queued")


def import_job_get(*, actor: Any, job_id: Any) -> ImportJob:
    return access_by_id(ImportJob.objects.select_related("created_by"), actor, job_id)


def import_job_list(*, actor: Any, limit: int = 20) -> list[ImportJob]:
    return list(ImportJob.objects.visible_to(actor).defer("content", "report").order_by("-created_at")[:limit])


def _progress_saver(job: ImportJob) -> Progress:
    """Progress written as it happens: outside a transaction it is committed at once, so the page
    polling the job sees it; inside the apply transaction only the phase boundaries show."""
    def save(phase: str, done: int, total: int) -> None:
        ImportJob.objects.filter(pk=job.pk).update(phase=phase, done_rows=done, total_rows=total)

    return save


def _finish(job: ImportJob, report: ImportReport, status: str, *, keep_file: bool) -> None:
    job.status = status
    job.phase = status
    job.total_rows = report.total_rows
    job.done_rows = report.total_rows
    job.counts = report.counts
    job.report = report.as_dict()
    job.finished_at = timezone.now()
    if not keep_file:
        job.content = ""
    job.save()


def import_job_check(*, job_id: int) -> ImportJob:
    """The dry run of a queued job (run by the task with the job's own actor)."""
    job = ImportJob.objects.select_related("created_by__node").get(pk=job_id)
    ImportJob.objects.filter(pk=job.pk).update(status="checking", phase="reading")
    report = registry_import_check(actor=_job_actor(job), content=_unseal(job.content), filename=job.filename,
                                   progress=_progress_saver(job))
    _finish(job, report, "checked" if report.clean else "rejected", keep_file=report.clean)
    return job


def import_job_apply_start(*, actor: Any, job_id: Any) -> ImportJob:
    """Mark a clean, checked job for applying (the task does the work)."""
    with transaction.atomic():  # the row lock makes a double click apply once
        job = access_by_id(ImportJob, actor, job_id, for_update=True)
        require(actor, "customers.import_registry")
        if job.status != "checked" or not job.content:
            raise DomainError("status", _("only a checked file without problems can be applied (this one is "
                                          "%(status)s)"), status=job.status)
        job.status = "applying"
        job.phase = "queued"
        job.save(update_fields=["status", "phase"])
    return job


def import_job_apply(*, job_id: int) -> ImportJob:
    job = ImportJob.objects.select_related("created_by__node").get(pk=job_id)
    ImportJob.objects.filter(pk=job.pk).update(phase="reading")

    def mark_applied(report: ImportReport) -> None:
        _finish(job, report, "applied", keep_file=False)  # in the same transaction as the rows

    try:
        report = registry_import_apply(actor=_job_actor(job), content=_unseal(job.content), filename=job.filename,
                                       progress=_progress_saver(job), on_applied=mark_applied)
    except DomainError as exc:
        job.refresh_from_db()
        job.status, job.phase, job.finished_at = "failed", "failed", timezone.now()
        job.report = {**job.report, "error": "; ".join(p.reason for p in exc.problems)}
        job.save()
        return job
    if not report.applied:
        _finish(job, report, "rejected", keep_file=False)
    return job
