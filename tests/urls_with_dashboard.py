"""The project's URLs plus a stand-in "dashboard", for the `/` redirect test."""

from django.http import HttpResponse
from django.urls import path

from popadmin.urls import urlpatterns as project

urlpatterns = [path("dashboard/", lambda request: HttpResponse("ok"), name="dashboard"),
               *project]
