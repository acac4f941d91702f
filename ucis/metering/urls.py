from django.urls import path

from ucis.metering import views

urlpatterns = [
    path("routes/", views.route_list_page, name="metering_routes"),
    path("routes/new/", views.route_create_page, name="metering_route_create"),
    path("routes/<int:route_id>/", views.route_detail_page, name="metering_route_detail"),
    path("cycles/", views.cycle_list_page, name="metering_cycles"),
    path("cycles/<int:cycle_id>/entry/", views.cycle_entry_page, name="metering_cycle_entry"),
    path("cycles/<int:cycle_id>/entry/row/", views.cycle_entry_row, name="metering_cycle_entry_row"),
    path("review/", views.review_queue_page, name="metering_review"),
    path("review/<int:review_id>/correct/", views.review_correct_page, name="metering_review_correct"),
    path("rereads/", views.reread_list_page, name="metering_rereads"),
]
