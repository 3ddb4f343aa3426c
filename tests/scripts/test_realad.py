"""The project's real scripts against a real Samba AD DC (see conftest.py for the lab).

The lifecycle tests share one joined instance and run in file order: prestage -> join with only the one-time
password -> identity and login checks -> join again -> remove.
"""

from __future__ import annotations

import subprocess
import threading
import time
from dataclasses import dataclass

import pytest

from .adlab import (
    COMPUTERS_ENV,
    DC_IP,
    DOMAIN,
    OU_DN,
    PRESTAGE_SCRIPT,
    REALM,
    Lab,
    Machine,
    parse_results,
    random_instance_id,
    random_otp,
    stamp_for,
)

pytestmark = pytest.mark.realad


def only_result(completed: subprocess.CompletedProcess[str]) -> dict[str, object]:
    results = parse_results(completed.stdout)
    assert len(results) == 1, completed.stdout + completed.stderr
    return results[0]


def assert_no_secret(completed: subprocess.CompletedProcess[str], *secrets: str) -> None:
    for secret in secrets:
        assert secret not in completed.stdout
        assert secret not in completed.stderr


@dataclass
class Joined:
    instance: Machine
    instance_id: str
    name: str
    otp: str
    stamp: str
    prestage: subprocess.CompletedProcess[str]
    join: subprocess.CompletedProcess[str]


@pytest.fixture(scope="module")
def joined(ad_lab: Lab) -> Joined:
    """GIVEN a fresh instance WHEN the tools host prestages it and the instance joins with the OTP."""
    instance = ad_lab.new_instance("web")
    instance_id = random_instance_id()
    name, otp, stamp = "WEB-" + instance_id[-8:].upper(), random_otp(), stamp_for(instance_id)
    prestage = ad_lab.prestage(f"{name}={otp}={stamp}")
    join = ad_lab.join(
        instance, instance_id, f"i-0aaaaaaaaaaaaaaaa=OTHER1={random_otp()} {instance_id}={name}={otp}"
    )
    return Joined(instance, instance_id, name, otp, stamp, prestage, join)


def test_prestage_creates_the_stamped_object_in_the_ou(ad_lab: Lab, joined: Joined) -> None:
    assert joined.prestage.returncode == 0, joined.prestage.stderr
    assert only_result(joined.prestage) == {
        "computerName": joined.name,
        "status": "created",
        "exitCode": 0,
        "message": f"created CN={joined.name},{OU_DN}",
    }
    computer = ad_lab.computer(joined.name)
    assert computer["dn"] == [f"CN={joined.name},{OU_DN}"]
    assert computer["description"] == [joined.stamp]
    assert_no_secret(joined.prestage, joined.otp, ad_lab.join_password)


def test_join_with_only_the_otp_gives_a_working_keytab(ad_lab: Lab, joined: Joined) -> None:
    assert joined.join.returncode == 0, joined.join.stderr
    result = only_result(joined.join)
    assert (result["status"], result["changed"], result["computerName"]) == ("joined", True, joined.name)
    assert_no_secret(joined.join, joined.otp)
    kinit = joined.instance.run(["kinit", "-k", f"{joined.name}$@{REALM}"], env={"KRB5CCNAME": "MEMORY:"})
    assert kinit.returncode == 0, kinit.stderr
    # the instance replaced the one-time password with its own machine password
    assert int(ad_lab.computer(joined.name)["msDS-KeyVersionNumber"][0]) > 1


def test_join_points_the_resolver_at_the_dc_and_locks_down_sssd(joined: Joined) -> None:
    resolv = joined.instance.path("/etc/resolv.conf").read_text().split()
    assert resolv[resolv.index("nameserver") + 1] == DC_IP
    sssd_conf = joined.instance.path("/etc/sssd/sssd.conf")
    assert sssd_conf.stat().st_mode & 0o777 == 0o600
    settings = dict(
        line.split(" = ", 1)
        for line in sssd_conf.read_text().splitlines()
        if " = " in line and not line.startswith("#")
    )
    assert settings["access_provider"] == "simple"
    assert settings["simple_allow_groups"] == "linux-admins"
    sudoers = joined.instance.run(["visudo", "-cf", "/etc/sudoers.d/ec2-domain-join"])
    assert sudoers.returncode == 0, sudoers.stderr


def start_sssd(lab: Lab, instance: Machine) -> Machine:
    """sssd inside the instance's namespaces; a PAM service on the stack the script enabled."""
    instance.path("/etc/pam.d/djtest").write_text("@include common-auth\n@include common-account\n")
    lab.processes.append(
        instance.popen(["sssd", "-i", "--logger=stderr"], log=lab.workdir / f"sssd-{instance.name}.log")
    )
    for _ in range(60):
        if instance.run(["getent", "passwd", lab.member]).returncode == 0:
            return instance
        time.sleep(0.5)
    raise AssertionError(
        "sssd did not resolve domain users: "
        + (lab.workdir / f"sssd-{instance.name}.log").read_text()[-2000:]
    )


@pytest.fixture(scope="module")
def sssd(ad_lab: Lab, joined: Joined) -> Machine:
    return start_sssd(ad_lab, joined.instance)


def pam_login(instance: Machine, user: str, password: str) -> subprocess.CompletedProcess[str]:
    return instance.run(["pamtester", "djtest", user, "authenticate", "acct_mgmt"], input=password + "\n")


def test_sssd_lets_the_login_group_member_in(ad_lab: Lab, sssd: Machine) -> None:
    login = pam_login(sssd, ad_lab.member, ad_lab.member_password)
    assert login.returncode == 0, login.stderr
    assert "account management done" in login.stdout


def test_sssd_refuses_a_user_outside_the_login_group(ad_lab: Lab, sssd: Machine) -> None:
    login = pam_login(sssd, ad_lab.outsider, ad_lab.outsider_password)
    assert login.returncode != 0
    assert "successfully authenticated" in login.stdout  # the password is right ...
    assert "Permission denied" in login.stderr  # ... but the account check refuses


def test_sssd_refuses_a_wrong_password(ad_lab: Lab, sssd: Machine) -> None:
    login = pam_login(sssd, ad_lab.member, ad_lab.outsider_password)
    assert login.returncode != 0
    assert "Authentication failure" in login.stderr


def test_without_a_login_group_no_domain_user_may_log_in(ad_lab: Lab) -> None:
    instance = ad_lab.new_instance("nogroup")
    instance_id = random_instance_id()
    name, otp = "NOGROUP-" + instance_id[-6:].upper(), random_otp()
    assert ad_lab.prestage(f"{name}={otp}={stamp_for(instance_id)}").returncode == 0
    join = ad_lab.join(instance, instance_id, f"{instance_id}={name}={otp}", login_group="")
    assert join.returncode == 0, join.stderr
    login = pam_login(start_sssd(ad_lab, instance), ad_lab.member, ad_lab.member_password)
    assert login.returncode != 0
    assert "successfully authenticated" in login.stdout
    assert "Permission denied" in login.stderr


def test_prestage_of_the_joined_object_leaves_it_untouched(ad_lab: Lab, joined: Joined) -> None:
    # GIVEN the joined instance's account; WHEN its event is redelivered and prestage runs with a new OTP
    before = ad_lab.computer(joined.name)
    assert before["servicePrincipalName"]  # the join registered them; prestage never writes any
    new_otp = random_otp()
    again = ad_lab.prestage(f"{joined.name}={new_otp}={joined.stamp}")
    # THEN it reports the join and changes nothing: the instance's machine password still works
    assert again.returncode == 0, again.stderr
    assert only_result(again) == {
        "computerName": joined.name,
        "status": "already-joined",
        "exitCode": 0,
        "message": f"CN={joined.name},{OU_DN} is ours and already joined (it has service principal names); "
        "left untouched",
    }
    assert ad_lab.computer(joined.name) == before
    kinit = joined.instance.run(["kinit", "-k", f"{joined.name}$@{REALM}"], env={"KRB5CCNAME": "MEMORY:"})
    assert kinit.returncode == 0, kinit.stderr
    assert_no_secret(again, new_otp, ad_lab.join_password)


def test_join_again_with_another_otp_is_a_no_op(ad_lab: Lab, joined: Joined) -> None:
    # GIVEN the joined instance; WHEN a redelivered event's join arrives carrying a new OTP
    watched = ["/etc/krb5.keytab", "/etc/sssd/sssd.conf", "/etc/krb5.conf", "/etc/resolv.conf"]
    before = {path: joined.instance.path(path).stat().st_mtime_ns for path in watched}
    account_before = ad_lab.computer(joined.name)
    new_otp = random_otp()
    again = ad_lab.join(joined.instance, joined.instance_id, f"{joined.instance_id}={joined.name}={new_otp}")
    # THEN the join notices it is joined under this name and touches neither the files nor the account
    assert again.returncode == 0, again.stderr
    result = only_result(again)
    assert (result["status"], result["changed"]) == ("already-joined", False)
    assert {path: joined.instance.path(path).stat().st_mtime_ns for path in watched} == before
    account_after = ad_lab.computer(joined.name)
    assert account_after["msDS-KeyVersionNumber"] == account_before["msDS-KeyVersionNumber"]
    assert account_after["pwdLastSet"] == account_before["pwdLastSet"]
    assert_no_secret(again, new_otp)


def test_join_under_another_name_is_refused_and_changes_nothing(ad_lab: Lab, joined: Joined) -> None:
    keytab_before = joined.instance.path("/etc/krb5.keytab").read_bytes()
    other_id = random_instance_id()
    refused = ad_lab.join(
        joined.instance, other_id, f"{other_id}=OTHER-{other_id[-6:].upper()}={random_otp()}"
    )
    assert refused.returncode == 12
    assert only_result(refused)["status"] == "joined-elsewhere"
    assert joined.instance.path("/etc/krb5.keytab").read_bytes() == keytab_before


def test_prestage_retry_resets_the_otp_of_our_own_object(ad_lab: Lab) -> None:
    instance_id = random_instance_id()
    name, stamp = "RETRY-" + instance_id[-6:].upper(), stamp_for(instance_id)
    assert ad_lab.prestage(f"{name}={random_otp()}={stamp}").returncode == 0
    before = ad_lab.computer(name)
    assert "servicePrincipalName" not in before  # prestaged, never joined
    new_otp = random_otp()
    retry = ad_lab.prestage(f"{name}={new_otp}={stamp}")
    assert retry.returncode == 0, retry.stderr
    assert only_result(retry)["status"] == "reset"
    after = ad_lab.computer(name)
    assert after["pwdLastSet"] != before["pwdLastSet"]
    assert after["description"] == [stamp]
    assert "servicePrincipalName" not in after  # a reset does not look like a join
    # the reset password is the new OTP: an instance can join with it
    instance = ad_lab.new_instance("retry")
    join = ad_lab.join(instance, instance_id, f"{instance_id}={name}={new_otp}")
    assert join.returncode == 0, join.stderr
    assert_no_secret(retry, new_otp, ad_lab.join_password)


def test_a_join_without_spns_is_reset_by_prestage_and_the_instance_rejoins(ad_lab: Lab) -> None:
    # GIVEN a joined instance whose account has no SPN (adcli ignores a failed SPN write), so a second
    # prestage cannot tell it was joined and resets its password to a new OTP
    instance = ad_lab.new_instance("rejoin")
    instance_id = random_instance_id()
    name, stamp, first_otp, second_otp = (
        "REJOIN-" + instance_id[-6:].upper(),
        stamp_for(instance_id),
        random_otp(),
        random_otp(),
    )
    assert ad_lab.prestage(f"{name}={first_otp}={stamp}").returncode == 0
    assert ad_lab.join(instance, instance_id, f"{instance_id}={name}={first_otp}").returncode == 0
    ad_lab.clear_service_principal_names(name)
    reset = ad_lab.prestage(f"{name}={second_otp}={stamp}")
    assert (reset.returncode, only_result(reset)["status"]) == (0, "reset")
    # WHEN the join runs again with the new OTP
    again = ad_lab.join(instance, instance_id, f"{instance_id}={name}={second_otp}")
    # THEN the stale keytab is noticed and the instance joins afresh (the damage heals itself)
    assert again.returncode == 0, again.stderr
    assert only_result(again)["status"] == "joined"
    kinit = instance.run(["kinit", "-k", f"{name}$@{REALM}"], env={"KRB5CCNAME": "MEMORY:"})
    assert kinit.returncode == 0, kinit.stderr


@pytest.mark.parametrize("description", [None, "file server, owned by the storage team", "other"])
def test_prestage_refuses_an_object_that_is_not_ours(ad_lab: Lab, description: str | None) -> None:
    instance_id = random_instance_id()
    name = "FOREIGN-" + instance_id[-6:].upper()
    if description == "other":
        description = stamp_for(random_instance_id())  # our stamp format, another instance
    ad_lab.create_foreign_computer(name, description)
    before = ad_lab.computer(name)
    refused = ad_lab.prestage(f"{name}={random_otp()}={stamp_for(instance_id)}")
    assert refused.returncode == 6
    assert only_result(refused)["status"] == "refused"
    assert ad_lab.computer(name) == before


def test_prestage_reports_each_computer_and_the_worst_exit_code(ad_lab: Lab) -> None:
    good_id, foreign_id = random_instance_id(), random_instance_id()
    good, foreign = "MIX-" + good_id[-6:].upper(), "MIXF-" + foreign_id[-6:].upper()
    ad_lab.create_foreign_computer(foreign, None)
    completed = ad_lab.prestage(
        f"{good}={random_otp()}={stamp_for(good_id)} {foreign}={random_otp()}={stamp_for(foreign_id)}"
    )
    assert completed.returncode == 6
    assert [(r["computerName"], r["status"]) for r in parse_results(completed.stdout)] == [
        (good, "created"),
        (foreign, "refused"),
    ]


def test_prestage_accepts_the_join_user_as_user_principal_name(ad_lab: Lab) -> None:
    instance_id = random_instance_id()
    name = "UPN-" + instance_id[-6:].upper()
    completed = ad_lab.tools.run(
        [
            *("bash", str(PRESTAGE_SCRIPT), "--domain", DOMAIN, "--ou", OU_DN, "--password-stdin"),
            *("--join-user", f"{ad_lab.join_user}@{DOMAIN}"),
        ],
        env={COMPUTERS_ENV: f"{name}={random_otp()}={stamp_for(instance_id)}"},
        input=ad_lab.join_password + "\n",
    )
    assert completed.returncode == 0, completed.stderr
    assert ad_lab.computer(name)["description"] == [stamp_for(instance_id)]


def test_prestage_with_a_wrong_join_password_fails_before_touching_ad(ad_lab: Lab) -> None:
    instance_id = random_instance_id()
    name = "NOPW-" + instance_id[-6:].upper()
    completed = ad_lab.prestage(
        f"{name}={random_otp()}={stamp_for(instance_id)}", password="Wrong0Password0x"
    )
    assert completed.returncode == 4
    assert only_result(completed)["status"] == "login-failed"
    assert ad_lab.computer(name) == {}


def test_the_join_user_cannot_prestage_outside_its_ou(ad_lab: Lab) -> None:
    instance_id = random_instance_id()
    name = "OUTSIDE-" + instance_id[-6:].upper()
    completed = ad_lab.prestage(
        f"{name}={random_otp()}={stamp_for(instance_id)}", ou="CN=Computers,DC=dj,DC=test"
    )
    assert completed.returncode == 7
    assert only_result(completed)["status"] == "failed"
    assert ad_lab.computer(name) == {}


def test_join_waits_for_the_prestage_sent_at_the_same_time(ad_lab: Lab) -> None:
    instance = ad_lab.new_instance("race")
    instance_id = random_instance_id()
    name, otp = "RACE-" + instance_id[-6:].upper(), random_otp()
    outcome: dict[str, subprocess.CompletedProcess[str]] = {}

    def join() -> None:
        outcome["join"] = ad_lab.join(
            instance,
            instance_id,
            f"{instance_id}={name}={otp}",
            "--wait-seconds",
            "90",
            "--retry-interval",
            "1",
        )

    joiner = threading.Thread(target=join)
    joiner.start()
    instance.run(["sleep", "3"])  # the join is retrying: the account does not exist yet
    assert ad_lab.prestage(f"{name}={otp}={stamp_for(instance_id)}").returncode == 0
    joiner.join(timeout=120)
    assert outcome["join"].returncode == 0, outcome["join"].stderr
    assert "account-missing; retrying" in outcome["join"].stderr
    assert only_result(outcome["join"])["status"] == "joined"


def test_join_gives_up_when_the_account_never_appears(ad_lab: Lab) -> None:
    instance = ad_lab.new_instance("late")
    instance_id = random_instance_id()
    completed = ad_lab.join(
        instance, instance_id, f"{instance_id}=NEVER-{instance_id[-6:].upper()}={random_otp()}",
        "--wait-seconds", "2", "--retry-interval", "1",
    )  # fmt: skip
    assert completed.returncode == 9
    assert only_result(completed)["status"] == "account-missing"
    assert not instance.path("/etc/krb5.keytab").exists()


def test_join_with_a_wrong_otp_is_rejected(ad_lab: Lab) -> None:
    instance = ad_lab.new_instance("wrong")
    instance_id = random_instance_id()
    name, otp, wrong = "WRONG-" + instance_id[-6:].upper(), random_otp(), random_otp()
    assert ad_lab.prestage(f"{name}={otp}={stamp_for(instance_id)}").returncode == 0
    completed = ad_lab.join(
        instance, instance_id, f"{instance_id}={name}={wrong}", "--wait-seconds", "3", "--retry-interval", "1"
    )
    assert completed.returncode == 8
    assert only_result(completed)["status"] == "join-rejected"
    assert_no_secret(completed, wrong, otp)


def test_remove_refuses_an_unstamped_object(ad_lab: Lab) -> None:
    instance_id = random_instance_id()
    name = "UNSTAMPED-" + instance_id[-5:].upper()
    ad_lab.create_foreign_computer(name, None)
    refused = ad_lab.remove(f"{name}={stamp_for(instance_id)}")
    assert refused.returncode == 6
    assert only_result(refused)["status"] == "refused"
    assert ad_lab.computer(name) != {}


def test_remove_deletes_our_object_then_succeeds_when_gone(ad_lab: Lab, joined: Joined) -> None:
    # runs last: it removes the lifecycle instance's computer object
    wrong_stamp = ad_lab.remove(f"{joined.name}={stamp_for(random_instance_id())}")
    assert wrong_stamp.returncode == 6
    assert ad_lab.computer(joined.name) != {}

    removed = ad_lab.remove(f"{joined.name}={joined.stamp}")
    assert removed.returncode == 0, removed.stderr
    assert only_result(removed)["status"] == "deleted"
    assert ad_lab.computer(joined.name) == {}
    testjoin = joined.instance.run(["adcli", "testjoin", "--domain", DOMAIN])
    assert testjoin.returncode != 0

    again = ad_lab.remove(f"{joined.name}={joined.stamp}")
    assert again.returncode == 0, again.stderr
    assert only_result(again)["status"] == "absent"
    assert_no_secret(removed, ad_lab.join_password)
