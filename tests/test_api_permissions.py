"""Every endpoint of the API, called by each kind of caller: the owner, another user, a staff
member with a whole-installation token, nobody, a revoked token, an expired token, and the
owner's read-only token. The answer's status says who may do what; what each call does is
tested in the endpoint's own file."""

import datetime as dt

import pytest
from django.utils import timezone

from retrieval import dispatcher
from retrieval.models import Run
from tests.api_helpers import call, expired_token, member, remote, superuser, token

pytestmark = pytest.mark.django_db

CALLERS = ["owner", "other", "staff", "nobody", "revoked", "expired", "read_only"]
DEAD = (401, 401, 401)  # nobody, revoked, expired
# (method, path, body): the answer for each of CALLERS, in that order. {a}, {m}, {r}: the
# owner's account, mailbox and run.
ENDPOINTS = [
    ("get", "/api/v1/me", None, (200, 200, 200, *DEAD, 200)),
    ("get", "/api/v1/accounts/", None, (200, 200, 200, *DEAD, 200)),
    ("post", "/api/v1/accounts/", {}, (400, 400, 400, *DEAD, 403)),
    ("get", "/api/v1/accounts/{a}", None, (200, 404, 200, *DEAD, 200)),
    ("patch", "/api/v1/accounts/{a}", {"name": "x"}, (200, 404, 200, *DEAD, 403)),
    ("delete", "/api/v1/accounts/{a}", None, (204, 404, 204, *DEAD, 403)),
    ("post", "/api/v1/accounts/{a}/check", None, (200, 404, 200, *DEAD, 403)),
    ("get", "/api/v1/accounts/{a}/progress", None, (200, 404, 200, *DEAD, 200)),
    ("get", "/api/v1/mailboxes/", None, (200, 200, 200, *DEAD, 200)),
    ("post", "/api/v1/mailboxes/", {"address": "new@local.test"},
     (403, 403, 201, *DEAD, 403)),
    ("get", "/api/v1/mailboxes/{m}", None, (200, 404, 200, *DEAD, 200)),
    ("patch", "/api/v1/mailboxes/{m}", {"quota_mb": 5}, (403, 404, 200, *DEAD, 403)),
    ("delete", "/api/v1/mailboxes/{m}", None, (403, 404, 204, *DEAD, 403)),
    ("get", "/api/v1/runs/", None, (200, 200, 200, *DEAD, 200)),
    ("get", "/api/v1/runs/{r}", None, (200, 404, 200, *DEAD, 200)),
    ("get", "/api/v1/deliveries/", None, (200, 200, 200, *DEAD, 200)),
    ("get", "/api/v1/alerts/", None, (403, 403, 200, *DEAD, 403)),
    ("get", "/api/v1/settings", None, (403, 403, 200, *DEAD, 403)),
    ("patch", "/api/v1/settings", {"poll_minutes": 9}, (403, 403, 200, *DEAD, 403)),
]


@pytest.fixture(autouse=True)
def no_broker(monkeypatch):
    monkeypatch.setattr(dispatcher, "enqueue_fetch", lambda pk, trigger, task_id=None: None)


@pytest.fixture
def world(django_user_model):
    owner, other = member(django_user_model, "owner"), member(django_user_model, "other")
    boss = superuser(django_user_model)
    account = remote(owner)
    run = Run.objects.create(account=account, trigger="schedule", status="ok",
                             started=timezone.now() - dt.timedelta(minutes=5))
    tokens = {
        "owner": token(owner), "other": token(other), "staff": token(boss, staff=True),
        "nobody": None, "revoked": token(owner, revoked=True),
        "expired": expired_token(owner), "read_only": token(owner, writes=False),
    }
    return {"a": account.pk, "m": owner.mailbox.pk, "r": run.pk, "tokens": tokens}


@pytest.mark.parametrize("caller", CALLERS)
@pytest.mark.parametrize(("method", "path", "body", "expected"), ENDPOINTS,
                         ids=[f"{m} {p}" for m, p, _, _ in ENDPOINTS])
def test_who_may_call_what(client, world, caller, method, path, body, expected):
    url = path.format(a=world["a"], m=world["m"], r=world["r"])

    response = call(client, method, url, world["tokens"][caller], body=body)

    assert response.status_code == expected[CALLERS.index(caller)], response.content


def test_every_endpoint_is_in_the_table():
    from django.urls import get_resolver

    served = {pattern.pattern._route for pattern in get_resolver("api.urls").url_patterns}
    listed = {path.removeprefix("/api/v1/").replace("{a}", "<int:pk>")
              .replace("{m}", "<int:pk>").replace("{r}", "<int:pk>")
              for _, path, _, _ in ENDPOINTS}
    assert served - listed == {"schema/", "docs/"}  # public: they describe, hold no data
