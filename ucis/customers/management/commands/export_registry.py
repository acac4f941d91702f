"""ucis export-registry FILE [--format csv|xlsx] [--as USERNAME]: the registry in the import shape."""

from __future__ import annotations

import csv
from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from ucis.customers import exchange, selectors
from ucis.org import selectors as org_selectors
from ucis.platform.tenancy import SYSTEM


class Command(BaseCommand):
    help = ("Export customers, premises, accounts and meters in the import format (docs/import-format.md): "
            "CSV (UTF-8 with BOM, for Excel) or .xlsx. With --as, only that staff member's subtree (numbers "
            "masked unless they may see them).")

    def add_arguments(self, parser):
        parser.add_argument("file")
        parser.add_argument("--format", choices=["csv", "xlsx"], help="default: from the file name")
        parser.add_argument("--as", dest="username")

    def handle(self, *args, file, format, username, **options):
        path = Path(file)
        kind = format or ("xlsx" if path.suffix.lower() == ".xlsx" else "csv")
        actor = SYSTEM
        if username:
            actor = org_selectors.staff_list(actor=SYSTEM).filter(username=username).first()
            if actor is None:
                raise CommandError(f"--as: unknown staff member {username}")
        count = 0

        def counted(rows):
            nonlocal count
            for row in rows:
                count += 1
                yield row

        rows = counted(selectors.registry_export_rows(actor=actor))
        if kind == "xlsx":
            path.write_bytes(exchange.write_xlsx(rows))
        else:
            with path.open("w", encoding="utf-8-sig", newline="") as fh:
                writer = csv.writer(fh)
                writer.writerow(exchange.EXPORT_HEADERS)
                writer.writerows(rows)
        self.stdout.write(self.style.SUCCESS(f"{path}: {count} rows ({kind})"))
