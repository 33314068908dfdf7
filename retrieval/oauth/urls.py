from django.urls import path

from retrieval.oauth import views

urlpatterns = [
    path("callback", views.callback, name="oauth-callback"),
    path("accounts/<int:pk>/connect", views.connect, name="oauth-connect"),
    path("accounts/<int:pk>/device/<str:key>", views.device, name="oauth-device"),
    path("accounts/<int:pk>/disconnect", views.disconnect, name="oauth-disconnect"),
]
