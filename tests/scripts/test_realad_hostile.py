"""Hostile and unusual inputs that need a real directory (see conftest.py for the lab).

A newline in the OU once put a second record into prestage's LDIF (it reset a foreign computer's password and
created an unstamped object); an OU with non-ASCII letters came back from LDAP base64-encoded and every
retry failed; a sudo group given as DOMAIN\\group or group@domain was written to sudoers verbatim while sssd
reports the short name, so sudo was silently not granted.
"""

from __future__ import annotations

import pytest

from .adlab import (
    BASE_DN,
    DOMAIN,
    OU_DN,
    REALM,
    Lab,
    parse_results,
    random_instance_id,
    random_otp,
    stamp_for,
)
from .test_realad import only_result, start_sssd

pytestmark = pytest.mark.realad


@pytest.mark.parametrize(
    "tail",
    [
        "\ndn: CN={victim},{ou}\nchangetype: modify\nreplace: description\ndescription: {stamp}\n-",
        "\n",
        "\r\nCN={victim}",
    ],
    ids=["second-record", "trailing-newline", "crlf"],
)
def test_prestage_refuses_an_ou_with_a_newline_without_touching_the_directory(ad_lab: Lab, tail: str) -> None:
    # GIVEN a computer someone else owns in the delegated OU
    instance_id = random_instance_id()
    name, victim = "NL-" + instance_id[-8:].upper(), "VICTIM-" + instance_id[-6:].upper()
    stamp = stamp_for(instance_id)
    ad_lab.create_foreign_computer(victim, None)
    before = ad_lab.computer(victim)
    # WHEN prestage is run directly with an OU that carries a newline (and LDIF after it)
    refused = ad_lab.prestage(
        f"{name}={random_otp()}={stamp}", ou=OU_DN + tail.format(victim=victim, ou=OU_DN, stamp=stamp)
    )
    # THEN it refuses the argument (exit 2) before logging in, and the directory is as it was
    assert refused.returncode == 2, refused.stdout + refused.stderr
    assert only_result(refused)["status"] == "invalid-arguments"
    assert "kinit" not in refused.stderr
    assert ad_lab.computer(name) == {}
    assert ad_lab.computer(victim) == before


def test_an_instance_joins_into_an_ou_with_a_non_ascii_name(ad_lab: Lab) -> None:
    # GIVEN an OU named with non-ASCII letters, delegated to the join user like the lab's own OU
    ou = ad_lab.add_ou("Büro Zürich")
    instance = ad_lab.new_instance("buero")
    instance_id = random_instance_id()
    name, stamp = "BUERO-" + instance_id[-8:].upper(), stamp_for(instance_id)
    dn = f"CN={name},{ou}"
    # WHEN the tools host prestages it there, then retries (a redelivered event) before the instance joined
    created = ad_lab.prestage(f"{name}={random_otp()}={stamp}", ou=ou)
    otp = random_otp()
    reset = ad_lab.prestage(f"{name}={otp}={stamp}", ou=ou)
    # THEN the object is created, then found again (LDAP answers its DN in base64) and its OTP reset
    assert (created.returncode, only_result(created)["status"]) == (0, "created"), created.stderr
    assert ad_lab.computer(name)["dn"] == [dn]
    assert (reset.returncode, only_result(reset)) == (
        0,
        {
            "computerName": name,
            "status": "reset",
            "exitCode": 0,
            "message": f"{dn} is ours; one-time password reset",
        },
    ), reset.stderr
    # WHEN the instance joins with the reset OTP THEN it works, and a later prestage leaves it alone
    join = ad_lab.join(instance, instance_id, f"{instance_id}={name}={otp}")
    assert (join.returncode, only_result(join)["status"]) == (0, "joined"), join.stderr
    kinit = instance.run(["kinit", "-k", f"{name}$@{REALM}"], env={"KRB5CCNAME": "MEMORY:"})
    assert kinit.returncode == 0, kinit.stderr
    again = ad_lab.prestage(f"{name}={random_otp()}={stamp}", ou=ou)
    assert (again.returncode, only_result(again)["status"]) == (0, "already-joined"), again.stderr
    assert dn in str(only_result(again)["message"])
    # AND remove deletes it, naming its real DN
    removed = ad_lab.remove(f"{name}={stamp}")
    assert (removed.returncode, only_result(removed)) == (
        0,
        {"computerName": name, "status": "deleted", "exitCode": 0, "message": f"deleted {dn}"},
    ), removed.stderr
    assert ad_lab.computer(name) == {}


@pytest.mark.parametrize("form", ["DJ\\{group}", "{group}@" + DOMAIN], ids=["netbios", "upn"])
def test_a_sudo_group_in_long_form_grants_sudo_to_its_members(ad_lab: Lab, form: str) -> None:
    # GIVEN an instance joined with the sudo group (and login group) written as DJ\group or group@domain
    group = form.format(group=ad_lab.login_group)
    instance = ad_lab.new_instance("sudo" + ("nb" if "\\" in form else "upn"))
    instance_id = random_instance_id()
    name, otp = "SUDO-" + instance_id[-8:].upper(), random_otp()
    assert ad_lab.prestage(f"{name}={otp}={stamp_for(instance_id)}").returncode == 0
    join = ad_lab.join(
        instance, instance_id, f"{instance_id}={name}={otp}", login_group=group, sudo_group=group
    )
    assert (join.returncode, only_result(join)["status"]) == (0, "joined"), join.stderr
    # THEN sudoers and sssd name the group as sssd reports it
    rule = instance.path("/etc/sudoers.d/ec2-domain-join").read_text().splitlines()[-1]
    assert rule == f"%{ad_lab.login_group} ALL=(ALL:ALL) ALL"
    assert f"simple_allow_groups = {ad_lab.login_group}" in instance.path("/etc/sssd/sssd.conf").read_text()
    # AND sudo, resolving the domain's users through sssd, grants the member and only the member
    start_sssd(ad_lab, instance)
    member = instance.run(["sudo", "-l", "-U", ad_lab.member])
    assert member.returncode == 0, member.stderr
    assert "(ALL : ALL) ALL" in member.stdout
    outsider = instance.run(["sudo", "-l", "-U", ad_lab.outsider])
    assert "(ALL : ALL) ALL" not in outsider.stdout
    assert "not allowed" in outsider.stdout + outsider.stderr


def test_a_list_with_a_malformed_entry_prestages_the_valid_ones_and_exits_8(ad_lab: Lab) -> None:
    """Per-entry reporting: a malformed entry (here a newline inside the stamp) does not stop the others."""
    instance_id = random_instance_id()
    name = "PART-" + instance_id[-8:].upper()
    completed = ad_lab.prestage(
        f"{name}={random_otp()}={stamp_for(instance_id)} BAD={random_otp()}={stamp_for(instance_id)}\nx"
    )
    assert completed.returncode == 8
    statuses = {(r["computerName"], r["status"]) for r in parse_results(completed.stdout)}
    assert statuses == {("BAD", "invalid-entry"), (name, "created")}
    assert ad_lab.computer(name)["description"] == [stamp_for(instance_id)]
    assert BASE_DN in ad_lab.computer(name)["dn"][0]
