from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class MeteringConfig(AppConfig):
    name = "ucis.metering"
    label = "metering"
    verbose_name = _("Meter reading")
    default_auto_field = "django.db.models.BigAutoField"
