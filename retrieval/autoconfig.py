"""Server settings suggested from an email address (self-service "address first").

In order: the domain's own DNS SRV records (RFC 6186), then a table of
well-known providers, then the domain's mail exchangers (MX), which name the
provider behind a custom domain or, failing that, a host worth a try. Every
suggestion says where it came from; the user tests it before saving.
"""

from __future__ import annotations

from dataclasses import dataclass

import dns.exception
import dns.resolver
from django.conf import settings

from popadmin.net.reach import make_resolver

# RFC 6186 services, in the order we prefer them, and what each one means here.
SRV_SERVICES = (
    ("_pop3s._tcp", "pop3", "tls"),
    ("_imaps._tcp", "imap", "tls"),
    ("_imap._tcp", "imap", "starttls"),
    ("_pop3._tcp", "pop3", "starttls"),
)
# Each lookup waits at most this long; the page answers within a few seconds
# even when DNS is dead (the first timeout ends the search).
QUERY_SECONDS = 2.0


@dataclass(frozen=True)
class Provider:
    name: str
    imap: str | None
    pop3: str | None
    domains: tuple[str, ...]
    mx_suffixes: tuple[str, ...]  # mail exchangers that mean this provider
    oauth: str = ""  # the OAuthProvider preset that signs in here, if any


PROVIDERS = (
    Provider("Gmail", "imap.gmail.com", "pop.gmail.com", ("gmail.com", "googlemail.com"),
             ("google.com", "googlemail.com"), oauth="google"),
    Provider("Outlook / Microsoft 365", "outlook.office365.com", "outlook.office365.com",
             ("outlook.com", "hotmail.com", "live.com", "msn.com", "outlook.de", "hotmail.de"),
             ("mail.protection.outlook.com", "outlook.com"), oauth="microsoft"),
    Provider("Yahoo", "imap.mail.yahoo.com", "pop.mail.yahoo.com",
             ("yahoo.com", "ymail.com", "yahoo.de", "yahoo.co.uk"), ("yahoodns.net",)),
    Provider("iCloud", "imap.mail.me.com", None, ("icloud.com", "me.com", "mac.com"),
             ("icloud.com", "me.com")),
    Provider("GMX", "imap.gmx.net", "pop.gmx.net",
             ("gmx.de", "gmx.net", "gmx.at", "gmx.ch", "gmx.com"), ("gmx.net", "gmx.com")),
    Provider("WEB.DE", "imap.web.de", "pop3.web.de", ("web.de",), ("web.de",)),
    Provider("Fastmail", "imap.fastmail.com", "pop.fastmail.com",
             ("fastmail.com", "fastmail.fm"), ("messagingengine.com", "fastmail.com")),
)


@dataclass(frozen=True)
class Suggestion:
    protocol: str  # "pop3" / "imap"
    security: str  # "tls" / "starttls"
    host: str
    port: int
    source: str  # where it came from, in words
    oauth: str = ""  # the OAuthProvider preset of a provider that wants OAuth2 sign-in

    @property
    def label(self) -> str:
        kind = {"tls": "TLS", "starttls": "STARTTLS"}[self.security]
        return f"{self.protocol.upper()} {kind} {self.host}:{self.port}"


def domain_of(address: str) -> str:
    _, _, domain = address.strip().rpartition("@")
    return domain.strip().rstrip(".").lower()


def suggest(address: str, nameservers=None) -> list[Suggestion]:
    """Suggestions for the address, best first; empty when nothing is known."""
    domain = domain_of(address)
    if not domain or "." not in domain:
        return []
    nameservers = settings.POPADMIN_DNS_SERVERS if nameservers is None else nameservers
    resolver = make_resolver(nameservers, QUERY_SECONDS)
    lookup = _Lookup(resolver)
    found = _from_srv(domain, lookup)
    if found:
        return found
    provider = next((p for p in PROVIDERS if domain in p.domains), None)
    if provider:
        return _from_provider(provider, f"known provider {provider.name}")
    return _from_mx(domain, lookup)


class _Lookup:
    """DNS queries that give up on the first timeout: a dead resolver costs one wait."""

    def __init__(self, resolver):
        self.resolver = resolver
        self.dead = False

    def __call__(self, name: str, rdtype: str) -> list:
        if self.dead:
            return []
        try:
            return list(self.resolver.resolve(name, rdtype, search=False))
        except dns.exception.Timeout:
            self.dead = True
        except dns.exception.DNSException:
            pass
        return []


def _from_srv(domain: str, lookup: _Lookup) -> list[Suggestion]:
    found = []
    for service, protocol, security in SRV_SERVICES:
        name = f"{service}.{domain}"
        records = sorted(lookup(name, "SRV"), key=lambda r: (r.priority, -r.weight))
        for record in records:
            target = record.target.to_text().rstrip(".").lower()
            if not target:  # "." : the service is decidedly not offered (RFC 6186 3.4)
                continue
            found.append(Suggestion(protocol, security, target, record.port,
                                    f"DNS SRV record {name}"))
            break
    return found


def _from_provider(provider: Provider, source: str) -> list[Suggestion]:
    found = []
    if provider.imap:
        found.append(Suggestion("imap", "tls", provider.imap, 993, source, provider.oauth))
    if provider.pop3:
        found.append(Suggestion("pop3", "tls", provider.pop3, 995, source, provider.oauth))
    return found


def _from_mx(domain: str, lookup: _Lookup) -> list[Suggestion]:
    records = sorted(lookup(domain, "MX"), key=lambda r: r.preference)
    hosts = [r.exchange.to_text().rstrip(".").lower() for r in records]
    hosts = [h for h in hosts if h]
    for host in hosts:
        for provider in PROVIDERS:
            if any(host == s or host.endswith("." + s) for s in provider.mx_suffixes):
                return _from_provider(provider, f"mail exchanger {host} ({provider.name})")
    if hosts:
        source = f"mail exchanger of {domain} (a guess: test it)"
        return [Suggestion("imap", "tls", hosts[0], 993, source),
                Suggestion("pop3", "tls", hosts[0], 995, source)]
    return []
