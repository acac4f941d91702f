from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class CustomersConfig(AppConfig):
    name = "ucis.customers"
    label = "customers"
    verbose_name = _("Customers")

    def ready(self) -> None:
        from ucis.platform.tenancy import register_id_kwarg

        register_id_kwarg("customer_id", "customers.Customer")
        register_id_kwarg("account_id", "customers.Account")
        register_id_kwarg("premise_id", "customers.Premise")
        register_id_kwarg("meter_id", "customers.Meter")
        register_id_kwarg("import_id", "customers.ImportJob")
        register_id_kwarg("attachment_id", "customers.CustomerAttachment")
        register_id_kwarg("extra_field_id", "customers.ExtraFieldDefinition")
