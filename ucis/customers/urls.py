from django.urls import path

from ucis.customers import views

urlpatterns = [
    path("", views.customer_search_page, name="customer_search"),
    path("open-account/", views.account_open_page, name="account_open"),
    path("import/", views.registry_import_page, name="registry_import"),
    path("import/<int:import_id>/", views.registry_import_job, name="registry_import_job"),
    path("import/<int:import_id>/progress/", views.registry_import_progress, name="registry_import_progress"),
    path("import/<int:import_id>/apply/", views.registry_import_apply, name="registry_import_apply"),
    path("import/<int:import_id>/problems.csv", views.registry_import_problems_csv,
         name="registry_import_problems"),
    path("export/", views.registry_export, name="registry_export"),
    path("<int:customer_id>/", views.customer_detail, name="customer_detail"),
    path("<int:customer_id>/history/", views.customer_history, name="customer_history"),
]
