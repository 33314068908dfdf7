"""Who visits the admin in these tests: a superuser, staff with and without rights,
a user who is not staff, and nobody."""

from django.contrib.auth.models import Permission

from retrieval.models import RemoteAccount
from tests.factories import make_mailbox


def staff(django_user_model, name, *codenames, app="retrieval"):
    user = django_user_model.objects.create_user(name, password="x", is_staff=True)
    user.user_permissions.add(*Permission.objects.filter(
        content_type__app_label=app, codename__in=codenames))
    return user


def make_remote(owner=None, password="stored password", **fields) -> RemoteAccount:
    """An account row only: nothing here connects anywhere."""
    fields.setdefault("host", "pop.example.test")
    fields.setdefault("username", "alice")
    account = RemoteAccount(owner=owner or make_mailbox(), **fields)
    account.set_password(password)
    account.save()
    return account
