from django.urls import path

from retrieval.ops import login, views

urlpatterns = [
    # Before the admin's own URLs: staff land on the dashboard after signing in.
    path("admin/login/", login.admin_login, name="dashboard-admin-login"),
    path("dashboard/", views.dashboard, name="dashboard"),
    path("dashboard/live", views.live, name="dashboard-live"),
    path("dashboard/service", views.switch, name="dashboard-service"),
    path("healthz", views.healthz, name="healthz"),
    path("metrics", views.metrics_view, name="metrics"),
]
