from django.urls import path

from ucis.billing import views

urlpatterns = [
    path("runs/", views.run_list_page, name="billing_runs"),
    path("runs/<int:run_id>/", views.run_page, name="billing_run"),
    path("runs/<int:run_id>/progress/", views.run_progress, name="billing_run_progress"),
    path("runs/<int:run_id>/calculate/", views.run_calculate, name="billing_run_calculate"),
    path("runs/<int:run_id>/approve/", views.run_approve, name="billing_run_approve"),
    path("runs/<int:run_id>/issue/", views.run_issue, name="billing_run_issue"),
    path("runs/<int:run_id>/notices/<int:route_id>/", views.run_notices, name="billing_run_notices"),
    path("arrears-notices/", views.arrears_notices_page, name="billing_arrears_notices"),
    path("bills/<int:bill_id>/", views.bill_page, name="billing_bill"),
]
