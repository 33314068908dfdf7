"""The fetchmailrc grammar: quoting, noise, defaults, several users, multidrop, error positions."""

import pytest

from retrieval.migration.fetchmailrc import parse
from retrieval.migration.rclexer import RcSyntaxError, tokenize, unescape

# The examples of fetchmail's manual, with its awkward spellings.
MANUAL = r"""
# comment at the top
set daemon 600
set postmaster "postmaster"
defaults proto pop3
     user "jsmith"
poll pop.provider.net
     pass "secret1"
poll mail.provider.net
     user "jjsmith" there has password "secret2"
poll pop.provider.net proto pop3 port 3111
     user "jsmith" with pass "secret1" is "smith" here
     user jones with pass "secret2" is "jjones" here keep
poll pop.provider.net:
     user maildrop with pass secret1 to golux 'hurkle'='happy' snark here
poll pop.provider.net localdomains loonytoons.org toons.org
     envelope X-Envelope-To
     user maildrop with pass secret1 to * here
"""


def test_it_reads_the_manual_examples():
    users = parse(MANUAL).users
    assert [(u.poll_name, u.line) for u in users] == [
        ("pop.provider.net", 7), ("mail.provider.net", 10), ("pop.provider.net", 12),
        ("pop.provider.net", 13), ("pop.provider.net", 15), ("pop.provider.net", 18),
    ]
    first, second, smith, jones, golux, star = (u.options for u in users)
    # defaults fill what the entry leaves out
    assert first == {"protocol": "pop3", "user": "jsmith", "password": "secret1"}
    assert second["user"] == "jjsmith" and second["password"] == "secret2"
    assert smith["port"] == 3111 and smith["localnames"] == [("smith", None)]
    assert jones["keep"] is True and "keep" not in smith
    assert golux["localnames"] == [("golux", None), ("hurkle", "happy"), ("snark", None)]
    assert star["wildcard"] is True and star["localdomains"] == ["loonytoons.org", "toons.org"]
    assert star["envelope"] == (0, "X-Envelope-To")


def test_it_reads_every_order_of_user_there_is_here():
    text = """
    poll a.test user esr here is eric there password x
    poll b.test user eric there is esr here password x
    poll c.test user eric is esr password x
    poll d.test user eric to esr password x
    """
    users = parse(text).users
    assert [(u.options["user"], u.options["localnames"]) for u in users] == [
        ("eric", [("esr", None)])] * 4


def test_it_unquotes_and_unescapes_like_fetchmail():
    text = ("poll 'my host' user \"keep\" pass 'he said \"hi\"\\x21' is \"a b\" here\n"
            "poll x user pass pass \"multi\\\nline\\tend\" is y here\n")
    one, two = parse(text).users
    assert one.poll_name == "my host"
    assert one.options["user"] == "keep"  # a name, not the keyword
    assert one.options["password"] == 'he said "hi"!'
    assert one.options["localnames"] == [("a b", None)]
    assert two.options["user"] == "pass" and two.options["password"] == "multiline\tend"
    # \nnn is decimal and \0ooo octal (three digits with the 0), as fetchmail reads them.
    assert unescape(r"\101\0101\x41\q\\") == "e\b1Aq\\"


def test_it_ignores_noise_punctuation_and_comments():
    text = "poll x.test, with proto IMAP; options: user u # a comment\n and wants nokeep, ssl\n"
    [user] = parse(text).users
    assert user.options == {"protocol": "imap", "user": "u", "keep": False, "ssl": True}


def test_a_keyword_inside_a_word_is_a_word():
    [user] = parse("poll keeper.test user sslx pass keepsake").users
    assert user.poll_name == "keeper.test" and user.options["password"] == "keepsake"


@pytest.mark.parametrize(
    "text, line, column, reason",
    [
        ("poll x user a keep\n  proto pop3", 2, 3, "server option after user options"),
        ("poll x\n user a pass 'open", 2, 14, "unterminated"),
        ("\n\nuser a", 3, 1, "expected poll, skip, defaults or set"),
        ("poll x proto smtp", 1, 14, "expected a protocol name"),
        ("poll x user a limit lots", 1, 21, "expected a number"),
        ("poll x pass y user a", 1, 15, "expected poll, skip, defaults or set"),
    ],
)
def test_it_reports_syntax_errors_with_line_and_column(text, line, column, reason):
    with pytest.raises(RcSyntaxError) as caught:
        parse(text)
    assert (caught.value.line, caught.value.column) == (line, column)
    assert reason in str(caught.value)


def test_tokens_carry_their_position():
    tokens = tokenize("poll a\n  user b")
    assert [(t.kind, t.line, t.column) for t in tokens] == [
        ("POLL", 1, 1), ("STRING", 1, 6), ("USERNAME", 2, 3), ("STRING", 2, 8), ("EOF", 2, 9)]
