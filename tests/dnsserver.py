"""A tiny authoritative DNS server on 127.0.0.1 (UDP, dnspython), for the reach tests.

records maps a name to a list of answers, one per query of each type: the
n-th A (or AAAA) query for the name gets the A (AAAA) records of the n-th
entry, and the last entry repeats. So [["203.0.113.9"], ["10.0.0.1"]]
answers a public address first and a private one after (DNS rebinding).
Unknown names get NXDOMAIN. Every query is recorded in `queries`.

`rdata` serves other record types as text, the same answer every time:
{("_pop3s._tcp.example.test", "SRV"): ["0 1 995 localhost."],
 ("example.test", "MX"): ["10 mx.example.test."]}.
"""

from __future__ import annotations

import ipaddress
import socket
import threading

import dns.exception
import dns.flags
import dns.message
import dns.rcode
import dns.rdatatype
import dns.rrset


class DnsServer:
    def __init__(self, records: dict[str, list[list[str]]],
                 rdata: dict[tuple[str, str], list[str]] | None = None):
        self.records = {name.rstrip(".").lower(): answers for name, answers in records.items()}
        self.rdata = {(name.rstrip(".").lower(), rdtype.upper()): texts
                      for (name, rdtype), texts in (rdata or {}).items()}
        self.queries: list[tuple[str, str]] = []
        self._sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self._sock.bind(("127.0.0.1", 0))
        self.port = self._sock.getsockname()[1]
        self.address = f"127.0.0.1:{self.port}"
        self._thread = threading.Thread(target=self._serve, daemon=True)

    def __enter__(self) -> DnsServer:
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._sock.close()
        self._thread.join(timeout=5)

    def count(self, name: str, rdtype: str = "A") -> int:
        return self.queries.count((name.rstrip(".").lower(), rdtype))

    def _serve(self) -> None:
        while True:
            try:
                wire, peer = self._sock.recvfrom(4096)
            except OSError:
                return
            try:
                query = dns.message.from_wire(wire)
            except dns.exception.DNSException:
                continue  # not a query: no answer
            self._sock.sendto(self._answer(query).to_wire(), peer)

    def _answer(self, query: dns.message.Message) -> dns.message.Message:
        reply = dns.message.make_response(query)
        reply.flags |= dns.flags.AA
        question = query.question[0]
        name = question.name.to_text().rstrip(".").lower()
        rdtype = dns.rdatatype.to_text(question.rdtype)
        seen = self.count(name, rdtype)
        self.queries.append((name, rdtype))
        if (name, rdtype) in self.rdata:
            reply.answer.append(dns.rrset.from_text_list(
                question.name, 5, "IN", rdtype, self.rdata[(name, rdtype)]))
            return reply
        if any(known == name for known, _ in self.rdata):
            return reply  # the name exists, without records of this type
        if name not in self.records:
            reply.set_rcode(dns.rcode.NXDOMAIN)
            return reply
        answers = self.records[name]
        current = answers[min(seen, len(answers) - 1)]
        version = {"A": 4, "AAAA": 6}.get(rdtype)
        matching = [a for a in current if ipaddress.ip_address(a).version == version]
        if matching:
            reply.answer.append(
                dns.rrset.from_text_list(question.name, 5, "IN", rdtype, matching)
            )
        return reply
