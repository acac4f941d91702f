from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class ServiceConfig(AppConfig):
    name = "ucis.service"
    label = "service"
    verbose_name = _("Service desk (95598)")
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from ucis.platform.tenancy import register_id_kwarg

        register_id_kwarg("order_id", "service.WorkOrder")
        register_id_kwarg("supervision_id", "service.Supervision")
        register_id_kwarg("outage_id", "service.Outage")
        register_id_kwarg("company_id", "org.OrgNode")
