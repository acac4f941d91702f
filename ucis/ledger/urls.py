from django.urls import path

from ucis.ledger import views

urlpatterns = [
    path("accounts/<int:account_id>/", views.account_ledger_page, name="ledger_account"),
    path("corrections/", views.corrections_page, name="ledger_corrections"),
    path("corrections/<int:correction_id>/", views.correction_page, name="ledger_correction"),
    path("corrections/<int:correction_id>/decide/", views.correction_decide, name="ledger_correction_decide"),
]
