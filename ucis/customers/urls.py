from django.urls import path

from ucis.customers import views

urlpatterns = [
    path("", views.customer_search_page, name="customer_search"),
    path("<int:customer_id>/", views.customer_detail, name="customer_detail"),
    path("<int:customer_id>/history/", views.customer_history, name="customer_history"),
]
