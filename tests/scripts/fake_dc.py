"""A fake domain controller for the join script's preflight, run inside a private network namespace.

    python fake_dc.py CONFIG.json READY_FILE

It answers DNS over UDP 53 on the DC's address and 127.0.0.53 (the domain's SRV records and the DC's A
record), accepts TCP connections on the DC's ports, and answers an LDAP search on 389 with a rootDSE
`currentTime`.  What it serves is read from CONFIG.json (every key optional):

    {"domain": "corp.example.com", "dc": "dc1.corp.example.com", "address": "127.0.0.1",
     "srv": ["ldap", "kerberos"], "closed": [88], "clock_offset": 0, "dns": true, "a_record": true}

`srv`: which of `_ldap._tcp.dc._msdcs.DOMAIN` and `_kerberos._tcp.DOMAIN` exist (a missing one is NXDOMAIN);
`closed`: TCP ports not listened on; `clock_offset`: seconds added to the time it reports; `dns: false`: no
DNS server at all; `a_record: false`: the DC's name has no address; `extra_dcs`: that many more DCs in each
SRV answer, listed first at a worse priority; `formerr_edns`: queries with an EDNS record get FORMERR;
`late`: {port: seconds} ports that open only that long after the start.  It touches READY_FILE once every
socket listens.
"""

from __future__ import annotations

import json
import socket
import socketserver
import struct
import sys
import threading
import time
from pathlib import Path

PORTS = (88, 389, 445, 464)


def encode_name(name: str) -> bytes:
    return b"".join(bytes([len(label)]) + label.encode() for label in name.split(".")) + b"\0"


def tlv(tag: int, content: bytes) -> bytes:
    """BER tag-length-value (definite length, short or long form)."""
    if len(content) < 128:
        return bytes([tag, len(content)]) + content
    length = len(content).to_bytes(2, "big")
    return bytes([tag, 0x82]) + length + content


class Config:
    def __init__(self, path: Path) -> None:
        data = json.loads(path.read_text())
        self.domain: str = data.get("domain", "corp.example.com")
        self.dc: str = data.get("dc", f"dc1.{self.domain}")
        self.address: str = data.get("address", "127.0.0.1")
        self.srv: list[str] = data.get("srv", ["ldap", "kerberos"])
        self.closed: list[int] = data.get("closed", [])
        self.clock_offset: int = data.get("clock_offset", 0)
        self.dns: bool = data.get("dns", True)
        self.a_record: bool = data.get("a_record", True)
        self.extra_dcs: int = data.get("extra_dcs", 0)
        self.formerr_edns: bool = data.get("formerr_edns", False)
        self.late: dict[int, float] = {
            int(port): float(delay) for port, delay in data.get("late", {}).items()
        }

    def records(self) -> dict[tuple[str, int], list[bytes]]:
        """(name, type) -> RDATA of each record."""
        found: dict[tuple[str, int], list[bytes]] = {}
        names = {"ldap": f"_ldap._tcp.dc._msdcs.{self.domain}", "kerberos": f"_kerberos._tcp.{self.domain}"}
        ports = {"ldap": 389, "kerberos": 88}
        for kind in self.srv:
            # Other DCs first in the answer, at a worse priority (10): the script must sort them.
            others = [
                struct.pack(">HHH", 10, 100, ports[kind]) + encode_name(f"dc{n + 2}.{self.domain}")
                for n in range(self.extra_dcs)
            ]
            found[(names[kind], 33)] = [
                *others,
                struct.pack(">HHH", 0, 100, ports[kind]) + encode_name(self.dc),
            ]
        if self.a_record:
            found[(self.dc, 1)] = [socket.inet_aton(self.address)]
        return found


def dns_answer(
    query: bytes, records: dict[tuple[str, int], list[bytes]], formerr_edns: bool = False
) -> bytes:
    labels, position = [], 12
    while query[position]:
        length = query[position]
        labels.append(query[position + 1 : position + 1 + length].decode())
        position += 1 + length
    qtype = struct.unpack(">H", query[position + 1 : position + 3])[0]
    question = query[12 : position + 5]
    name = ".".join(labels).lower()
    rdatas = records.get((name, qtype), [])
    exists = any(key[0] == name for key in records)
    rcode = 0 if exists else 3
    if formerr_edns and struct.unpack(">H", query[10:12])[0] > 0:  # an old server that refuses EDNS
        return query[:2] + struct.pack(">HHHHH", 0x8181, 1, 0, 0, 0) + question
    header = query[:2] + struct.pack(">HHHHH", 0x8180 | rcode, 1, len(rdatas), 0, 0)
    answers = b"".join(
        b"\xc0\x0c" + struct.pack(">HHIH", qtype, 1, 60, len(rdata)) + rdata for rdata in rdatas
    )
    return header + question + answers


def root_dse_entry(offset: int) -> bytes:
    now = time.strftime("%Y%m%d%H%M%S.0Z", time.gmtime(time.time() + offset)).encode()
    attribute = tlv(0x30, tlv(0x04, b"currentTime") + tlv(0x31, tlv(0x04, now)))
    entry = tlv(0x64, tlv(0x04, b"") + tlv(0x30, attribute))
    done = tlv(0x65, tlv(0x0A, b"\0") + tlv(0x04, b"") + tlv(0x04, b""))
    return tlv(0x30, tlv(0x02, b"\x01") + entry) + tlv(0x30, tlv(0x02, b"\x01") + done)


def main() -> None:
    config = Config(Path(sys.argv[1]))
    records = config.records()

    class Dns(socketserver.BaseRequestHandler):
        def handle(self) -> None:
            data, sock = self.request
            sock.sendto(dns_answer(data, records, config.formerr_edns), self.client_address)

    class Tcp(socketserver.BaseRequestHandler):
        def handle(self) -> None:
            if self.server.server_address[1] == 389:
                self.request.settimeout(5)
                if self.request.recv(4096):
                    self.request.sendall(root_dse_entry(config.clock_offset))
            time.sleep(0.2)

    servers: list[socketserver.BaseServer] = []
    socketserver.ThreadingUDPServer.allow_reuse_address = True
    socketserver.ThreadingTCPServer.allow_reuse_address = True
    if config.dns:
        # One socket per address, so answers leave from the address asked (127.0.0.53: systemd-resolved's).
        servers += [socketserver.ThreadingUDPServer((ip, 53), Dns) for ip in (config.address, "127.0.0.53")]
    servers += [
        socketserver.ThreadingTCPServer(("0.0.0.0", port), Tcp)  # noqa: S104 - private netns
        for port in PORTS
        if port not in config.closed and port not in config.late
    ]
    for server in servers:
        threading.Thread(target=server.serve_forever, daemon=True).start()

    def open_late(port: int) -> None:
        socketserver.ThreadingTCPServer(("0.0.0.0", port), Tcp).serve_forever()  # noqa: S104 - private netns

    for port, delay in config.late.items():
        # Nothing listens until then: connections are refused.
        timer = threading.Timer(delay, open_late, args=(port,))
        timer.daemon = True
        timer.start()
    Path(sys.argv[2]).touch()
    threading.Event().wait()


if __name__ == "__main__":
    main()
