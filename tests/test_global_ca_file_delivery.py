"""The global settings' "Extra trusted CA file" trusts delivery servers too, as it
trusts the remote accounts' servers: an IMAP APPEND target over TLS on a second real
Dovecot, whose throwaway CA is only in that file (not in POPADMIN_CA_FILE), takes
the mail; SMTP targets (STARTTLS) get the same file. LMTP speaks no TLS."""

import pytest

from delivery.targets import DeliveryTarget, backend_for
from retrieval import engine
from retrieval.models import GlobalSettings, Run
from tests.append_helpers import imap_target
from tests.factories import make_account

pytestmark = pytest.mark.django_db


def use_ca_file(path):
    GlobalSettings.objects.filter(pk=GlobalSettings.load().pk).update(ca_file=str(path))


def test_an_imap_append_target_trusts_the_global_ca_file(dovecot, mail_user, append_dovecot,
                                                         tmp_path):
    # The source's CA stays in POPADMIN_CA_FILE (tests/conftest.py); the file set in the
    # global settings holds both, as an operator's bundle would.
    bundle = tmp_path / "cas.pem"
    bundle.write_bytes(dovecot.ca_file.read_bytes() + append_dovecot.ca_file.read_bytes())
    use_ca_file(bundle)
    user, password = append_dovecot.add_user()
    dovecot.deliver_many(mail_user[0], 2)
    target = imap_target(append_dovecot, user, password, security="tls")
    assert target.verify_tls
    account = make_account(dovecot, *mail_user, protocol="imap", delivery_target=target)

    run = engine.run_account(account.pk, Run.Trigger.MANUAL)

    assert (run.status, run.delivered) == (Run.Status.OK, 2), (run.error, run.notes)
    assert len(append_dovecot.messages(user)) == 2


def test_without_it_the_target_is_not_trusted(dovecot, mail_user, append_dovecot):
    user, password = append_dovecot.add_user()
    dovecot.deliver_many(mail_user[0], 1)
    target = imap_target(append_dovecot, user, password, security="tls")
    account = make_account(dovecot, *mail_user, protocol="imap", keep_policy="keep",
                           delivery_target=target)

    run = engine.run_account(account.pk, Run.Trigger.MANUAL)

    assert run.delivered == 0 and "certificate" in f"{run.error} {run.notes}".lower()
    assert append_dovecot.messages(user) == []


def test_smtp_targets_get_the_same_file(tmp_path):
    smtp = DeliveryTarget(name="relay", kind="smtp", host="relay.local.test", port=25,
                          security="starttls")
    assert backend_for(smtp, str(tmp_path / "cas.pem")).settings.ca_file == str(
        tmp_path / "cas.pem")
