from django.urls import path

from ucis.org import views

urlpatterns = [
    path("", views.node_list, name="org_node_list"),
    path("export.csv", views.node_export, name="org_node_export"),
    path("nodes/<int:node_id>/", views.node_detail, name="org_node_detail"),
    path("nodes/<int:node_id>/history/", views.node_history, name="org_node_history"),
    path("nodes/<int:node_id>/edit/", views.node_edit, name="org_node_edit"),
    path("nodes/<int:node_id>/move/", views.node_move, name="org_node_move"),
    path("nodes/<int:node_id>/add/", views.node_add_child, name="org_node_add_child"),
    path("companies/new/", views.company_new, name="org_company_new"),
    path("staff/", views.staff_list, name="org_staff_list"),
    path("staff/export.csv", views.staff_export, name="org_staff_export"),
    path("staff/new/", views.staff_new, name="org_staff_new"),
    path("staff/active/", views.staff_bulk_active, name="org_staff_bulk_active"),
    path("staff/<int:staff_id>/", views.staff_detail, name="org_staff_detail"),
    path("staff/<int:staff_id>/history/", views.staff_history, name="org_staff_history"),
    path("staff/<int:staff_id>/edit/", views.staff_edit, name="org_staff_edit"),
]
