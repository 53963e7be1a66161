"""A real DNS server on loopback (dnslib, UDP) whose answers a test changes while it runs: the
stand-in for a Kubernetes headless Service whose ready pods come and go."""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Iterator
from typing import Any

from dnslib import AAAA, QTYPE, RCODE, RR, A
from dnslib.server import BaseResolver, DNSLogger, DNSServer

from tests.deploy.harness import free_port


class Zone(BaseResolver):  # type: ignore[misc]
    """Answers ``name`` with the current ``addresses`` (A for IPv4, AAAA for IPv6); any other name
    is NXDOMAIN; ``failing`` answers SERVFAIL. Counts the queries it answered."""

    def __init__(self, name: str) -> None:
        self.name = name.rstrip(".") + "."
        self.addresses: list[str] = []
        self.failing = False
        self.queries = 0
        self._lock = threading.Lock()

    def set(self, *addresses: str) -> None:
        with self._lock:
            self.addresses = list(addresses)

    def resolve(self, request: Any, handler: Any) -> Any:
        reply = request.reply()
        with self._lock:
            self.queries += 1
            qname, qtype = request.q.qname, QTYPE[request.q.qtype]
            if self.failing:
                reply.header.rcode = RCODE.SERVFAIL
            elif str(qname) != self.name:
                reply.header.rcode = RCODE.NXDOMAIN
            else:
                for address in self.addresses:
                    if qtype == "A" and ":" not in address:
                        reply.add_answer(RR(qname, QTYPE.A, rdata=A(address), ttl=5))
                    elif qtype == "AAAA" and ":" in address:
                        reply.add_answer(RR(qname, QTYPE.AAAA, rdata=AAAA(address), ttl=5))
        return reply


@contextlib.contextmanager
def dns_server(zone: Zone) -> Iterator[str]:
    """Serve ``zone`` on 127.0.0.1 over UDP; yields the ``nameserver`` config value ``127.0.0.1:PORT``."""
    port = free_port()
    server = DNSServer(zone, address="127.0.0.1", port=port, logger=DNSLogger("-request,-reply,-truncated"))
    server.start_thread()
    try:
        yield f"127.0.0.1:{port}"
    finally:
        server.stop()
        server.server.server_close()  # stop() leaves the UDP socket open
