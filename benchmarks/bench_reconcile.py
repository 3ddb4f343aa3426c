"""Benchmark: API calls and simulated wall time of one reconciliation run at Organization scale.

500 accounts x 17 Regions x 20 instances (170,000 instances, every one joined and stamped, 1 in 10 work items
with one instance launched before enrolment), run through the real ``Reconciler`` and ``ReconcileGateway``
against fake AWS clients that count every call and charge a simulated latency per call (not slept).

The fan-out is modelled as Lambda runs it: the planner alone, then the worker's reserved concurrency
(``ReconcileProps.worker_concurrency``) of containers, each taking batches of 10 work items in turn and
keeping its clients and assumed-role sessions between batches.  Simulated wall time = the planner's calls x
latency + the busiest worker container's calls x latency.

Run: ``make bench-reconcile`` (or ``python benchmarks/bench_reconcile.py [--accounts N --regions N
--instances N --latency-ms N --concurrency N]``).  The last two lines are
``calls_per_account_region <number>`` and ``simulated_wall_seconds <number>``.
"""

from __future__ import annotations

import argparse
import datetime
import io
import itertools
import json
import sys
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from handlers.domain_join import contract
from handlers.domain_join.adapter.reconcile import build_reconciler
from handlers.domain_join.adapter.sessions import DYNAMODB_SERIALIZER, Credentials
from handlers.domain_join.reconcile.inventory import decode_work_item, render_inventory
from handlers.domain_join.reconcile.plan import InventoryObject, ReconcileSettings
from handlers.domain_join.reconcile.worker import Reconciler, ReconcilerConfig
from handlers.domain_join.settings import Settings
from modules.reconcile_props import ReconcileProps

HUB_ACCOUNT = "999999999999"
HOME = "us-east-1"
DOMAIN = "corp.example.com"
TOOLS_HOST = "i-0fffffffffffffff0"
REGIONS = (
    "us-east-1", "us-east-2", "us-west-1", "us-west-2", "ca-central-1", "eu-west-1", "eu-west-2", "eu-west-3",
    "eu-central-1", "eu-north-1", "ap-south-1", "ap-northeast-1", "ap-northeast-2", "ap-northeast-3",
    "ap-southeast-1", "ap-southeast-2", "sa-east-1",
)  # fmt: skip
SCAN_PAGE_ITEMS = 5000  # ~1 MB of the projected ledger attributes per Scan page
DESCRIBE_PAGE = 1000
LAUNCHED = datetime.datetime(2026, 1, 1, tzinfo=datetime.UTC)
NOW = 1_800_000_000  # the reconcilers' clock (every instance launched long before)


@dataclass
class Fleet:
    """The simulated Organization: who has which instances, and what the ledger and directory hold."""

    accounts: int
    regions: int
    instances: int

    def account(self, a: int) -> str:
        return f"{100000000000 + a:012d}"

    def instance_ids(self, a: int, r: int) -> list[str]:
        return [f"i-{a:07x}{r:03x}{n:07x}" for n in range(self.instances)]

    def unjoined(self, a: int, r: int) -> bool:
        """One in ten (account, Region)s has one instance launched before enrolment."""
        return (a * self.regions + r) % 10 == 0

    def ledger_items(self) -> list[dict[str, Any]]:
        items = []
        for a, r in itertools.product(range(self.accounts), range(self.regions)):
            ids = self.instance_ids(a, r)[1:] if self.unjoined(a, r) else self.instance_ids(a, r)
            for instance_id in ids:
                items.append(
                    {
                        "instanceId": instance_id,
                        "account": self.account(a),
                        "region": REGIONS[r],
                        "status": "JOIN_SENT",
                        "computerName": "EC2" + instance_id[-12:].upper(),
                        "updatedAt": 1_700_000_000,
                    }
                )
        return items


@dataclass
class Calls:
    counts: Counter[str] = field(default_factory=Counter)

    def add(self, operation: str) -> None:
        self.counts[operation] += 1

    @property
    def total(self) -> int:
        return sum(self.counts.values())


class FakeClient:
    """A boto3-like client of one service: answers from the simulated fleet and counts each call."""

    def __init__(self, service: str, region: str, account: str, world: World, calls: Calls) -> None:
        self.service, self.region, self.account, self.world, self.calls = (
            service,
            region,
            account,
            world,
            calls,
        )

    # sts
    def assume_role(self, **request: Any) -> dict[str, Any]:
        self.calls.add("sts:AssumeRole")
        account = request["RoleArn"].split(":")[4]
        return {
            "Credentials": {
                "AccessKeyId": f"ASIA{account}",
                "SecretAccessKey": "x",
                "SessionToken": "x",
                "Expiration": datetime.datetime.fromtimestamp(NOW + 3600, datetime.UTC),
            }
        }

    # ec2
    def describe_instances(self, **request: Any) -> dict[str, Any]:
        self.calls.add("ec2:DescribeInstances")
        if self.account == HUB_ACCOUNT:  # the tools host
            instance = {"InstanceId": TOOLS_HOST, "State": {"Name": "running"}, "Tags": []}
            return {"Reservations": [{"Instances": [instance]}]}
        return self.world.describe(self.account, self.region, request)

    # ssm
    def describe_instance_information(self, **request: Any) -> dict[str, Any]:
        self.calls.add("ssm:DescribeInstanceInformation")
        return {"InstanceInformationList": [{"InstanceId": TOOLS_HOST, "PingStatus": "Online"}]}

    def list_commands(self, **request: Any) -> dict[str, Any]:
        self.calls.add("ssm:ListCommands")
        return {"Commands": [self.world.inventory_command]}

    def send_command(self, **request: Any) -> dict[str, Any]:
        self.calls.add("ssm:SendCommand")
        return {"Command": {"CommandId": "cmd-next"}}

    # s3
    def list_objects_v2(self, **request: Any) -> dict[str, Any]:
        self.calls.add("s3:ListObjectsV2")
        return {"Contents": [{"Key": self.world.inventory_key}]}

    def get_object(self, **request: Any) -> dict[str, Any]:
        self.calls.add("s3:GetObject")
        return {"Body": io.BytesIO(self.world.inventory_text.encode())}

    # dynamodb
    def scan(self, **request: Any) -> dict[str, Any]:
        self.calls.add("dynamodb:Scan")
        if request["TableName"] == "config":
            return {"Items": self.world.config_items}
        start = int(request.get("ExclusiveStartKey", {}).get("n", {}).get("N", 0))
        page = self.world.ledger[start : start + SCAN_PAGE_ITEMS]
        response: dict[str, Any] = {"Items": page}
        if start + SCAN_PAGE_ITEMS < len(self.world.ledger):
            response["LastEvaluatedKey"] = {"n": {"N": str(start + SCAN_PAGE_ITEMS)}}
        return response

    # sqs
    def send_message_batch(self, **request: Any) -> dict[str, Any]:
        self.calls.add("sqs:SendMessageBatch")
        if request["QueueUrl"] == "reconcile":
            self.world.reconcile_queue += [e["MessageBody"] for e in request["Entries"]]
        else:
            self.world.join_events += len(request["Entries"])
        return {"Successful": [{"Id": e["Id"]} for e in request["Entries"]], "Failed": []}


class World:
    def __init__(self, fleet: Fleet) -> None:
        self.fleet = fleet
        serialize = DYNAMODB_SERIALIZER.serialize
        self.ledger = [{k: serialize(v) for k, v in item.items()} for item in fleet.ledger_items()]
        self.config_items = [
            {
                k: serialize(v)
                for k, v in {
                    "accountId": fleet.account(a),
                    "dnsName": DOMAIN,
                    "adJoinUserName": "svc-join",
                    "adJoinUserPwParam": "/domain-join/password",
                    "regions": set(REGIONS[: fleet.regions]),
                }.items()
            }
            for a in range(fleet.accounts)
        ]
        objects = [
            InventoryObject("EC2" + i[-12:].upper(), "", fleet.account(a), REGIONS[r], i)
            for a, r in itertools.product(range(fleet.accounts), range(fleet.regions))
            for i in fleet.instance_ids(a, r)[1 if fleet.unjoined(a, r) else 0 :]
        ]
        self.inventory_text = render_inventory(DOMAIN, 1_700_000_000, objects)
        self.inventory_key = f"inventory/cmd-1/{TOOLS_HOST}/awsrunShellScript/inventory/stdout"
        self.inventory_command = {
            "CommandId": "cmd-1",
            "DocumentName": contract.INVENTORY_DOCUMENT,
            "Status": "Success",
            "RequestedDateTime": datetime.datetime(2026, 1, 1, tzinfo=datetime.UTC),
            "Parameters": {contract.TOOLS_PARAM_DOMAIN: [DOMAIN]},
        }
        self.reconcile_queue: list[str] = []
        self.join_events = 0
        self.accounts = {fleet.account(a): a for a in range(fleet.accounts)}

    def describe(self, account: str, region: str, request: dict[str, Any]) -> dict[str, Any]:
        ids = self.fleet.instance_ids(self.accounts[account], REGIONS.index(region))
        start = int(request.get("NextToken", 0))
        page = ids[start : start + DESCRIBE_PAGE]
        instances = [
            {"InstanceId": i, "State": {"Name": "running"}, "Tags": [], "LaunchTime": LAUNCHED} for i in page
        ]
        response: dict[str, Any] = {"Reservations": [{"Instances": instances}]}
        if start + DESCRIBE_PAGE < len(ids):
            response["NextToken"] = str(start + DESCRIBE_PAGE)
        return response


def reconciler_for(world: World, calls: Calls) -> Reconciler:
    def factory(service: str, region: str, credentials: Credentials | None) -> FakeClient:
        account = HUB_ACCOUNT if credentials is None else credentials.access_key_id[4:]
        return FakeClient(service, region, account, world, calls)

    handler = Settings(
        home_region=HOME,
        config_table="config",
        ledger_table="ledger",
        dead_letter_queue_url="dlq",
        tools_host_instance_id=TOOLS_HOST,
    )
    config = ReconcilerConfig(
        handler=handler,
        tunables=ReconcileSettings(),
        join_queue_url="join",
        reconcile_queue_url="reconcile",
        inventory_bucket="inventory",
        hub_regions=(HOME,),
    )
    return build_reconciler(config, client_factory=factory, clock=lambda: float(NOW))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--accounts", type=int, default=500)
    parser.add_argument("--regions", type=int, default=len(REGIONS))
    parser.add_argument("--instances", type=int, default=20)
    parser.add_argument("--latency-ms", type=float, default=50.0)
    parser.add_argument("--concurrency", type=int, default=ReconcileProps().worker_concurrency)
    args = parser.parse_args()
    if not 1 <= args.regions <= len(REGIONS):
        parser.error(f"--regions: 1 to {len(REGIONS)}")
    latency = args.latency_ms / 1000
    started = time.perf_counter()
    world = World(Fleet(args.accounts, args.regions, args.instances))

    planner_calls = Calls()
    report = reconciler_for(world, planner_calls).fan_out(dry_run=False)
    work_items = len(world.reconcile_queue)
    assert work_items == report.work_items == args.accounts * args.regions, (
        "one work item per (account, Region)"
    )

    # The worker's containers: each takes the next batch of 10 as it comes free (round robin: equal work).
    workers: list[tuple[Calls, Reconciler]] = []
    for _ in range(args.concurrency):
        container_calls = Calls()
        workers.append((container_calls, reconciler_for(world, container_calls)))
    backfilled = 0
    for number, start in enumerate(range(0, work_items, 10)):
        _, reconciler = workers[number % len(workers)]
        for body in world.reconcile_queue[start : start + 10]:
            result = reconciler.run(decode_work_item(body), dry_run=False)
            backfilled += result.metrics().get("Backfilled", 0)
    worker_calls = Counter[str]()
    for calls, _ in workers:
        worker_calls.update(calls.counts)
    busiest = max(calls.total for calls, _ in workers)

    instances = args.accounts * args.regions * args.instances
    total = planner_calls.total + sum(worker_calls.values())
    per_item = total / work_items
    allowance = 3 + args.instances / 1000
    wall = planner_calls.total * latency + busiest * latency
    print(
        f"accounts x Regions x instances: {args.accounts} x {args.regions} x {args.instances} = {instances}"
    )
    print(
        f"work items: {work_items}; worker containers: {len(workers)}; simulated latency {args.latency_ms} ms"
    )
    print(f"planner calls: {planner_calls.total} {dict(sorted(planner_calls.counts.items()))}")
    print(f"worker calls: {sum(worker_calls.values())} {dict(sorted(worker_calls.items()))}")
    print(f"backfilled: {backfilled}; synthetic events queued: {world.join_events}")
    print(f"target per (account, Region): <= {allowance:g} (3 + 1 per 1,000 instances); target wall < 300 s")
    print(f"benchmark CPU run time: {time.perf_counter() - started:.1f} s (not part of the simulated time)")
    print(json.dumps({"ok": per_item <= allowance and wall < 300}))
    print(f"calls_per_account_region {per_item:.3f}")
    print(f"simulated_wall_seconds {wall:.1f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
