"""The port table as data: its rows, the hosts' egress, the DC network ACL and the lab's nftables ruleset."""

from __future__ import annotations

import os
import shutil
import subprocess
from collections import Counter
from pathlib import Path

import pytest

from modules import ports
from modules.ports import ADMIN_TO_DC, CLIENT_TO_DC, DC_TO_DC, PORT_TABLE, Role

REPOSITORY_ROOT = Path(__file__).resolve().parents[2]

# The seed's tables, written out independently of the module (protocol, first port, last port).
SEED_CLIENT = {
    ("tcp", 53, 53), ("udp", 53, 53), ("tcp", 88, 88), ("udp", 88, 88), ("udp", 123, 123),
    ("tcp", 135, 135), ("udp", 137, 137), ("udp", 138, 138), ("tcp", 389, 389), ("udp", 389, 389),
    ("tcp", 445, 445), ("tcp", 464, 464), ("udp", 464, 464), ("tcp", 636, 636), ("tcp", 3268, 3268),
    ("tcp", 3269, 3269), ("tcp", 9389, 9389), ("tcp", 49152, 65535),
}  # fmt: skip
SEED_DC_TO_DC = {
    ("tcp", 53, 53), ("udp", 53, 53), ("tcp", 88, 88), ("udp", 88, 88), ("udp", 123, 123),
    ("tcp", 135, 135), ("udp", 137, 138), ("tcp", 139, 139), ("tcp", 389, 389), ("udp", 389, 389),
    ("tcp", 445, 445), ("tcp", 464, 464), ("udp", 464, 464), ("tcp", 636, 636), ("tcp", 3268, 3269),
    ("tcp", 5722, 5722), ("tcp", 9389, 9389), ("tcp", 49152, 65535), ("udp", 49152, 65535),
}  # fmt: skip
SEED_ADMIN = {("tcp", 443, 443), ("tcp", 3389, 3389), ("udp", 3389, 3389), ("tcp", 5985, 5985)}


def _ports(rows: tuple[ports.PortRule, ...]) -> set[tuple[str, int, int]]:
    return {(r.protocol, r.from_port, r.to_port) for r in rows}


@pytest.mark.parametrize(
    ("source", "seed"),
    [(Role.CLIENT, SEED_CLIENT), (Role.DOMAIN_CONTROLLER, SEED_DC_TO_DC), (Role.ADMIN, SEED_ADMIN)],
)
def test_each_table_is_the_seeds(source: Role, seed: set[tuple[str, int, int]]) -> None:
    # WHEN the rows from `source` to a domain controller are asked for
    rows = ports.rules_between(source, Role.DOMAIN_CONTROLLER)
    # THEN they are exactly the seed's, each once, each with a purpose
    assert _ports(rows) == seed
    assert len(rows) == len(seed)
    assert all(r.purpose and r.destination == Role.DOMAIN_CONTROLLER for r in rows)


def test_table_is_the_three_tables_and_nobody_else_talks() -> None:
    assert (*CLIENT_TO_DC, *DC_TO_DC, *ADMIN_TO_DC) == PORT_TABLE
    assert ports.rules_between(Role.DOMAIN_CONTROLLER, Role.CLIENT) == ()
    assert ports.rules_between(Role.CLIENT, Role.ADMIN) == ()
    # keys are unique inside each pair (they name the security group rules)
    for rows in (CLIENT_TO_DC, DC_TO_DC, ADMIN_TO_DC):
        assert len({r.key for r in rows}) == len(rows)


@pytest.mark.parametrize(
    ("protocol", "low", "high"), [("icmp", 1, 1), ("tcp", 0, 10), ("tcp", 20, 10), ("udp", 1, 65536)]
)
def test_a_row_refuses_bad_protocols_and_ranges(protocol: str, low: int, high: int) -> None:
    with pytest.raises(ValueError):
        ports.PortRule(Role.CLIENT, Role.DOMAIN_CONTROLLER, protocol, low, high, "x")


def test_member_egress_is_the_client_table_to_each_dc_network() -> None:
    # GIVEN two DC networks
    cidrs = ["10.1.0.0/24", "10.2.0.0/24"]
    # WHEN a member's egress is built
    rules = ports.egress_rules(cidrs)
    # THEN each client row goes to each network exactly once, and nothing else
    assert Counter((r.rule, r.cidr) for r in rules) == Counter(
        (row, c) for row in CLIENT_TO_DC for c in cidrs
    )
    assert set(Counter((r.rule, r.cidr) for r in rules).values()) == {1}
    # a tools host that also administers gets the admin rows on top
    tools = ports.egress_rules(cidrs[:1], roles=(Role.CLIENT, Role.ADMIN))
    assert {r.rule for r in tools} == set(CLIENT_TO_DC) | set(ADMIN_TO_DC)


@pytest.mark.parametrize("cidrs", [[], ["10.1.0.1/24"], ["fd00::/64"], ["corp"]])
def test_member_egress_refuses_bad_networks(cidrs: list[str]) -> None:
    with pytest.raises(ValueError):
        ports.egress_rules(cidrs)


# --- network ACL --------------------------------------------------------------------------------------


def _covering(
    entries: tuple[ports.AclEntry, ...], egress: bool, cidr: str, rule: ports.PortRule
) -> list[object]:
    return [
        e
        for e in entries
        if e.egress == egress
        and e.cidr == cidr
        and e.protocol == rule.protocol
        and e.from_port <= rule.from_port
        and rule.to_port <= e.to_port
    ]


def test_network_acl_covers_every_row_exactly_once_per_peer() -> None:
    # GIVEN clients, DC peers and an admin network
    peers = {
        "10.10.0.0/16": [Role.CLIENT],
        "10.20.0.0/24": [Role.DOMAIN_CONTROLLER],
        "192.168.1.0/24": [Role.ADMIN],
    }
    entries = ports.network_acl_entries(peers, endpoint_cidrs=["10.0.0.0/24"])
    # THEN every row of each peer's table is let in by exactly one entry from that peer
    for cidr, roles in peers.items():
        for role in roles:
            for rule in ports.rules_between(role, Role.DOMAIN_CONTROLLER):
                assert len(_covering(entries, False, cidr, rule)) == 1, (cidr, rule)
    # and the DCs may call their peers on every DC row (the other half of "both ways")
    for rule in DC_TO_DC:
        assert len(_covering(entries, True, "10.20.0.0/24", rule)) == 1, rule


def test_network_acl_allows_nothing_beyond_the_table_and_return_traffic() -> None:
    peers = {"10.10.0.0/16": [Role.CLIENT], "192.168.1.0/24": [Role.ADMIN]}
    entries = ports.network_acl_entries(peers)
    low, high = ports.EPHEMERAL_PORTS
    for entry in entries:
        if entry.egress:
            # answers only: to ephemeral ports, or to the ports Windows clients send NTP/NetBIOS from
            assert (entry.from_port, entry.to_port) == (low, high) or (
                entry.cidr == "10.10.0.0/16" and entry.protocol == "udp" and 123 <= entry.from_port <= 138
            ), entry
        else:
            role = Role.CLIENT if entry.cidr == "10.10.0.0/16" else Role.ADMIN
            allowed = ports.rules_between(role, Role.DOMAIN_CONTROLLER)
            for port in (entry.from_port, entry.to_port):
                assert any(r.covers(entry.protocol, port, port) for r in allowed), entry
    # clients never get inbound ephemeral ports below the dynamic RPC range (no return traffic is theirs)
    assert not [e for e in entries if not e.egress and e.from_port == low]


def test_one_summarised_network_fits_the_default_acl_quota() -> None:
    entries = ports.network_acl_entries({"10.0.0.0/16": list(Role)}, endpoint_cidrs=["10.0.0.0/16"])
    for egress in (False, True):
        assert len([e for e in entries if e.egress == egress]) <= 20


# --- nftables -------------------------------------------------------------------------------------------


def test_nftables_ruleset_drops_by_default_and_accepts_each_row_once() -> None:
    text = ports.nftables_ruleset(sources=["10.0.0.0/24"])
    assert "policy drop;" in text
    assert "ct state established,related accept" in text
    accepts = [line.strip() for line in text.splitlines() if " dport " in line]
    assert len(accepts) == len(CLIENT_TO_DC)
    for rule in CLIENT_TO_DC:
        expected = f"ip saddr {{ 10.0.0.0/24 }} {rule.protocol} dport {rule.port_text} accept"
        assert sum(line.startswith(expected + " ") for line in accepts) == 1, rule


def test_nftables_ruleset_without_a_row_does_not_accept_it() -> None:
    # GIVEN the client table without TCP 88 (the lab's Kerberos failure)
    rows = [r for r in CLIENT_TO_DC if r.key != "tcp-88"]
    text = ports.nftables_ruleset(rows)
    assert "tcp dport 88 " not in text and "udp dport 88 " in text


def test_nftables_ruleset_refuses_bad_names_and_networks() -> None:
    with pytest.raises(ValueError):
        ports.nftables_ruleset(table="dc; flush ruleset")
    with pytest.raises(ValueError):
        ports.nftables_ruleset(sources=["10.0.0.0/33"])


@pytest.mark.skipif(shutil.which("nft") is None, reason="nft is not installed")
def test_nftables_ruleset_parses(tmp_path: Path) -> None:
    path = tmp_path / "dc.nft"
    path.write_text(ports.nftables_ruleset(PORT_TABLE, sources=["10.0.0.0/24", "10.1.0.0/24"]))
    result = subprocess.run(["nft", "-c", "-f", str(path)], capture_output=True, text=True, timeout=30)
    if result.returncode != 0 and "Operation not permitted" in result.stderr:
        pytest.skip("nft -c needs root (CAP_NET_ADMIN)")
    assert result.returncode == 0, result.stderr


@pytest.mark.skipif(
    shutil.which("nft") is None or shutil.which("ip") is None or os.geteuid() != 0,
    reason="needs root, nft and ip (a network namespace of its own)",
)
def test_nftables_ruleset_loads_twice_as_one_table_in_a_namespace(tmp_path: Path) -> None:
    # GIVEN a fresh network namespace (the host's firewall is never touched)
    path = tmp_path / "dc.nft"
    path.write_text(ports.nftables_ruleset(sources=["10.0.0.0/24"]))
    namespace = f"edj-ports-{os.getpid()}"
    subprocess.run(["ip", "netns", "add", namespace], check=True, timeout=30)
    try:
        run = ["ip", "netns", "exec", namespace, "nft"]
        # WHEN the ruleset is loaded twice
        for _ in range(2):
            subprocess.run([*run, "-f", str(path)], check=True, capture_output=True, timeout=30)
        listed = subprocess.run(
            [*run, "list", "ruleset"], check=True, capture_output=True, text=True, timeout=30
        )
    finally:
        subprocess.run(["ip", "netns", "delete", namespace], check=False, timeout=30)
    # THEN there is one table, with one accept per client row, dropping the rest
    assert listed.stdout.count("table inet domain_controller") == 1
    assert listed.stdout.count("accept comment") == len(CLIENT_TO_DC)
    assert "policy drop;" in listed.stdout


# --- the doc ------------------------------------------------------------------------------------------


def test_docs_network_md_holds_the_current_table() -> None:
    text = (REPOSITORY_ROOT / "docs" / "network.md").read_text()
    assert ports.markdown_table() in text, "docs/network.md: paste ports.markdown_table() (the table changed)"
