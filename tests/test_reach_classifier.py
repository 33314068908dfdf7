"""The address classifier and policy of restricted accounts, without a network."""

import ipaddress

import pytest

from popadmin.net.errors import ConnectError
from popadmin.net.reach import (
    PortRefused,
    ReachPolicy,
    ReachRefused,
    forbidden,
    parse_nameserver,
    parse_reach_entry,
    policy_from,
)

REFUSED = {
    "127.0.0.1": "loopback",
    "127.255.0.9": "loopback",
    "0.0.0.0": "unspecified",
    "10.1.2.3": "private",
    "172.16.0.1": "private",
    "192.168.1.1": "private",
    "169.254.1.1": "link-local",
    "169.254.169.254": "cloud metadata",
    "169.254.170.2": "cloud metadata",
    "100.100.100.200": "cloud metadata",
    "100.64.0.1": "not publicly routable",  # carrier-grade NAT
    "100.127.255.254": "not publicly routable",
    "192.0.2.10": "private",  # documentation
    "198.18.0.1": "private",  # benchmarking
    "224.0.0.1": "multicast",
    "239.255.255.250": "multicast",
    "240.0.0.1": "reserved",
    "255.255.255.255": "reserved",
    "::": "unspecified",
    "::1": "loopback",
    "fe80::1": "link-local",
    "fc00::1": "private",
    "fd00:ec2::254": "cloud metadata",
    "ff02::1": "multicast",
    "ff0e::1": "multicast",
    "2001:db8::1": "private",  # documentation
    "::ffff:127.0.0.1": "loopback address, as IPv6",
    "::ffff:10.0.0.1": "private address, as IPv6",
    "::ffff:169.254.169.254": "cloud metadata address, as IPv6",
    "::ffff:0.0.0.0": "unspecified address, as IPv6",
    "::127.0.0.1": "loopback address, as IPv6",  # IPv4-compatible (deprecated)
    "64:ff9b::a00:1": "private address, as IPv6",  # NAT64 of 10.0.0.1
    "64:ff9b::7f00:1": "loopback address, as IPv6",
    "2002:7f00:1::1": "loopback address, as IPv6",  # 6to4 of 127.0.0.1
    "2001:0:4136:e378:8000:63bf:f5ff:fffe": "private",  # Teredo
}
ALLOWED = ["8.8.8.8", "1.1.1.1", "93.184.215.14", "2606:4700::1111", "::ffff:8.8.8.8",
           "64:ff9b::808:808"]


@pytest.mark.parametrize("address, why", REFUSED.items())
def test_it_refuses_non_public_addresses_in_every_form(address, why):
    assert why in forbidden(ipaddress.ip_address(address))


@pytest.mark.parametrize("address", ALLOWED)
def test_it_allows_public_addresses(address):
    assert forbidden(ipaddress.ip_address(address)) == ""


def policy(*entries, ports=(110, 995, 143, 993)) -> ReachPolicy:
    return policy_from(ports, entries)


def test_it_checks_an_address_literal_without_dns():
    assert policy().check("8.8.8.8", 995) == ["8.8.8.8"]
    with pytest.raises(ReachRefused, match=r"refused to connect to 127.0.0.1: loopback address"):
        policy().check("127.0.0.1", 995)


def test_it_refuses_ports_outside_the_allow_list():
    with pytest.raises(PortRefused, match=r"port 25 is not allowed .*110, 143, 993, 995"):
        policy().check("8.8.8.8", 25)
    assert policy(ports=[2110]).check("8.8.8.8", 2110) == ["8.8.8.8"]


def test_an_allowed_network_opens_internal_addresses_including_mapped_forms():
    allowed = policy("10.0.0.0/8", "127.0.0.1")
    assert allowed.check("10.9.9.9", 110) == ["10.9.9.9"]
    assert allowed.check("::ffff:10.9.9.9", 110) == ["::ffff:10.9.9.9"]
    assert allowed.check("127.0.0.1", 110) == ["127.0.0.1"]
    with pytest.raises(ReachRefused, match="private address"):
        allowed.check("192.168.0.1", 110)


def test_metadata_stays_refused_even_inside_an_allowed_network():
    allowed = policy("169.254.0.0/16", "0.0.0.0/0", "::/0")
    assert allowed.check("169.254.1.1", 110) == ["169.254.1.1"]
    for address in ("169.254.169.254", "::ffff:169.254.169.254", "fd00:ec2::254"):
        with pytest.raises(ReachRefused, match="cloud metadata"):
            allowed.check(address, 110)


def test_an_allowed_host_name_falls_back_to_the_system_resolver():
    # "localhost" is in /etc/hosts, which dnspython does not read.
    allowed = policy_from([110], ["LocalHost."], ["127.0.0.1:9"])  # a DNS server nobody runs
    addresses = allowed.check("localhost", 110, timeout=1)
    assert addresses and all(ipaddress.ip_address(a).is_loopback for a in addresses)


def test_a_name_nothing_resolves_is_a_connect_error():
    unresolved = policy_from([110], [], ["127.0.0.1:9"])
    with pytest.raises(ConnectError):
        unresolved.check("mail.nowhere.invalid", 110, timeout=1)


@pytest.mark.parametrize(
    "entry, parsed",
    [("10.0.0.0/8", "10.0.0.0/8"), ("10.1.2.3/8", "10.0.0.0/8"), ("fd00::/8", "fd00::/8"),
     ("192.168.1.5", "192.168.1.5/32"), ("Mail.Internal.", "mail.internal")],
)
def test_it_reads_allow_list_entries(entry, parsed):
    assert str(parse_reach_entry(entry)) == parsed


@pytest.mark.parametrize("entry", ["", "not a host", "-bad.example", "a..b", 42, None])
def test_it_rejects_bad_allow_list_entries(entry):
    with pytest.raises(ValueError):
        parse_reach_entry(entry)


@pytest.mark.parametrize(
    "text, address, port",
    [("9.9.9.9", "9.9.9.9", 53), ("127.0.0.1:5353", "127.0.0.1", 5353),
     ("[::1]:5300", "::1", 5300), ("2620:fe::fe", "2620:fe::fe", 53)],
)
def test_it_reads_dns_server_addresses(text, address, port):
    server = parse_nameserver(text)
    assert (server.address, server.port) == (address, port)
