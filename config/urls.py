from django.contrib import admin
from django.urls import include, path

from ucis.billing.api import router as billing_router
from ucis.customers.api import router as customers_router
from ucis.knowledge import urls as knowledge_urls
from ucis.knowledge.api import router as knowledge_router
from ucis.ledger.api import router as ledger_router
from ucis.metering.api import router as metering_router
from ucis.org.api import router as org_router
from ucis.payments.api import router as payments_router
from ucis.platform.api import api
from ucis.platform.audit_api import router as audit_router
from ucis.service.api import router as service_router
from ucis.tariffs.api import router as tariffs_router

# Each app's API router is mounted here, the one place that knows every app.
api.add_router("/org", org_router)
api.add_router("/audit", audit_router)
api.add_router("/registry", customers_router)
api.add_router("/metering", metering_router)
api.add_router("/tariffs", tariffs_router)
api.add_router("/billing", billing_router)
api.add_router("/ledger", ledger_router)
api.add_router("/payments", payments_router)
api.add_router("/service", service_router)
api.add_router("/knowledge", knowledge_router)

admin.site.site_header = "ucis"

urlpatterns = [
    path("", include("ucis.platform.urls")),
    path("org/", include("ucis.org.urls")),
    path("customers/", include("ucis.customers.urls")),
    path("metering/", include("ucis.metering.urls")),
    path("tariffs/", include("ucis.tariffs.urls")),
    path("billing/", include("ucis.billing.urls")),
    path("payments/", include("ucis.payments.urls")),
    path("ledger/", include("ucis.ledger.urls")),
    path("service/", include("ucis.service.urls")),
    path("knowledge/", include("ucis.knowledge.urls")),
    path("public/knowledge/", include(knowledge_urls.public_urlpatterns)),
    path("api/v1/", api.urls),
    path("admin/", admin.site.urls),
    path("i18n/", include("django.conf.urls.i18n")),
]
