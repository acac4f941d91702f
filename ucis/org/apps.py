from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class OrgConfig(AppConfig):
    name = "ucis.org"
    label = "org"
    verbose_name = _("Organisation")

    def ready(self) -> None:
        from django.db.models.signals import post_migrate

        from ucis.platform.tenancy import register_id_kwarg

        register_id_kwarg("node_id", "org.OrgNode")
        register_id_kwarg("staff_id", "org.User")
        from ucis.org import services

        post_migrate.connect(services.roles_sync_after_migrate, dispatch_uid="ucis.roles_sync")
