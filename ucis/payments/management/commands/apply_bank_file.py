"""ucis apply-bank-file FILE [--dry-run] [--encoding gbk|utf-8] [--as USERNAME]: apply a bank
collection or debit-return file (docs/bank-files.md) — every problem reported, all or nothing,
a file applied twice posts nothing."""

from __future__ import annotations

from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from ucis.org import selectors as org_selectors
from ucis.payments import bankapply
from ucis.platform.i18n import problem_text
from ucis.platform.tenancy import SYSTEM


class Command(BaseCommand):
    help = "Apply a bank collection / debit-return file: all lines or none; re-applying posts nothing."

    def add_arguments(self, parser):
        parser.add_argument("file")
        parser.add_argument("--dry-run", action="store_true", help="check only")
        parser.add_argument("--encoding", choices=["gbk", "utf-8"], help="the bank's encoding, when known")
        parser.add_argument("--as", dest="username", help="apply as this staff member (default: system)")

    def handle(self, *args, **options):
        actor = SYSTEM
        if options["username"]:
            actor = org_selectors.staff_list(actor=SYSTEM, q=options["username"]).filter(
                username=options["username"]).first()
            if actor is None:
                raise CommandError(f"no staff member {options['username']}")
        out = bankapply.bank_file_apply(actor=actor, data=Path(options["file"]).read_bytes(),
                                        encoding=options["encoding"], dry_run=options["dry_run"])
        for problem in out.problems:
            self.stdout.write(f"{problem.field}: {problem_text(problem)}")
        if out.problems:
            raise CommandError(f"{len(out.problems)} problem(s): nothing applied")
        if out.duplicate_file is not None:
            self.stdout.write(f"this file was applied on {out.duplicate_file.applied_at:%Y-%m-%d %H:%M}: nothing posted")
        self.stdout.write(f"{out.lines} line(s), {out.total} yuan: {out.applied} payment(s) posted, "
                          f"{out.already} posted before, {len(out.failed)} not debited by the bank"
                          + (" (dry run)" if out.dry_run else ""))
