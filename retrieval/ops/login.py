"""Staff land on the dashboard after signing in, unless they asked for another page."""

from django.contrib import admin
from django.contrib.auth.views import LoginView, LogoutView
from django.urls import reverse


def admin_login(request, **kwargs):
    # Visiting /admin/ signed out asks the login to come back to the admin
    # index; the dashboard is the better first page. Any other `next` stays.
    index = reverse("admin:index")
    asked = request.POST.get("next", request.GET.get("next", index))
    if asked in ("", index):
        request.GET = request.GET.copy()
        request.GET["next"] = reverse("dashboard")
        if request.method == "POST":
            request.POST = request.POST.copy()
            request.POST["next"] = reverse("dashboard")
    return admin.site.login(request, **kwargs)


class UserLoginView(LoginView):
    """The users' login: staff without a `next` go to the dashboard, others to their mail."""

    redirect_authenticated_user = True

    def get_default_redirect_url(self):
        if self.request.user.is_staff:
            return reverse("dashboard")
        return super().get_default_redirect_url()


class UserLogoutView(LogoutView):
    """Logging out of the user pages says so, on the page the administration's logout shows too."""

    template_name = "registration/logged_out.html"
    extra_context = {"logged_out_of": "mail"}
