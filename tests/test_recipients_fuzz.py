"""Property-based tests of the recipient resolver and the per-recipient copies.

Whatever the headers say: no crash, no mailbox outside the directory, no
address outside the accepted domains, never more copies than the cap, and
no copy whose envelope headers name another local recipient. Mailboxes are
unsaved rows with a pk and the Directory is built in memory, so a query
would fail the test: resolution must not touch the database per message.
"""

import tempfile
from email.parser import BytesHeaderParser
from email.policy import compat32

from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from accounts.models import Mailbox
from delivery.addresses import addresses_in, header_text, normalize_address, received_for
from delivery.envelope import ENVELOPE_FIELDS, private_copies
from delivery.recipients import DEFAULT_HEADER_FIELDS, Directory, is_envelope_field, resolve
from retrieval.models import GlobalSettings

DOMAINS = ["corp.example", "xn--bcher-kva.example"]
BOXES = [
    Mailbox(pk=1, address="alice@corp.example"),
    Mailbox(pk=2, address="bob@corp.example", aliases=["sales@corp.example"]),
    Mailbox(pk=3, address="carol@xn--bcher-kva.example"),
    Mailbox(pk=4, address="postmaster@corp.example", is_postmaster=True),
    Mailbox(pk=5, address="dan@other.example", aliases=["dan@corp.example"]),
]
OUTSIDER = Mailbox(pk=6, address="eve@other.example")  # in no accepted domain
OWNER = Mailbox(pk=9, address="catchall@isp.example")
DIRECTORY = Directory(DOMAINS, [*BOXES, OUTSIDER])

KNOWN = [
    "alice@corp.example", "ALICE@Corp.Example.", "sales@corp.example", "bob@corp.example",
    "carol@b\xfccher.example", "carol@xn--bcher-kva.example", "dan@corp.example",
    "eve@other.example", "ghost@corp.example", "postmaster@corp.example", "x@corp.example.evil",
]
FIELDS = [*DEFAULT_HEADER_FIELDS, "Bcc", "X-Rcpt-To", "Subject"]

known = st.sampled_from(KNOWN)
address = st.one_of(
    known,
    st.builds(
        "{}@{}".format,
        st.text(max_size=8),
        st.sampled_from(["corp.example", "Corp.Example", "other.example", "b\xfccher.example"]),
    ),
)
mention = st.one_of(
    address,
    st.builds("{} <{}>".format, st.text(max_size=12), address),
    st.builds("for <{}>".format, address),
    st.builds('"{}"@corp.example'.format, st.text(max_size=12)),
    st.builds("({}) {}".format, address, address),
    st.text(max_size=30),
)
text_value = st.lists(mention, max_size=5).flatmap(
    lambda parts: st.sampled_from([", ", ",", " ", "\n\t", ";", "\r"]).map(
        lambda sep: sep.join(parts)
    )
)
value = st.one_of(
    text_value.map(lambda t: t.encode("utf-8", "surrogatepass")),
    st.binary(max_size=80),
)
name = st.one_of(st.sampled_from(FIELDS).map(str.encode), st.binary(min_size=1, max_size=12))
headers = st.lists(st.tuples(name, value), max_size=12)
# Mostly envelope fields naming local people, mixed in among arbitrary headers.
envelope_name = st.sampled_from(
    [b"Delivered-To", b"X-Original-To", b"Envelope-To", b"X-Envelope-To", b"Received", b"X-Rcpt-To"]
)
envelope_value = st.lists(
    st.one_of(known, known.map("<{}>".format), mention), min_size=1, max_size=3
).map(lambda parts: ", ".join(parts).encode("utf-8", "surrogatepass"))
envelope_headers = st.tuples(
    st.lists(st.tuples(envelope_name, envelope_value), min_size=1, max_size=6), headers
).flatmap(lambda both: st.permutations(both[0] + both[1]))
knobs = st.fixed_dictionaries({
    "header_fields": st.lists(st.sampled_from(FIELDS), unique=True, max_size=8),
    "reroute_unknown": st.booleans(),
    "parse_headers": st.booleans(),
    "max_recipients": st.integers(0, 4),
})


def raw_message(pairs) -> bytes:
    return b"".join(n + b": " + v + b"\n" for n, v in pairs) + b"\nbody\n"


def global_settings(k) -> GlobalSettings:
    return GlobalSettings(
        accepted_domains=DOMAINS, header_fields=k["header_fields"],
        reroute_unknown=k["reroute_unknown"], parse_headers=k["parse_headers"],
    )


def parse(raw: bytes):
    return BytesHeaderParser(policy=compat32).parsebytes(raw)


def in_accepted_domain(mailbox) -> bool:
    names = [mailbox.address, *(mailbox.aliases or [])]
    return any(
        (a := normalize_address(n)) and DIRECTORY.accepts(a) for n in names
    )


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(pairs=headers, k=knobs, mode=st.sampled_from(["catchall", "catchall", "single"]))
def test_resolution_stays_inside_the_directory_and_the_cap(pairs, k, mode):
    res = resolve(
        parse(raw_message(pairs)), owner=OWNER, mode=mode, settings=global_settings(k),
        max_recipients=k["max_recipients"], directory=DIRECTORY,
    )
    chosen = res.mailboxes + res.loops
    assert all(m is OWNER or m in BOXES for m in chosen)  # never the outsider
    assert all(m is OWNER or in_accepted_domain(m) for m in chosen)
    assert len({m.pk for m in res.mailboxes}) == len(res.mailboxes)  # one copy each
    if k["max_recipients"]:
        assert len(res.mailboxes) <= k["max_recipients"]
    if mode == "single":
        assert res.mailboxes == [OWNER] and not res.private
    assert all(isinstance(note, str) for note in res.notes)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(pairs=envelope_headers, k=knobs)
def test_no_copy_names_another_local_recipient_in_its_envelope(pairs, k):
    k["parse_headers"] = True
    gs = global_settings(k)
    raw = raw_message(pairs)
    res = resolve(parse(raw), owner=OWNER, mode="catchall", settings=gs,
                  max_recipients=k["max_recipients"], directory=DIRECTORY)
    event(f"private copies: {res.private}, recipients: {len(res.mailboxes)}")
    if not res.private:
        return
    fields = {f.lower() for f in gs.header_fields if is_envelope_field(f)} | ENVELOPE_FIELDS
    with tempfile.TemporaryFile() as spool:
        spool.write(raw)
        copies = private_copies(spool, len(raw), res.mailboxes, DIRECTORY, gs)
        for mailbox in res.mailboxes:
            copy = copies[mailbox.pk]
            copy.seek(0)
            data = copy.read()
            assert len(data) == copy.size
            assert data.endswith(b"body\n")
            for field_name, field_value in parse(data).raw_items():
                lower = field_name.strip().lower()
                if lower not in fields | {"received"}:
                    continue
                extract = received_for if lower == "received" else addresses_in
                for addr in extract(header_text(field_value)):
                    if DIRECTORY.accepts(addr):
                        owner = DIRECTORY.recipient(addr, gs.reroute_unknown)
                        assert owner is not None and owner.pk == mailbox.pk, (addr, data)
