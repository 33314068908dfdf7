from django.contrib import admin
from django.contrib.auth import views as auth_views
from django.urls import include, path

from retrieval.migration import views as migration_views
from retrieval.ops.login import UserLoginView
from retrieval.views import pages

urlpatterns = [
    # The dashboard, /healthz, /metrics, and the admin login that lands staff on the dashboard.
    path("", include("retrieval.ops.urls")),
    # The Import page lives under the admin's address but outside its URLconf.
    path("admin/import/", migration_views.import_page, name="popadmin_import"),
    path("admin/import/confirm/", migration_views.import_confirm,
         name="popadmin_import_confirm"),
    path("admin/", admin.site.urls),
    # The users' own login (the admin keeps its own at /admin/login/).
    path(
        "accounts/login/",
        UserLoginView.as_view(),
        name="login",
    ),
    path("accounts/logout/", auth_views.LogoutView.as_view(next_page="login"), name="logout"),
    path("", include("retrieval.urls")),
    path("oauth/", include("retrieval.oauth.urls")),
    path("", pages.home, name="home"),
]
