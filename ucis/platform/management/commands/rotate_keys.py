"""``ucis rotate-keys``: re-encrypt every EncryptedTextField value with the current key.

Put the new key first in UCIS_FIELD_KEYS (keep the old ones after it), deploy, run this command,
then remove the old keys. Models are found through the app registry (no business app is
imported); rows are read in primary-key order in batches, each batch locked and rewritten in its
own transaction, and only values not yet under the current key are written — a second run
changes nothing.
"""

from __future__ import annotations

from dataclasses import dataclass

from django.apps import apps
from django.core.management.base import BaseCommand, CommandError
from django.db import models, transaction
from django.db.models import ExpressionWrapper, F, Value

from ucis.platform.crypto import DecryptionError, EncryptedTextField, needs_rotation, rotate


@dataclass
class Counts:
    scanned: int = 0
    rotated: int = 0
    failed: int = 0


def encrypted_models() -> list[tuple[type[models.Model], list[EncryptedTextField]]]:
    """Each concrete model with its own (not inherited) encrypted columns."""
    found = []
    for model in apps.get_models():
        opts = model._meta
        if opts.proxy or opts.swapped:
            continue
        fields = [f for f in opts.local_concrete_fields if isinstance(f, EncryptedTextField)]
        if fields:
            found.append((model, fields))
    return found


def _raw(name: str) -> ExpressionWrapper:
    # A plain-text output field: the column is read as stored (the token), not decrypted.
    return ExpressionWrapper(F(name), output_field=models.TextField())


def rotate_model(model: type[models.Model], fields: list[EncryptedTextField], *, batch: int,
                 dry_run: bool) -> Counts:
    counts = Counts()
    aliases = {f"_ucis_raw_{field.attname}": field for field in fields}
    base = model._base_manager.order_by("pk").annotate(**{a: _raw(f.name) for a, f in aliases.items()})
    last_pk = None
    while True:
        with transaction.atomic(using=base.db):
            qs = base if last_pk is None else base.filter(pk__gt=last_pk)
            if not dry_run:
                qs = qs.select_for_update(of=("self",))
            rows = list(qs.values_list("pk", *aliases)[:batch])
            if not rows:
                return counts
            last_pk = rows[-1][0]
            counts.scanned += len(rows)
            changed: dict[object, dict[str, str]] = {}
            for pk, *tokens in rows:
                for field, token in zip(aliases.values(), tokens, strict=True):
                    if not needs_rotation(token):
                        continue
                    try:
                        new_token = rotate(token)  # in a dry run too: finds undecryptable values
                    except DecryptionError:
                        counts.failed += 1
                        continue
                    changed.setdefault(pk, {})[field.attname] = new_token
            counts.rotated += len(changed)
            if dry_run or not changed:
                continue
            update_fields = sorted({attname for values in changed.values() for attname in values})
            current = {row[0]: dict(zip((f.attname for f in aliases.values()), row[1:], strict=True))
                       for row in rows if row[0] in changed}
            objs = []
            for pk, values in changed.items():
                obj = model(pk=pk)
                for attname in update_fields:
                    # An expression is written as is: the new token, not re-encrypted by the field.
                    setattr(obj, attname, Value(values.get(attname, current[pk][attname]),
                                                output_field=models.TextField()))
                objs.append(obj)
            model._base_manager.using(base.db).bulk_update(objs, update_fields, batch_size=batch)


class Command(BaseCommand):
    help = "Re-encrypt every encrypted field with the current key (the first of UCIS_FIELD_KEYS)."

    def add_arguments(self, parser):
        parser.add_argument("--batch", type=int, default=5000, help="rows per transaction (default 5000)")
        parser.add_argument("--dry-run", action="store_true", help="count the rows to re-encrypt, change nothing")

    def handle(self, *args, batch: int, dry_run: bool, **options):
        if batch < 1:
            raise CommandError("--batch must be at least 1")
        verb = "to re-encrypt" if dry_run else "re-encrypted"
        total = Counts()
        for model, fields in encrypted_models():
            counts = rotate_model(model, fields, batch=batch, dry_run=dry_run)
            total.scanned += counts.scanned
            total.rotated += counts.rotated
            total.failed += counts.failed
            line = f"{model._meta.label}: {counts.rotated} of {counts.scanned} rows {verb}"
            if counts.failed:
                line += f", {counts.failed} values undecryptable"
            self.stdout.write(line)
        self.stdout.write(f"total: {total.rotated} of {total.scanned} rows {verb}")
        if total.failed:
            raise CommandError(f"{total.failed} values could not be decrypted with any key in UCIS_FIELD_KEYS "
                               "(altered, or their key was removed); they were left unchanged")
