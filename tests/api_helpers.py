"""Who calls the API in these tests: an account owner, another user, staff, and nobody;
each with a bearer token made the way the token page makes them."""

import datetime as dt
import json

from django.contrib.auth.models import Group
from django.utils import timezone

from accounts.models import GroupPolicy
from api import tokens
from retrieval.models import RemoteAccount
from tests.factories import make_mailbox

# A public address given as a literal: the reach guard passes it without a DNS lookup.
PUBLIC_HOST = "93.184.215.14"
REMOTE_PASSWORD = "remote pässword 42"


def member(django_user_model, name, *, manage=True, check=True, min_poll=1):
    """A user with a mailbox, in a group that lets them manage accounts and Check now."""
    user = django_user_model.objects.create_user(name, password="login password")
    group = Group.objects.create(name=f"api-{name}")
    GroupPolicy.objects.create(group=group, may_manage_own_accounts=manage,
                               allow_manual_check=check, min_poll_minutes=min_poll)
    user.groups.add(group)
    make_mailbox(f"{name}@local.test", user=user)
    return user


def superuser(django_user_model, name="boss"):
    return django_user_model.objects.create_superuser(name, password="login password")


def token(user, *, writes=True, staff=False, expires=None, revoked=False) -> str:
    row, value = tokens.create(user, "test", writes=writes, staff=staff, expires=expires)
    if revoked:
        tokens.revoke(row)
    return value


def expired_token(user, **kwargs) -> str:
    return token(user, expires=timezone.now() - dt.timedelta(minutes=1), **kwargs)


def call(client, method, path, value=None, body=None, **extra):
    """The API's answer to `method path` with `value` as the bearer token (None: no token)."""
    if value is not None:
        extra["HTTP_AUTHORIZATION"] = f"Bearer {value}"
    if body is not None:
        extra.update(data=json.dumps(body), content_type="application/json")
    return getattr(client, method.lower())(path, **extra)


def remote(owner_user, **fields) -> RemoteAccount:
    fields.setdefault("host", PUBLIC_HOST)
    fields.setdefault("username", "alice")
    account = RemoteAccount(owner=owner_user.mailbox, **fields)
    account.set_password(REMOTE_PASSWORD)
    account.save()
    return account
