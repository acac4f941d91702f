from django.urls import path

from ucis.tariffs import views

urlpatterns = [
    path("", views.tariff_list_page, name="tariff_list"),
    path("import/", views.tariff_import_page, name="tariff_import"),
    path("simulate/", views.simulate_choose_page, name="tariff_simulate_choose"),
    path("discounts/", views.discount_list_page, name="tariff_discounts"),
    path("policies/", views.policy_page, name="tariff_policies"),
    path("<int:tariff_id>/", views.tariff_detail_page, name="tariff_detail"),
    path("<int:tariff_id>/export/", views.tariff_export, name="tariff_export"),
    path("<int:tariff_id>/simulate/", views.tariff_simulate_page, name="tariff_simulate"),
]
