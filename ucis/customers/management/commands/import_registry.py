"""ucis import-registry FILE [--dry-run] [--as USERNAME]: import a legacy registry file (CUS-5)."""

from __future__ import annotations

import sys
import time
from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from ucis.customers import imports
from ucis.kernel.errors import DomainError
from ucis.org import selectors as org_selectors
from ucis.platform.progress import ProgressBar
from ucis.platform.tenancy import SYSTEM

PHASES = {"reading": "reading rows", "checking": "checking against the registry", "writing": "writing"}


class Command(BaseCommand):
    help = ("Import customers, premises, accounts and meters from a legacy CSV (UTF-8 or GBK) or .xlsx file "
            "(format: docs/import-format.md). Checks the whole file first and writes nothing unless every row "
            "is clean; rows already imported are left unchanged. Exit status 1 when the file has problems.")

    def add_arguments(self, parser):
        parser.add_argument("file")
        parser.add_argument("--dry-run", action="store_true", help="check only, write nothing")
        parser.add_argument("--as", dest="username", help="import as this staff member (their subtree and "
                                                            "permissions); default: system")

    def handle(self, *args, file, dry_run, username, **options):
        path = Path(file)
        if not path.is_file():
            raise CommandError(f"{file}: no such file")
        actor = SYSTEM
        if username:
            actor = org_selectors.staff_list(actor=SYSTEM).filter(username=username).first()
            if actor is None:
                raise CommandError(f"--as: unknown staff member {username}")
        try:
            imports.import_size_check(path.stat().st_size)
        except DomainError as exc:
            raise CommandError(exc.problems[0].reason) from exc
        content = path.read_bytes()
        bar = ProgressBar(self.stderr._out if hasattr(self.stderr, "_out") else sys.stderr, phases=PHASES)
        step = imports.registry_import_check if dry_run else imports.registry_import_apply
        started = time.perf_counter()
        try:
            report = step(actor=actor, content=content, filename=path.name, progress=bar)
        except DomainError as exc:
            raise CommandError("; ".join(p.reason for p in exc.problems)) from exc
        finally:
            bar.close()
        seconds = time.perf_counter() - started
        for p in report.problems:
            where = f"row {p.row}" if p.row else "file"
            self.stdout.write(f"{where}\t{p.column}\t{p.reason}")
        counts = " ".join(f"{k}={v}" for k, v in report.counts.items())
        summary = f"{path.name}: {report.file_format} {report.encoding} {counts} seconds={seconds:.1f}".replace("  ", " ")
        if report.problems:
            self.stdout.write(f"{summary} problems={len(report.problems)} — nothing was written")
            raise SystemExit(1)
        verb = "checked (dry run, nothing written)" if dry_run else "applied"
        self.stdout.write(self.style.SUCCESS(f"{summary} {verb}"))
