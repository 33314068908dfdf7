"""The mailbox quota says its unit and what no limit is: empty or 0."""

import pytest
from django.urls import reverse

from accounts.models import Mailbox

pytestmark = pytest.mark.django_db


def test_the_form_says_megabytes_and_no_limit(admin_client):
    page = admin_client.get(reverse("admin:accounts_mailbox_add")).content.decode()
    assert "Quota (MB), empty or 0 = no limit" in page


@pytest.mark.parametrize("typed, stored, listed", [("", 0, "no limit"), ("0", 0, "no limit"),
                                                    ("250", 250, "250 MB")])
def test_empty_means_no_limit(admin_client, typed, stored, listed):
    response = admin_client.post(reverse("admin:accounts_mailbox_add"), {
        "address": "q@local.test", "aliases": "", "quota_mb": typed, "_save": "Save",
        # The per-user retrieval settings inline, left empty.
        "retrieval_settings-TOTAL_FORMS": "0", "retrieval_settings-INITIAL_FORMS": "0",
        "retrieval_settings-MIN_NUM_FORMS": "0", "retrieval_settings-MAX_NUM_FORMS": "1"})
    assert response.status_code == 302, response.context["adminform"].form.errors
    assert Mailbox.objects.get(address="q@local.test").quota_mb == stored
    listing = admin_client.get(reverse("admin:accounts_mailbox_changelist")).content.decode()
    assert listed in listing
