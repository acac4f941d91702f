from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class MeteringConfig(AppConfig):
    name = "ucis.metering"
    label = "metering"
    verbose_name = _("Meter reading")
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from ucis.platform.tenancy import register_id_kwarg

        register_id_kwarg("route_id", "metering.Route")
        register_id_kwarg("cycle_id", "metering.ReadCycle")
        register_id_kwarg("review_id", "metering.ReadReview")
