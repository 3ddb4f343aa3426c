"""Reconciliation against the moto-backed hub and spokes (harness.World), end to end through the join path.

The reconciler runs with the handler's observed clients (``World.handler_client_factory``); the events it
queues are then handed to the real join handler, so the proofs cover the wire format too.

Stubbed (moto lacks them), beside the harness's own stubs:
* Run Command's S3 output: moto runs no document, so a test writes the inventory's stdout object where
  Run Command would (``inventory/<command id>/<tools host>/awsrunShellScript/inventory/stdout``) after
  sending the inventory command through moto (whose commands report ``Success`` at once).
* SSM ListCommands filters: moto ignores them (the adapter filters in Python as well).
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from dataclasses import dataclass, replace
from typing import Any

import pytest

from handlers.domain_join import app as app_module
from handlers.domain_join import contract, events
from handlers.domain_join.adapter.reconcile import build_reconciler
from handlers.domain_join.reconcile import plan as P
from handlers.domain_join.reconcile.inventory import decode_work_item, render_inventory
from handlers.domain_join.reconcile.worker import (
    SKIPPED_BY_THRESHOLD,
    Reconciler,
    ReconcilerConfig,
    ReconcileReport,
)

from .harness import DOMAIN, HOME_REGION, SPOKE_A, SPOKE_B, FakeContext, World, emitted_metrics

HOUR = 3600
OTHER_REGION = "us-west-2"
UNENROLLED = "333333333333"
GONE_ID = "i-0aaaaaaaaaaaaaaa1"
SERVERS_OU = "OU=Servers,DC=corp,DC=example,DC=com"
MANY_OBJECTS = 8000  # ~300 KB of work item: over one SQS message  # an instance id no spoke ever had


@dataclass
class Hub:
    world: World
    reconciler: Reconciler
    reconcile_queue_url: str
    bucket: str
    log: list[tuple[str, dict[str, Any]]]

    def run(
        self, account: str = SPOKE_A, region: str = HOME_REGION, dry_run: bool = False
    ) -> ReconcileReport:
        (item,) = self.reconciler.plan(accounts={account}, regions={region}).items
        return self.reconciler.run(item, dry_run=dry_run)

    def join_queue(self) -> list[dict[str, Any]]:
        """The join-queue messages, as parsed by the join path (left in the queue)."""
        event = self.world.receive(max_messages=100)
        self.world.let_time_pass(event)
        return [json.loads(r["body"]) for r in event["Records"]]

    def put_inventory(self, objects: list[P.InventoryObject], taken_at: int) -> None:
        """The tools host ran DomainJoin-Inventory: a Success command and its stdout in the bucket."""
        command_id = self.world.client("ssm").send_command(
            DocumentName=contract.INVENTORY_DOCUMENT,
            InstanceIds=[self.world.tools_host_id],
            Parameters={contract.TOOLS_PARAM_DOMAIN: [DOMAIN]},
        )["Command"]["CommandId"]
        self.world.requested_targets[command_id] = [self.world.tools_host_id]
        key = (
            f"{contract.INVENTORY_OUTPUT_PREFIX}{command_id}/{self.world.tools_host_id}"
            "/awsrunShellScript/inventory/stdout"
        )
        body = "inventory of 1 domain\n" + render_inventory(DOMAIN, taken_at, objects) + "\n"
        self.world.client("s3").put_object(Bucket=self.bucket, Key=key, Body=body.encode())


@pytest.fixture
def hub(world: World) -> Iterator[Hub]:
    """GIVEN the hub with a reconcile queue and an inventory bucket, and a reconciler wired to them."""
    sqs = world.client("sqs")
    queue_url = sqs.create_queue(QueueName="domain-join-reconcile")["QueueUrl"]
    bucket = "domain-join-inventory-test"
    world.client("s3").create_bucket(Bucket=bucket)
    env = {
        **os.environ,
        contract.ENV_JOIN_QUEUE_URL: world.join_queue_url,
        contract.ENV_RECONCILE_QUEUE_URL: queue_url,
        contract.ENV_INVENTORY_BUCKET: bucket,
        contract.ENV_HUB_REGIONS: f"{HOME_REGION},{OTHER_REGION}",
    }
    log: list[tuple[str, dict[str, Any]]] = []
    reconciler = build_reconciler(
        ReconcilerConfig.from_env(env),
        client_factory=world.handler_client_factory,
        clock=world.clock,
        log=lambda message, fields: log.append((message, dict(fields))),
    )
    yield Hub(world, reconciler, queue_url, bucket, log)


def states_of(messages: list[dict[str, Any]]) -> dict[str, str]:
    return {m["detail"]["instance-id"]: m["detail"]["state"] for m in messages}


def test_instances_launched_before_enrolment_are_backfilled_through_the_join_path(hub: Hub) -> None:
    w = hub.world
    # GIVEN two instances running before their account was enrolled (their running events never came)
    early = w.launch(SPOKE_A, count=2)
    w.put_config(SPOKE_A)
    w.clock.offset += HOUR
    # WHEN the reconciler runs for the account's home Region
    report = hub.run()
    # THEN each gets a synthetic running event on the join queue, which the join path joins
    assert sorted(str(a.instance_id) for a in report.actions if a.kind == P.BACKFILL) == sorted(early)
    assert report.metrics()["Backfilled"] == 2
    w.clock.offset += 1
    w.invoke(w.receive(max_messages=10))
    ledger = w.ledger()
    assert {i: ledger[i]["status"] for i in early} == {i: "JOIN_SENT" for i in early}


def test_a_ledger_record_whose_instance_is_gone_is_removed_stamp_checked(hub: Hub) -> None:
    w = hub.world
    # GIVEN a joined record whose instance no longer exists at all
    w.put_config(SPOKE_A)
    w.put_ledger(GONE_ID, SPOKE_A, status="JOIN_SENT", computerName="EC2GONE")
    # WHEN the reconciler runs
    report = hub.run()
    # THEN a terminated event goes to the join queue, and the join path removes the stamped computer
    assert [(a.kind, a.origin, a.instance_id) for a in report.actions] == [(P.REMOVE, P.FROM_LEDGER, GONE_ID)]
    w.invoke(w.receive())
    (command,) = [c for c in w.commands() if c["DocumentName"] == contract.REMOVE_DOCUMENT]
    assert command["Params"][contract.TOOLS_PARAM_COMPUTERS] == (
        f"EC2GONE={contract.STAMP_PREFIX}{SPOKE_A}/{HOME_REGION}/{GONE_ID}"
    )
    assert w.ledger()[GONE_ID]["status"] == "REMOVE_SENT"


def test_a_terminated_instance_whose_event_was_lost_is_removed(hub: Hub) -> None:
    w = hub.world
    # GIVEN a joined instance terminated while its event was lost, and a joined one still running
    w.put_config(SPOKE_A)
    lost, alive = w.launch(SPOKE_A, count=2)
    w.put_ledger(lost, SPOKE_A, status="JOIN_SENT")
    w.put_ledger(alive, SPOKE_A, status="JOIN_SENT")
    w.terminate(SPOKE_A, HOME_REGION, [lost])
    # WHEN the reconciler runs
    hub.run()
    # THEN only the terminated one gets a terminated event
    assert states_of(hub.join_queue()) == {lost: events.TERMINATED}
    # AND the fleet was described through the spoke's reconcile reader role, never its execution role, and
    # without a session policy (a caller's choice, no boundary): the reader role itself may only describe
    (assumed,) = w.calls_of("AssumeRole")
    reader = f"arn:aws:iam::{SPOKE_A}:role/{contract.DEFAULT_RECONCILE_READER_ROLE_NAME}"
    assert assumed.params["RoleArn"] == reader
    assert "Policy" not in assumed.params
    (describe,) = w.calls_of("DescribeInstances")
    assert describe.account == SPOKE_A and describe.access_key_id is not None  # the assumed session's


def test_opted_out_and_stopped_instances_are_left_alone(hub: Hub) -> None:
    w = hub.world
    # GIVEN an instance opted out by its tag, and a joined instance that is stopped (not gone)
    w.put_config(SPOKE_A)
    (opted_out,) = w.launch(SPOKE_A, tags={contract.TAG_OPT_OUT: "False"})
    (stopped,) = w.launch(SPOKE_A)
    w.put_ledger(stopped, SPOKE_A, status="JOIN_SENT")
    w.client("ec2", SPOKE_A).stop_instances(InstanceIds=[stopped])
    w.clock.offset += HOUR
    # WHEN the reconciler runs
    report = hub.run()
    # THEN nothing is queued; the opt-out is reported as a skip with its reason
    assert hub.join_queue() == []
    assert [(a.kind, a.instance_id) for a in report.actions] == [(P.SKIP, opted_out)]
    assert "opted out" in report.actions[0].reason


def test_join_failed_is_retried_once_per_period_and_the_retry_is_recorded(hub: Hub) -> None:
    w = hub.world
    # GIVEN a running instance whose join was given up two days ago
    w.put_config(SPOKE_A)
    (failed,) = w.launch(SPOKE_A)
    w.put_ledger(failed, SPOKE_A, status="JOIN_FAILED", updatedAt=int(w.clock()) - 2 * 86400)
    # WHEN the reconciler runs twice within the retry period
    started = int(w.clock())
    first = hub.run()
    w.clock.offset += HOUR
    second = hub.run()
    # THEN the first run re-queues it and records when; the second leaves it alone
    assert [a.kind for a in first.actions] == [P.RETRY]
    assert [a.kind for a in second.actions] == [P.SKIP]
    assert states_of(hub.join_queue()) == {failed: events.RUNNING}
    assert started <= int(w.ledger()[failed][contract.LEDGER_RETRIED_AT_ATTRIBUTE]) <= started + 60
    # AND once the period is over, it is retried again
    w.clock.offset += hub.reconciler.settings.retry_period_seconds
    assert [a.kind for a in hub.run().actions] == [P.RETRY]


def test_a_retry_is_recorded_only_on_the_record_as_the_planner_read_it(hub: Hub) -> None:
    w = hub.world
    # GIVEN a JOIN_FAILED record, planned for a retry
    w.put_config(SPOKE_A)
    (failed,) = w.launch(SPOKE_A)
    w.put_ledger(failed, SPOKE_A, status="JOIN_FAILED", updatedAt=int(w.clock()) - 2 * 86400)
    (item,) = hub.reconciler.plan(accounts={SPOKE_A}, regions={HOME_REGION}).items
    # AND the join path failed it again meanwhile (same status, newer updatedAt)
    w.put_ledger(failed, SPOKE_A, status="JOIN_FAILED", updatedAt=int(w.clock()))
    # WHEN the worker runs the item
    report = hub.reconciler.run(item, dry_run=False)
    # THEN the retry is queued, but the newer record is not stamped as retried (the ledger store's own
    # condition: status and updatedAt as read), so its own retry period starts from its new failure
    assert [a.kind for a in report.actions] == [P.RETRY]
    assert contract.LEDGER_RETRIED_AT_ATTRIBUTE not in w.ledger()[failed]
    # AND a record still as read is stamped
    (item,) = hub.reconciler.plan(accounts={SPOKE_A}, regions={HOME_REGION}).items
    w.clock.offset += 2 * 86400
    hub.reconciler.run(item, dry_run=False)
    assert contract.LEDGER_RETRIED_AT_ATTRIBUTE in w.ledger()[failed]


def test_directory_orphans_from_the_inventory_are_removed_and_foreign_accounts_only_reported(
    hub: Hub,
) -> None:
    w = hub.world
    # GIVEN an inventory naming a live instance, an instance that never existed (no ledger record),
    # and an account that is not enrolled
    w.put_config(SPOKE_A, regions={HOME_REGION})
    (alive,) = w.launch(SPOKE_A)
    taken = int(w.clock())
    hub.put_inventory(
        [
            P.InventoryObject("EC2ALIVE", "", SPOKE_A, HOME_REGION, alive),
            P.InventoryObject("EC2ORPHAN", "", SPOKE_A, HOME_REGION, GONE_ID),
            P.InventoryObject("EC2FOREIGN", "", UNENROLLED, HOME_REGION, GONE_ID),
        ],
        taken,
    )
    w.clock.offset += HOUR
    # WHEN the planner plans and the worker runs
    result = hub.reconciler.plan()
    report = hub.reconciler.run(result.items[0], dry_run=False)
    # THEN the orphan gets one stamp-checked remove command; the foreign stamp is only reported
    assert [(a.kind, a.computer_name) for a in result.reports] == [(P.REPORT, "EC2FOREIGN")]
    assert [(a.kind, a.computer_name) for a in report.actions if a.kind != P.BACKFILL] == [
        (P.REMOVE, "EC2ORPHAN")
    ]
    (command,) = [c for c in w.commands() if c["DocumentName"] == contract.REMOVE_DOCUMENT]
    assert command["Params"][contract.TOOLS_PARAM_COMPUTERS] == (
        f"EC2ORPHAN={contract.STAMP_PREFIX}{SPOKE_A}/{HOME_REGION}/{GONE_ID}"
    )
    assert command["InstanceIds"] == [w.tools_host_id]


def test_more_orphans_than_the_threshold_are_all_skipped_with_a_metric(hub: Hub) -> None:
    w = hub.world
    # GIVEN 30 stamped objects whose instances are all gone (more than the default 25)
    w.put_config(SPOKE_A, regions={HOME_REGION})
    orphans = [
        P.InventoryObject(f"EC2ORPHAN{n:02d}", "", SPOKE_A, HOME_REGION, f"i-0bbbbbbbbbbbbbb{n:02d}")
        for n in range(30)
    ]
    hub.put_inventory(orphans, int(w.clock()))
    w.clock.offset += HOUR
    # WHEN the reconciler runs
    report = hub.run()
    # THEN nothing is removed, every orphan is a threshold skip, and the metric counts them
    assert [c for c in w.commands() if c["DocumentName"] == contract.REMOVE_DOCUMENT] == []
    assert {a.kind for a in report.actions} == {P.SKIP}
    assert report.metrics()[SKIPPED_BY_THRESHOLD] == len(orphans)


def test_dry_run_changes_nothing(hub: Hub) -> None:
    w = hub.world
    # GIVEN one instance to backfill, one ledger orphan, one directory orphan (no threshold in the way)
    hub.reconciler.settings = replace(hub.reconciler.settings, max_removal_percent=100)
    w.put_config(SPOKE_A, regions={HOME_REGION})
    (unjoined,) = w.launch(SPOKE_A)
    w.put_ledger(GONE_ID, SPOKE_A, status="JOIN_SENT")
    hub.put_inventory([P.InventoryObject("EC2ORPHAN", "", SPOKE_A, HOME_REGION, "i-0ccccccccccccccc1")], 1)
    w.clock.offset += HOUR
    ledger_before = w.ledger()
    # WHEN the reconciler runs in dry run
    report = hub.run(dry_run=True)
    # THEN it reports all three, and changes nothing: no event, no command, the same ledger
    assert sorted(a.kind for a in report.actions) == [P.BACKFILL, P.REMOVE, P.REMOVE]
    assert [a.instance_id for a in report.actions if a.kind == P.BACKFILL] == [unjoined]
    assert hub.join_queue() == []
    assert [c for c in w.commands() if c["DocumentName"] == contract.REMOVE_DOCUMENT] == []
    assert w.ledger() == ledger_before
    assert all(fields["dry_run"] for message, fields in hub.log if message.startswith("reconcile:"))


def test_the_planner_fans_out_one_message_per_account_and_region(hub: Hub) -> None:
    w = hub.world
    # GIVEN three enrolled accounts: one names its Regions, two use the hub's two Regions
    w.put_config(SPOKE_A, regions={HOME_REGION, "eu-west-1", "eu-central-1"}, ouPath=SERVERS_OU)
    w.put_config(SPOKE_B)
    w.put_config("444444444444")
    # WHEN the planner runs
    report = hub.reconciler.fan_out(dry_run=False)
    # THEN the reconcile queue holds 3 + 2 + 2 work items, each once
    sqs = w.client("sqs")
    bodies: list[str] = []
    while got := sqs.receive_message(QueueUrl=hub.reconcile_queue_url, MaxNumberOfMessages=10).get(
        "Messages"
    ):
        bodies += [m["Body"] for m in got]
    items = sorted((i.account_id, i.region) for i in map(decode_work_item, bodies))
    assert report.work_items == len(items) == 7
    assert items == sorted(
        [(SPOKE_A, r) for r in (HOME_REGION, "eu-west-1", "eu-central-1")]
        + [(a, r) for a in (SPOKE_B, "444444444444") for r in (HOME_REGION, OTHER_REGION)]
    )
    # AND the next inventory was asked of the tools host, its output going to the bucket
    (inventory,) = [
        c for c in w.calls_of("SendCommand") if c.params["DocumentName"] == contract.INVENTORY_DOCUMENT
    ]
    assert inventory.params["OutputS3BucketName"] == hub.bucket
    # (under the prefix the tools host's role may write, modules/tools_host.inventory_writer_policy)
    assert inventory.params["OutputS3KeyPrefix"] == contract.INVENTORY_OUTPUT_KEY_PREFIX
    assert inventory.params["InstanceIds"] == [w.tools_host_id]
    # AND it searches the OU the accounts name (the one domain's Computers container only when none does)
    assert inventory.params["Parameters"][contract.TOOLS_PARAM_SEARCH_BASES] == [SERVERS_OU]


def test_quarantine_disables_first_and_deletes_after_its_days(hub: Hub) -> None:
    w = hub.world
    # GIVEN quarantine of 7 days and an orphaned stamped object
    hub.reconciler.settings = replace(hub.reconciler.settings, quarantine_days=7, max_removal_percent=100)
    w.put_config(SPOKE_A, regions={HOME_REGION})
    orphan = P.InventoryObject("EC2ORPHAN", "", SPOKE_A, HOME_REGION, GONE_ID)
    hub.put_inventory([orphan], int(w.clock()))
    w.clock.offset += HOUR
    # WHEN the reconciler runs
    first = hub.run()
    # THEN the object is disabled (stamp-checked) and the ledger remembers when
    assert [a.kind for a in first.actions] == [P.QUARANTINE]

    def removes() -> list[tuple[str, str]]:
        return [
            (c["Params"][contract.TOOLS_PARAM_ACTION], c["Params"][contract.TOOLS_PARAM_COMPUTERS])
            for c in w.commands()
            if c["DocumentName"] == contract.REMOVE_DOCUMENT
        ]

    entry = f"EC2ORPHAN={orphan.stamp}"
    assert removes() == [(contract.REMOVE_ACTION_DISABLE, entry)]
    assert w.ledger()[GONE_ID]["status"] == P.QUARANTINED
    # AND a run within the 7 days leaves it; a run after them (still in a newer inventory) deletes it
    w.clock.offset += 3 * 86400
    hub.put_inventory([orphan], int(w.clock()))
    assert [a.kind for a in hub.run().actions] == [P.SKIP]
    w.clock.offset += 5 * 86400
    hub.put_inventory([orphan], int(w.clock()))
    assert [a.kind for a in hub.run().actions] == [P.REMOVE]
    assert removes()[-1] == (contract.REMOVE_ACTION_DELETE, entry)


def test_the_lambda_entry_points_plan_work_and_count(
    hub: Hub, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    w = hub.world
    # GIVEN the deployed functions' environment, and a joined record whose instance is gone
    for name, value in {
        contract.ENV_JOIN_QUEUE_URL: w.join_queue_url,
        contract.ENV_RECONCILE_QUEUE_URL: hub.reconcile_queue_url,
        contract.ENV_HUB_REGIONS: HOME_REGION,
    }.items():
        monkeypatch.setenv(name, value)
    monkeypatch.setattr(app_module, "_reconciler", None)
    w.put_config(SPOKE_A, regions={HOME_REGION})
    w.put_ledger(GONE_ID, SPOKE_A, status="JOIN_SENT")
    # WHEN the schedule invokes the planner, and the worker gets the reconcile queue's message
    planned = app_module.planner_handler({"dryRun": False}, FakeContext())
    got = w.client("sqs").receive_message(QueueUrl=hub.reconcile_queue_url, MaxNumberOfMessages=10)[
        "Messages"
    ]
    event = {
        "Records": [
            {
                "messageId": m["MessageId"],
                "receiptHandle": m["ReceiptHandle"],
                "body": m["Body"],
                "attributes": {},
                "messageAttributes": {},
                "md5OfBody": m["MD5OfBody"],
                "eventSource": "aws:sqs",
                "awsRegion": HOME_REGION,
            }
            for m in got
        ]
    }
    response = app_module.reconcile_handler(event, FakeContext())
    # THEN one work item, no failure, the terminated event on the join queue, and the metrics emitted
    assert planned["workItems"] == 1 and planned["errors"] == []
    assert response == {"batchItemFailures": []}
    assert states_of(hub.join_queue()) == {GONE_ID: events.TERMINATED}
    metrics = emitted_metrics(capsys.readouterr().out)
    assert (metrics["WorkItems"], metrics["Orphaned"], metrics["Removed"]) == (1, 1, 1)


def test_a_dry_run_of_the_planner_makes_its_workers_report_only(hub: Hub) -> None:
    w = hub.world
    # GIVEN a joined record whose instance is gone, and workers whose own settings are not dry run
    w.put_config(SPOKE_A, regions={HOME_REGION})
    w.put_ledger(GONE_ID, SPOKE_A, status="JOIN_SENT")
    assert hub.reconciler.settings.dry_run is False
    # WHEN the planner runs in dry run and a worker takes its message
    hub.reconciler.fan_out(dry_run=True)
    (message,) = w.client("sqs").receive_message(QueueUrl=hub.reconcile_queue_url)["Messages"]
    report = hub.reconciler.run(decode_work_item(message["Body"]), dry_run=False)
    # THEN the removal is reported but nothing is sent, and no inventory is asked for
    assert report.dry_run and [a.kind for a in report.actions] == [P.REMOVE]
    assert hub.join_queue() == []
    assert w.calls_of("SendCommand") == []


def test_a_work_item_too_large_for_one_message_goes_without_what_does_not_fit(hub: Hub) -> None:
    w = hub.world
    # GIVEN an account/Region whose stamped objects alone are larger than one SQS message
    w.put_config(SPOKE_A, regions={HOME_REGION})
    w.put_ledger(GONE_ID, SPOKE_A, status="JOIN_SENT")
    many = [
        P.InventoryObject(f"EC2BIG{n:05d}", "", SPOKE_A, HOME_REGION, f"i-{n:017x}")
        for n in range(MANY_OBJECTS)
    ]
    hub.put_inventory(many, int(w.clock()))
    # WHEN the planner queues it
    hub.reconciler.fan_out(dry_run=True)
    (message,) = w.client("sqs").receive_message(QueueUrl=hub.reconcile_queue_url)["Messages"]
    item = decode_work_item(message["Body"])
    # THEN it travels without ledger records and inventory (no directory pass), and the worker still finds
    # the ledger orphan by reading the ledger itself
    assert (item.ledger, item.inventory, item.inventory_taken_at) == (None, (), 0)
    report = hub.reconciler.run(item, dry_run=True)
    assert [(a.kind, a.instance_id) for a in report.actions] == [(P.REMOVE, GONE_ID)]
