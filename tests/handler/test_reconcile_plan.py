"""Pure decisions of the reconciliation (reconcile/plan.py) and its wire formats (reconcile/inventory.py)."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest

from handlers.domain_join import contract
from handlers.domain_join.reconcile import plan as P
from handlers.domain_join.reconcile.inventory import (
    InventoryError,
    decode_work_item,
    encode_work_item,
    parse_inventory,
    render_inventory,
)

ACCOUNT = "111111111111"
OTHER = "222222222222"
REGION = "eu-west-1"
NOW = 1_800_000_000
DAY = 86400
ITEM = P.WorkItem(ACCOUNT, REGION, inventory_taken_at=NOW - 3600)
I1, I2, I3 = "i-00000000000000001", "i-00000000000000002", "i-00000000000000003"


def instance(
    instance_id: str, state: str = "running", opted_out: bool = False, age: int = DAY
) -> P.FleetInstance:
    return P.FleetInstance(instance_id, state, opted_out, NOW - age)


def record(instance_id: str, status: str, updated_at: int = NOW - DAY, **more: object) -> P.LedgerRecord:
    return P.LedgerRecord(instance_id, ACCOUNT, REGION, status, "EC2NAME", updated_at, **more)  # type: ignore[arg-type]


def obj(
    instance_id: str, name: str = "EC2NAME", account: str = ACCOUNT, region: str = REGION
) -> P.InventoryObject:
    return P.InventoryObject(name, "", account, region, instance_id)


def kinds(actions: list[P.ReconcileAction]) -> list[tuple[str, str | None]]:
    return [(a.kind, a.instance_id) for a in actions]


# --- decide_backfill --------------------------------------------------------------------
def test_backfill_takes_live_unrecorded_instances_only() -> None:
    fleet = [instance(I1), instance(I2, "pending"), instance(I3, "stopped")]
    assert kinds(P.decide_backfill(ITEM, fleet, {}, NOW, DAY)) == [(P.BACKFILL, I1), (P.BACKFILL, I2)]


def test_backfill_leaves_recorded_instances_to_the_join_path() -> None:
    ledger = {I1: record(I1, "JOIN_SENT"), I2: record(I2, "JOINING")}
    assert P.decide_backfill(ITEM, [instance(I1), instance(I2)], ledger, NOW, DAY) == []


def test_backfill_skips_opted_out_and_just_launched_instances_with_a_reason() -> None:
    fleet = [instance(I1, opted_out=True), instance(I2, age=60)]
    actions = P.decide_backfill(ITEM, fleet, {}, NOW, DAY, settle_seconds=900)
    assert kinds(actions) == [(P.SKIP, I1), (P.SKIP, I2)]
    assert "opted out" in actions[0].reason and "on the way" in actions[1].reason


@pytest.mark.parametrize(
    ("updated_ago", "retried_ago", "expected"),
    [(2 * DAY, 0, P.RETRY), (DAY - 1, 0, P.SKIP), (2 * DAY, DAY - 1, P.SKIP), (3 * DAY, DAY, P.RETRY)],
)
def test_join_failed_is_retried_once_per_period(updated_ago: int, retried_ago: int, expected: str) -> None:
    failed = record(I1, "JOIN_FAILED", NOW - updated_ago, retried_at=NOW - retried_ago if retried_ago else 0)
    (action,) = P.decide_backfill(ITEM, [instance(I1)], {I1: failed}, NOW, DAY)
    assert action.kind == expected


# --- decide_ledger_orphans --------------------------------------------------------------
def test_ledger_orphans_are_removable_records_whose_instance_is_gone_or_terminated() -> None:
    ledger = {
        I1: record(I1, "JOIN_SENT"),  # gone
        I2: record(I2, "REMOVE_FAILED"),  # terminated
        I3: record(I3, "JOIN_SENT"),  # stopped: not gone
        "i-00000000000000004": record("i-00000000000000004", "JOIN_FAILED"),  # never joined
        "i-00000000000000005": record("i-00000000000000005", "REMOVE_SENT"),  # already removed
    }
    fleet = [instance(I2, "terminated"), instance(I3, "stopped")]
    actions = P.decide_ledger_orphans(ITEM, fleet, ledger)
    assert kinds(actions) == [(P.REMOVE, I1), (P.REMOVE, I2)]
    assert {a.origin for a in actions} == {P.FROM_LEDGER}


def test_ledger_orphans_of_another_account_or_region_are_not_this_items() -> None:
    ledger = {
        I1: P.LedgerRecord(I1, OTHER, REGION, "JOIN_SENT"),
        I2: P.LedgerRecord(I2, ACCOUNT, "us-east-1", "JOIN_SENT"),
    }
    assert P.decide_ledger_orphans(ITEM, [], ledger) == []


# --- decide_directory_orphans -----------------------------------------------------------
def test_directory_orphans_are_stamps_of_instances_that_do_not_exist() -> None:
    inventory = [obj(I1), obj(I2), obj(I3, account=OTHER)]
    actions = P.decide_directory_orphans(ITEM, [instance(I2)], {}, inventory, NOW)
    assert [(a.kind, a.instance_id, a.origin) for a in actions] == [(P.REMOVE, I1, P.FROM_DIRECTORY)]


def test_directory_orphans_leave_ledger_cases_claims_and_later_changes_alone() -> None:
    ledger = {
        I1: record(I1, "JOIN_SENT"),  # the ledger pass removes it
        I2: record(I2, "REMOVING"),  # a claim in force
        I3: record(I3, "REMOVE_SENT", updated_at=NOW - 60),  # removed after the inventory was taken
    }
    actions = P.decide_directory_orphans(ITEM, [], ledger, [obj(I1), obj(I2), obj(I3)], NOW)
    assert kinds(actions) == [(P.SKIP, I2), (P.SKIP, I3)]


def test_quarantine_disables_first_and_deletes_after_its_days() -> None:
    inventory = [obj(I1), obj(I2), obj(I3)]
    ledger = {
        I2: record(I2, P.QUARANTINED, updated_at=NOW - 7 * DAY),
        I3: record(I3, P.QUARANTINED, updated_at=NOW - 6 * DAY),
    }
    actions = P.decide_directory_orphans(ITEM, [], ledger, inventory, NOW, quarantine_days=7)
    assert kinds(actions) == [(P.QUARANTINE, I1), (P.REMOVE, I2), (P.SKIP, I3)]


def test_unenrolled_stamps_are_reported_never_removed() -> None:
    items = [P.WorkItem(ACCOUNT, REGION)]
    inventory = [obj(I1), obj(I2, account=OTHER), obj(I3, region="us-east-1")]
    actions = P.decide_unenrolled(inventory, items)
    assert kinds(actions) == [(P.REPORT, I3), (P.REPORT, I2)]
    assert "not enrolled" in actions[1].reason


# --- threshold --------------------------------------------------------------------------
@pytest.mark.parametrize(("size", "limit"), [(0, 0), (1, 1), (10, 1), (11, 2), (200, 20), (1000, 25)])
def test_the_removal_limit_is_the_smaller_of_the_count_and_the_share(size: int, limit: int) -> None:
    assert P.removal_limit(size, 25, 10) == limit


def test_above_the_threshold_every_removal_becomes_a_skip_and_other_actions_stay() -> None:
    removals = [
        P.ReconcileAction(P.REMOVE, ACCOUNT, REGION, f"i-0000000000000001{n}", None, "gone") for n in range(3)
    ]
    backfill = P.ReconcileAction(P.BACKFILL, ACCOUNT, REGION, I1, None, "running")
    capped = P.apply_threshold([backfill, *removals], inventory_size=20, max_removals=25, max_percent=10)
    assert [a.kind for a in capped] == [P.BACKFILL, P.SKIP, P.SKIP, P.SKIP]
    assert all(P.is_threshold_skip(a) for a in capped[1:])
    assert P.apply_threshold(removals[:2], 20, 25, 10) == removals[:2]


# --- plan_work --------------------------------------------------------------------------
def test_plan_work_uses_the_items_regions_or_the_hubs() -> None:
    configs = {
        OTHER: {
            contract.CONFIG_REGIONS: {"eu-west-1", "eu-central-1"},
            contract.CONFIG_DNS_NAME: "corp.example.com",
        },
        ACCOUNT: {},
    }
    items = P.plan_work(configs, ["us-east-1", "us-west-2"])
    assert [(i.account_id, i.region) for i in items] == [
        (ACCOUNT, "us-east-1"),
        (ACCOUNT, "us-west-2"),
        (OTHER, "eu-central-1"),
        (OTHER, "eu-west-1"),
    ]
    assert items[-1].domain == "corp.example.com"


# --- wire formats -----------------------------------------------------------------------
def test_inventory_round_trips_and_ignores_objects_without_an_exact_stamp() -> None:
    text = render_inventory("corp.example.com", NOW, [obj(I1, "EC2ONE")])
    document = text.replace(
        '"objects":[', '"objects":[{"name":"FOREIGN","dn":"x","description":"ec2-domain-join: hand made"},'
    )
    inventory = parse_inventory("log line\n" + document + "\n")
    assert inventory.taken_at == NOW and inventory.domain == "corp.example.com"
    assert inventory.objects == (obj(I1, "EC2ONE"),) and inventory.ignored == 1


@pytest.mark.parametrize(
    "text",
    [
        "",
        "no json",
        '{"version":2}',
        '{"version":1}',
        '{"version":1,"domain":"corp.example.com","objects":[]}',
    ],
)
def test_inventory_outside_the_schema_is_refused(text: str) -> None:
    with pytest.raises(InventoryError):
        parse_inventory(text)


def test_work_items_round_trip() -> None:
    item = P.WorkItem(
        ACCOUNT,
        REGION,
        f"arn:aws:iam::{ACCOUNT}:role/x",
        "corp.example.com",
        (obj(I1, "EC2ONE"),),
        NOW,
        (record(I2, "JOIN_FAILED", retried_at=NOW - 5),),
    )
    assert decode_work_item(encode_work_item(item)) == item
    assert decode_work_item(encode_work_item(replace(item, dry_run=True))).dry_run is True


@pytest.mark.parametrize(
    "body",
    [
        '{"v":1,"account":"1","region":"eu-west-1"}',
        '{"v":2}',
        '{"v":1,"account":"111111111111","region":"eu-west-1","inventory":[["bad name","i-1"]]}',
    ],
)
def test_malformed_work_items_are_refused(body: str) -> None:
    with pytest.raises(InventoryError):
        decode_work_item(body)


def test_the_inventory_scripts_output_is_what_the_reconciler_parses(tmp_path: Path) -> None:
    # GIVEN the Linux inventory script against the scripts' fake directory: one object of ours, one look-alike
    from tests.scripts.fakes import DOMAIN, Directory
    from tests.scripts.test_inventory_fakes import BASE, INVENTORY_SCRIPT, STAMP, entry

    directory = Directory(tmp_path)
    directory.inventory(
        BASE,
        entry(f"CN=WEB01,{BASE}", "WEB01$", STAMP) + entry(f"CN=COPY,{BASE}", "COPY$", STAMP + " (copy)"),
    )
    completed = directory.run_raw(INVENTORY_SCRIPT, None, "--bases", BASE)
    assert completed.returncode == 0, completed.stderr
    # WHEN the reconciler parses its stdout (as Run Command stores it)
    inventory = parse_inventory(completed.stdout)
    # THEN it finds exactly our object, with its stamp's account, Region and instance
    account, region, instance_id = STAMP.removeprefix(contract.STAMP_PREFIX).split("/")
    assert inventory.domain == DOMAIN.lower() and inventory.complete
    assert inventory.objects == (
        P.InventoryObject("WEB01", f"CN=WEB01,{BASE}", account, region, instance_id),
    )
