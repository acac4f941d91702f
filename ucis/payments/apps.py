from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class PaymentsConfig(AppConfig):
    name = "ucis.payments"
    label = "payments"
    verbose_name = _("Payments")
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from ucis.ledger import checks
        from ucis.platform.tenancy import register_id_kwarg

        register_id_kwarg("payment_id", "payments.Payment")
        checks.EXTRA_CHECKS.extend([
            ("payment posted more than once",
             "SELECT source_id FROM ledger_journalentry WHERE kind = 'payment' AND source_type = 'payment' "
             "GROUP BY source_id HAVING count(*) > 1"),
            ("payment without its journal entry",
             "SELECT p.id FROM payments_payment p WHERE NOT EXISTS (SELECT 1 FROM ledger_journalentry e "
             "WHERE e.idempotency_key = 'payment:' || p.id)"),
            ("payment entry's cash differs from the payment",
             """SELECT p.id FROM payments_payment p JOIN ledger_journalentry e ON e.idempotency_key = 'payment:' || p.id
                  JOIN ledger_journalline l ON l.entry_id = e.id JOIN ledger_ledgeraccount a ON a.id = l.ledger_account_id
                 WHERE a.code LIKE 'CASH:%%' GROUP BY p.id, p.amount HAVING sum(l.amount) <> p.amount"""),
        ])
