"""Runs and deliveries are history: nobody adds, edits or deletes them by hand; deleting
an account still takes its history with it. Deliveries answer "where did it go?"."""

import pytest
from django.urls import reverse
from django.utils import timezone

from delivery.models import Delivery
from retrieval.models import RemoteAccount, Run
from tests.admin_helpers import make_remote, staff

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def fast_password_hashing(settings):
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@pytest.fixture
def history():
    account = make_remote()
    run = Run.objects.create(account=account, trigger="admin", status="ok",
                             finished=timezone.now())
    delivery = Delivery.objects.create(
        mailbox=account.owner, run=run, message_key="k", message_id="<abc@x.test>",
        sender="Ann Sender <ann@x.test>", subject="Quarterly figures", size=2048,
        recipient=account.owner.address, result="delivered")
    return account, run, delivery


@pytest.mark.parametrize("model", ["retrieval_run", "delivery_delivery"])
def test_it_offers_no_add_change_or_delete(admin_client, history, model):
    _, run, delivery = history
    pk = run.pk if model == "retrieval_run" else delivery.pk

    assert admin_client.get(reverse(f"admin:{model}_add")).status_code == 403
    assert admin_client.get(reverse(f"admin:{model}_delete", args=[pk])).status_code == 403
    listing = admin_client.get(reverse(f"admin:{model}_changelist")).content.decode()
    assert 'value="delete_selected"' not in listing
    page = admin_client.get(reverse(f"admin:{model}_change", args=[pk])).content.decode()
    assert 'name="_save"' not in page and "deletelink" not in page


def test_deleting_an_account_still_deletes_its_history(admin_client, history):
    account, run, delivery = history
    url = reverse("admin:retrieval_remoteaccount_delete", args=[account.pk])

    assert "Are you sure" in admin_client.get(url).content.decode()
    admin_client.post(url, {"post": "yes"})

    assert not RemoteAccount.objects.filter(pk=account.pk).exists()
    assert not Run.objects.filter(pk=run.pk).exists()


@pytest.mark.parametrize("query", ["abc@x.test", "quarterly", "ann@x.test", "@local.test"])
def test_it_finds_a_delivery_by_message_id_subject_sender_or_recipient(admin_client, history,
                                                                       query):
    body = admin_client.get(reverse("admin:delivery_delivery_changelist"),
                            {"q": query}).content.decode()
    assert "Quarterly figures" in body


def test_a_delivery_shows_its_message_and_links_to_its_run_and_account(admin_client, history):
    account, run, delivery = history
    body = admin_client.get(reverse("admin:delivery_delivery_changelist")).content.decode()

    for text in ("Ann Sender &lt;ann@x.test&gt;", "Quarterly figures", "2.0\xa0KB",
                 reverse("admin:retrieval_run_change", args=[run.pk]),
                 reverse("admin:retrieval_remoteaccount_change", args=[account.pk])):
        assert text in body


@pytest.mark.parametrize("model", ["retrieval_run", "delivery_delivery"])
def test_it_keeps_history_from_staff_without_the_view_permission(client, django_user_model,
                                                                  history, model):
    client.force_login(staff(django_user_model, "nobody"))
    assert client.get(reverse(f"admin:{model}_changelist")).status_code == 403
    client.logout()
    response = client.get(reverse(f"admin:{model}_changelist"))
    assert response.status_code == 302 and "/admin/login/" in response.url
