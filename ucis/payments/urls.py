from django.urls import path

from ucis.payments import views

urlpatterns = [
    path("counter/", views.counter_page, name="payments_counter"),
    path("counter/accounts/<int:account_id>/", views.counter_account_page, name="payments_counter_account"),
    path("receipts/<int:payment_id>/", views.receipt_page, name="payments_receipt"),
    path("my-day/", views.my_day_page, name="payments_my_day"),
    path("settlement/", views.settlement_page, name="payments_settlement"),
    path("bank-files/", views.bank_files_page, name="payments_bank_files"),
    path("notify/wechat/", views.wechat_notify, name="payments_notify_wechat"),
    path("notify/alipay/", views.alipay_notify, name="payments_notify_alipay"),
]
