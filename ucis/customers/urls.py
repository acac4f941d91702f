from django.urls import path

from ucis.customers import views

urlpatterns = [
    path("", views.customer_search_page, name="customer_search"),
    path("open-account/", views.account_open_page, name="account_open"),
    path("<int:customer_id>/", views.customer_detail, name="customer_detail"),
    path("<int:customer_id>/history/", views.customer_history, name="customer_history"),
]
