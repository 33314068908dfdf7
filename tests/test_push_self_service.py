"""Users turn push on and off for their own IMAP accounts, on the account form and through
the API; a group that turns push off shows it off, says why, and keeps it off. Another
user's account is not there (404), a user without self-service is refused (403), and
nobody signed in is sent to the login page."""

import re

import pytest
from django.contrib.auth.models import Group
from django.urls import reverse

from accounts.models import GroupPolicy
from retrieval import dispatcher
from retrieval.models import GlobalSettings, PushWatcher, RemoteAccount
from tests.api_helpers import call, member, remote, token
from tests.factories import make_account
from tests.form_posts import as_posted

pytestmark = pytest.mark.django_db

OFF_FOR_GROUP = "Your group has push turned off"


@pytest.fixture(autouse=True)
def dovecot_reachable(settings, dovecot):
    # Saving tests the connection first, against the test Dovecot on loopback.
    settings.POPADMIN_ALLOWED_PORTS = [143, 993, dovecot.imaps_port]
    gs = GlobalSettings.load()
    gs.allowed_internal_networks = ["127.0.0.0/8"]
    gs.save()


@pytest.fixture(autouse=True)
def no_broker(monkeypatch):
    monkeypatch.setattr(dispatcher, "enqueue_fetch", lambda pk, trigger, task_id=None: None)


@pytest.fixture
def owner(django_user_model):
    return member(django_user_model, "owner")


@pytest.fixture
def account(owner, dovecot, mail_user):
    return make_account(dovecot, *mail_user, owner=owner.mailbox, protocol="imap",
                        host="127.0.0.1", network_restricted=True, keep_policy="keep")


def no_push_group(user):
    group = Group.objects.create(name="polled only")
    GroupPolicy.objects.create(group=group, allow_push=False)
    user.groups.add(group)


def edit_url(account):
    return reverse("mail-account-edit", args=[account.pk])


def save(client, account, **changes):
    form = client.get(edit_url(account)).context["form"]
    return client.post(edit_url(account), as_posted(form, **changes))


def push_box(html: str) -> set[str]:
    """The push checkbox's bare attributes as rendered: {"checked"}, {"disabled"}, ..."""
    tag = re.search(r'<input type="checkbox" name="push"[^>]*>', html).group(0)
    return {word for word in ("checked", "disabled") if re.search(rf"\s{word}[\s>]", tag)}


def push_of(account) -> bool:
    return RemoteAccount.objects.get(pk=account.pk).push


def test_the_form_offers_push_in_plain_words(client, owner, account):
    client.force_login(owner)
    html = client.get(edit_url(account)).content.decode()
    assert push_box(html) == {"checked"}
    assert "new mail is fetched within seconds of reaching the server" in html
    assert "checked on its schedule only" in html


def test_the_owner_turns_push_off_and_on_again(client, owner, account):
    client.force_login(owner)
    response = save(client, account, push=False)
    assert response.status_code == 302, response.content.decode()[-2000:]
    assert push_of(account) is False
    card = client.get(reverse("mail-accounts")).content.decode()
    assert "push: off for this account" in card
    assert push_box(client.get(edit_url(account)).content.decode()) == set()
    assert save(client, account, push=True).status_code == 302
    assert push_of(account) is True


def test_push_switched_on_says_it_is_starting_while_a_watcher_runs(client, owner, account):
    client.force_login(owner)
    assert save(client, account, push=False).status_code == 302
    PushWatcher.objects.create(name="w1", hostname="mail1", pid=7)
    assert save(client, account, push=True).status_code == 302
    card = client.get(reverse("mail-accounts")).content.decode()
    assert "push: starting; a watcher signs in to the server within seconds" in card
    PushWatcher.objects.all().delete()
    card = client.get(reverse("mail-accounts")).content.decode()
    assert "push: not running (no watcher is watching this account)" in card


def test_a_group_without_push_shows_it_off_says_why_and_keeps_it_off(client, owner, account):
    RemoteAccount.objects.filter(pk=account.pk).update(push=False)
    no_push_group(owner)
    client.force_login(owner)
    html = client.get(edit_url(account)).content.decode()
    assert OFF_FOR_GROUP in html
    assert push_box(html) == {"disabled"}
    # Ticking it anyway (a hand-made post) changes nothing.
    form = client.get(edit_url(account)).context["form"]
    posted = {**as_posted(form), "push": "on"}
    assert client.post(edit_url(account), posted).status_code == 302
    assert push_of(account) is False


def test_a_group_without_push_keeps_the_account_s_own_choice_for_later(client, owner,
                                                                       account):
    no_push_group(owner)
    client.force_login(owner)
    html = client.get(edit_url(account)).content.decode()
    assert push_box(html) == {"disabled"}  # shown as it is in effect: off
    assert save(client, account, name="Renamed").status_code == 302
    assert push_of(account) is True
    assert "push: off for your group" in client.get(reverse("mail-accounts")).content.decode()
    owner.groups.get(name="polled only").delete()
    assert push_box(client.get(edit_url(account)).content.decode()) == {"checked"}


def test_another_user_cannot_see_or_change_the_switch(client, django_user_model, account):
    client.force_login(member(django_user_model, "other"))
    assert client.get(edit_url(account)).status_code == 404
    assert client.post(edit_url(account), {"push": "", "action": "save"}).status_code == 404
    assert push_of(account) is True


def test_a_user_without_self_service_is_refused(client, django_user_model, owner, account):
    owner.groups.all().delete()
    client.force_login(owner)
    assert client.post(edit_url(account), {"action": "save"}).status_code == 403
    assert push_of(account) is True


def test_nobody_signed_in_is_sent_to_the_login_page(client, account):
    response = client.post(edit_url(account), {"action": "save"})
    assert response.status_code == 302 and "login" in response["Location"]
    assert push_of(account) is True


def test_the_api_reads_and_sets_push(client, owner):
    account = remote(owner, protocol="imap", port=993)
    path = f"/api/v1/accounts/{account.pk}"
    assert call(client, "get", path, token(owner)).json()["push"] is True
    response = call(client, "patch", path, token(owner), body={"push": False})
    assert response.status_code == 200, response.content
    assert response.json()["push"] is False and push_of(account) is False


def test_the_api_refuses_push_where_the_group_turns_it_off(client, owner):
    account = remote(owner, protocol="imap", port=993, push=False)
    no_push_group(owner)
    path = f"/api/v1/accounts/{account.pk}"
    response = call(client, "patch", path, token(owner), body={"push": True})
    assert response.status_code == 400
    assert OFF_FOR_GROUP in response.json()["push"][0]
    assert push_of(account) is False
    # Saying what is in effect, or leaving it out, is fine.
    assert call(client, "patch", path, token(owner), body={"push": False}).status_code == 200
    assert call(client, "patch", path, token(owner), body={"name": "x"}).status_code == 200


def test_the_api_hides_another_user_s_account(client, django_user_model, owner):
    account = remote(owner, protocol="imap", port=993)
    other = member(django_user_model, "other")
    response = call(client, "patch", f"/api/v1/accounts/{account.pk}", token(other),
                    body={"push": False})
    assert response.status_code == 404
    assert push_of(account) is True
