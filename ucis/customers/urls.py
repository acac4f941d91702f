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
    path("export.csv", views.customer_export, name="customer_export"),
    path("extra-fields/", views.extra_field_list, name="extra_field_list"),
    path("extra-fields/<int:extra_field_id>/", views.extra_field_edit, name="extra_field_edit"),
    path("<int:customer_id>/", views.customer_detail, name="customer_detail"),
    path("<int:customer_id>/edit/", views.customer_edit, name="customer_edit"),
    path("accounts/<int:account_id>/change/", views.account_change, name="account_change"),
    path("accounts/<int:account_id>/close/", views.account_close, name="account_close"),
    path("meters/<int:meter_id>/replace/", views.meter_replace, name="meter_replace"),
    path("meters/<int:meter_id>/remove/", views.meter_remove, name="meter_remove"),
    path("<int:customer_id>/history/", views.customer_history, name="customer_history"),
    path("<int:customer_id>/extra/", views.customer_extra_edit, name="customer_extra_edit"),
    path("<int:customer_id>/attachments/", views.attachment_upload, name="attachment_upload"),
    path("attachments/<int:attachment_id>/", views.attachment_download, name="attachment_download"),
    path("attachments/<int:attachment_id>/delete/", views.attachment_delete, name="attachment_delete"),
    path("premises/<int:premise_id>/extra/", views.premise_extra_edit, name="premise_extra_edit"),
]
