"""The Active Directory port tables, as data: who talks to a domain controller on which port, and why.

Pure (no cdktf, no boto3): the modules' security groups and network ACLs, the member and tools hosts'
egress, the lab's nftables firewall and ``docs/network.md`` are all generated from :data:`PORT_TABLE`.
Transcribed from the seed "Securely extend and access on-premises Active Directory domain controllers in
AWS" and the standard Windows Server port list for domain controllers.

Three roles talk to a domain controller:

- ``client``: a domain member (joined instance, tools host) -> DC;
- ``domain-controller``: DC <-> DC replication, in both directions (one row stands for both);
- ``admin``: a bastion or admin network -> DC (HTTPS, RDP, WinRM).

Example::

    >>> [r.port_text for r in rules_between(Role.ADMIN, Role.DOMAIN_CONTROLLER) if r.protocol == "tcp"]
    ['443', '3389', '5985']
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import Final


class Role(StrEnum):
    """Who sends the traffic (or receives it)."""

    CLIENT = "client"
    DOMAIN_CONTROLLER = "domain-controller"
    ADMIN = "admin"


PROTOCOLS: Final = ("tcp", "udp")
# Responses of a stateless filter (network ACL) go to the peer's source port: Windows uses 49152-65535,
# Linux 32768-60999, NAT devices 1024-65535 (AWS's guidance for network ACLs).
EPHEMERAL_PORTS: Final = (1024, 65535)
DYNAMIC_RPC_PORTS: Final = (49152, 65535)
HTTPS_PORT: Final = 443  # interface endpoints (Systems Manager, KMS, CloudWatch Logs)
DNS_PORT: Final = 53
RDP_PORT: Final = 3389


@dataclass(frozen=True)
class PortRule:
    """One row of the table: `source` may open `protocol` connections to `destination` on these ports.

    Parameters:
        source: who opens the connection (or sends the datagram).
        destination: who listens.
        protocol: ``tcp`` or ``udp``.
        from_port: first port, inclusive.
        to_port: last port, inclusive (``from_port`` for a single port).
        purpose: what the port is for, as written in the docs.
    """

    source: Role
    destination: Role
    protocol: str
    from_port: int
    to_port: int
    purpose: str

    def __post_init__(self) -> None:
        if self.protocol not in PROTOCOLS:
            raise ValueError(f"protocol {self.protocol!r} is not one of {PROTOCOLS}")
        if not 0 < self.from_port <= self.to_port <= 65535:
            raise ValueError(f"ports {self.from_port}-{self.to_port} are not a range of 1-65535")

    @property
    def port_text(self) -> str:
        """``88`` or ``49152-65535``."""
        return str(self.from_port) if self.from_port == self.to_port else f"{self.from_port}-{self.to_port}"

    @property
    def key(self) -> str:
        """A short unique identifier inside one (source, destination) pair, e.g. ``tcp-49152-65535``."""
        return f"{self.protocol}-{self.port_text}"

    def covers(self, protocol: str, from_port: int, to_port: int) -> bool:
        """True when this rule's ports include all of `from_port`-`to_port` of `protocol`."""
        return protocol == self.protocol and self.from_port <= from_port and to_port <= self.to_port


def _rows(
    source: Role, destination: Role, entries: Iterable[tuple[str, int | tuple[int, int], str]]
) -> tuple[PortRule, ...]:
    rows = []
    for protocols, ports, purpose in entries:
        low, high = ports if isinstance(ports, tuple) else (ports, ports)
        for protocol in protocols.split("/"):
            rows.append(PortRule(source, destination, protocol, low, high, purpose))
    return tuple(rows)


CLIENT, DC, ADMIN = Role.CLIENT, Role.DOMAIN_CONTROLLER, Role.ADMIN

CLIENT_TO_DC: Final = _rows(
    CLIENT,
    DC,
    [
        ("tcp/udp", 53, "DNS"),
        ("tcp/udp", 88, "Kerberos authentication"),
        ("udp", 123, "W32Time (NTP): the Kerberos clock"),
        ("tcp", 135, "RPC endpoint mapper"),
        ("udp", 137, "NetBIOS name service"),
        ("udp", 138, "NetBIOS datagram service (DFSN, Netlogon)"),
        ("tcp/udp", 389, "LDAP (UDP: CLDAP, the DC locator)"),
        ("tcp", 445, "SMB (Group Policy, SYSVOL, Netlogon)"),
        ("tcp/udp", 464, "Kerberos password change (kpasswd)"),
        ("tcp", 636, "LDAP over TLS"),
        ("tcp", 3268, "Global catalog"),
        ("tcp", 3269, "Global catalog over TLS"),
        ("tcp", 9389, "Active Directory Web Services (PowerShell AD module)"),
        ("tcp", DYNAMIC_RPC_PORTS, "Dynamic RPC (Netlogon, LSA, SAM, certificate enrollment)"),
    ],
)

DC_TO_DC: Final = _rows(
    DC,
    DC,
    [
        ("tcp/udp", 53, "DNS (AD-integrated zones, forwarders)"),
        ("tcp/udp", 88, "Kerberos authentication"),
        ("udp", 123, "W32Time (NTP): the domain time hierarchy"),
        ("tcp", 135, "RPC endpoint mapper (replication)"),
        ("udp", (137, 138), "NetBIOS name and datagram services"),
        ("tcp", 139, "NetBIOS session service (legacy SMB, FRS)"),
        ("tcp/udp", 389, "LDAP (UDP: CLDAP, the DC locator)"),
        ("tcp", 445, "SMB (SYSVOL, DFSR, Netlogon)"),
        ("tcp/udp", 464, "Kerberos password change (kpasswd)"),
        ("tcp", 636, "LDAP over TLS"),
        ("tcp", (3268, 3269), "Global catalog (and over TLS)"),
        ("tcp", 5722, "RPC, DFSR (SYSVOL replication, Windows Server 2008 and later)"),
        ("tcp", 9389, "Active Directory Web Services"),
        ("tcp/udp", DYNAMIC_RPC_PORTS, "Dynamic RPC (AD replication, DFSR, FRS)"),
    ],
)

ADMIN_TO_DC: Final = _rows(
    ADMIN,
    DC,
    [
        ("tcp", HTTPS_PORT, "HTTPS (Windows Admin Center)"),
        ("tcp/udp", RDP_PORT, "Remote Desktop (UDP: its faster transport)"),
        ("tcp", 5985, "WinRM over HTTP (PowerShell remoting)"),
    ],
)

PORT_TABLE: Final = (*CLIENT_TO_DC, *DC_TO_DC, *ADMIN_TO_DC)
"""Every row, in documentation order: client, DC <-> DC, admin."""


def rules_between(source: Role, destination: Role) -> tuple[PortRule, ...]:
    """The rows where `source` opens connections to `destination` (empty when they never talk)."""
    return tuple(r for r in PORT_TABLE if r.source == source and r.destination == destination)


def _check_cidr(cidr: str) -> str:
    network = ipaddress.ip_network(cidr, strict=True)  # ValueError names the bad value
    if network.version != 4:
        raise ValueError(f"{cidr!r}: only IPv4 networks are supported")
    return str(network)


# --- the hosts' egress --------------------------------------------------------------------------------


@dataclass(frozen=True)
class AddressedRule:
    """A row of the table bound to the network at the far end (an egress or ingress rule of one host)."""

    rule: PortRule
    cidr: str


def egress_rules(
    dc_cidrs: Sequence[str], roles: Sequence[Role] = (Role.CLIENT,)
) -> tuple[AddressedRule, ...]:
    """What a member (roles ``client``) or a tools/admin host (``client`` and ``admin``) must reach: each row
    from one of `roles` to a domain controller, once per DC network.  Nothing else (add DNS-only or HTTPS
    egress for endpoints separately)."""
    if not dc_cidrs:
        raise ValueError("dc_cidrs: at least one domain-controller network is needed")
    cidrs = [_check_cidr(c) for c in dc_cidrs]
    return tuple(
        AddressedRule(rule, cidr) for role in roles for rule in rules_between(role, DC) for cidr in cidrs
    )


# --- network ACLs (stateless) ---------------------------------------------------------------------------


@dataclass(frozen=True)
class AclEntry:
    """One network ACL rule of the DC subnets: allow `protocol` to destination ports `from_port`-`to_port`."""

    egress: bool
    protocol: str
    from_port: int
    to_port: int
    cidr: str


# Return traffic of a stateless filter towards a client goes to the client's source port: an ephemeral port,
# except for the services whose Windows clients send from the service's own port (W32Time, NetBIOS).
_CLIENT_SOURCE_PORTS: Final = (("udp", 123, 123), ("udp", 137, 138))


def _merge(ranges: Iterable[tuple[int, int]]) -> list[tuple[int, int]]:
    """Union of inclusive ranges, adjacent ones joined: no port outside the inputs is added."""
    merged: list[tuple[int, int]] = []
    for low, high in sorted(ranges):
        if merged and low <= merged[-1][1] + 1:
            merged[-1] = (merged[-1][0], max(merged[-1][1], high))
        else:
            merged.append((low, high))
    return merged


def network_acl_entries(
    peers: Mapping[str, Sequence[Role]], endpoint_cidrs: Sequence[str] = ()
) -> tuple[AclEntry, ...]:
    """The allow rules of a network ACL on the DC subnets, from the table.

    `peers` maps each network to the roles it plays towards the DCs (``client``, ``admin``,
    ``domain-controller``).  A network ACL is stateless, so besides the table's rows (inbound) it needs the
    return traffic: outbound to a client's or admin's ephemeral ports (and UDP 123/137/138, which Windows
    sends from), and, for the DC peers that the DCs themselves call, the table outbound and the ephemeral
    ports inbound.  `endpoint_cidrs` are the VPC's interface endpoints (HTTPS out, ephemeral in).

    Per network, direction and protocol the port ranges are merged (adjacent or overlapping ranges joined,
    none widened), so every row is covered by exactly one entry; the count stays within the default quota
    of 20 rules per direction for a network or two (one summarised CIDR for all roles needs 17).
    """
    wanted: dict[tuple[bool, str, str], list[tuple[int, int]]] = {}

    def allow(egress: bool, protocol: str, low: int, high: int, cidr: str) -> None:
        wanted.setdefault((egress, cidr, protocol), []).append((low, high))

    for cidr_text, roles in peers.items():
        cidr = _check_cidr(cidr_text)
        for role in roles:
            for rule in rules_between(Role(role), DC):
                allow(False, rule.protocol, rule.from_port, rule.to_port, cidr)
            if Role(role) == DC:  # the DCs call their peers too: the table outbound, and its answers
                for rule in DC_TO_DC:
                    allow(True, rule.protocol, rule.from_port, rule.to_port, cidr)
                for protocol in PROTOCOLS:
                    allow(False, protocol, *EPHEMERAL_PORTS, cidr)
            for protocol in PROTOCOLS:  # answers to the peer's connections
                allow(True, protocol, *EPHEMERAL_PORTS, cidr)
            if Role(role) == CLIENT:
                for protocol, low, high in _CLIENT_SOURCE_PORTS:
                    allow(True, protocol, low, high, cidr)
    for cidr_text in endpoint_cidrs:
        cidr = _check_cidr(cidr_text)
        allow(True, "tcp", HTTPS_PORT, HTTPS_PORT, cidr)
        allow(False, "tcp", *EPHEMERAL_PORTS, cidr)
    return tuple(
        AclEntry(egress, protocol, low, high, cidr)
        for (egress, cidr, protocol), ranges in sorted(wanted.items())
        for low, high in _merge(ranges)
    )


# --- the lab's firewall (nftables) ------------------------------------------------------------------------


def _nft_ports(rule: PortRule) -> str:
    return str(rule.from_port) if rule.from_port == rule.to_port else f"{rule.from_port}-{rule.to_port}"


def nftables_ruleset(
    rules: Sequence[PortRule] = CLIENT_TO_DC,
    *,
    sources: Sequence[str] = (),
    table: str = "domain_controller",
    allow_icmp: bool = True,
) -> str:
    """An nftables ruleset for a domain controller: default-drop input that lets in exactly `rules`.

    `sources` (IPv4 CIDRs) limit who may connect; empty means any address.  Loopback and the answers to
    the host's own connections (established, related) pass; ICMP passes when `allow_icmp` (path MTU
    discovery, ping).  The table is deleted and recreated, so loading the file twice gives one table:
    ``nft -f FILE`` (``nft -c -f FILE`` only checks it).
    """
    if not table.replace("_", "").isalnum():
        raise ValueError(f"table {table!r}: letters, digits and _ only")
    saddr = ""
    if sources:
        cidrs = [_check_cidr(c) for c in sources]
        saddr = f"ip saddr {{ {', '.join(cidrs)} }} "
    lines = [
        f"table inet {table}",
        f"delete table inet {table}",
        f"table inet {table} {{",
        "\tchain input {",
        "\t\ttype filter hook input priority filter; policy drop;",
        "\t\tct state established,related accept",
        "\t\tct state invalid drop",
        '\t\tiif "lo" accept',
    ]
    if allow_icmp:
        lines.append("\t\tmeta l4proto { icmp, ipv6-icmp } accept")
    for rule in rules:
        purpose = rule.purpose.replace('"', "'")
        lines.append(
            f'\t\t{saddr}{rule.protocol} dport {_nft_ports(rule)} accept comment "{rule.source}: {purpose}"'
        )
    lines += ["\t}", "}", ""]
    return "\n".join(lines)


# --- documentation ------------------------------------------------------------------------------------------


def markdown_table(rules: Sequence[PortRule] = PORT_TABLE) -> str:
    """The table as Markdown (docs/network.md embeds it; a test keeps it current)."""
    lines = ["| Source | Destination | Protocol | Ports | Purpose |", "|---|---|---|---|---|"]
    for rule in rules:
        arrow_destination = f"{rule.destination} (both ways)" if rule.source == rule.destination else ""
        destination = arrow_destination or str(rule.destination)
        lines.append(
            f"| {rule.source} | {destination} | {rule.protocol.upper()} | {rule.port_text} | {rule.purpose} |"
        )
    return "\n".join(lines) + "\n"
