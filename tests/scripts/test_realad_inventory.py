"""DomainJoin-Inventory and the remove paths of the reconciliation against the real Samba AD DC (issue 10).

The inventory lists exactly our stamped objects under the OUs it is given (not foreign look-alikes, not
objects of ours in other OUs), across pages; an orphan with a child object is removed with its child (the
tree-delete control, which `adcli delete-computer` never sent); a foreign object with a description like a
stamp is never touched, whatever the action; the disable action keeps the object, disabled, with its stamp.
"""

from __future__ import annotations

import json
import secrets
import subprocess
from dataclasses import dataclass

import pytest

from .adlab import BASE_DN, OU_DN, Lab, parse_results, random_instance_id, random_otp, stamp_for

pytestmark = pytest.mark.realad

ACCOUNTDISABLE = 2


def listed(completed: subprocess.CompletedProcess[str]) -> list[dict[str, str]]:
    """The inventory document's objects (its stdout is that one line)."""
    assert completed.returncode == 0, completed.stdout + completed.stderr
    [line] = completed.stdout.splitlines()
    document = json.loads(line)
    assert (document["version"], document["truncated"]) == (1, False)
    return list(document["objects"])


@dataclass
class Fleet:
    ou: str
    elsewhere: str
    ours: list[tuple[str, str]]  # (name, stamp) in ou
    other: tuple[str, str]  # ours, in elsewhere
    foreign: dict[str, str | None]  # name -> description, in ou


@pytest.fixture(scope="module")
def fleet(ad_lab: Lab) -> Fleet:
    """GIVEN an OU with three objects of ours (one prestage) and foreign objects, some with a description
    that resembles a stamp, and another OU with one object of ours."""
    tag = secrets.token_hex(2).upper()
    ou, elsewhere = ad_lab.add_ou(f"Inventory{tag}"), ad_lab.add_ou(f"Elsewhere{tag}")
    ours = [(f"INV{n}-{tag}", stamp_for(random_instance_id())) for n in range(3)]
    created = ad_lab.prestage(" ".join(f"{n}={random_otp()}={s}" for n, s in ours), ou=ou)
    assert created.returncode == 0, created.stdout + created.stderr
    other = (f"OTHER-{tag}", stamp_for(random_instance_id()))
    assert ad_lab.prestage(f"{other[0]}={random_otp()}={other[1]}", ou=elsewhere).returncode == 0
    stamp = stamp_for(random_instance_id())
    foreign: dict[str, str | None] = {
        f"COPY-{tag}": f"{stamp} (copied)",
        f"PREFIX-{tag}": "ec2-domain-join:not-a-stamp",
        f"BARE-{tag}": None,
        f"lower-{tag}": stamp,  # a stamp, but not a name we would give
    }
    for name, description in foreign.items():
        ad_lab.create_foreign_computer(name, description, ou_name=ou.split(",", 1)[0].removeprefix("OU="))
    return Fleet(ou, elsewhere, ours, other, foreign)


def test_inventory_lists_exactly_our_stamped_objects_of_the_ou(ad_lab: Lab, fleet: Fleet) -> None:
    # WHEN the inventory runs over the OU, two objects per page (so the answer spans pages)
    objects = listed(ad_lab.inventory("--bases", fleet.ou, "--page-size", "2"))
    # THEN it names our three objects, with their DN and stamp, and nothing else
    assert sorted(objects, key=lambda o: o["name"]) == [
        {"name": name, "dn": f"CN={name},{fleet.ou}", "description": stamp} for name, stamp in fleet.ours
    ]


def test_inventory_over_two_ous_adds_the_other_ous_objects_only(ad_lab: Lab, fleet: Fleet) -> None:
    objects = listed(ad_lab.inventory("--bases", f"{fleet.ou};{fleet.elsewhere}"))
    assert sorted(o["name"] for o in objects) == sorted([*(n for n, _ in fleet.ours), fleet.other[0]])


def test_a_foreign_object_with_a_description_like_a_stamp_is_never_touched(ad_lab: Lab, fleet: Fleet) -> None:
    # GIVEN the foreign objects (the lower-case name aside: the remove document does not admit it), each
    # named with the stamp its description resembles, or any stamp
    entries, before = [], {}
    for name, description in fleet.foreign.items():
        if name.startswith("lower-"):
            continue
        resembled = (description or "").split(" ")[0]
        entries.append(
            f"{name}={resembled if resembled.count('/') == 2 else stamp_for(random_instance_id())}"
        )
        before[name] = ad_lab.object_at(
            f"CN={name},{fleet.ou}", ["description", "uSNChanged", "userAccountControl"]
        )
        assert before[name], name
    for action in ("delete", "disable"):
        # WHEN remove runs for them with either action
        refused = ad_lab.remove(" ".join(entries), "--action", action)
        # THEN each is refused and left exactly as it was
        assert refused.returncode == 6, refused.stdout + refused.stderr
        assert {r["status"] for r in parse_results(refused.stdout)} == {"refused"}
    for name, attributes in before.items():
        assert (
            ad_lab.object_at(f"CN={name},{fleet.ou}", ["description", "uSNChanged", "userAccountControl"])
            == attributes
        )


def test_an_orphan_with_a_child_object_is_removed_with_its_child(ad_lab: Lab) -> None:
    # GIVEN an object of ours with a child (a service connection point, as Windows publishes under its
    # computer), which adcli delete-computer could not remove ("non-leaf node")
    instance_id = random_instance_id()
    name, stamp = "ORPHAN-" + instance_id[-6:].upper(), stamp_for(instance_id)
    assert ad_lab.prestage(f"{name}={random_otp()}={stamp}").returncode == 0
    child = ad_lab.add_child(f"CN={name},{OU_DN}", "ec2-domain-join-scp")
    assert ad_lab.object_at(child)
    # WHEN remove runs with its stamp
    removed = ad_lab.remove(f"{name}={stamp}")
    # THEN the object and its child are gone
    assert removed.returncode == 0, removed.stdout + removed.stderr
    assert [r["status"] for r in parse_results(removed.stdout)] == ["deleted"]
    assert ad_lab.computer(name) == {}
    assert ad_lab.object_at(child) == {}


def test_disable_keeps_our_object_disabled_with_its_stamp(ad_lab: Lab) -> None:
    # GIVEN an enabled object of ours
    instance_id = random_instance_id()
    name, stamp = "QUAR-" + instance_id[-6:].upper(), stamp_for(instance_id)
    assert ad_lab.prestage(f"{name}={random_otp()}={stamp}").returncode == 0
    dn = f"CN={name},{OU_DN}"
    assert int(ad_lab.object_at(dn, ["userAccountControl"])["userAccountControl"][0]) & ACCOUNTDISABLE == 0
    # WHEN remove runs with the disable action
    disabled = ad_lab.remove(f"{name}={stamp}", "--action", "disable")
    # THEN the object is still there, disabled, still carrying its stamp, and still in the inventory
    assert disabled.returncode == 0, disabled.stdout + disabled.stderr
    assert [r["status"] for r in parse_results(disabled.stdout)] == ["disabled"]
    after = ad_lab.object_at(dn, ["userAccountControl", "description", "uSNChanged"])
    assert int(after["userAccountControl"][0]) & ACCOUNTDISABLE
    assert after["description"] == [stamp]
    assert name in {o["name"] for o in listed(ad_lab.inventory("--bases", OU_DN))}
    # and a second disable changes nothing
    again = ad_lab.remove(f"{name}={stamp}", "--action", "disable")
    assert (again.returncode, parse_results(again.stdout)[0]["status"]) == (0, "disabled")
    assert ad_lab.object_at(dn, ["userAccountControl", "description", "uSNChanged"]) == after


def test_an_inventory_of_a_base_that_does_not_exist_fails_without_a_document(ad_lab: Lab) -> None:
    completed = ad_lab.inventory("--bases", f"OU=Nowhere,{BASE_DN}")
    assert completed.returncode == 7
    assert [r["status"] for r in parse_results(completed.stdout)] == ["failed"]
    assert not [line for line in completed.stdout.splitlines() if line.startswith("{")]
