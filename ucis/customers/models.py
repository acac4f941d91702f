"""Customer registry (客户档案): person → account → premise → service point → meter.

Customers and premises are shared group-wide; accounts, service points and meters belong to a
company and a node of the organisation tree, and decide who may see what.
"""

from __future__ import annotations

from pathlib import PurePosixPath
from typing import Any
from uuid import uuid4

import pghistory
from django.contrib.postgres.constraints import ExclusionConstraint
from django.contrib.postgres.fields import ArrayField, RangeOperators
from django.contrib.postgres.indexes import GinIndex, OpClass
from django.db import models
from django.db.models import F, Q
from django.utils import timezone
from django.utils.translation import gettext_lazy as _
from django.utils.translation import pgettext_lazy

from ucis.customers import extrafields
from ucis.platform.audit import trackers
from ucis.platform.crypto import EncryptedTextField
from ucis.platform.dbfuncs import DateRange
from ucis.platform.tenancy import TenantManager, TenantQuerySet, actor_root_path

COMMODITIES = [("water", _("Water")), ("gas", _("Gas")), ("electricity", _("Electricity"))]




def extra_values_field() -> models.JSONField:
    """Values of the admin-defined extra fields (CUS-4), ``{code: value}``. The database default
    lets COPY-based loads leave the column out."""
    return models.JSONField(_("extra fields"), default=dict, blank=True,
                            db_default=models.Value({}, output_field=models.JSONField()))


# --- addresses (CUS-2) ------------------------------------------------------------------------

ADDRESS_LEVELS = [
    ("district", _("District")), ("street", _("Street")), ("community", _("Residential community")),
    ("building", _("Building")), ("unit", pgettext_lazy("address level", "Unit")),
]


@pghistory.track(*trackers())
class AddressArea(models.Model):
    """One coded level of a normalised address: district › street › community (小区) › building › unit."""

    parent = models.ForeignKey("self", on_delete=models.PROTECT, null=True, blank=True, related_name="children")
    level = models.CharField(_("level"), max_length=16, choices=ADDRESS_LEVELS)
    code = models.CharField(_("code"), max_length=40, unique=True)
    name = models.CharField(_("name"), max_length=100)
    path = models.CharField(max_length=300, editable=False)

    class Meta:
        verbose_name = _("address area")
        verbose_name_plural = _("address areas")
        indexes = [models.Index(OpClass("path", name="varchar_pattern_ops"), name="addressarea_path_prefix"),
                   models.Index(fields=["parent", "name"]),
                   models.Index(OpClass("name", name="varchar_pattern_ops"), name="addressarea_name_prefix")]
        constraints = [
            models.CheckConstraint(condition=Q(level__in=[lv for lv, _l in ADDRESS_LEVELS]),
                                   name="addressarea_level_valid"),
            models.CheckConstraint(condition=Q(parent__isnull=True, level="district") | Q(parent__isnull=False)
                                   & ~Q(level="district"), name="addressarea_district_is_top"),
        ]

    def __str__(self) -> str:
        return self.name


# --- customers (CUS-1, CUS-3) -------------------------------------------------------------------

CUSTOMER_TYPES = [
    ("resident", _("Residential")), ("non_resident", _("Non-residential")),
    ("special", _("Special industry")), ("industrial", _("Large industry")),
    ("public", _("Public institution")),
]
CUSTOMER_STATUS = [("active", _("Active")), ("suspended", _("Suspended")), ("closed", _("Closed"))]
ID_TYPES = [("resident_id", _("Resident ID card")), ("uscc", _("Unified social credit code")),
            ("passport", _("Passport")), ("other", _("Other"))]
GRADES = [("A", "A"), ("B", "B"), ("C", "C"), ("D", "D")]
SPECIAL_CATEGORIES = [
    ("large_user", _("Large user")), ("low_income", _("Low-income household")),
    ("disabled", _("Disabled person")), ("government", _("Government")),
    ("hospital", _("Hospital / critical")),
]


@pghistory.track(*trackers())
class Customer(models.Model):
    """A person or organisation (客户), shared by every company of the group."""

    tenancy_node_field = "accounts__node"
    tenancy_through = ("customers.Account", "customer", "node")

    customer_no = models.CharField(_("customer number"), max_length=24, unique=True)
    name = models.CharField(_("name"), max_length=100)
    name_initials = models.CharField(_("pinyin initials"), max_length=100, blank=True, default="")
    customer_type = models.CharField(_("customer type"), max_length=16, choices=CUSTOMER_TYPES)
    grade = models.CharField(_("grade"), max_length=1, choices=GRADES, default="C")
    status = models.CharField(_("status"), max_length=12, choices=CUSTOMER_STATUS, default="active")
    id_type = models.CharField(_("ID document type"), max_length=16, choices=ID_TYPES, blank=True, default="")
    id_number = EncryptedTextField(_("ID number"), blank=True, default="")
    id_number_hash = models.CharField(max_length=64, blank=True, default="")
    phone = EncryptedTextField(_("phone"), blank=True, default="")
    phone_hash = models.CharField(max_length=64, blank=True, default="")
    email = models.EmailField(_("email"), blank=True, default="")
    legacy_ref = models.CharField(_("legacy key"), max_length=64, blank=True, null=True)
    extra = extra_values_field()
    created_at = models.DateTimeField(_("created at"), auto_now_add=True)
    updated_at = models.DateTimeField(_("updated at"), auto_now=True)

    objects = TenantManager()

    class Meta:
        verbose_name = _("customer")
        verbose_name_plural = _("customers")
        permissions = [
            ("lookup_company", "Can find any customer of the own company (cross-site service)"),
            ("view_sensitive", "Can see full ID and phone numbers"),
            ("export_customer", "Can export customer lists"),
        ]
        indexes = [
            models.Index(OpClass("name", name="varchar_pattern_ops"), name="customer_name_prefix"),
            models.Index(OpClass("name_initials", name="varchar_pattern_ops"), name="customer_initials_prefix"),
            # extra @> '{"code": value}' (jsonb_path_ops indexes containment only, and compactly).
            GinIndex(OpClass("extra", name="jsonb_path_ops"), name="customer_extra_gin"),
            # Plain B-trees: hashes and legacy keys are matched exactly, never by prefix, so the
            # varchar_pattern_ops twins Django adds for db_index/unique CharFields are not built.
            models.Index(fields=["phone_hash"], name="customer_phone_hash"),
            models.Index(fields=["id_number_hash"], name="customer_id_number_hash"),
        ]
        constraints = [
            models.CheckConstraint(condition=Q(customer_type__in=[t for t, _l in CUSTOMER_TYPES]),
                                   name="customer_type_valid"),
            models.CheckConstraint(condition=Q(status__in=[s for s, _l in CUSTOMER_STATUS]),
                                   name="customer_status_valid"),
            models.UniqueConstraint(fields=["legacy_ref"], name="customer_legacy_ref_unique"),
        ]

    def __str__(self) -> str:
        return f"{self.customer_no} {self.name}"


@pghistory.track(*trackers())
class CustomerCategory(models.Model):
    """A special category held for a period (CUS-3): large user, 低保户, disabled, government, hospital."""

    customer = models.ForeignKey(Customer, on_delete=models.CASCADE, related_name="categories")
    category = models.CharField(_("category"), max_length=16, choices=SPECIAL_CATEGORIES)
    active_from = models.DateField(_("from"))
    active_to = models.DateField(_("to (exclusive)"), null=True, blank=True)
    note = models.CharField(_("evidence / note"), max_length=200, blank=True, default="")

    class Meta:
        verbose_name = _("special category")
        verbose_name_plural = _("special categories")
        indexes = [models.Index(fields=["category", "customer"])]
        constraints = [
            models.CheckConstraint(condition=Q(active_to__isnull=True) | Q(active_to__gt=F("active_from")),
                                   name="category_range_valid"),
            ExclusionConstraint(name="category_no_overlap", expressions=[
                ("customer", RangeOperators.EQUAL), ("category", RangeOperators.EQUAL),
                (DateRange("active_from", "active_to"), RangeOperators.OVERLAPS)]),
        ]

    def __str__(self) -> str:
        return f"{self.get_category_display()} {self.active_from}"


# --- accounts -----------------------------------------------------------------------------------

PAYMENT_METHODS = [("counter", _("Counter / cash")), ("bank_debit", _("Bank direct debit")),
                   ("wechat", _("WeChat Pay")), ("alipay", _("Alipay")), ("prepaid", _("Prepaid card"))]
DELIVERY_CHANNELS = [("paper", _("Paper (post)")), ("sms", _("SMS")), ("wechat", _("WeChat")),
                     ("email", _("Email"))]
ACCOUNT_STATUS = [("active", _("Active")), ("suspended", _("Suspended")), ("closed", _("Closed"))]


@pghistory.track(*trackers())
class Account(models.Model):
    """A customer's account with one company (户): where bills, payments and balances live."""

    tenancy_node_field = "node"

    account_no = models.CharField(_("account number"), max_length=24, unique=True)
    customer = models.ForeignKey(Customer, on_delete=models.PROTECT, related_name="accounts")
    company = models.ForeignKey("org.OrgNode", on_delete=models.PROTECT, related_name="+")
    node = models.ForeignKey("org.OrgNode", on_delete=models.PROTECT, related_name="+",
                             db_index=False)  # led by the (node, …) index
    billing_premise = models.ForeignKey("Premise", on_delete=models.PROTECT, null=True, blank=True,
                                        related_name="billed_accounts")
    billing_address = models.CharField(_("billing address"), max_length=200, blank=True, default="")
    payment_method = models.CharField(_("payment method"), max_length=16, choices=PAYMENT_METHODS,
                                      default="counter")
    bill_delivery = models.CharField(_("bill delivery"), max_length=16, choices=DELIVERY_CHANNELS, default="sms")
    deposit = models.DecimalField(_("deposit"), max_digits=12, decimal_places=2, default=0)
    # The customer's bank account for direct debit (代扣), encrypted at rest like phone numbers.
    debit_bank_account = EncryptedTextField(_("direct-debit bank account"), blank=True, default="", db_default="")
    status = models.CharField(_("status"), max_length=12, choices=ACCOUNT_STATUS, default="active")
    opened_date = models.DateField(_("opened"))
    closed_date = models.DateField(_("closed"), null=True, blank=True)
    legacy_ref = models.CharField(_("legacy key"), max_length=64, blank=True, null=True)
    created_at = models.DateTimeField(_("created at"), auto_now_add=True)
    updated_at = models.DateTimeField(_("updated at"), auto_now=True)

    objects = TenantManager()

    class Meta:
        verbose_name = _("account")
        verbose_name_plural = _("accounts")
        indexes = [models.Index(fields=["node", "status"])]
        constraints = [
            models.CheckConstraint(condition=Q(deposit__gte=0), name="account_deposit_not_negative"),
            models.CheckConstraint(condition=Q(closed_date__isnull=True) | Q(closed_date__gte=F("opened_date")),
                                   name="account_closed_after_opened"),
            models.UniqueConstraint(fields=["legacy_ref"], name="account_legacy_ref_unique"),
        ]

    def __str__(self) -> str:
        return self.account_no


# --- premises, service points, meters (CUS-2, MTR-1, CUS-6) --------------------------------------


@pghistory.track(*trackers())
class Premise(models.Model):
    """A place supplied (用户地址): a room of a unit/building in a community, with its coded levels."""

    tenancy_node_field = "service_points__node"
    tenancy_through = ("customers.ServicePoint", "premise", "node")

    premise_no = models.CharField(_("premise number"), max_length=32, unique=True)
    area = models.ForeignKey(AddressArea, on_delete=models.PROTECT, related_name="premises")
    district = models.ForeignKey(AddressArea, on_delete=models.PROTECT, related_name="+")
    street = models.ForeignKey(AddressArea, on_delete=models.PROTECT, related_name="+", null=True)
    community = models.ForeignKey(AddressArea, on_delete=models.PROTECT, related_name="+", null=True)
    building = models.ForeignKey(AddressArea, on_delete=models.PROTECT, related_name="+", null=True)
    room = models.CharField(_("room"), max_length=20, blank=True, default="")
    address = models.CharField(_("full address"), max_length=200)
    floor_area = models.DecimalField(_("floor area (m²)"), max_digits=9, decimal_places=2, null=True, blank=True)
    residents = models.PositiveSmallIntegerField(_("residents"), null=True, blank=True)
    legacy_ref = models.CharField(_("legacy key"), max_length=64, blank=True, null=True)
    extra = extra_values_field()
    created_at = models.DateTimeField(_("created at"), auto_now_add=True)
    updated_at = models.DateTimeField(_("updated at"), auto_now=True)

    objects = TenantManager()

    class Meta:
        verbose_name = _("premise")
        verbose_name_plural = _("premises")
        indexes = [GinIndex(OpClass("extra", name="jsonb_path_ops"), name="premise_extra_gin")]
        constraints = [models.UniqueConstraint(fields=["legacy_ref"], name="premise_legacy_ref_unique")]

    def __str__(self) -> str:
        return self.address


@pghistory.track(*trackers())
class ServicePoint(models.Model):
    """Where one commodity is delivered at a premise (供水点/用气点/计量点); owned by a company node."""

    tenancy_node_field = "node"

    premise = models.ForeignKey(Premise, on_delete=models.PROTECT, related_name="service_points")
    commodity = models.CharField(_("commodity"), max_length=16, choices=COMMODITIES)
    company = models.ForeignKey("org.OrgNode", on_delete=models.PROTECT, related_name="+")
    node = models.ForeignKey("org.OrgNode", on_delete=models.PROTECT, related_name="+",
                             db_index=False)  # led by the (node, …) index
    created_at = models.DateTimeField(_("created at"), auto_now_add=True)

    objects = TenantManager()

    class Meta:
        verbose_name = _("service point")
        verbose_name_plural = _("service points")
        indexes = [models.Index(fields=["node", "commodity"])]
        constraints = [models.UniqueConstraint(fields=["premise", "commodity", "company"],
                                               name="servicepoint_one_per_commodity")]

    def __str__(self) -> str:
        return f"{self.get_commodity_display()} @ {self.premise_id}"


@pghistory.track(*trackers())
class ServiceAgreement(models.Model):
    """Account × service point for a period: who pays for what is delivered there (tariff added by rating)."""

    tenancy_node_field = "account__node"

    account = models.ForeignKey(Account, on_delete=models.PROTECT, related_name="agreements")
    service_point = models.ForeignKey(ServicePoint, on_delete=models.PROTECT, related_name="agreements")
    active_from = models.DateField(_("from"))
    active_to = models.DateField(_("to (exclusive)"), null=True, blank=True)

    objects = TenantManager()

    class Meta:
        verbose_name = _("service agreement")
        verbose_name_plural = _("service agreements")
        constraints = [
            models.CheckConstraint(condition=Q(active_to__isnull=True) | Q(active_to__gt=F("active_from")),
                                   name="agreement_range_valid"),
            ExclusionConstraint(name="agreement_one_payer_at_a_time", expressions=[
                ("service_point", RangeOperators.EQUAL),
                (DateRange("active_from", "active_to"), RangeOperators.OVERLAPS)]),
        ]

    def __str__(self) -> str:
        return f"{self.account_id} × {self.service_point_id} from {self.active_from}"


METER_TYPES = [("mechanical", _("Mechanical")), ("ic_prepaid", _("IC-card prepaid")),
               ("smart", _("Smart remote-read"))]
METER_STATUS = [("in_stock", _("In stock")), ("installed", _("Installed")), ("removed", _("Removed")),
                ("scrapped", _("Scrapped"))]


@pghistory.track(*trackers())
class Meter(models.Model):
    """A physical meter (表计): type, serial, dial digits and multiplier decide how reads are read."""

    tenancy_node_field = "node"

    serial = models.CharField(_("serial number"), max_length=40, unique=True)
    commodity = models.CharField(_("commodity"), max_length=16, choices=COMMODITIES)
    meter_type = models.CharField(_("meter type"), max_length=16, choices=METER_TYPES)
    manufacturer = models.CharField(_("manufacturer"), max_length=60, blank=True, default="")
    model = models.CharField(_("model"), max_length=60, blank=True, default="")
    size = models.CharField(_("size"), max_length=16, blank=True, default="")
    dial_digits = models.PositiveSmallIntegerField(_("dial digits"), default=5)
    multiplier = models.DecimalField(_("multiplier"), max_digits=10, decimal_places=2, default=1)
    status = models.CharField(_("status"), max_length=12, choices=METER_STATUS, default="in_stock")
    company = models.ForeignKey("org.OrgNode", on_delete=models.PROTECT, related_name="+")
    node = models.ForeignKey("org.OrgNode", on_delete=models.PROTECT, related_name="+",
                             db_index=False)  # led by the (node, …) index
    legacy_ref = models.CharField(_("legacy key"), max_length=64, blank=True, null=True)
    created_at = models.DateTimeField(_("created at"), auto_now_add=True)
    updated_at = models.DateTimeField(_("updated at"), auto_now=True)
    # The card of an IC-card prepaid meter as the legacy card system knows it (migrated with the meter).
    ic_card_no = models.CharField(_("IC card number"), max_length=32, blank=True, default="", db_default="")

    objects = TenantManager()

    class Meta:
        verbose_name = _("meter")
        verbose_name_plural = _("meters")
        indexes = [models.Index(fields=["node", "status"])]
        constraints = [
            models.CheckConstraint(condition=Q(dial_digits__gte=3, dial_digits__lte=10), name="meter_dial_digits"),
            models.CheckConstraint(condition=Q(multiplier__gt=0), name="meter_multiplier_positive"),
            models.UniqueConstraint(fields=["ic_card_no"], condition=~Q(ic_card_no=""), name="meter_ic_card_unique"),
            models.UniqueConstraint(fields=["legacy_ref"], name="meter_legacy_ref_unique"),
        ]

    def __str__(self) -> str:
        return self.serial


@pghistory.track(*trackers())
class MeterInstallation(models.Model):
    """A meter on a service point from install to removal (装表/拆表), with the readings at both ends."""

    tenancy_node_field = "service_point__node"

    meter = models.ForeignKey(Meter, on_delete=models.PROTECT, related_name="installations")
    # Led by the (service_point, installed_date) index.
    service_point = models.ForeignKey(ServicePoint, on_delete=models.PROTECT, related_name="installations",
                                      db_index=False)
    installed_date = models.DateField(_("installed"))
    install_reading = models.DecimalField(_("reading at install"), max_digits=14, decimal_places=2, default=0)
    removed_date = models.DateField(_("removed"), null=True, blank=True)
    removal_reading = models.DecimalField(_("reading at removal"), max_digits=14, decimal_places=2, null=True,
                                          blank=True)
    reason = models.CharField(_("reason"), max_length=100, blank=True, default="")

    objects = TenantManager()

    class Meta:
        verbose_name = _("meter installation")
        verbose_name_plural = _("meter installations")
        indexes = [models.Index(fields=["service_point", "installed_date"])]
        constraints = [
            models.CheckConstraint(condition=Q(removed_date__isnull=True) | Q(removed_date__gte=F("installed_date")),
                                   name="installation_range_valid"),
            # A meter is on one service point at a time, and a service point has one meter at a time.
            ExclusionConstraint(name="installation_meter_one_place", expressions=[
                ("meter", RangeOperators.EQUAL),
                (DateRange("installed_date", "removed_date"), RangeOperators.OVERLAPS)]),
            ExclusionConstraint(name="installation_point_one_meter", expressions=[
                ("service_point", RangeOperators.EQUAL),
                (DateRange("installed_date", "removed_date"), RangeOperators.OVERLAPS)]),
        ]

    def __str__(self) -> str:
        return f"{self.meter_id} on {self.service_point_id} from {self.installed_date}"


APPLIANCE_KINDS = [("stove", _("Gas stove")), ("water_heater", _("Gas water heater")),
                   ("boiler", _("Wall-hung boiler")), ("oven", _("Oven")), ("other", _("Other"))]


@pghistory.track(*trackers())
class Appliance(models.Model):
    """A gas appliance at a premise (燃气具), for safety inspection (CUS-6)."""

    tenancy_node_field = "premise__service_points__node"

    premise = models.ForeignKey(Premise, on_delete=models.CASCADE, related_name="appliances")
    kind = models.CharField(_("kind"), max_length=16, choices=APPLIANCE_KINDS)
    brand = models.CharField(_("brand"), max_length=60, blank=True, default="")
    model = models.CharField(_("model"), max_length=60, blank=True, default="")
    installed_date = models.DateField(_("installed"), null=True, blank=True)
    last_inspected_date = models.DateField(_("last inspected"), null=True, blank=True)
    is_active = models.BooleanField(_("in use"), default=True)

    objects = TenantManager()

    class Meta:
        verbose_name = _("gas appliance")
        verbose_name_plural = _("gas appliances")


    def __str__(self) -> str:
        return f"{self.get_kind_display()} {self.brand}".strip()


# --- legacy file imports (CUS-5) -----------------------------------------------------------------

IMPORT_STATUS = [("queued", _("Queued")), ("checking", _("Checking")), ("checked", _("Checked: ready to apply")),
                 ("rejected", _("Rejected: fix the file")), ("applying", _("Applying")), ("applied", _("Applied")),
                 ("failed", _("Failed"))]


class ImportJob(models.Model):
    """One uploaded legacy file: its dry-run report, then (when clean) its application, with progress.

    The file itself is kept encrypted only until it is applied or rejected (it holds phone and ID
    numbers); its size and SHA-256 stay as evidence of what was imported."""

    tenancy_node_field = "node"

    created_by = models.ForeignKey("org.User", on_delete=models.PROTECT, null=True, blank=True, related_name="+")
    node = models.ForeignKey("org.OrgNode", on_delete=models.PROTECT, null=True, blank=True, related_name="+")
    created_at = models.DateTimeField(_("created at"), auto_now_add=True)
    finished_at = models.DateTimeField(_("finished at"), null=True, blank=True)
    filename = models.CharField(_("file name"), max_length=200)
    size = models.PositiveBigIntegerField(_("size (bytes)"))
    sha256 = models.CharField(_("SHA-256"), max_length=64)
    content = models.TextField(blank=True, default="")  # Fernet token of the file while it may be applied
    status = models.CharField(_("status"), max_length=12, choices=IMPORT_STATUS, default="queued")
    phase = models.CharField(_("phase"), max_length=40, blank=True, default="")
    total_rows = models.PositiveIntegerField(_("rows"), default=0)
    done_rows = models.PositiveIntegerField(_("rows done"), default=0)
    counts = models.JSONField(_("counts"), default=dict, blank=True)
    report = models.JSONField(_("report"), default=dict, blank=True)

    objects = TenantManager()

    class Meta:
        verbose_name = _("registry import")
        verbose_name_plural = _("registry imports")
        indexes = [models.Index(fields=["node", "-created_at"]), models.Index(fields=["sha256"])]
        permissions = [("import_registry", "Can import legacy registry files"),
                       ("export_registry", "Can export the registry")]

    def __str__(self) -> str:
        return f"{self.filename} ({self.get_status_display()})"

    @property
    def percent(self) -> int:
        return round(100 * self.done_rows / self.total_rows) if self.total_rows else 0

# --- extra fields and attachments (CUS-4) --------------------------------------------------------

EXTRA_ENTITIES = [("customer", _("Customer")), ("premise", _("Premise"))]
EXTRA_FIELD_TYPES = [("text", _("Text")), ("integer", _("Whole number")), ("decimal", _("Decimal number")),
                     ("date", _("Date")), ("boolean", _("Yes / no")), ("choice", _("Choice"))]


class ExtraFieldQuerySet(TenantQuerySet):
    def visible_to(self, actor: Any, *, company_wide: bool = False) -> ExtraFieldQuerySet:
        """Definitions the actor administers: their companies' (staff at the company node or above)
        and, for staff at the top of the tree, the group-wide ones."""
        root = actor_root_path(actor)
        if root is None:
            return self.none()
        if root == "":
            return self
        scope = Q(company__path__startswith=root)
        if actor.node.parent_id is None:
            scope |= Q(company__isnull=True)
        return self.filter(scope)

    def applicable(self, entity: str, company_ids: Any) -> ExtraFieldQuerySet:
        """Active definitions for ``entity`` that apply to rows of these companies (group-wide ones
        apply everywhere), in display order."""
        return (self.filter(entity=entity, is_active=True)
                .filter(Q(company__isnull=True) | Q(company_id__in=list(company_ids)))
                .order_by("display_order", "code"))


@pghistory.track(*trackers())
class ExtraFieldDefinition(models.Model):
    """An extra field an administrator added to customers or premises (CUS-4), for the whole group
    (``company`` empty) or one company. Codes are unique per entity across the group, because the
    values of every company's fields live side by side on the same group-wide customer."""

    tenancy_node_field = "company"

    entity = models.CharField(_("applies to"), max_length=16, choices=EXTRA_ENTITIES)
    company = models.ForeignKey("org.OrgNode", on_delete=models.PROTECT, null=True, blank=True, related_name="+",
                                verbose_name=_("company"))
    code = models.CharField(_("code"), max_length=40)
    label = models.CharField(_("label"), max_length=100)
    field_type = models.CharField(_("type"), max_length=16, choices=EXTRA_FIELD_TYPES)
    required = models.BooleanField(_("required"), default=False)
    choices = ArrayField(models.CharField(max_length=100), default=list, blank=True, verbose_name=_("choices"))
    min_value = models.CharField(_("minimum"), max_length=40, blank=True, default="")
    max_value = models.CharField(_("maximum"), max_length=40, blank=True, default="")
    pattern = models.CharField(_("pattern (regular expression)"), max_length=200, blank=True, default="")
    help_text = models.CharField(_("help text"), max_length=200, blank=True, default="")
    display_order = models.PositiveSmallIntegerField(_("display order"), default=0)
    is_active = models.BooleanField(_("active"), default=True)
    created_at = models.DateTimeField(_("created at"), auto_now_add=True)
    updated_at = models.DateTimeField(_("updated at"), auto_now=True)

    objects = models.Manager.from_queryset(ExtraFieldQuerySet)()

    class Meta:
        verbose_name = _("extra field")
        verbose_name_plural = _("extra fields")
        constraints = [
            models.UniqueConstraint(fields=["entity", "code"], name="extrafield_code_unique"),
            models.CheckConstraint(condition=Q(entity__in=extrafields.ENTITIES), name="extrafield_entity_valid"),
            models.CheckConstraint(condition=Q(field_type__in=extrafields.FIELD_TYPES), name="extrafield_type_valid"),
        ]

    def __str__(self) -> str:
        return f"{self.label} ({self.code})"

    def as_rule(self) -> extrafields.FieldDefinition:
        return extrafields.FieldDefinition(
            code=self.code, label=self.label, field_type=self.field_type, required=self.required,
            choices=tuple(self.choices), min_value=self.min_value, max_value=self.max_value, pattern=self.pattern,
            help_text=self.help_text)


ATTACHMENT_KINDS = [("id_scan", _("ID document scan")), ("contract", _("Contract")), ("photo", _("Photo")),
                    ("other", _("Other"))]


def attachment_path(instance: Any, filename: str) -> str:
    """``attachments/<yyyy>/<mm>/<uuid><ext>``: never the uploader's file name (only its real type's
    extension), so a name can neither collide nor climb out of the directory."""
    today = timezone.localdate()
    return f"attachments/{today:%Y}/{today:%m}/{uuid4().hex}{PurePosixPath(filename).suffix.lower()}"


class AttachmentQuerySet(TenantQuerySet):
    def visible_to(self, actor: Any, *, company_wide: bool = False) -> AttachmentQuerySet:
        """A customer's documents are seen by whoever sees the customer."""
        root = actor_root_path(actor, company_wide=company_wide)
        if root is None:
            return self.none()
        if root == "":
            return self
        return self.filter(customer__in=Customer.objects.visible_to(actor, company_wide=company_wide).values("pk"))


@pghistory.track(*trackers())
class CustomerAttachment(models.Model):
    """A scanned ID, contract or photo attached to a customer (CUS-4). Stored under its own random
    name with its sniffed content type; deleting keeps the file and the row (soft delete, with a
    reason). ``node`` is where it was attached: the audit trail shows its events to that subtree."""

    tenancy_node_field = "node"

    customer = models.ForeignKey(Customer, on_delete=models.PROTECT, related_name="attachments")
    node = models.ForeignKey("org.OrgNode", on_delete=models.PROTECT, related_name="+")
    kind = models.CharField(_("kind"), max_length=16, choices=ATTACHMENT_KINDS)
    original_name = models.CharField(_("file name"), max_length=200)
    content_type = models.CharField(_("content type"), max_length=60)
    size = models.PositiveBigIntegerField(_("size (bytes)"))
    sha256 = models.CharField(_("SHA-256"), max_length=64)
    file = models.FileField(_("file"), upload_to=attachment_path, max_length=200)
    note = models.CharField(_("note"), max_length=200, blank=True, default="")
    uploaded_by = models.ForeignKey("org.User", on_delete=models.SET_NULL, null=True, blank=True, related_name="+")
    uploaded_at = models.DateTimeField(_("uploaded at"), auto_now_add=True)
    downloads = models.PositiveIntegerField(_("downloads"), default=0)
    last_downloaded_at = models.DateTimeField(_("last downloaded"), null=True, blank=True)
    last_downloaded_by = models.ForeignKey("org.User", on_delete=models.SET_NULL, null=True, blank=True,
                                           related_name="+")
    deleted_at = models.DateTimeField(_("deleted at"), null=True, blank=True)
    deleted_by = models.ForeignKey("org.User", on_delete=models.SET_NULL, null=True, blank=True, related_name="+")
    delete_reason = models.CharField(_("reason for deleting"), max_length=200, blank=True, default="")

    objects = models.Manager.from_queryset(AttachmentQuerySet)()

    class Meta:
        verbose_name = _("attachment")
        verbose_name_plural = _("attachments")
        indexes = [models.Index(fields=["customer", "uploaded_at"])]
        constraints = [
            models.CheckConstraint(condition=Q(kind__in=[k for k, _l in ATTACHMENT_KINDS]),
                                   name="attachment_kind_valid"),
            models.CheckConstraint(condition=Q(deleted_at__isnull=True) | ~Q(delete_reason=""),
                                   name="attachment_deleted_with_reason"),
        ]

    def __str__(self) -> str:
        return self.original_name
