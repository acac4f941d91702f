from django.contrib.auth import views as auth_views
from django.urls import path

from ucis.platform import views

urlpatterns = [
    path("", views.home, name="home"),
    path("login/", views.StaffLoginView.as_view(), name="login"),
    path("logout/", auth_views.LogoutView.as_view(), name="logout"),
    path("account/password/", views.PasswordChange.as_view(), name="password_change"),
    path("account/otp/", views.otp_setup, name="otp_setup"),
    path("audit/", views.audit_search_view, name="audit_search"),
]
