"""Meter reading (抄表): routes in walking order, reading cycles, the reads themselves, the review
queue that gates billing, re-read orders, special reads at tariff changes, and sub-metering groups.

Rules (validation, estimation, apportionment) live in the pure modules beside this one; these
models hold fields and the database constraints that keep the data whole.
"""

from __future__ import annotations

import pghistory
from django.contrib.postgres.fields import ArrayField
from django.db import models
from django.db.models import F, Q
from django.db.models.functions import Now
from django.utils.translation import gettext_lazy as _

from ucis.platform.audit import trackers
from ucis.platform.tenancy import TenantManager

CYCLE_MONTHS = [(1, _("Monthly")), (2, _("Every two months"))]


@pghistory.track(*trackers())
class Route(models.Model):
    """A reading route / book (抄表本): service points in walking order, read by one reader."""

    tenancy_node_field = "node"

    code = models.CharField(_("code"), max_length=32, unique=True)
    name = models.CharField(_("name"), max_length=100)
    company = models.ForeignKey("org.OrgNode", on_delete=models.PROTECT, related_name="+")
    node = models.ForeignKey("org.OrgNode", on_delete=models.PROTECT, related_name="+",
                             verbose_name=_("organisation node"))
    commodity = models.CharField(_("commodity"), max_length=16)
    reader = models.ForeignKey("org.User", on_delete=models.PROTECT, null=True, blank=True, related_name="+",
                               verbose_name=_("reader"))
    cycle_months = models.PositiveSmallIntegerField(_("reading cycle"), choices=CYCLE_MONTHS, default=1)
    # Bi-monthly routes are read in odd (1) or even (0) months.
    cycle_parity = models.PositiveSmallIntegerField(_("cycle month parity"), default=1)
    read_day = models.PositiveSmallIntegerField(_("reading day of month"), default=10)
    active = models.BooleanField(_("active"), default=True)
    created_at = models.DateTimeField(_("created at"), auto_now_add=True)

    objects = TenantManager()

    class Meta:
        verbose_name = _("reading route")
        verbose_name_plural = _("reading routes")
        indexes = [models.Index(fields=["node", "commodity"]), models.Index(fields=["reader"])]
        constraints = [
            models.CheckConstraint(condition=Q(read_day__gte=1, read_day__lte=28), name="route_read_day"),
            models.CheckConstraint(condition=Q(cycle_months__in=[1, 2]), name="route_cycle_months"),
            models.CheckConstraint(condition=Q(cycle_parity__in=[0, 1]), name="route_cycle_parity"),
        ]
        permissions = [("read_meters", "Can enter and import meter reads"),
                       ("review_reads", "Can review meter reads before billing"),
                       ("manage_routes", "Can create, split, merge and reassign routes")]

    def __str__(self) -> str:
        return f"{self.code} {self.name}"


@pghistory.track(*trackers())
class RouteStop(models.Model):
    """A service point's place on a route; a service point is on one route at a time. Tracked, so
    the reason given for assigning, reordering, splitting and merging stays in the history."""

    tenancy_node_field = "route__node"

    route = models.ForeignKey(Route, on_delete=models.CASCADE, related_name="stops")
    service_point = models.OneToOneField("customers.ServicePoint", on_delete=models.PROTECT, related_name="+")
    sequence = models.PositiveIntegerField(_("walking order"))

    objects = TenantManager()

    class Meta:
        verbose_name = _("route stop")
        verbose_name_plural = _("route stops")
        constraints = [models.UniqueConstraint(fields=["route", "sequence"], name="routestop_sequence_unique",
                                               deferrable=models.Deferrable.DEFERRED)]

    def __str__(self) -> str:
        return f"{self.route_id}#{self.sequence}: {self.service_point_id}"


CYCLE_STATUS = [("open", _("Open")), ("closed", _("Closed"))]


class ReadCycle(models.Model):
    """One route's reading for one billing period (抄表周期): the window reads are expected in."""

    tenancy_node_field = "route__node"

    route = models.ForeignKey(Route, on_delete=models.PROTECT, related_name="cycles")
    period = models.DateField(_("billing period"), help_text=_("first day of the month billed"))
    scheduled_date = models.DateField(_("scheduled reading date"))
    window_from = models.DateField(_("window from"))
    window_to = models.DateField(_("window to (exclusive)"))
    status = models.CharField(_("status"), max_length=8, choices=CYCLE_STATUS, default="open")
    created_at = models.DateTimeField(_("created at"), auto_now_add=True)

    objects = TenantManager()

    class Meta:
        verbose_name = _("reading cycle")
        verbose_name_plural = _("reading cycles")
        constraints = [
            models.UniqueConstraint(fields=["route", "period"], name="readcycle_route_period_unique"),
            models.CheckConstraint(condition=Q(window_to__gt=F("window_from")), name="readcycle_window_valid"),
            models.CheckConstraint(condition=Q(period__day=1), name="readcycle_period_month_start"),
        ]

    def __str__(self) -> str:
        return f"{self.route_id} {self.period:%Y-%m}"


READ_SOURCES = [("hand", _("Hand entry")), ("handheld", _("Handheld device")), ("remote", _("Remote read")),
                ("estimate", _("Estimated")), ("derived", _("Derived by days")), ("review", _("Review correction"))]
READ_KINDS = [("actual", _("Actual")), ("estimated", _("Estimated")), ("special", _("Special (tariff change)"))]
READ_STATUS = [("pending", _("Waiting for review")), ("accepted", _("Accepted")), ("rejected", _("Rejected")),
               ("superseded", _("Superseded"))]


@pghistory.track(pghistory.UpdateEvent("update"), pghistory.DeleteEvent("delete"))
class MeterRead(models.Model):
    """A reading of a meter on a date (抄见读数) with the usage it implies and its validation flags.

    Append-only in practice: a correction is a new read that supersedes the old one; only
    ``status`` and the review fields change. Readings and usage are exact to 0.001.
    """

    tenancy_node_field = "node"

    id = models.BigAutoField(primary_key=True)
    # Foreign keys led by a composite index, or never searched by (reads are never deleted), get no
    # index of their own: every index is paid on each of the tens of millions of inserts.
    meter = models.ForeignKey("customers.Meter", on_delete=models.PROTECT, related_name="+", db_index=False)
    service_point = models.ForeignKey("customers.ServicePoint", on_delete=models.PROTECT, related_name="+")
    node = models.ForeignKey("org.OrgNode", on_delete=models.PROTECT, related_name="+")
    cycle = models.ForeignKey(ReadCycle, on_delete=models.PROTECT, null=True, blank=True, related_name="reads",
                              db_index=False)
    read_date = models.DateField(_("read date"))
    reading = models.DecimalField(_("reading"), max_digits=16, decimal_places=3)
    previous_reading = models.DecimalField(_("previous reading"), max_digits=16, decimal_places=3)
    previous_date = models.DateField(_("previous read date"))
    usage = models.DecimalField(_("usage"), max_digits=16, decimal_places=3)
    # Usage to bill beyond ``usage``: the true-up of estimates this actual read replaces (may be < 0).
    carried_usage = models.DecimalField(_("carried usage"), max_digits=16, decimal_places=3, default=0,
                                        db_default=0)
    kind = models.CharField(_("kind"), max_length=10, choices=READ_KINDS, default="actual", db_default="actual")
    source = models.CharField(_("source"), max_length=10, choices=READ_SOURCES)
    status = models.CharField(_("status"), max_length=10, choices=READ_STATUS)
    flags = models.IntegerField(_("flags"), default=0, db_default=0)
    # What the validation found, each as {code, template, params}, translated where shown.
    findings = models.JSONField(_("findings"), null=True, blank=True)
    external_ref = models.CharField(_("external reference"), max_length=120, null=True, blank=True)
    batch_ref = models.CharField(_("batch"), max_length=64, blank=True, default="", db_default="")
    supersedes = models.ForeignKey("self", on_delete=models.PROTECT, null=True, blank=True, related_name="+",
                                   db_index=False)
    created_by = models.ForeignKey("org.User", on_delete=models.PROTECT, null=True, blank=True, related_name="+",
                                   db_index=False)
    created_at = models.DateTimeField(_("created at"), db_default=Now())
    reviewed_by = models.ForeignKey("org.User", on_delete=models.PROTECT, null=True, blank=True, related_name="+",
                                    db_index=False)
    reviewed_at = models.DateTimeField(_("reviewed at"), null=True, blank=True)
    note = models.CharField(_("note"), max_length=200, blank=True, default="", db_default="")

    objects = TenantManager()

    class Meta:
        verbose_name = _("meter read")
        verbose_name_plural = _("meter reads")
        # A meter's reads are found through the live-read unique index below: every lookup by meter
        # is for live reads, and each index is paid on each of the tens of millions of inserts.
        indexes = [models.Index(fields=["cycle", "status"], name="meterread_cycle_status")]
        constraints = [
            # One live read per meter and day: a repeat is a duplicate, a correction supersedes.
            models.UniqueConstraint(fields=["meter", "read_date"],
                                    condition=Q(status__in=["pending", "accepted"]),
                                    name="meterread_one_live_per_day"),
            # A device's message id is stored once, whatever happens to the read later.
            models.UniqueConstraint(fields=["source", "external_ref"], condition=Q(external_ref__isnull=False),
                                    name="meterread_external_ref_unique"),
        ]

    def __str__(self) -> str:
        return f"{self.meter_id} {self.read_date}: {self.reading}"


REVIEW_REASONS = [("flagged", _("Flagged read")), ("no_read", _("No read")), ("new_business", _("New or changed business")),
                  ("bill_corrected", _("Last bill corrected")), ("estimated", _("Estimated read"))]
REVIEW_STATUS = [("open", _("Open")), ("accepted", _("Accepted")), ("corrected", _("Read corrected")),
                 ("reread", _("Re-read requested")), ("estimated", _("Estimated"))]


@pghistory.track(*trackers())
class ReadReview(models.Model):
    """An entry of the forced review queue (强制审核) for one service point and billing period.

    The bill run refuses a period while any of its service points has an open review."""

    tenancy_node_field = "node"

    service_point = models.ForeignKey("customers.ServicePoint", on_delete=models.PROTECT, related_name="+")
    node = models.ForeignKey("org.OrgNode", on_delete=models.PROTECT, related_name="+")
    period = models.DateField(_("billing period"))
    cycle = models.ForeignKey(ReadCycle, on_delete=models.PROTECT, null=True, blank=True, related_name="reviews")
    read = models.ForeignKey(MeterRead, on_delete=models.PROTECT, null=True, blank=True, related_name="+")
    reasons = ArrayField(models.CharField(max_length=16), verbose_name=_("reasons"))
    flags = models.IntegerField(_("flags"), default=0)
    status = models.CharField(_("status"), max_length=10, choices=REVIEW_STATUS, default="open")
    decided_by = models.ForeignKey("org.User", on_delete=models.PROTECT, null=True, blank=True, related_name="+")
    decided_at = models.DateTimeField(_("decided at"), null=True, blank=True)
    note = models.CharField(_("note"), max_length=200, blank=True, default="")
    created_at = models.DateTimeField(_("created at"), auto_now_add=True)

    objects = TenantManager()

    class Meta:
        verbose_name = _("read review")
        verbose_name_plural = _("read reviews")
        indexes = [models.Index(fields=["node", "period", "status"], name="readreview_queue")]
        constraints = [models.UniqueConstraint(fields=["service_point", "period"], name="readreview_one_per_period")]

    def __str__(self) -> str:
        return f"{self.service_point_id} {self.period:%Y-%m} ({self.status})"


REREAD_STATUS = [("open", _("Open")), ("done", _("Done")), ("cancelled", _("Cancelled"))]


@pghistory.track(*trackers())
class RereadOrder(models.Model):
    """A field order to read a meter again (复抄), raised from the review queue."""

    tenancy_node_field = "node"

    service_point = models.ForeignKey("customers.ServicePoint", on_delete=models.PROTECT, related_name="+")
    node = models.ForeignKey("org.OrgNode", on_delete=models.PROTECT, related_name="+")
    review = models.ForeignKey(ReadReview, on_delete=models.PROTECT, null=True, blank=True, related_name="rereads")
    reader = models.ForeignKey("org.User", on_delete=models.PROTECT, null=True, blank=True, related_name="+")
    due_date = models.DateField(_("due date"))
    reason = models.CharField(_("reason"), max_length=200)
    status = models.CharField(_("status"), max_length=10, choices=REREAD_STATUS, default="open")
    read = models.ForeignKey(MeterRead, on_delete=models.PROTECT, null=True, blank=True, related_name="+")
    created_by = models.ForeignKey("org.User", on_delete=models.PROTECT, null=True, blank=True, related_name="+")
    created_at = models.DateTimeField(_("created at"), auto_now_add=True)

    objects = TenantManager()

    class Meta:
        verbose_name = _("re-read order")
        verbose_name_plural = _("re-read orders")
        constraints = [models.UniqueConstraint(fields=["service_point"], condition=Q(status="open"),
                                               name="rereadorder_one_open")]

    def __str__(self) -> str:
        return f"re-read {self.service_point_id} by {self.due_date}"


@pghistory.track(*trackers())
class SpecialReadSchedule(models.Model):
    """Reads on a tariff change date (MTR-5): the affected service points are read (or their usage
    split by days) on ``read_date`` so rating can price usage before and after at each price."""

    tenancy_node_field = "company"

    company = models.ForeignKey("org.OrgNode", on_delete=models.PROTECT, related_name="+")
    commodity = models.CharField(_("commodity"), max_length=16)
    read_date = models.DateField(_("read date"))
    reason = models.CharField(_("reason"), max_length=200)
    created_by = models.ForeignKey("org.User", on_delete=models.PROTECT, null=True, blank=True, related_name="+")
    created_at = models.DateTimeField(_("created at"), auto_now_add=True)
    derived_at = models.DateTimeField(_("derived at"), null=True, blank=True)

    objects = TenantManager()

    class Meta:
        verbose_name = _("special read schedule")
        verbose_name_plural = _("special read schedules")
        constraints = [models.UniqueConstraint(fields=["company", "commodity", "read_date"],
                                               name="specialread_one_per_date")]

    def __str__(self) -> str:
        return f"{self.commodity} {self.read_date}"


class SpecialRead(models.Model):
    """A service point's usage split at a special read date: actual when read that day, else by days."""

    tenancy_node_field = "schedule__company"

    schedule = models.ForeignKey(SpecialReadSchedule, on_delete=models.CASCADE, related_name="points")
    service_point = models.ForeignKey("customers.ServicePoint", on_delete=models.PROTECT, related_name="+")
    read = models.ForeignKey(MeterRead, on_delete=models.PROTECT, null=True, blank=True, related_name="+")
    derived = models.BooleanField(_("derived by days"), default=False)
    reading = models.DecimalField(_("reading on the date"), max_digits=16, decimal_places=3, null=True, blank=True)
    explanation = models.TextField(_("explanation"), blank=True, default="")

    objects = TenantManager()

    class Meta:
        constraints = [models.UniqueConstraint(fields=["schedule", "service_point"], name="specialread_point_unique")]

    def __str__(self) -> str:
        return f"{self.schedule_id}: {self.service_point_id} = {self.reading}"


APPORTION_METHODS = [("usage", _("By usage share")), ("equal", _("Equally")), ("area", _("By floor area"))]


@pghistory.track(*trackers())
class ApportionGroup(models.Model):
    """A master meter and the households behind it (总分表), e.g. a compound's booster pump (二次加压)."""

    tenancy_node_field = "node"

    name = models.CharField(_("name"), max_length=100)
    company = models.ForeignKey("org.OrgNode", on_delete=models.PROTECT, related_name="+")
    node = models.ForeignKey("org.OrgNode", on_delete=models.PROTECT, related_name="+")
    master_service_point = models.ForeignKey("customers.ServicePoint", on_delete=models.PROTECT, related_name="+",
                                             verbose_name=_("master service point"))
    method = models.CharField(_("method"), max_length=8, choices=APPORTION_METHODS)
    line_label = models.CharField(_("bill line label"), max_length=60)
    active = models.BooleanField(_("active"), default=True)

    objects = TenantManager()

    class Meta:
        verbose_name = _("apportionment group")
        verbose_name_plural = _("apportionment groups")

    def __str__(self) -> str:
        return self.name


class ApportionMember(models.Model):
    tenancy_node_field = "group__node"

    group = models.ForeignKey(ApportionGroup, on_delete=models.CASCADE, related_name="members")
    service_point = models.ForeignKey("customers.ServicePoint", on_delete=models.PROTECT, related_name="+")
    account = models.ForeignKey("customers.Account", on_delete=models.PROTECT, related_name="+")
    floor_area = models.DecimalField(_("floor area (m²)"), max_digits=10, decimal_places=2, default=0)

    objects = TenantManager()

    class Meta:
        constraints = [models.UniqueConstraint(fields=["group", "service_point"], name="apportionmember_unique"),
                       models.CheckConstraint(condition=Q(floor_area__gte=0), name="apportionmember_area")]

    def __str__(self) -> str:
        return f"{self.group_id}: {self.service_point_id}"


class ApportionShare(models.Model):
    """One household's share of a master cost for a period: a line on that household's bill."""

    tenancy_node_field = "group__node"

    group = models.ForeignKey(ApportionGroup, on_delete=models.PROTECT, related_name="shares")
    period = models.DateField(_("billing period"))
    account = models.ForeignKey("customers.Account", on_delete=models.PROTECT, related_name="+")
    service_point = models.ForeignKey("customers.ServicePoint", on_delete=models.PROTECT, related_name="+")
    weight = models.DecimalField(_("weight"), max_digits=16, decimal_places=3)
    amount = models.DecimalField(_("amount"), max_digits=14, decimal_places=2)
    master_cost = models.DecimalField(_("master cost"), max_digits=14, decimal_places=2)
    explanation = models.TextField(_("explanation"))
    created_by = models.ForeignKey("org.User", on_delete=models.PROTECT, null=True, blank=True, related_name="+")
    created_at = models.DateTimeField(_("created at"), auto_now_add=True)

    objects = TenantManager()

    class Meta:
        constraints = [models.UniqueConstraint(fields=["group", "period", "service_point"],
                                               name="apportionshare_unique")]

    def __str__(self) -> str:
        return f"{self.group_id} {self.period:%Y-%m} {self.service_point_id}: {self.amount}"


class MqttDeadLetter(models.Model):
    """A remote-read message that could not be stored, with the reason (never retried silently)."""

    topic = models.CharField(_("topic"), max_length=200)
    payload = models.BinaryField(_("payload"))
    reason = models.TextField(_("reason"))
    received_at = models.DateTimeField(_("received at"), db_default=Now())

    class Meta:
        verbose_name = _("dead-letter message")
        verbose_name_plural = _("dead-letter messages")
        indexes = [models.Index(fields=["received_at"])]

    def __str__(self) -> str:
        return f"{self.topic} @ {self.received_at}: {self.reason[:60]}"


