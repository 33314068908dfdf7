"""Errors in plain words with a next step (retrieval/explain.py)."""

import pytest

from retrieval.explain import ADMIN, USER, explain


@pytest.mark.parametrize("error, host, words, who", [
    ("TLS certificate of pop.example.test is not trusted: self-signed certificate", "",
     "extra trusted CA file", ADMIN),
    ("login refused by server: -ERR [AUTH] Authentication failed.", "pop.example.test",
     "password again", USER),
    ("login refused by server: NO [AUTHENTICATIONFAILED]", "imap.gmail.com", "OAuth2", USER),
    ("connection refused by pop.example.test:995 (gave up after 3 attempts)", "",
     "port", USER),
    ("timed out connecting to x:995 after 60 s", "", "firewall", USER),
    ("host not found: pop.exmaple.test", "", "spelling", USER),
    ("server does not offer STLS; refusing to send the password unencrypted", "", "TLS", USER),
    ("1 message(s) could not be delivered and stay on the server; message 3: not delivered "
     "to a@example.test: mailbox full: a@example.test is over its 1 MB quota", "",
     "quota", USER),
    ("local disk full: cannot write to mailbox /mail/x/timed-out: No space left on device; "
     "mail left on the server", "", "make room on the disk", ADMIN),
    ("local disk quota exceeded: cannot write to mailbox /m/a: Disk quota exceeded; mail "
     "left on the server", "", "make room on the disk", ADMIN),
    ("refused to connect to 10.0.0.1: private address. This account may only reach public "
     "addresses", "", "allow this host", ADMIN),
    ("sign-in expired: reconnect (the provider refused the refresh token: invalid_grant)",
     "outlook.office365.com", "Reconnect", USER),
    ("sign-in refused by server: reconnect ([AUTHENTICATIONFAILED] Authentication failed.; "
     '{"status":"invalid_token"})', "imap.gmail.com", "Reconnect", USER),
    ("could not reach the sign-in provider for the refresh token: ConnectionError", "",
     "tries again", ADMIN),
])
def test_it_explains_known_errors(error, host, words, who):
    explanation = explain(error, host)

    assert words in explanation.next_step
    assert explanation.who == who
    assert explanation.summary


def test_it_has_nothing_to_explain_without_an_error():
    assert explain("") is None


def test_it_still_gives_a_next_step_for_an_unknown_error():
    explanation = explain("something nobody foresaw")

    assert "administrator" in explanation.next_step
