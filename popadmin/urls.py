from django.contrib import admin
from django.templatetags.static import static
from django.urls import include, path
from django.views.generic import RedirectView
from django.views.i18n import JavaScriptCatalog

from retrieval.migration import views as migration_views
from retrieval.ops.login import UserLoginView, UserLogoutView
from retrieval.views import pages

# The admin's modules load with the web site, not in every process
# (popadmin/admin_app.py): a worker or `manage.py fetch` needs none.
admin.autodiscover()

urlpatterns = [
    # The dashboard, /healthz, /metrics, and the admin login that lands staff on the dashboard.
    path("", include("retrieval.ops.urls")),
    # The Import page lives under the admin's address but outside its URLconf.
    path("admin/import/", migration_views.import_page, name="popadmin_import"),
    path("admin/import/confirm/", migration_views.import_confirm,
         name="popadmin_import_confirm"),
    path("admin/", admin.site.urls),
    path("api/v1/", include("api.urls")),
    path("", include("api.page_urls")),
    # The users' own login (the admin keeps its own at /admin/login/).
    path(
        "accounts/login/",
        UserLoginView.as_view(),
        name="login",
    ),
    path("accounts/logout/", UserLogoutView.as_view(), name="logout"),
    # The words the pages' scripts show, in the page's language (docs/reference/translations.md).
    path("jsi18n/", JavaScriptCatalog.as_view(), name="javascript-catalog"),
    # Some clients ask for /favicon.ico whatever a page names: no 404 in the log for it.
    path("favicon.ico", RedirectView.as_view(url=static("popadmin/favicon.svg"), permanent=True)),
    path("", include("retrieval.urls")),
    path("oauth/", include("retrieval.oauth.urls")),
    path("", pages.home, name="home"),
]
