"""A user's edit of an account drops its cheap-check folder marks
(docs/architecture/cheap-checks.md), as an administrator's does: mail the old settings
left alone is below the marks."""

import pytest
from django.urls import reverse

from retrieval.models import FolderMark
from tests.test_user_edit_keeps_admin_choices import admin_made, dovecot_ports_allowed, me  # noqa: F401
from tests.test_user_self_service import fields

pytestmark = pytest.mark.django_db


def test_a_users_save_drops_the_folder_marks(client, me, dovecot, mail_user):  # noqa: F811
    account = admin_made(me, dovecot, mail_user)
    FolderMark.objects.create(account=account, folder="INBOX", uidvalidity=1, uidnext=5)

    response = client.post(reverse("mail-account-edit", args=[account.pk]),
                           fields(dovecot, mail_user, password="", keep_policy="keep"))

    assert response.status_code == 302, response.content.decode()[:2000]
    assert not FolderMark.objects.filter(account=account).exists()
