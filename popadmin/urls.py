from django.contrib import admin
from django.contrib.auth import views as auth_views
from django.urls import include, path

from retrieval.views import pages

urlpatterns = [
    path("admin/", admin.site.urls),
    # The users' own login (the admin keeps its own at /admin/login/).
    path(
        "accounts/login/",
        auth_views.LoginView.as_view(redirect_authenticated_user=True),
        name="login",
    ),
    path("accounts/logout/", auth_views.LogoutView.as_view(next_page="login"), name="logout"),
    path("", include("retrieval.urls")),
    path("", pages.home, name="home"),
]
