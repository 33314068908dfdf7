"""A next step names who can take it: a reader who may not change the account is told
an administrator must, never to change it themselves."""

import pytest

from retrieval.explain import ADMIN, CHANGED_LOGIN_BY_ADMIN, USER, explain

ERRORS = [
    "login refused by server: -ERR [AUTH] Authentication failed.",
    "host not found: pop.example.test",
    "connection refused by 192.0.2.1 port 995",
    "connect to pop.example.test timed out",
]


@pytest.mark.parametrize("error", ERRORS)
def test_an_editor_is_told_what_to_do(error):
    assert explain(error, "pop.example.test", may_reconnect=True).who == USER


@pytest.mark.parametrize("error", ERRORS)
def test_someone_who_may_not_edit_is_sent_to_an_administrator(error):
    why = explain(error, "pop.example.test", may_reconnect=False)
    assert why.who == ADMIN
    assert "press Test connection" not in why.next_step


def test_a_refused_password_is_the_administrators_to_enter():
    why = explain(ERRORS[0], "pop.example.test", may_reconnect=False)
    assert why.next_step == CHANGED_LOGIN_BY_ADMIN
    assert "Enter the password again" not in why.next_step


def test_a_step_nobody_needs_to_edit_for_stays_the_readers():
    why = explain("mailbox full: over its quota", may_reconnect=False)
    assert why.who == USER
