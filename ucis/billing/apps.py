from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class BillingConfig(AppConfig):
    name = "ucis.billing"
    label = "billing"
    verbose_name = _("Billing")
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from ucis.platform.tenancy import register_id_kwarg

        register_id_kwarg("run_id", "billing.BillRun")
        register_id_kwarg("bill_id", "billing.Bill")
