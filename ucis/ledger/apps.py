from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class LedgerConfig(AppConfig):
    name = "ucis.ledger"
    label = "ledger"
    verbose_name = _("Receivables ledger")
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from ucis.platform.tenancy import register_id_kwarg

        register_id_kwarg("entry_id", "ledger.JournalEntry")
        register_id_kwarg("correction_id", "ledger.CorrectionOrder")
