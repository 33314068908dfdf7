"""Recipient resolution for catch-all ("virtual POP3") and single-user accounts."""

from email.parser import BytesHeaderParser
from email.policy import compat32

import pytest

from accounts.models import Mailbox
from delivery.backends import trace_headers
from delivery.recipients import DEFAULT_HEADER_FIELDS, Directory, resolve
from retrieval.models import GlobalSettings

pytestmark = pytest.mark.django_db

DOMAIN = "corp.example"


def parse(*lines) -> object:
    """Headers exactly as delivery/message.py reads them from a spooled message."""
    raw = b"".join((ln if isinstance(ln, bytes) else ln.encode()) + b"\n" for ln in lines)
    return BytesHeaderParser(policy=compat32).parsebytes(raw + b"\n")


def settings(**fields) -> GlobalSettings:
    fields.setdefault("accepted_domains", [DOMAIN])
    gs = GlobalSettings(**fields)
    gs.save()  # fills the default header fields, as the admin does
    return gs


def box(local, domain=DOMAIN, **fields) -> Mailbox:
    return Mailbox.objects.create(address=f"{local}@{domain}", **fields)


@pytest.fixture
def owner():
    return box("catchall", "isp.example")


@pytest.fixture
def people():
    return {name: box(name) for name in ("alice", "bob", "carol")}


def run(headers, owner, gs=None, mode="catchall", cap=50, directory=None):
    gs = gs or settings()
    return resolve(
        headers, owner=owner, mode=mode, settings=gs, max_recipients=cap, directory=directory
    )


def addresses(res):
    return [m.address for m in res.mailboxes]


@pytest.mark.parametrize("field", DEFAULT_HEADER_FIELDS)
def test_it_reads_each_default_header_field(owner, people, field):
    value = "Bob <bob@corp.example>"
    if field == "Received":
        value = "from mx by isp for <bob@corp.example>; Mon"
    res = run(parse("Subject: hi", f"{field}: {value}"), owner)
    assert addresses(res) == ["bob@corp.example"]
    assert res.notes == []


def test_it_reads_only_the_configured_fields(owner, people):
    gs = settings(header_fields=["X-Original-To"])
    res = run(parse("To: bob@corp.example", "X-Original-To: carol@corp.example"), owner, gs)
    assert addresses(res) == ["carol@corp.example"]


def test_it_orders_by_configured_field_then_header_order(owner, people):
    headers = parse("Cc: bob@corp.example", "To: carol@corp.example, alice@corp.example")
    assert addresses(run(headers, owner)) == [
        "carol@corp.example",
        "alice@corp.example",
        "bob@corp.example",
    ]
    headers = parse("X-Original-To: carol@corp.example", "Delivered-To: bob@corp.example")
    assert addresses(run(headers, owner)) == ["bob@corp.example", "carol@corp.example"]


def test_it_distributes_by_the_envelope_alone_when_it_names_an_accepted_address(owner, people):
    # bob is in To but was not an envelope recipient of this copy; carol was Bcc.
    headers = parse(
        "Delivered-To: alice@corp.example",
        "Delivered-To: carol@corp.example",
        "To: alice@corp.example, bob@corp.example",
    )
    res = run(headers, owner)
    assert addresses(res) == ["alice@corp.example", "carol@corp.example"]
    assert res.private


def test_it_reads_to_and_cc_when_the_envelope_names_no_accepted_address(owner, people):
    headers = parse(
        "Delivered-To: catchall@isp.example",
        "Received: from mx by isp for <catchall@isp.example>; Mon",
        "To: alice@corp.example",
        "Cc: bob@corp.example",
    )
    res = run(headers, owner)
    assert addresses(res) == ["alice@corp.example", "bob@corp.example"]
    assert not res.private


def test_it_reads_a_configured_custom_field_as_envelope(owner, people):
    gs = settings(header_fields=["X-Rcpt-To", "To"])
    res = run(parse("X-Rcpt-To: carol@corp.example", "To: bob@corp.example"), owner, gs)
    assert addresses(res) == ["carol@corp.example"] and res.private


def test_it_does_not_take_our_own_trace_for_the_envelope(owner, people):
    trace = trace_headers("pop.isp.example (pop3, account 1)", people["alice"].address)
    headers = parse(*trace.decode().splitlines(), "To: alice@corp.example, bob@corp.example")
    res = run(headers, owner)
    assert addresses(res) == ["bob@corp.example"] and res.loops == [people["alice"]]
    assert not res.private


def test_it_reads_groups(owner, people):
    headers = parse(
        "To: undisclosed-recipients:;",
        "Cc: Team: alice@corp.example, Bob <bob@corp.example>;, carol@corp.example",
    )
    assert addresses(run(headers, owner)) == [
        "alice@corp.example",
        "bob@corp.example",
        "carol@corp.example",
    ]


def test_it_only_has_an_empty_group_then_falls_back_to_owner(owner, people):
    res = run(parse("To: undisclosed-recipients:;"), owner)
    assert res.mailboxes == [owner]
    assert "no recipient in an accepted domain" in res.notes[0]


def test_it_handles_encoded_words(owner, people):
    headers = parse(
        # Encoded display name with a comma: one mailbox, not two.
        "To: =?utf-8?q?Sm=C3=B6rg=C3=A5s=2C_Alice?= <alice@corp.example>",
        # A broken mailer encoded the whole mailbox: "Bob <bob@corp.example>".
        "Cc: =?utf-8?b?Qm9iIDxib2JAY29ycC5leGFtcGxlPg==?=",
        # An address only inside an encoded display name is not a recipient.
        "X-Original-To: =?utf-8?q?Boss_=3Ccarol=40corp=2Eexample=3E?= <x@other.example>",
    )
    res = run(headers, owner)
    assert addresses(res) == ["alice@corp.example", "bob@corp.example"]
    headers = parse("Envelope-To: =?bogus-charset?q?zz?= <bob@corp.example>, =?utf-8?b?!!!?=")
    assert addresses(run(headers, owner)) == ["bob@corp.example"]


def test_it_ignores_comments(owner, people):
    headers = parse(
        "To: bob@corp.example (Bob (the (builder)) Smith), (carol@corp.example) alice@corp.example"
    )
    assert addresses(run(headers, owner)) == ["bob@corp.example", "alice@corp.example"]


def test_it_unquotes_quoted_local_parts(owner, people):
    jd = box("john.doe")
    headers = parse('To: "john.doe"@corp.example, "Carol" <"carol"@corp.example>')
    res = run(headers, owner)
    assert res.mailboxes == [jd, people["carol"]]


def test_it_never_raises_on_malformed_headers(owner, people):
    lines = [
        "To: Bob <bob@corp.example, bob@, @corp.example, <>, <<<>>>, nobody",
        'Cc: "unterminated <alice@corp.example>, ,,,;;;:',
        b"Delivered-To: \xff\xfe\x00 garbage \x80@corp.example",
        "X-Original-To: " + "(" * 5000 + "carol@corp.example",
        "Envelope-To: bob@[192.0.2.1], bob@corp..example, bob@-corp.example",
        b"Received: \xff\xfe for <\xff@corp.example",
        "X-Envelope-To",
        "Received: from x by y for",
    ]
    # The stdlib parser gives up on 5000 nested "(" (RecursionError); a plain scan
    # salvages carol, and as an envelope recipient she is then the only one.
    assert run(parse(*lines), owner).mailboxes == [people["carol"]]
    res = run(parse(*(ln for ln in lines if not str(ln).startswith("X-Original-To"))), owner)
    assert people["bob"] in res.mailboxes
    assert people["alice"] not in res.mailboxes  # lost inside an unterminated quote


def test_it_falls_back_to_owner_when_every_header_is_garbage(owner, people):
    res = run(parse("To: <<<", b"Cc: \xff\xfe", "Received: (((((("), owner)
    assert res.mailboxes == [owner]
    assert res.notes


def test_it_reads_utf8_addresses_from_raw_bytes(owner):
    anna = box("anna", "xn--bcher-kva.example")
    gs = settings(accepted_domains=["bücher.example"])
    res = run(parse("To: anna@b\xfccher.example".encode()), owner, gs)
    assert res.mailboxes == [anna]
    # An alias stored in Unicode is found whichever spelling the settings use
    # (SQLite stores it in the JSON list as b\u00fccher).
    zoe = box("zoe", "other.example", aliases=["zoe@b\xfccher.example"])
    gs = settings(accepted_domains=["xn--bcher-kva.example"])
    assert run(parse("To: zoe@xn--bcher-kva.example"), owner, gs).mailboxes == [zoe]


def test_it_reads_the_received_for_clause(owner, people):
    headers = parse(
        "Received: from mx.isp.example (mx [192.0.2.1]) by in.isp.example\n"
        "\twith ESMTP id 123 for <bob@corp.example>; Mon, 1 Jan 2024 10:00:00 +0000",
        "Received: from a by b with SMTP id 9 for carol@corp.example; Mon, 1 Jan 2024",
        "Received: from c (envelope-from <alice@corp.example>) (for <alice@corp.example>)"
        " by d; Mon",
        "Received: from host.for.example by e; Mon",
        "Received: from f by g FOR <Alice@Corp.Example>, <bob@corp.example>; Mon",
    )
    assert addresses(run(headers, owner)) == [
        "bob@corp.example",
        "carol@corp.example",
        "alice@corp.example",
    ]


def test_it_maps_aliases_to_their_mailbox(owner, people):
    sales = box("sales-team", aliases=["sales@corp.example", "info@corp.example"])
    res = run(parse("To: sales@corp.example, info@corp.example"), owner)
    assert res.mailboxes == [sales]


def test_it_finds_an_alias_in_an_accepted_domain_of_a_mailbox_elsewhere(owner):
    remote = box("dan", "other.example", aliases=["dan@corp.example"])
    assert run(parse("To: dan@corp.example"), owner).mailboxes == [remote]


def test_it_is_case_insensitive(owner, people):
    upper = box("eve")
    # Rows written around Mailbox.save() keep their case; matching must not care.
    Mailbox.objects.filter(pk=upper.pk).update(
        address="Eve@Corp.Example", aliases=["EV@CORP.EXAMPLE"]
    )
    gs = settings(accepted_domains=["Corp.EXAMPLE."])
    headers = parse("To: BOB@CORP.EXAMPLE, ev@corp.example", "Cc: eve@CORP.example")
    res = run(headers, owner, gs)
    assert [m.pk for m in res.mailboxes] == [people["bob"].pk, upper.pk]


def test_it_ignores_addresses_outside_accepted_domains(owner, people):
    box("bob", "other.example")
    headers = parse("To: bob@other.example, mallory@corp.example.evil, x@sub.corp.example")
    res = run(headers, owner, settings(reroute_unknown=True))
    assert res.mailboxes == [owner]
    assert res.dropped_unknown == 0


def test_it_reroutes_unknown_recipients_to_the_postmaster(owner, people):
    box("aaa-postmaster", "other.example", is_postmaster=True)
    pm = box("postmaster", is_postmaster=True)
    headers = parse("To: bob@corp.example, nobody@corp.example, ghost@corp.example")
    res = run(headers, owner, settings(reroute_unknown=True))
    assert res.mailboxes == [people["bob"], pm]
    assert res.dropped_unknown == 0
    assert "nobody@corp.example -> postmaster@corp.example" in res.notes[0]


def test_it_uses_the_first_postmaster_when_none_is_in_the_domain(owner, people):
    first = box("aaa", "zzz.example", is_postmaster=True)
    box("bbb", "aaa.example", is_postmaster=True)
    res = run(parse("To: nobody@corp.example"), owner, settings(reroute_unknown=True))
    assert res.mailboxes == [first]


def test_it_drops_and_counts_unknown_recipients_when_not_rerouting(owner, people):
    box("postmaster", is_postmaster=True)
    headers = parse("To: bob@corp.example, nobody@corp.example", "Cc: ghost@corp.example")
    res = run(headers, owner, settings(reroute_unknown=False))
    assert res.mailboxes == [people["bob"]]
    assert res.dropped_unknown == 2
    assert res.notes == [
        "2 unknown recipients not delivered (re-routing to the postmaster is off): "
        "nobody@corp.example, ghost@corp.example"
    ]


def test_it_drops_unknowns_when_rerouting_finds_no_postmaster(owner, people):
    res = run(
        parse("To: bob@corp.example, nobody@corp.example"), owner, settings(reroute_unknown=True)
    )
    assert res.mailboxes == [people["bob"]]
    assert res.dropped_unknown == 1
    assert "no postmaster mailbox" in res.notes[0]


def test_it_gives_a_message_without_known_recipient_to_the_owner(owner, people):
    res = run(parse("To: nobody@corp.example"), owner)
    assert res.mailboxes == [owner]
    assert res.dropped_unknown == 1
    assert res.notes[-1] == (
        "delivered to the account owner catchall@isp.example: no known recipient in the headers"
    )
    res = run(parse("Subject: no recipients at all"), owner)
    assert res.mailboxes == [owner]
    assert "no recipient in an accepted domain" in res.notes[0]


def test_it_resolves_each_envelope_recipient_once(owner, people):
    """The virtual POP3 classic: each user named in several fields still gets one copy;
    carol, only in Cc, was not an envelope recipient of this copy (she has her own)."""
    people["alice"].aliases = ["a.smith@corp.example"]
    people["alice"].save()
    headers = parse(
        "Received: from mx by isp for <alice@corp.example>; Mon",
        "Delivered-To: alice@corp.example",
        "X-Original-To: bob@corp.example",
        "To: Alice <alice@corp.example>, A. Smith <a.smith@corp.example>, bob@corp.example",
        "Cc: carol@corp.example, BOB@corp.example",
    )
    directory = Directory.load(settings())
    for _copy in range(3):  # three copies sit in the catch-all; dedupe is the caller's
        res = run(headers, owner, directory=directory)
        assert res.mailboxes == [people["alice"], people["bob"]]


def test_it_does_not_deliver_again_where_our_trace_says_it_was(owner, people):
    source = "pop.isp.example (pop3, account 7)"
    trace = trace_headers(source, people["bob"].address).decode().splitlines()
    headers = parse(*trace, "To: bob@corp.example, carol@corp.example")
    res = run(headers, owner)
    assert res.mailboxes == [people["carol"]]
    assert res.loops == [people["bob"]]
    assert "not delivered again to bob@corp.example" in res.notes[0]


def test_it_delivers_nothing_when_every_recipient_looped(owner, people):
    trace = trace_headers("pop.isp.example", people["bob"].address).decode().splitlines()
    res = run(parse(*trace, "To: bob@corp.example"), owner)
    assert res.mailboxes == []  # bob has it already; no owner fallback either
    assert res.loops == [people["bob"]]


def test_it_does_not_fall_back_to_an_owner_that_looped(owner):
    trace = trace_headers("pop.isp.example", owner.address).decode().splitlines()
    res = run(parse(*trace, "To: someone@else.example"), owner)
    assert res.mailboxes == [] and res.loops == [owner]
    assert not any("delivered to the account owner" in note for note in res.notes)


def test_it_does_not_take_a_remote_delivered_to_for_a_loop(owner, people):
    # Only both halves of our trace count; remote servers write Delivered-To too.
    headers = parse(
        "Delivered-To: bob@corp.example",
        "Received: from a by mx.isp.example for <carol@corp.example>; Mon",
        "Received: from b by popadmin for <alice@corp.example>; Mon",
        "To: alice@corp.example",
    )
    res = run(headers, owner)
    assert res.loops == []
    assert addresses(res) == ["bob@corp.example", "carol@corp.example", "alice@corp.example"]


def test_it_caps_the_recipients_and_says_who_missed_out(owner):
    names = [f"user{n:02}" for n in range(15)]
    for name in names:
        box(name)
    headers = parse("To: " + ", ".join(f"{n}@corp.example" for n in names))
    res = run(headers, owner, cap=2)
    assert addresses(res) == ["user00@corp.example", "user01@corp.example"]
    missed = ", ".join(f"user{n:02}@corp.example" for n in range(2, 12))
    assert res.notes == [
        f"recipient cap of 2 reached; 13 more recipients not delivered: {missed} and 3 more"
    ]
    assert len(run(headers, owner, cap=0).mailboxes) == 15  # 0 = no cap


def test_it_gives_catchall_mail_to_the_owner_when_parsing_is_off(
    owner, people, django_assert_num_queries
):
    gs = settings(parse_headers=False)
    with django_assert_num_queries(0):
        res = run(parse("To: bob@corp.example"), owner, gs)
    assert res.mailboxes == [owner]
    assert "parsing headers for recipients is turned off" in res.notes[0]


def test_it_delivers_single_mode_to_the_owner_only(owner, people, django_assert_num_queries):
    headers = parse("Delivered-To: catchall@isp.example", "To: bob@corp.example")
    gs = settings()
    with django_assert_num_queries(0):
        res = run(headers, owner, gs, mode="single")
    assert res.mailboxes == [owner]
    assert res.notes == [] and res.loops == []


def test_it_protects_single_mode_from_loops_only_on_our_trace(owner):
    trace = trace_headers("pop.isp.example", owner.address).decode().splitlines()
    res = run(parse(*trace, "To: someone@else.example"), owner, mode="single")
    assert res.mailboxes == [] and res.loops == [owner]


def test_it_costs_one_query_per_run_not_per_message(owner, people, django_assert_num_queries):
    gs = settings(reroute_unknown=True)
    box("postmaster", is_postmaster=True)
    with django_assert_num_queries(1):
        directory = Directory.load(gs)
    headers = parse("To: alice@corp.example, nobody@corp.example", "Cc: bob@corp.example")
    with django_assert_num_queries(0):
        for _ in range(100):
            run(headers, owner, gs, directory=directory)
    with django_assert_num_queries(1):
        run(headers, owner, gs)  # no directory: loads one itself


def test_it_bounds_the_work_on_huge_headers(owner, people):
    huge = "To: " + ", ".join(f"u{n}@corp.example" for n in range(100_000))
    res = run(parse(huge, "Cc: bob@corp.example"), owner)
    # Past the per-field budget the rest of the list is not read, and the cut
    # falls between addresses; the message still goes out.
    assert res.mailboxes == [people["bob"]]
    assert 1000 < res.dropped_unknown < 100_000
    assert "u99999@corp.example" not in res.notes[0]


def test_it_rejects_an_unknown_mode(owner):
    with pytest.raises(ValueError, match="unknown account mode"):
        run(parse("To: x@corp.example"), owner, mode="broadcast")
