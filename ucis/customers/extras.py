"""Use cases of CUS-4: administrators define extra fields; staff fill them in on customers and
premises; documents (scanned IDs, contracts, photos) are attached to customers.

Kept apart from ``services.py`` (which calls in here when an account is opened); the same rules
apply: keyword-only, transactional, audited, another branch's object is a 404.
"""

from __future__ import annotations

import contextlib
import contextvars
import hashlib
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any

from django.conf import settings
from django.core.files.storage import default_storage
from django.db import IntegrityError, transaction
from django.db.models import F
from django.utils import timezone

from ucis.customers import documents, extrafields, selectors
from ucis.customers.models import Account, Customer, CustomerAttachment, ExtraFieldDefinition, Premise
from ucis.kernel.errors import DomainError
from ucis.kernel.errors import gettext_noop as _
from ucis.org import selectors as org_selectors
from ucis.platform.audit import audit_context
from ucis.platform.permissions import require
from ucis.platform.tenancy import access_by_id, is_system

DEFAULT_ATTACHMENT_MAX_BYTES = 10 * 1024 * 1024


def _company_wide(actor: Any) -> bool:
    return actor.has_perm("customers.lookup_company")


def _user(actor: Any) -> Any:
    return None if is_system(actor) else actor


# --- definitions --------------------------------------------------------------------------------


@dataclass(frozen=True)
class ExtraFieldInput:
    entity: str
    code: str
    label: str
    field_type: str
    required: bool = False
    choices: Sequence[str] = ()
    min_value: str = ""
    max_value: str = ""
    pattern: str = ""
    help_text: str = ""
    display_order: int = 0


def _rule_fields(rule: extrafields.FieldDefinition) -> dict[str, Any]:
    return {"label": rule.label, "required": rule.required, "choices": list(rule.choices),
            "min_value": rule.min_value, "max_value": rule.max_value, "pattern": rule.pattern,
            "help_text": rule.help_text}


def extra_field_define(*, actor: Any, data: ExtraFieldInput, company_id: Any = None) -> ExtraFieldDefinition:
    """Add an extra field to customers or premises: for one company (``company_id``) or, by staff at
    the top of the organisation, for the whole group (``company_id`` None)."""
    require(actor, "customers.add_extrafielddefinition")
    if data.entity not in extrafields.ENTITIES:
        raise DomainError("entity", _("unknown entity %(entity)s; expected one of %(expected)s"),
                          entity=data.entity, expected=", ".join(extrafields.ENTITIES))
    rule = extrafields.validate_definition(extrafields.FieldDefinition(
        code=data.code, label=data.label, field_type=data.field_type, required=data.required,
        choices=tuple(data.choices), min_value=data.min_value, max_value=data.max_value, pattern=data.pattern,
        help_text=data.help_text))
    with transaction.atomic(), audit_context(actor=actor, reason=f"define extra field {rule.code}",
                                             source="service"):
        company = None
        if company_id is not None:
            company = org_selectors.org_node_get(actor=actor, node_id=company_id)
            if company.company_id != company.pk:
                raise DomainError("company_id", _("%(node)s is not a company"), node=company.name)
        elif not is_system(actor) and actor.node.parent_id is not None:
            raise DomainError("company_id", _("fields for the whole group are defined at the top of the "
                                              "organisation; choose your company"))
        try:
            with transaction.atomic():
                return ExtraFieldDefinition.objects.create(
                    entity=data.entity, company=company, code=rule.code, field_type=rule.field_type,
                    display_order=data.display_order, **_rule_fields(rule))
        except IntegrityError as exc:
            raise DomainError("code", _("there is already an extra field %(code)s on this kind of record"),
                              code=rule.code) from exc


_UPDATABLE = ("label", "required", "choices", "min_value", "max_value", "pattern", "help_text", "display_order",
              "is_active")


def extra_field_update(*, actor: Any, extra_field_id: Any, reason: str = "", **changes: Any) -> ExtraFieldDefinition:
    """Change a definition. Its code, type and scope stay: stored values depend on them (define a
    new field instead). Values already stored are kept even if they no longer satisfy new limits;
    they are checked again when next edited."""
    unknown = set(changes) - set(_UPDATABLE)
    if unknown:
        field = sorted(unknown)[0]
        raise DomainError(field, _("cannot be changed once the field is defined; define a new field instead"))
    with transaction.atomic(), audit_context(actor=actor, reason=reason or "change extra field", source="service"):
        definition = access_by_id(ExtraFieldDefinition, actor, extra_field_id, for_update=True)
        require(actor, "customers.change_extrafielddefinition")
        current = definition.as_rule()
        rule_changes = {k: (tuple(v) if k == "choices" else v) for k, v in changes.items()
                        if k not in ("display_order", "is_active") and v is not None}
        rule = extrafields.validate_definition(replace(current, **rule_changes))
        for name, value in _rule_fields(rule).items():
            setattr(definition, name, value)
        if changes.get("display_order") is not None:
            definition.display_order = changes["display_order"]
        if changes.get("is_active") is not None:
            definition.is_active = bool(changes["is_active"])
        definition.save()
    return definition


def extra_field_deactivate(*, actor: Any, extra_field_id: Any, reason: str) -> ExtraFieldDefinition:
    """Retire a field: no longer shown, asked for or exported; stored values stay (and come back if
    the field is made active again)."""
    if not (reason or "").strip():
        raise DomainError("reason", _("say why the field is retired"))
    return extra_field_update(actor=actor, extra_field_id=extra_field_id, is_active=False, reason=reason.strip())


# --- values -------------------------------------------------------------------------------------


def extra_values_clean(*, actor: Any, entity: str, company_ids: Sequence[Any], values: Mapping[str, Any],
                       current: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """``values`` applied to ``current`` under the definitions that apply (required ones enforced)."""
    definitions = selectors.extra_field_definitions(actor=actor, entity=entity, company_ids=company_ids)
    return extrafields.clean_values([d.as_rule() for d in definitions], values, current=current)


def customer_extra_set(*, actor: Any, customer_id: Any, values: Mapping[str, Any], reason: str = "") -> Customer:
    """Set (a blank value clears) the customer's extra values for the fields of the group and of
    the actor's company; all problems are reported at once and nothing changes."""
    with transaction.atomic(), audit_context(actor=actor, reason=reason or "set extra fields", source="service"):
        customer = access_by_id(Customer.objects.all(), actor, customer_id, for_update=True,
                                company_wide=_company_wide(actor))
        require(actor, "customers.change_customer")
        customer.extra = extra_values_clean(actor=actor, entity="customer",
                                            company_ids=selectors.customer_companies(customer=customer),
                                            values=values, current=customer.extra)
        customer.save(update_fields=["extra", "updated_at"])
    return customer


def premise_extra_set(*, actor: Any, premise_id: Any, values: Mapping[str, Any], reason: str = "") -> Premise:
    with transaction.atomic(), audit_context(actor=actor, reason=reason or "set extra fields", source="service"):
        premise = access_by_id(Premise.objects.all(), actor, premise_id, for_update=True,
                               company_wide=_company_wide(actor))
        require(actor, "customers.change_premise")
        premise.extra = extra_values_clean(actor=actor, entity="premise",
                                           company_ids=selectors.premise_companies(premise=premise),
                                           values=values, current=premise.extra)
        premise.save(update_fields=["extra", "updated_at"])
    return premise


# --- attachments --------------------------------------------------------------------------------

# Files written during the outermost attaching block; removed again if that block fails, so a
# refused or rolled-back upload leaves nothing on disk.
_NEW_FILES: contextvars.ContextVar[list[str] | None] = contextvars.ContextVar("ucis_new_files", default=None)


@contextlib.contextmanager
def files_discarded_on_error() -> Iterator[None]:
    """Wrap a transaction that may store files: if it raises, the files it stored are deleted."""
    if _NEW_FILES.get() is not None:
        yield
        return
    created: list[str] = []
    token = _NEW_FILES.set(created)
    try:
        yield
    except BaseException:
        for name in created:
            default_storage.delete(name)
        raise
    finally:
        _NEW_FILES.reset(token)


def attachment_max_bytes() -> int:
    return int(getattr(settings, "UCIS_ATTACHMENT_MAX_BYTES", DEFAULT_ATTACHMENT_MAX_BYTES))


def attachment_add(*, actor: Any, customer_id: Any, kind: str, upload: Any, note: str = "") -> CustomerAttachment:
    """Attach a document. ``upload`` is a Django ``File`` (an uploaded file): its type is decided
    by its content; too big, empty or not a PDF/JPEG/PNG/WebP/TIFF is refused and nothing is kept."""
    note = (note or "").strip()
    with files_discarded_on_error(), transaction.atomic(), audit_context(
            actor=actor, reason=f"attach {kind}", source="service"):
        customer = access_by_id(Customer.objects.all(), actor, customer_id, company_wide=_company_wide(actor))
        require(actor, "customers.add_customerattachment")
        if upload is None:
            raise DomainError("file", _("choose a file"))
        if len(note) > 200:
            raise DomainError("note", _("at most %(max)s characters"), max=200)
        upload.seek(0)
        head = upload.read(documents.SNIFF_BYTES)
        upload.seek(0)
        file_type = documents.check_upload(name=getattr(upload, "name", "") or "", size=upload.size, head=head,
                                           max_bytes=attachment_max_bytes(), kind=kind)
        digest = hashlib.sha256()
        for chunk in upload.chunks():
            digest.update(chunk)
        upload.seek(0)
        node_id = getattr(getattr(actor, "node", None), "pk", None) or (
            Account.objects.filter(customer=customer).order_by("pk").values_list("node_id", flat=True).first())
        attachment = CustomerAttachment(
            customer=customer, node_id=node_id, kind=kind,
            original_name=documents.clean_file_name(getattr(upload, "name", "") or ""),
            content_type=file_type.content_type, size=upload.size, sha256=digest.hexdigest(), note=note,
            uploaded_by=_user(actor))
        attachment.file.save(f"upload{file_type.extension}", upload, save=False)
        created = _NEW_FILES.get()
        assert created is not None
        created.append(attachment.file.name)
        attachment.save()
    return attachment


def attachment_download(*, actor: Any, attachment_id: Any) -> CustomerAttachment:
    """The attachment to send, with the download recorded (an audited update of its counters).
    ID scans need the right to see ID numbers in full."""
    with transaction.atomic(), audit_context(actor=actor, reason="download attachment", source="service"):
        attachment = selectors.attachment_get(actor=actor, attachment_id=attachment_id)
        require(actor, "customers.view_customerattachment")
        if attachment.kind == "id_scan":
            require(actor, "customers.view_sensitive")
        CustomerAttachment.objects.filter(pk=attachment.pk).update(
            downloads=F("downloads") + 1, last_downloaded_at=timezone.now(), last_downloaded_by=_user(actor))
    return attachment


def attachment_delete(*, actor: Any, attachment_id: Any, reason: str) -> CustomerAttachment:
    """Withdraw an attachment (soft delete, with a reason): it disappears from the customer and
    cannot be downloaded; the row, the file and the audit trail stay for the record."""
    reason = (reason or "").strip()
    if not reason:
        raise DomainError("reason", _("say why the attachment is deleted"))
    with transaction.atomic(), audit_context(actor=actor, reason=reason, source="service"):
        attachment = access_by_id(CustomerAttachment.objects.filter(deleted_at__isnull=True), actor, attachment_id,
                                  for_update=True, company_wide=_company_wide(actor))
        require(actor, "customers.delete_customerattachment")
        attachment.deleted_at = timezone.now()
        attachment.deleted_by = _user(actor)
        attachment.delete_reason = reason[:200]
        attachment.save(update_fields=["deleted_at", "deleted_by", "delete_reason"])
    return attachment
