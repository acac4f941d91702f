from __future__ import annotations

import pghistory
from django.contrib.auth.models import AbstractUser, UserManager
from django.contrib.postgres.fields import ArrayField
from django.contrib.postgres.indexes import OpClass
from django.db import models
from django.db.models import Q
from django.db.models.functions import Upper
from django.utils.translation import gettext_lazy as _

from ucis.org import tree
from ucis.platform.audit import trackers
from ucis.platform.tenancy import TenantManager, TenantQuerySet

KIND_CHOICES = [
    (tree.GROUP, _("Group")),
    (tree.COMPANY, _("Company")),
    (tree.BRANCH, _("Branch")),
    (tree.STATION, _("Service station")),
    (tree.OFFICE, _("County office")),
    (tree.DEPARTMENT, _("Department")),
]

COMMODITY_CHOICES = [
    ("water", _("Water")),
    ("gas", _("Gas")),
    ("electricity", _("Electricity")),
]


@pghistory.track(*trackers())
class OrgNode(models.Model):
    """A node of the organisation tree (组织机构): group › company › branch › station, any depth.

    ``path`` is the chain of ids from the root (``/1/7/42/``); a subtree is a prefix match.
    ``company`` is the nearest company at or above the node — business data is owned by it."""

    tenancy_node_field = ""

    parent = models.ForeignKey("self", on_delete=models.PROTECT, null=True, blank=True,
                               related_name="children", verbose_name=_("parent"))
    code = models.CharField(_("code"), max_length=32, unique=True)
    name = models.CharField(_("name"), max_length=100)
    name_en = models.CharField(_("English name"), max_length=100, blank=True, default="")
    kind = models.CharField(_("kind"), max_length=16, choices=KIND_CHOICES)
    path = models.CharField(_("path"), max_length=400, unique=True, editable=False)
    depth = models.PositiveSmallIntegerField(_("depth"), default=0, editable=False)
    company = models.ForeignKey("self", on_delete=models.PROTECT, null=True, blank=True,
                                related_name="+", editable=False, verbose_name=_("company"))
    commodities = ArrayField(models.CharField(max_length=16, choices=COMMODITY_CHOICES),
                             default=list, blank=True, verbose_name=_("commodities"))
    address = models.CharField(_("address"), max_length=200, blank=True, default="")
    phone = models.CharField(_("phone"), max_length=40, blank=True, default="")
    is_active = models.BooleanField(_("active"), default=True)
    created_at = models.DateTimeField(_("created at"), auto_now_add=True)
    updated_at = models.DateTimeField(_("updated at"), auto_now=True)

    objects = TenantManager()

    class Meta:
        verbose_name = _("organisation node")
        verbose_name_plural = _("organisation nodes")
        ordering = ["path"]
        permissions = [
            ("move_orgnode", "Can move an organisation node"),
            ("add_company", "Can add a company with its branches"),
            ("view_audit", "Can search the audit trail"),
            ("export_org", "Can export organisation and staff data"),
        ]
        indexes = [models.Index(OpClass("path", name="varchar_pattern_ops"), name="orgnode_path_prefix")]
        constraints = [
            models.CheckConstraint(condition=Q(kind__in=tree.KINDS), name="orgnode_kind_valid"),
            models.CheckConstraint(condition=Q(parent__isnull=True, kind=tree.GROUP)
                                   | Q(parent__isnull=False) & ~Q(kind=tree.GROUP),
                                   name="orgnode_only_group_is_root"),
            models.CheckConstraint(condition=~Q(parent=models.F("id")), name="orgnode_not_own_parent"),
            models.CheckConstraint(condition=Q(code=Upper("code")) & ~Q(code=""), name="orgnode_code_upper"),
            models.CheckConstraint(condition=Q(path__startswith="/") & Q(path__endswith="/"),
                                   name="orgnode_path_shape"),
        ]

    def __str__(self) -> str:
        return f"{self.code} {self.name}"

    def as_ref(self) -> tree.NodeRef:
        return tree.NodeRef(id=self.pk, kind=self.kind, path=self.path)


class UserQuerySet(TenantQuerySet):
    pass


class StaffUserManager(UserManager.from_queryset(UserQuerySet)):  # type: ignore[misc]
    pass


@pghistory.track(*trackers(), exclude=["password", "last_login"])
class User(AbstractUser):
    """A staff member (员工): belongs to one organisation node (NOT NULL) and sees only its subtree.

    ``is_staff`` keeps Django's meaning (may use the Django admin); every user here is staff of
    the utility. Public portal logins are a separate model.

    Roles are auth groups named by role code (see ``ucis.org.roles``)."""

    tenancy_node_field = "node"

    node = models.ForeignKey(OrgNode, on_delete=models.PROTECT, related_name="staff",
                             verbose_name=_("organisation node"))
    display_name = models.CharField(_("display name"), max_length=60, blank=True, default="")
    employee_no = models.CharField(_("employee number"), max_length=32, blank=True, default="")
    phone = models.CharField(_("phone"), max_length=40, blank=True, default="")
    language = models.CharField(_("language"), max_length=10, blank=True, default="")

    objects = StaffUserManager()

    REQUIRED_FIELDS = ["email", "node"]

    class Meta:
        verbose_name = _("staff member")
        verbose_name_plural = _("staff")
        ordering = ["username"]

    def __str__(self) -> str:
        return self.display_name or self.username

    @property
    def role_codes(self) -> list[str]:
        return sorted(g.name for g in self.groups.all())


# Role membership changes are audited too (who granted which role to whom).
pghistory.track(
    pghistory.InsertEvent("role.add"),
    pghistory.DeleteEvent("role.remove"),
    obj_field=None,
    app_label="org",
    model_name="UserRoleEvent",
)(User.groups.through)
