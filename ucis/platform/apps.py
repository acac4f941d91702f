from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class PlatformConfig(AppConfig):
    name = "ucis.platform"
    label = "platform"
    verbose_name = _("Platform")

    def ready(self) -> None:
        from ucis.platform import lookups

        lookups.register()
