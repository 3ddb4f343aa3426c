"""The port table is sufficient, shown on a real domain (issue 11's proof).

The DC's network namespace gets the default-drop nftables firewall that `modules/ports.py`
generates from its client table (sources: the lab's LAN).  Through it, the project's scripts prestage an
instance, join it with the one-time password, `kinit -k` with its keytab, log a domain user in through sssd
and remove the computer again.  Then the same generator without the TCP 88 row makes the join's preflight fail
with the Kerberos reason, and the domain without its `_ldap._tcp.dc._msdcs` SRV record makes it fail with the
DNS reason.  The firewall and the record are restored after each test (the lab is shared by the session).
"""

from __future__ import annotations

import shutil
import subprocess
import time
from collections.abc import Iterator

import pytest

from handlers.domain_join.naming import computer_name, one_time_password, ownership_stamp
from modules import ports

from .adlab import DC_IP, DOMAIN, OU_DN, REALM, Lab, parse_results, random_instance_id
from .test_realad import pam_login, start_sssd

pytestmark = pytest.mark.realad

LAN = "10.251.0.0/24"
TABLE = "domain_controller"
LDAP_SRV_ZONE, LDAP_SRV_NAME = f"_msdcs.{DOMAIN}", "_ldap._tcp.dc"


def ruleset(rows: tuple[ports.PortRule, ...] = ports.CLIENT_TO_DC) -> str:
    return ports.nftables_ruleset(rows, sources=[LAN], table=TABLE)


def without_tcp_88() -> tuple[ports.PortRule, ...]:
    rows = tuple(rule for rule in ports.CLIENT_TO_DC if not rule.covers("tcp", 88, 88))
    assert len(rows) == len(ports.CLIENT_TO_DC) - 1
    return rows


def only_result(completed: subprocess.CompletedProcess[str]) -> dict[str, object]:
    results = parse_results(completed.stdout)
    assert len(results) == 1, completed.stdout + completed.stderr
    return results[0]


@pytest.fixture(scope="module")
def firewall(ad_lab: Lab) -> Iterator[Lab]:
    """GIVEN the DC behind the client table's default-drop firewall (removed again after the module)."""
    if shutil.which("nft") is None:
        pytest.skip("realad firewall: nft (Debian package nftables) is not installed")
    # TCP 139 (NetBIOS session) is served by Samba but not in the client table: it shows the drop works.
    assert ad_lab.tcp_answers(ad_lab.tools, DC_IP, 139), "samba should serve TCP 139 without a firewall"
    ad_lab.load_firewall(ruleset())
    try:
        yield ad_lab
    finally:
        ad_lab.clear_firewall(TABLE)


def test_the_firewall_drops_what_the_client_table_does_not_list(firewall: Lab) -> None:
    listed = firewall.dc.run(["nft", "list", "table", "inet", TABLE]).stdout
    assert "policy drop;" in listed
    assert listed.count("accept comment") == len(ports.CLIENT_TO_DC)
    assert not firewall.tcp_answers(firewall.tools, DC_IP, 139)
    assert firewall.tcp_answers(firewall.tools, DC_IP, 389)


def test_prestage_join_kinit_login_and_remove_pass_through_the_client_table(firewall: Lab) -> None:
    # GIVEN a fresh instance named as the handler names it
    instance = firewall.new_instance("fwweb")
    instance_id = random_instance_id()
    name, otp = computer_name(instance_id), one_time_password()
    stamp = ownership_stamp("111122223333", "eu-west-1", instance_id)

    # WHEN the tools host prestages it and the instance joins with the one-time password, through the firewall
    prestage = firewall.prestage(f"{name}={otp}={stamp}")
    started = time.monotonic()
    join = firewall.join(instance, instance_id, f"{instance_id}={name}={otp}")
    join_seconds = time.monotonic() - started

    # THEN both worked, the preflight passed and named no check
    assert prestage.returncode == 0, prestage.stderr
    assert only_result(prestage)["status"] == "created"
    assert join.returncode == 0, join.stderr
    result = only_result(join)
    assert (result["status"], result["check"]) == ("joined", ""), join.stderr
    assert f"preflight passed: dc1.{DOMAIN} ({DC_IP})" in join.stderr
    print(f"\nrealad firewall: join with preflight took {join_seconds:.1f}s")
    assert firewall.computer(name)["dn"] == [f"CN={name},{OU_DN}"]

    # AND the keytab works, and sssd lets the login group's member in
    kinit = instance.run(["kinit", "-k", f"{name}$@{REALM}"], env={"KRB5CCNAME": "MEMORY:"})
    assert kinit.returncode == 0, kinit.stderr
    login = pam_login(start_sssd(firewall, instance), firewall.member, firewall.member_password)
    assert login.returncode == 0, login.stderr
    assert "account management done" in login.stdout

    # AND the tools host removes the computer through the firewall too
    removed = firewall.remove(f"{name}={stamp}")
    assert removed.returncode == 0, removed.stderr
    assert only_result(removed)["status"] == "deleted"
    assert firewall.computer(name) == {}


def test_without_tcp_88_the_preflight_fails_with_the_kerberos_reason(firewall: Lab) -> None:
    # GIVEN the firewall generated from the client table without its TCP 88 row, and a prestaged instance
    instance = firewall.new_instance("fwno88")
    instance_id = random_instance_id()
    name, otp = computer_name(instance_id), one_time_password()
    prestage = firewall.prestage(f"{name}={otp}={ownership_stamp('111122223333', 'eu-west-1', instance_id)}")
    assert prestage.returncode == 0, prestage.stderr
    firewall.load_firewall(ruleset(without_tcp_88()), name="dc-firewall-no-88.nft")
    try:
        # WHEN the instance joins
        # (no waiting: the preflight would otherwise try again for --wait-seconds, 600 s by default)
        join = firewall.join(instance, instance_id, f"{instance_id}={name}={otp}", "--wait-seconds", "0")
    finally:
        firewall.load_firewall(ruleset())
    # THEN the preflight stops it with the Kerberos port's code, check and reason; the object is untouched
    result = only_result(join)
    assert (join.returncode, result["status"], result["check"]) == (16, "preflight-failed", "port-88"), (
        join.stderr
    )
    assert str(result["message"]) == (
        f"domain controller {DC_IP} (dc1.{DOMAIN}) does not answer on TCP 88 (Kerberos): "
        "check the security groups and network ACLs (docs/network.md)"
    )
    assert "servicePrincipalName" not in firewall.computer(name)


def test_without_the_srv_record_the_preflight_fails_with_the_dns_reason(firewall: Lab) -> None:
    # GIVEN the domain without its _ldap._tcp.dc._msdcs SRV record (restored afterwards)
    instance = firewall.new_instance("fwnosrv")
    instance_id = random_instance_id()
    name, otp = computer_name(instance_id), one_time_password()
    records = firewall.srv_records(LDAP_SRV_ZONE, LDAP_SRV_NAME)
    assert records, "the provisioned domain should have the record"
    for record in records:
        firewall.samba_dns("delete", DC_IP, LDAP_SRV_ZONE, LDAP_SRV_NAME, "SRV", record)
    try:
        assert firewall.srv_records(LDAP_SRV_ZONE, LDAP_SRV_NAME) == []
        # WHEN the instance joins
        join = firewall.join(instance, instance_id, f"{instance_id}={name}={otp}", "--wait-seconds", "0")
    finally:
        for record in records:
            firewall.samba_dns("add", DC_IP, LDAP_SRV_ZONE, LDAP_SRV_NAME, "SRV", record)
    assert firewall.srv_records(LDAP_SRV_ZONE, LDAP_SRV_NAME) == records
    # THEN the preflight stops it with the DNS code, check and reason
    result = only_result(join)
    assert (join.returncode, result["status"], result["check"]) == (15, "preflight-failed", "dns"), (
        join.stderr
    )
    assert str(result["message"]) == (
        f"no SRV record _ldap._tcp.dc._msdcs.{DOMAIN} (asked {DC_IP}): is the Route 53 Resolver rule for "
        f"{DOMAIN} associated with this VPC (or DnsIpAddresses set)?"
    )
