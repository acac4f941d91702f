"""The 95598 service desk (客服工单): one work-order model for every request, its locks, SLAs,
routing rules, business calendars, supervision (督办) and outages.

A work order belongs to the unit currently responsible for it (``node``, its queue) and is
visible to that unit's subtree; hotline agents and the service centre see their whole company
(``service.view_company_orders``), as counters do for customers (ORG-3).

Locks live in their own table, one row per order (the primary key makes two holders impossible)
and untracked — a heartbeat every half minute is not an audit event; taking, releasing and
breaking a lock are recorded as order events instead.
"""

from __future__ import annotations

from uuid import uuid4

import pghistory
from django.contrib.postgres.constraints import ExclusionConstraint
from django.contrib.postgres.fields import ArrayField, RangeOperators
from django.db import models
from django.db.models import F, Q
from django.utils.translation import gettext_lazy as _
from django.utils.translation import pgettext_lazy

from ucis.platform.audit import trackers
from ucis.platform.crypto import EncryptedTextField
from ucis.platform.dbfuncs import DateRange
from ucis.platform.tenancy import TenantManager

ORDER_TYPES = [
    ("repair", _("Repair / fault")),
    ("complaint", _("Complaint")),
    ("consultation", _("Consultation")),
    ("help", _("Help request")),
    ("bill_inquiry", _("Bill inquiry")),
    ("repair_progress", _("Repair progress inquiry")),
    ("application_progress", _("Application progress inquiry")),
    ("message", _("Customer message")),
    ("appointment", _("Appointment")),
]
CHANNELS = [
    ("hotline", _("Hotline")), ("portal", _("Portal")), ("ivr", _("IVR message")),
    ("walk_in", _("Walk-in")), ("wechat", _("WeChat")),
]
URGENCIES = [("normal", _("Normal")), ("urgent", _("Urgent")), ("emergency", _("Emergency"))]
STATUSES = [
    ("registered", _("Registered")),      # 受理: taken, not yet in a department's queue
    ("dispatched", _("Dispatched")),      # 已派单: waiting in a queue to be accepted
    ("accepted", _("Accepted")),          # 已接单: someone is handling it
    ("replied", _("Replied")),            # 已回单: handled, result/reply recorded
    ("visited", _("Return visit done")),  # 已回访
    ("archived", _("Archived")),          # 已归档
    ("cancelled", _("Cancelled")),
]
OPEN_STATUSES = ("registered", "dispatched", "accepted")
CLOCKS = [("business", _("Business hours")), ("elapsed", _("Elapsed time"))]
COMMODITY_CHOICES = [("water", _("Water")), ("gas", _("Gas")), ("electricity", _("Electricity"))]


@pghistory.track(*trackers())
class WorkOrder(models.Model):
    """A service request (工单): repair, complaint, consultation, inquiry, message or appointment,
    from any channel, with its SLA deadlines, handling, reply, return visit and archive."""

    tenancy_node_field = "node"

    order_no = models.CharField(_("order number"), max_length=32, unique=True)
    company = models.ForeignKey("org.OrgNode", on_delete=models.PROTECT, related_name="+")
    node = models.ForeignKey("org.OrgNode", on_delete=models.PROTECT, related_name="+",
                             verbose_name=_("responsible unit"))
    order_type = models.CharField(_("type"), max_length=24, choices=ORDER_TYPES)
    channel = models.CharField(_("channel"), max_length=12, choices=CHANNELS)
    urgency = models.CharField(_("urgency"), max_length=12, choices=URGENCIES, default="normal")
    status = models.CharField(_("status"), max_length=12, choices=STATUSES, default="registered")
    subject = models.CharField(_("subject"), max_length=100)
    description = models.TextField(_("description"), blank=True, default="")
    caller_name = models.CharField(_("caller"), max_length=60, blank=True, default="")
    caller_phone = EncryptedTextField(_("caller phone"), blank=True, default="")
    caller_phone_hash = models.CharField(max_length=64, blank=True, default="")
    # A complainant's contact is shown only to the service centre (SVC-6 / S5).
    contact_private = models.BooleanField(_("contact kept private"), default=False)
    customer = models.ForeignKey("customers.Customer", on_delete=models.PROTECT, null=True, blank=True,
                                 related_name="+")
    account = models.ForeignKey("customers.Account", on_delete=models.PROTECT, null=True, blank=True,
                                related_name="+")
    premise = models.ForeignKey("customers.Premise", on_delete=models.PROTECT, null=True, blank=True,
                                related_name="+")
    commodity = models.CharField(_("commodity"), max_length=16, choices=COMMODITY_CHOICES, blank=True, default="")
    location = models.CharField(_("location"), max_length=200, blank=True, default="")
    landmark = models.CharField(_("landmark"), max_length=100, blank=True, default="")
    requested_at = models.DateTimeField(_("requested appointment"), null=True, blank=True)
    skill = models.CharField(_("skill"), max_length=32, blank=True, default="")
    routing_note = models.CharField(_("routing"), max_length=300, blank=True, default="")
    assignee = models.ForeignKey("org.User", on_delete=models.PROTECT, null=True, blank=True, related_name="+",
                                 verbose_name=_("handled by"))
    external_ref = models.CharField(_("external reference"), max_length=64, blank=True, default="")
    repeat_of = models.ForeignKey("self", on_delete=models.PROTECT, null=True, blank=True, related_name="repeats",
                                  verbose_name=_("repeat of"))
    # SLA: deadlines computed at intake by the business clock (ucis.service.sla).
    clock = models.CharField(_("SLA clock"), max_length=10, choices=CLOCKS, default="business")
    accept_due_at = models.DateTimeField(_("accept by"), null=True, blank=True)
    complete_due_at = models.DateTimeField(_("complete by"), null=True, blank=True)
    sla_note = models.CharField(_("SLA"), max_length=300, blank=True, default="")
    accepted_at = models.DateTimeField(_("accepted at"), null=True, blank=True)
    done_at = models.DateTimeField(_("completed at"), null=True, blank=True)
    escalation_level = models.PositiveSmallIntegerField(_("supervision level"), default=0)
    escalation_next_at = models.DateTimeField(null=True, blank=True)
    # Handling, reply, return visit (回访), archive, leader review.
    feedback = models.TextField(_("handling result"), blank=True, default="")
    reply = models.TextField(_("reply to the customer"), blank=True, default="")
    visited_at = models.DateTimeField(_("return visit at"), null=True, blank=True)
    visited_by = models.ForeignKey("org.User", on_delete=models.PROTECT, null=True, blank=True, related_name="+")
    satisfaction = models.PositiveSmallIntegerField(_("satisfaction (1–5)"), null=True, blank=True)
    visit_note = models.CharField(_("return visit note"), max_length=300, blank=True, default="")
    archived_at = models.DateTimeField(_("archived at"), null=True, blank=True)
    reviewed_at = models.DateTimeField(_("reviewed at"), null=True, blank=True)
    reviewed_by = models.ForeignKey("org.User", on_delete=models.PROTECT, null=True, blank=True, related_name="+")
    review_note = models.CharField(_("review note"), max_length=300, blank=True, default="")
    created_by = models.ForeignKey("org.User", on_delete=models.PROTECT, null=True, blank=True, related_name="+")
    created_at = models.DateTimeField(_("created at"), db_index=True)
    updated_at = models.DateTimeField(_("updated at"), auto_now=True)

    objects = TenantManager()

    class Meta:
        verbose_name = _("work order")
        verbose_name_plural = _("work orders")
        permissions = [
            ("intake_order", "Can take requests as work orders"),
            ("work_order", "Can accept and handle work orders"),
            ("dispatch_order", "Can dispatch work orders to queues"),
            ("supervise_order", "Can supervise work orders and break locks"),
            ("view_company_orders", "Can see every work order of the own company"),
            ("view_complainant", "Can see a complainant's contact"),
            ("visit_order", "Can make return visits and archive"),
            ("review_order", "Can review archived repair orders"),
            ("manage_service", "Can manage routing rules, SLAs, calendars and outages"),
            ("view_service_stats", "Can see service statistics"),
        ]
        indexes = [
            models.Index(fields=["node", "status"]),
            models.Index(fields=["company", "status", "complete_due_at"]),
            models.Index(fields=["customer", "created_at"]),
            models.Index(fields=["caller_phone_hash", "created_at"]),
            models.Index(fields=["premise", "order_type", "created_at"]),
            models.Index(fields=["assignee", "status"]),
            models.Index(fields=["escalation_next_at"], condition=Q(escalation_next_at__isnull=False),
                         name="workorder_escalation_due"),
        ]
        constraints = [
            models.CheckConstraint(condition=Q(order_type__in=[t for t, _l in ORDER_TYPES]), name="workorder_type_valid"),
            models.CheckConstraint(condition=Q(channel__in=[c for c, _l in CHANNELS]), name="workorder_channel_valid"),
            models.CheckConstraint(condition=Q(urgency__in=[u for u, _l in URGENCIES]), name="workorder_urgency_valid"),
            models.CheckConstraint(condition=Q(status__in=[s for s, _l in STATUSES]), name="workorder_status_valid"),
            models.CheckConstraint(condition=Q(satisfaction__isnull=True) | Q(satisfaction__gte=1, satisfaction__lte=5),
                                   name="workorder_satisfaction_range"),
            models.CheckConstraint(condition=~Q(status__in=("replied", "visited", "archived")) | Q(done_at__isnull=False),
                                   name="workorder_done_when_replied"),
            models.CheckConstraint(condition=~Q(status="archived") | Q(archived_at__isnull=False),
                                   name="workorder_archived_at"),
            models.UniqueConstraint(fields=["channel", "external_ref"], condition=~Q(external_ref=""),
                                    name="workorder_external_ref_once"),
        ]

    def __str__(self) -> str:
        return self.order_no

    @property
    def is_open(self) -> bool:
        return self.status in OPEN_STATUSES


class WorkOrderLock(models.Model):
    """Who is working an order (锁定). One row per order — the primary key is the order — so the
    database cannot hold two locks on one order; a lock whose ``seen_at`` is older than the idle
    limit has expired and may be taken over."""

    tenancy_node_field = "order__node"

    order = models.OneToOneField(WorkOrder, on_delete=models.CASCADE, primary_key=True, related_name="lock")
    holder = models.ForeignKey("org.User", on_delete=models.CASCADE, related_name="+")
    acquired_at = models.DateTimeField()
    seen_at = models.DateTimeField()

    objects = TenantManager()

    class Meta:
        verbose_name = _("work-order lock")
        verbose_name_plural = _("work-order locks")
        indexes = [models.Index(fields=["holder"])]

    def __str__(self) -> str:
        return f"{self.order_id} locked by {self.holder_id}"


class WorkOrderDraft(models.Model):
    """What a lock holder has typed but not submitted, saved by the heartbeat: an expired or broken
    lock never loses it; the holder finds it again when they come back to the order."""

    order = models.ForeignKey(WorkOrder, on_delete=models.CASCADE, related_name="+")
    user = models.ForeignKey("org.User", on_delete=models.CASCADE, related_name="+")
    data = models.JSONField(default=dict)
    saved_at = models.DateTimeField()

    class Meta:
        constraints = [models.UniqueConstraint(fields=["order", "user"], name="workorderdraft_one_per_user")]

    def __str__(self) -> str:
        return f"draft {self.order_id}/{self.user_id}"


EVENT_KINDS = [
    ("created", _("Registered")), ("routed", _("Routed")), ("dispatched", _("Dispatched")),
    ("accepted", _("Accepted")), ("forwarded", _("Forwarded to experts")), ("replied", _("Replied")),
    ("visited", _("Return visit")), ("archived", _("Archived")), ("reviewed", _("Leader review")),
    ("cancelled", _("Cancelled")), ("escalated", _("Supervised")), ("locked", _("Locked")),
    ("unlocked", _("Unlocked")), ("lock_broken", _("Lock broken")), ("lock_expired", _("Lock taken over")),
    ("note", _("Note")), ("attachment", _("Attachment")), ("linked", _("Linked to a repeated fault")),
]


class WorkOrderActivity(models.Model):
    """The order's timeline: every step, who took it, when, and what was said. Append-only."""

    tenancy_node_field = "order__node"

    order = models.ForeignKey(WorkOrder, on_delete=models.CASCADE, related_name="activities")
    kind = models.CharField(_("event"), max_length=16, choices=EVENT_KINDS)
    actor = models.ForeignKey("org.User", on_delete=models.PROTECT, null=True, blank=True, related_name="+")
    at = models.DateTimeField(_("at"))
    from_status = models.CharField(max_length=12, blank=True, default="")
    to_status = models.CharField(max_length=12, blank=True, default="")
    node = models.ForeignKey("org.OrgNode", on_delete=models.PROTECT, null=True, blank=True, related_name="+")
    note = models.TextField(_("note"), blank=True, default="")

    objects = TenantManager()

    class Meta:
        verbose_name = _("work-order event")
        verbose_name_plural = _("work-order events")
        indexes = [models.Index(fields=["order", "at"])]

    def __str__(self) -> str:
        return f"{self.order_id} {self.kind} {self.at:%Y-%m-%d %H:%M}"


def order_attachment_path(instance: WorkOrderAttachment, filename: str) -> str:
    return f"orders/{instance.order_id}/{uuid4().hex}{instance.extension}"


class WorkOrderAttachment(models.Model):
    """A photo or document on an order (site photos with the repair feedback), type checked by content."""

    tenancy_node_field = "order__node"

    order = models.ForeignKey(WorkOrder, on_delete=models.PROTECT, related_name="attachments")
    original_name = models.CharField(_("file name"), max_length=200)
    content_type = models.CharField(_("content type"), max_length=60)
    extension = models.CharField(max_length=8)
    size = models.PositiveBigIntegerField(_("size (bytes)"))
    sha256 = models.CharField(_("SHA-256"), max_length=64)
    file = models.FileField(_("file"), upload_to=order_attachment_path, max_length=200)
    uploaded_by = models.ForeignKey("org.User", on_delete=models.PROTECT, null=True, blank=True, related_name="+")
    uploaded_at = models.DateTimeField(_("uploaded at"))

    objects = TenantManager()

    class Meta:
        verbose_name = _("work-order attachment")
        verbose_name_plural = _("work-order attachments")

    def __str__(self) -> str:
        return self.original_name


@pghistory.track(*trackers())
class Supervision(models.Model):
    """A supervision notice (督办单): an order about to miss (or missing) its SLA, raised to the
    next level of the tree — the queue's unit, then its parent, then the company."""

    tenancy_node_field = "node"

    order = models.ForeignKey(WorkOrder, on_delete=models.CASCADE, related_name="supervisions")
    level = models.PositiveSmallIntegerField(_("level"))
    node = models.ForeignKey("org.OrgNode", on_delete=models.PROTECT, related_name="+", verbose_name=_("raised to"))
    reason = models.CharField(_("reason"), max_length=300)
    raised_at = models.DateTimeField(_("raised at"))
    acknowledged_at = models.DateTimeField(_("acknowledged at"), null=True, blank=True)
    acknowledged_by = models.ForeignKey("org.User", on_delete=models.PROTECT, null=True, blank=True, related_name="+")

    objects = TenantManager()

    class Meta:
        verbose_name = _("supervision notice")
        verbose_name_plural = _("supervision notices")
        constraints = [models.UniqueConstraint(fields=["order", "level"], name="supervision_once_per_level")]

    def __str__(self) -> str:
        return f"{self.order_id} L{self.level}"


class OrderCounter(models.Model):
    """The last order number given out per company and day (numbers are company code + date + serial)."""

    company = models.ForeignKey("org.OrgNode", on_delete=models.CASCADE, related_name="+")
    day = models.DateField()
    last = models.PositiveIntegerField(default=0)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["company", "day"], name="ordercounter_unique")]

    def __str__(self) -> str:
        return f"{self.company_id} {self.day}: {self.last}"


# --- configuration: SLAs, routing, skills, calendars (data, per company) ------------------------


@pghistory.track(*trackers())
class SlaRule(models.Model):
    """How long an order type (and urgency) may take: accept within, complete within, on which
    clock — business hours of the company calendar, or elapsed time (repairs run round the clock)."""

    tenancy_node_field = "company"

    company = models.ForeignKey("org.OrgNode", on_delete=models.PROTECT, related_name="+")
    order_type = models.CharField(_("type"), max_length=24, choices=ORDER_TYPES)
    urgency = models.CharField(_("urgency"), max_length=12, choices=URGENCIES, blank=True, default="",
                               help_text=_("blank: any urgency"))
    clock = models.CharField(_("clock"), max_length=10, choices=CLOCKS, default="business")
    accept_minutes = models.PositiveIntegerField(_("accept within (minutes)"))
    complete_minutes = models.PositiveIntegerField(_("complete within (minutes)"))

    objects = TenantManager()

    class Meta:
        verbose_name = _("SLA rule")
        verbose_name_plural = _("SLA rules")
        constraints = [
            models.UniqueConstraint(fields=["company", "order_type", "urgency"], name="slarule_unique"),
            models.CheckConstraint(condition=Q(complete_minutes__gte=F("accept_minutes")),
                                   name="slarule_complete_after_accept"),
        ]

    def __str__(self) -> str:
        return f"{self.order_type}/{self.urgency or '*'}: {self.accept_minutes}/{self.complete_minutes} min"


@pghistory.track(*trackers())
class RoutingRule(models.Model):
    """Where an order goes (派单规则): the first active rule (lowest priority number) whose order
    types, commodity and address area match sends it to ``target``'s queue, needing ``skill``."""

    tenancy_node_field = "company"

    company = models.ForeignKey("org.OrgNode", on_delete=models.PROTECT, related_name="+")
    name = models.CharField(_("name"), max_length=100)
    priority = models.PositiveIntegerField(_("priority"), default=100)
    order_types = ArrayField(models.CharField(max_length=24, choices=ORDER_TYPES), default=list, blank=True,
                             verbose_name=_("order types"), help_text=_("empty: every type"))
    commodity = models.CharField(_("commodity"), max_length=16, choices=COMMODITY_CHOICES, blank=True, default="")
    area = models.ForeignKey("customers.AddressArea", on_delete=models.PROTECT, null=True, blank=True,
                             related_name="+", verbose_name=_("address area"))
    skill = models.CharField(_("skill"), max_length=32, blank=True, default="")
    target = models.ForeignKey("org.OrgNode", on_delete=models.PROTECT, related_name="+", verbose_name=_("queue"))
    is_active = models.BooleanField(_("active"), default=True)

    objects = TenantManager()

    class Meta:
        verbose_name = _("routing rule")
        verbose_name_plural = _("routing rules")
        ordering = ["company", "priority", "pk"]

    def __str__(self) -> str:
        return self.name


class StaffSkill(models.Model):
    """A skill a staff member has (e.g. ``gas_leak``, ``billing``, ``expert_water``): queue orders
    that need a skill are offered only to staff who have it."""

    tenancy_node_field = "user__node"

    user = models.ForeignKey("org.User", on_delete=models.CASCADE, related_name="service_skills")
    skill = models.CharField(_("skill"), max_length=32)

    objects = TenantManager()

    class Meta:
        constraints = [models.UniqueConstraint(fields=["user", "skill"], name="staffskill_unique")]

    def __str__(self) -> str:
        return f"{self.user_id}: {self.skill}"


@pghistory.track(*trackers())
class ServiceCalendar(models.Model):
    """A company's working hours for the SLA business clock: windows per weekday, e.g.
    ``[[0, "08:30", "12:00"], [0, "13:30", "17:30"], …]``; holidays and make-up days below."""

    tenancy_node_field = "company"

    company = models.OneToOneField("org.OrgNode", on_delete=models.PROTECT, related_name="+")
    time_zone = models.CharField(_("time zone"), max_length=40, default="Asia/Shanghai")
    windows = models.JSONField(_("working hours"), default=list)
    makeup_weekday = models.PositiveSmallIntegerField(_("make-up days work like weekday"), default=0)

    objects = TenantManager()

    class Meta:
        verbose_name = _("service calendar")
        verbose_name_plural = _("service calendars")

    def __str__(self) -> str:
        return f"calendar {self.company_id}"


@pghistory.track(*trackers())
class CalendarHoliday(models.Model):
    """Public holidays [date_from, date_to): no business time. Overlaps are refused (also by the database)."""

    tenancy_node_field = "calendar__company"

    calendar = models.ForeignKey(ServiceCalendar, on_delete=models.CASCADE, related_name="holidays")
    name = models.CharField(_("name"), max_length=60)
    date_from = models.DateField(_("from"))
    date_to = models.DateField(_("to (exclusive)"))

    objects = TenantManager()

    class Meta:
        verbose_name = _("holiday")
        verbose_name_plural = _("holidays")
        ordering = ["date_from"]
        constraints = [
            models.CheckConstraint(condition=Q(date_to__gt=F("date_from")), name="holiday_range_valid"),
            ExclusionConstraint(name="holiday_no_overlap", expressions=[
                ("calendar", RangeOperators.EQUAL), (DateRange("date_from", "date_to"), RangeOperators.OVERLAPS)]),
        ]

    def __str__(self) -> str:
        return f"{self.name} {self.date_from}"


@pghistory.track(*trackers())
class CalendarMakeupDay(models.Model):
    """A weekend day worked in exchange for a holiday (调休)."""

    tenancy_node_field = "calendar__company"

    calendar = models.ForeignKey(ServiceCalendar, on_delete=models.CASCADE, related_name="makeup_days")
    day = models.DateField(_("day"))

    objects = TenantManager()

    class Meta:
        verbose_name = _("make-up working day")
        verbose_name_plural = _("make-up working days")
        constraints = [models.UniqueConstraint(fields=["calendar", "day"], name="makeupday_unique")]

    def __str__(self) -> str:
        return str(self.day)


OUTAGE_KINDS = [("planned", _("Planned")), ("unplanned", _("Unplanned (fault)"))]


@pghistory.track(*trackers())
class Outage(models.Model):
    """A supply interruption (停水/停电/停气) over address areas and a time range; the agent screen
    shows the ones affecting the caller's address."""

    tenancy_node_field = "node"

    company = models.ForeignKey("org.OrgNode", on_delete=models.PROTECT, related_name="+")
    node = models.ForeignKey("org.OrgNode", on_delete=models.PROTECT, related_name="+")
    commodity = models.CharField(_("commodity"), max_length=16, choices=COMMODITY_CHOICES)
    kind = models.CharField(pgettext_lazy("outage", "kind"), max_length=10, choices=OUTAGE_KINDS)
    starts_at = models.DateTimeField(_("starts"))
    ends_at = models.DateTimeField(_("expected end"))
    reason = models.CharField(_("reason"), max_length=200)
    areas = models.ManyToManyField("customers.AddressArea", related_name="+", verbose_name=_("areas"))
    # Area paths, copied for an index-only match against a premise's path prefixes.
    area_paths = ArrayField(models.CharField(max_length=300), default=list, editable=False)
    created_by = models.ForeignKey("org.User", on_delete=models.PROTECT, null=True, blank=True, related_name="+")
    created_at = models.DateTimeField(_("created at"), auto_now_add=True)

    objects = TenantManager()

    class Meta:
        verbose_name = _("outage")
        verbose_name_plural = _("outages")
        indexes = [models.Index(fields=["company", "ends_at"])]
        constraints = [models.CheckConstraint(condition=Q(ends_at__gt=F("starts_at")), name="outage_range_valid")]

    def __str__(self) -> str:
        return f"{self.commodity} {self.starts_at:%Y-%m-%d %H:%M} {self.reason}"
