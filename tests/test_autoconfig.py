"""Server settings suggested from an address: SRV records (RFC 6186) first, then
known providers, then the domain's MX records; asked of a real local DNS server."""

import socket
import time

import pytest

from retrieval.autoconfig import suggest
from tests.dnsserver import DnsServer


def served(rdata):
    return DnsServer({}, rdata=rdata)


def test_it_suggests_srv_records_in_rfc_6186_order():
    rdata = {
        ("_imaps._tcp.example.test", "SRV"): ["0 1 993 imap.example.test."],
        ("_pop3s._tcp.example.test", "SRV"): ["10 1 995 pop-b.example.test.",
                                              "5 1 995 pop-a.example.test."],
        ("_imap._tcp.example.test", "SRV"): ["0 0 0 ."],  # decidedly not offered
    }
    with served(rdata) as dns_server:
        found = suggest("me@Example.test", [dns_server.address])

    assert [(s.protocol, s.security, s.host, s.port) for s in found] == [
        ("pop3", "tls", "pop-a.example.test", 995),  # lowest priority first
        ("imap", "tls", "imap.example.test", 993),
    ]
    assert found[0].source == "DNS SRV record _pop3s._tcp.example.test"
    assert found[0].label == "POP3 TLS pop-a.example.test:995"


def test_it_falls_back_to_a_known_provider():
    with served({}) as dns_server:
        found = suggest("someone@gmail.com", [dns_server.address])

    assert [(s.protocol, s.host, s.port) for s in found] == [
        ("imap", "imap.gmail.com", 993), ("pop3", "pop.gmail.com", 995)]
    assert found[0].source == "known provider Gmail"


def test_it_recognises_a_provider_behind_a_custom_domain_by_its_mx():
    rdata = {("firm.test", "MX"): ["10 firm-test.mail.protection.outlook.com."]}
    with served(rdata) as dns_server:
        found = suggest("boss@firm.test", [dns_server.address])

    assert found[0].host == "outlook.office365.com"
    assert "Microsoft 365" in found[0].source


def test_it_offers_an_unknown_mail_exchanger_as_a_guess():
    rdata = {("small.test", "MX"): ["20 backup.small.test.", "10 mail.small.test."]}
    with served(rdata) as dns_server:
        found = suggest("me@small.test", [dns_server.address])

    assert [(s.protocol, s.host) for s in found] == [("imap", "mail.small.test"),
                                                     ("pop3", "mail.small.test")]
    assert "a guess" in found[0].source


def test_it_finds_nothing_for_an_unknown_domain():
    with served({}) as dns_server:
        assert suggest("me@nowhere.test", [dns_server.address]) == []
    assert suggest("not-an-address", []) == []


def test_it_gives_up_quickly_when_dns_does_not_answer():
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as silent:
        silent.bind(("127.0.0.1", 0))  # bound, never answers
        started = time.monotonic()
        found = suggest("me@example.test", [f"127.0.0.1:{silent.getsockname()[1]}"])
        elapsed = time.monotonic() - started

    assert found == []
    assert elapsed < 4  # one timed-out query, not one per record type


@pytest.mark.parametrize("domain,host", [
    ("outlook.com", "outlook.office365.com"), ("yahoo.com", "imap.mail.yahoo.com"),
    ("icloud.com", "imap.mail.me.com"), ("gmx.de", "imap.gmx.net"),
    ("web.de", "imap.web.de"), ("fastmail.com", "imap.fastmail.com"),
])
def test_it_knows_the_common_providers(domain, host):
    with served({}) as dns_server:
        assert suggest(f"me@{domain}", [dns_server.address])[0].host == host
