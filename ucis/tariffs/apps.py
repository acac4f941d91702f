from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class TariffsConfig(AppConfig):
    name = "ucis.tariffs"
    label = "tariffs"
    verbose_name = _("Tariffs")
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from ucis.platform.tenancy import register_id_kwarg

        register_id_kwarg("tariff_id", "tariffs.Tariff")
