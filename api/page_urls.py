from django.urls import path

from api import pages

urlpatterns = [
    path("mail/tokens/", pages.token_page, name="api-tokens"),
    path("mail/tokens/<int:pk>/revoke", pages.revoke, name="api-token-revoke"),
]
