"""Staff roles (岗位角色) and the permissions each one grants. Pure data; synced to auth groups.

Each app adds the permissions of its own features to the roles that use them. A permission that
does not exist (yet) in the database is reported by ``ucis sync-roles`` rather than ignored.
"""

from __future__ import annotations

from ucis.kernel.errors import DomainError
from ucis.kernel.errors import gettext_noop as _

COUNTER_CLERK = "counter_clerk"
METER_READER = "meter_reader"
BILLING_CLERK = "billing_clerk"
BILLING_APPROVER = "billing_approver"
HOTLINE_AGENT = "hotline_agent"
DISPATCHER = "dispatcher"
MANAGER = "manager"
ADMINISTRATOR = "administrator"

# (code, English label) — labels are marked for makemessages and translated in the UI.
ROLES: tuple[tuple[str, str], ...] = (
    (COUNTER_CLERK, _("Counter clerk")),
    (METER_READER, _("Meter reader")),
    (BILLING_CLERK, _("Billing clerk")),
    (BILLING_APPROVER, _("Billing approver")),
    (HOTLINE_AGENT, _("Hotline agent")),
    (DISPATCHER, _("Dispatcher")),
    (MANAGER, _("Manager")),
    (ADMINISTRATOR, _("Administrator")),
)

ROLE_CODES: tuple[str, ...] = tuple(code for code, _label in ROLES)

_EVERY_STAFF = ("org.view_orgnode",)
_VIEW_REGISTRY = ("customers.view_customer", "customers.view_account", "customers.view_premise",
                  "customers.view_meter", "customers.view_customerattachment")
_EDIT_REGISTRY = ("customers.add_customer", "customers.change_customer", "customers.add_account",
                  "customers.change_account", "customers.add_premise", "customers.change_premise",
                  "customers.add_meter", "customers.change_meter", "customers.add_customerattachment",
                  "customers.delete_customerattachment")
_VIEW_READS = ("metering.view_route", "metering.view_readcycle", "metering.view_meterread",
               "metering.view_readreview", "metering.view_rereadorder")
_ENTER_READS = _VIEW_READS + ("metering.read_meters",)
_REVIEW_READS = _VIEW_READS + ("metering.review_reads", "metering.view_apportiongroup",
                               "metering.view_specialreadschedule")
_MANAGE_READING = ("metering.manage_routes", "metering.add_specialreadschedule", "metering.add_apportiongroup",
                   "metering.view_mqttdeadletter")
_VIEW_TARIFFS = ("tariffs.view_tariff", "tariffs.view_tariffversion", "tariffs.simulate_bill")
_MANAGE_TARIFFS = _VIEW_TARIFFS + ("tariffs.import_tariff", "tariffs.add_discount", "tariffs.view_discount",
                                   "tariffs.add_standingreduction", "tariffs.add_latefeepolicy")
_VIEW_BILLS = ("billing.view_billrun", "billing.view_bill")
_RUN_BILLS = _VIEW_BILLS + ("billing.calculate_billrun",)
_APPROVE_BILLS = _VIEW_BILLS + ("billing.approve_billrun", "billing.issue_billrun")
_VIEW_LEDGER = ("ledger.view_journalentry", "ledger.view_ledgeraccount", "payments.view_payment")
_COLLECT = _VIEW_LEDGER + ("payments.collect_payment",)
_REQUEST_CORRECTIONS = ("ledger.request_correction", "ledger.view_correctionorder")
_CORRECT_LEDGER = _VIEW_LEDGER + _REQUEST_CORRECTIONS + ("ledger.add_journalentry", "payments.reverse_payment",
                                                         "ledger.approve_correction")
_CLOSE_PERIODS = ("ledger.change_ledgerperiod", "ledger.view_ledgerperiod", "payments.view_settlement",
                  "payments.import_bankfile", "payments.view_bankbatch")
_VIEW_ORDERS = ("service.view_workorder", "service.view_outage")
_WORK_ORDERS = _VIEW_ORDERS + ("service.work_order",)
_TAKE_CALLS = _WORK_ORDERS + ("service.intake_order", "service.visit_order", "service.dispatch_order")
_SUPERVISE_SERVICE = _WORK_ORDERS + ("service.supervise_order", "service.view_service_stats", "service.review_order",
                                     "service.view_complainant", "service.manage_service", "service.dispatch_order",
                                     "service.visit_order")
_EXCHANGE_REGISTRY = ("customers.import_registry", "customers.export_registry", "customers.view_importjob")

PERMISSIONS: dict[str, tuple[str, ...]] = {
    COUNTER_CLERK: _EVERY_STAFF + _VIEW_REGISTRY + _EDIT_REGISTRY + _VIEW_TARIFFS + _COLLECT + (
        "customers.lookup_company",) + _VIEW_ORDERS + ("service.intake_order",),
    METER_READER: _EVERY_STAFF + _VIEW_REGISTRY + _ENTER_READS,
    BILLING_CLERK: _EVERY_STAFF + _VIEW_REGISTRY + _ENTER_READS + _REVIEW_READS + _VIEW_TARIFFS + _RUN_BILLS
    + _VIEW_LEDGER + _REQUEST_CORRECTIONS,
    BILLING_APPROVER: _EVERY_STAFF + _VIEW_REGISTRY + _REVIEW_READS + _VIEW_TARIFFS + _APPROVE_BILLS + _CORRECT_LEDGER,
    HOTLINE_AGENT: _EVERY_STAFF + _VIEW_REGISTRY + _VIEW_LEDGER + ("customers.lookup_company",) + _TAKE_CALLS + (
        "service.view_company_orders", "service.view_complainant"),
    DISPATCHER: _EVERY_STAFF + _VIEW_REGISTRY + ("org.view_user",) + _WORK_ORDERS + ("service.dispatch_order",
                                                                                      "service.review_order"),
    MANAGER: _EVERY_STAFF + _VIEW_REGISTRY + _REVIEW_READS + _MANAGE_READING + _VIEW_TARIFFS + _VIEW_BILLS + _VIEW_LEDGER
    + _CLOSE_PERIODS + ("ledger.approve_correction", "ledger.view_correctionorder") + _SUPERVISE_SERVICE + (
        "org.view_user", "org.view_audit", "org.export_org", "customers.view_sensitive", "customers.export_registry",
        "customers.export_customer"),
    ADMINISTRATOR: _EVERY_STAFF + _VIEW_REGISTRY + _EDIT_REGISTRY + _EXCHANGE_REGISTRY + _ENTER_READS
    + _REVIEW_READS + _MANAGE_READING + _MANAGE_TARIFFS + _RUN_BILLS + _APPROVE_BILLS + _COLLECT + _CORRECT_LEDGER
    + _CLOSE_PERIODS + _TAKE_CALLS + _SUPERVISE_SERVICE + (
        "customers.view_sensitive",) + (
        "customers.export_customer", "customers.view_extrafielddefinition", "customers.add_extrafielddefinition",
        "customers.change_extrafielddefinition",
    ) + (
        "org.add_orgnode", "org.change_orgnode", "org.move_orgnode", "org.add_company",
        "org.view_user", "org.add_user", "org.change_user", "org.view_audit", "org.export_org",
    ),
}


# Knowledge base (SVC-7): the service desk and the counter read it; managers and administrators write it.
_VIEW_KNOWLEDGE = ("knowledge.view_knowledgearticle", "knowledge.view_knowledgecategory")
_EDIT_KNOWLEDGE = _VIEW_KNOWLEDGE + ("knowledge.add_knowledgearticle", "knowledge.change_knowledgearticle",
                                     "knowledge.add_knowledgecategory", "knowledge.change_knowledgecategory")
for _role, _granted in ((HOTLINE_AGENT, _VIEW_KNOWLEDGE), (DISPATCHER, _VIEW_KNOWLEDGE),
                        (COUNTER_CLERK, _VIEW_KNOWLEDGE), (MANAGER, _EDIT_KNOWLEDGE), (ADMINISTRATOR, _EDIT_KNOWLEDGE)):
    PERMISSIONS[_role] += _granted


def permissions_for(roles: list[str] | tuple[str, ...]) -> set[str]:
    """The union of the permissions of ``roles``; unknown role codes are an error."""
    granted: set[str] = set()
    for role in roles:
        if role not in PERMISSIONS:
            raise DomainError("roles", _("unknown role %(role)s; expected one of %(expected)s"), role=role,
                              expected=", ".join(ROLE_CODES))
        granted.update(PERMISSIONS[role])
    return granted


def role_label(code: str) -> str:
    """The English label of a role code (the UI passes it through gettext)."""
    return dict(ROLES).get(code, code)
