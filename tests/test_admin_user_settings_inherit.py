"""Per-user settings say what an empty field inherits, with the global value."""

import pytest
from django.urls import reverse

from retrieval.models import GlobalSettings
from tests.factories import make_mailbox

pytestmark = pytest.mark.django_db


def test_it_shows_the_inherited_values_on_the_mailbox_page(admin_client):
    gs = GlobalSettings.load()
    gs.poll_minutes, gs.duplicate_check = 10, True
    gs.save()
    box = make_mailbox()

    body = admin_client.get(reverse("admin:accounts_mailbox_change", args=[box.pk])).content
    body = body.decode()

    assert 'placeholder="inherit: 10 minutes"' in body
    assert 'placeholder="inherit: all"' in body  # messages per download 0
    assert ">inherit: yes</option>" in body
    assert ">Unknown<" not in body
    # Aliases are a list, one per line, not a JSON box.
    assert ">[]<" not in body
