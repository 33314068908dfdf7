import time, os
import pytest
from retrieval.models import GlobalSettings, RemoteAccount, Run, SeenMessage
from tests.fakeserver import FakeServer, Pop3Mailbox
from tests.test_engine_hostile import account_on, run, delivered

pytestmark = pytest.mark.django_db

@pytest.mark.parametrize("n,seen,per", [(2000, 0, 0), (100_000, 99_000, 250)])
def test_probe(n, seen, per):
    GlobalSettings.objects.filter(pk=1).update(messages_per_download=per)
    msgs = [b"Subject: %d\r\nMessage-ID: <%d@x>\r\n\r\nx\r\n" % (i, i) for i in range(n)]
    box = Pop3Mailbox(msgs, uidls=[f"u{i}" for i in range(n)])
    with FakeServer(box) as server:
        account = account_on(server, keep_policy="keep")
        t = time.monotonic()
        SeenMessage.objects.bulk_create([SeenMessage(account=account, uid=f"u{i}") for i in range(seen)], batch_size=5000)
        print("seed", time.monotonic() - t)
        t = time.monotonic()
        r = run(account)
        print("run", time.monotonic() - t, r.status, r.delivered, r.error, server.commands().count(b"UIDL"))
