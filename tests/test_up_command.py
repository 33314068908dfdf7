import io

import pytest
from django.contrib.auth import get_user_model
from django.core.management import call_command

from retrieval.models import GlobalSettings

pytestmark = pytest.mark.django_db


def test_it_sets_up_and_prints_the_admin_login_once():
    first, second = io.StringIO(), io.StringIO()

    call_command("up", "--setup-only", stdout=first)
    call_command("up", "--setup-only", stdout=second)

    password = first.getvalue().split("password: ")[1].split()[0]
    admin = get_user_model().objects.get(username="admin")
    assert admin.is_superuser and admin.check_password(password)
    assert "password" not in second.getvalue()
    assert GlobalSettings.objects.count() == 1
