from django.urls import path

from retrieval.oauth import views

urlpatterns = [
    path("callback", views.callback, name="oauth-callback"),
    path("accounts/<int:pk>/connect", views.connect, name="oauth-connect"),
    path("accounts/<int:pk>/device/<str:key>", views.device, name="oauth-device"),
    path("accounts/<int:pk>/disconnect", views.disconnect, name="oauth-disconnect"),
    # The same pages for an IMAP APPEND delivery target's sign-in (staff only).
    path("targets/<int:pk>/connect", views.connect, {"kind": "target"},
         name="oauth-target-connect"),
    path("targets/<int:pk>/device/<str:key>", views.device, {"kind": "target"},
         name="oauth-target-device"),
    path("targets/<int:pk>/disconnect", views.disconnect, {"kind": "target"},
         name="oauth-target-disconnect"),
]
