"""ucis handheld-import FILE [--as USERNAME] [--dry-run] [--all-or-nothing]: store the readings of
a returned handheld file (format: docs/handheld-format.md)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError
from django.utils import timezone

from ucis.kernel.errors import DomainError
from ucis.metering import handheld
from ucis.org import selectors as org_selectors
from ucis.platform.tenancy import SYSTEM


def actor_named(username: str | None) -> Any:
    if not username:
        return SYSTEM
    actor = org_selectors.staff_list(actor=SYSTEM).filter(username=username).first()
    if actor is None:
        raise CommandError(f"--as: unknown staff member {username}")
    return actor


class Command(BaseCommand):
    help = ("Store the readings of a returned handheld file (CSV or JSON). Rows without a reading are skipped; "
            "reads stored before are duplicates and write nothing, so importing a file again is harmless. "
            "Prints every bad row (row, column, reason); exit status 1 when there are problems.")

    def add_arguments(self, parser):
        parser.add_argument("file")
        parser.add_argument("--as", dest="username", help="import as this staff member (their area); "
                                                            "default: system")
        parser.add_argument("--dry-run", action="store_true", help="check only, store nothing")
        parser.add_argument("--all-or-nothing", action="store_true",
                            help="store nothing unless every row is clean")

    def handle(self, *args, file, username, dry_run, all_or_nothing, **options):
        path = Path(file)
        if not path.is_file():
            raise CommandError(f"{file}: no such file")
        try:
            report = handheld.sheet_import(actor=actor_named(username), content=path.read_bytes(),
                                           today=timezone.localdate(), all_or_nothing=all_or_nothing,
                                           dry_run=dry_run)
        except DomainError as exc:
            raise CommandError("; ".join(p.reason for p in exc.problems)) from exc
        for p in report.problems:
            self.stdout.write(f"row {p.row}\t{p.column}\t{p.reason}")
        summary = (f"{path.name}: {report.file_format} rows={report.rows} blank={report.blank} "
                   f"stored={report.stored} duplicates={report.duplicates} to_review={report.pending} "
                   f"problems={len(report.problems)} batch={report.batch_ref}")
        if dry_run:
            self.stdout.write(f"{summary} — dry run, nothing was stored")
        elif not report.written:
            self.stdout.write(f"{summary} — all or nothing: nothing was stored")
        else:
            self.stdout.write(self.style.SUCCESS(summary) if not report.problems else summary)
        if report.problems:
            raise SystemExit(1)
