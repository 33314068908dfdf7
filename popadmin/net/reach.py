"""Which addresses a restricted account may reach, decided before connecting.

An account a user set up must not turn the worker into a probe of the
internal network (SSRF): its host is resolved once, here, every address is
checked, and the socket then connects to exactly those addresses, so a DNS
answer that changes between the check and the connect (rebinding) cannot
redirect it. TLS still verifies the certificate against the host name.
"""

from __future__ import annotations

import ipaddress
import re
import socket
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from .errors import ConnectError, ProtocolError
from .text import printable

if TYPE_CHECKING:
    import dns.nameserver
    import dns.resolver

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network

DEFAULT_PORTS = (110, 995, 143, 993)

# Instance metadata services hand out cloud credentials: never reachable,
# whatever an allow-list says (AWS/GCP/Azure, AWS IPv6, ECS tasks, Alibaba).
METADATA = frozenset(
    ipaddress.ip_address(a)
    for a in ("169.254.169.254", "fd00:ec2::254", "169.254.170.2", "100.100.100.200")
)
NAT64 = ipaddress.ip_network("64:ff9b::/96")
IPV4_COMPATIBLE = ipaddress.ip_network("::/96")


class ReachRefused(ProtocolError):
    """The account may not connect there; retrying will not change that."""


class PortRefused(ReachRefused):
    """The port is not on the allow-list."""


def embedded_ipv4(ip: IPAddress) -> ipaddress.IPv4Address | None:
    """The IPv4 address an IPv6 one carries, where the network would deliver to it."""
    if ip.version == 4:
        return None
    if ip.ipv4_mapped:
        return ip.ipv4_mapped
    if ip.sixtofour:
        return ip.sixtofour
    if ip.teredo:
        return ip.teredo[1]
    if ip in NAT64 or (ip in IPV4_COMPATIBLE and int(ip) > 1):
        return ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF)
    return None


def forbidden(ip: IPAddress) -> str:
    """Why a restricted account may not reach this address, or "" if it is public."""
    if ip in METADATA:
        return "cloud metadata address"
    inner = embedded_ipv4(ip)
    if inner is not None:
        why = forbidden(inner)
        return f"{why}, as IPv6 {ip}" if why else ""
    for test, why in (
        ("is_unspecified", "unspecified address"),
        ("is_loopback", "loopback address"),
        ("is_link_local", "link-local address"),
        ("is_multicast", "multicast address"),
        ("is_reserved", "reserved address"),
        ("is_private", "private address"),
    ):
        if getattr(ip, test):
            return why
    if not ip.is_global:  # 100.64/10 shared (carrier-grade NAT), documentation ranges...
        return "address that is not publicly routable"
    return ""


LABEL = r"[a-z0-9_]([a-z0-9_-]{0,61}[a-z0-9])?"
HOST_NAME = re.compile(rf"(?=.{{1,253}}$){LABEL}(\.{LABEL})*")


def parse_reach_entry(entry) -> IPNetwork | str:
    """An allow-list entry: a network ("10.0.0.0/8", "fd12::/64", an address)
    or a host name (lowercase, no trailing dot); ValueError otherwise."""
    text = str(entry).strip().rstrip(".").lower() if isinstance(entry, str) else ""
    try:
        return ipaddress.ip_network(text, strict=False)
    except ValueError:
        pass
    if HOST_NAME.fullmatch(text):
        return text
    raise ValueError(f"{printable(str(entry), 60)!r} is neither a network nor a host name")


def policy_from(ports, entries, nameservers=()) -> ReachPolicy:
    networks, hosts = [], set()
    for entry in entries:
        parsed = parse_reach_entry(entry)
        if isinstance(parsed, str):
            hosts.add(parsed)
        else:
            networks.append(parsed)
    return ReachPolicy(
        ports=frozenset(int(p) for p in ports),
        networks=tuple(networks),
        hosts=frozenset(hosts),
        nameservers=tuple(n for n in nameservers if n.strip()),
    )


def parse_nameserver(text: str) -> dns.nameserver.Do53Nameserver:
    """ "9.9.9.9", "9.9.9.9:5353", "[2620:fe::fe]:53" or "2620:fe::fe"."""
    text = text.strip()
    host, port = text, 53
    if text.startswith("["):
        host, _, rest = text[1:].partition("]")
        if rest.startswith(":"):
            port = int(rest[1:])
    elif text.count(":") == 1:
        host, _, tail = text.partition(":")
        port = int(tail)
    ipaddress.ip_address(host)  # a name server is given by address
    import dns.nameserver  # only a restricted account's lookup needs dnspython

    return dns.nameserver.Do53Nameserver(host, port)


def make_resolver(nameservers, timeout: float) -> dns.resolver.Resolver:
    """A resolver asking these name servers (empty: the system's configuration)."""
    import dns.resolver  # only a restricted account's lookup needs dnspython

    nameservers = [n for n in nameservers if n.strip()]
    resolver = dns.resolver.Resolver(configure=not nameservers)
    if nameservers:
        resolver.nameservers = [parse_nameserver(n) for n in nameservers]
    resolver.lifetime = timeout
    return resolver


@dataclass(frozen=True)
class ReachPolicy:
    """What a restricted account may reach: public addresses on allowed ports,
    plus the internal hosts and networks an administrator allowed."""

    ports: frozenset[int] = frozenset(DEFAULT_PORTS)
    networks: tuple[IPNetwork, ...] = ()
    hosts: frozenset[str] = frozenset()  # lowercase, without a trailing dot
    nameservers: tuple[str, ...] = ()  # empty: the system's resolver configuration
    resolve_timeout: float = field(default=10.0)

    def __call__(self, host: str, port: int, timeout: float) -> list[str]:
        return self.check(host, port, min(timeout, self.resolve_timeout))

    def check(self, host: str, port: int, timeout: float = 10.0) -> list[str]:
        """The checked addresses to connect to; raises ReachRefused or ConnectError."""
        if port not in self.ports:
            allowed = ", ".join(str(p) for p in sorted(self.ports)) or "none"
            raise PortRefused(
                f"port {port} is not allowed for this account (allowed ports: {allowed})"
            )
        name = host.strip().rstrip(".").lower()
        named = name in self.hosts
        addresses = self.resolve(name, timeout, fallback=named)
        for ip in addresses:
            self._allow(host, ip, named)
        return [str(ip) for ip in addresses]

    def _allow(self, host: str, ip: IPAddress, named: bool) -> None:
        if ip in METADATA or embedded_ipv4(ip) in METADATA:
            why = "cloud metadata address"
        elif named or any(self._in(ip, net) for net in self.networks):
            return
        else:
            why = forbidden(ip)
            if not why:
                return
        shown = printable(host, 100)
        if shown != str(ip):
            shown += f" ({ip})"
        raise ReachRefused(
            f"refused to connect to {shown}: {why}. This account may only reach public "
            "addresses; an administrator can allow internal hosts or networks in the "
            "global settings"
        )

    @staticmethod
    def _in(ip: IPAddress, net: IPNetwork) -> bool:
        inner = embedded_ipv4(ip)
        return ip in net or (inner is not None and inner in net)

    def resolve(self, name: str, timeout: float, fallback: bool = False) -> list[IPAddress]:
        try:
            return [ipaddress.ip_address(name)]
        except ValueError:
            pass
        import dns.exception
        import dns.resolver

        resolver = make_resolver(self.nameservers, timeout)
        found: list[IPAddress] = []
        failure = None
        for rdtype in ("A", "AAAA"):
            try:
                answer = resolver.resolve(name, rdtype, search=False)
            except (dns.resolver.NoAnswer, dns.resolver.NXDOMAIN) as exc:
                failure = failure or exc
                continue
            except dns.exception.DNSException as exc:
                failure = exc
                break
            found += [ipaddress.ip_address(r.address) for r in answer]
        if found:
            return list(dict.fromkeys(found))
        if fallback:
            # A host the administrator named may live only in /etc/hosts,
            # which dnspython does not read; its addresses are trusted anyway.
            return _system_lookup(name)
        if isinstance(failure, dns.exception.Timeout):
            shown = printable(name, 100)
            raise ConnectError(f"DNS lookup of {shown} timed out after {timeout:g} s")
        raise ConnectError(f"host not found: {printable(name, 100)}")


def _system_lookup(name: str) -> list[IPAddress]:
    try:
        infos = socket.getaddrinfo(name, None, type=socket.SOCK_STREAM)
    except socket.gaierror:
        raise ConnectError(f"host not found: {printable(name, 100)}")
    return list(dict.fromkeys(ipaddress.ip_address(i[4][0].split("%")[0]) for i in infos))
