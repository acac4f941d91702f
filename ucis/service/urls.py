from django.urls import path

from ucis.service import views

urlpatterns = [
    path("", views.console_page, name="service_console"),
    path("locks/", views.console_locks, name="service_console_locks"),
    path("agent/", views.agent_page, name="service_agent"),
    path("suggest/", views.suggest_fragment, name="service_suggest"),
    path("orders/", views.order_list_page, name="service_orders"),
    path("orders/new/", views.intake_page, name="service_intake"),
    path("orders/<int:order_id>/", views.order_page, name="service_order"),
    path("orders/<int:order_id>/action/", views.order_action, name="service_order_action"),
    path("orders/<int:order_id>/heartbeat/", views.order_heartbeat, name="service_order_heartbeat"),
    path("supervisions/<int:supervision_id>/ack/", views.supervision_ack, name="service_supervision_ack"),
    path("stats/", views.stats_page, name="service_stats"),
    path("outages/", views.outages_page, name="service_outages"),
]
