from django.urls import path

from ucis.payments import views

urlpatterns = [
    path("counter/", views.counter_page, name="payments_counter"),
    path("counter/accounts/<int:account_id>/", views.counter_account_page, name="payments_counter_account"),
    path("receipts/<int:payment_id>/", views.receipt_page, name="payments_receipt"),
    path("my-day/", views.my_day_page, name="payments_my_day"),
    path("settlement/", views.settlement_page, name="payments_settlement"),
]
