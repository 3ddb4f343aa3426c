"""AWS API calls per join event: the burst of docs/architecture.md ("Targets"), real handler, moto.

1,000 launches over 10 accounts x 3 Regions, in scale-out bursts (an Auto
Scaling group adding 5-40 instances at once in one account/Region).  Each
burst's events reach the queue together; the event source mapping (batch size
10) takes consecutive messages, so a batch holds one burst's events where
possible and straddles two bursts otherwise.  Several Lambda containers share
the batches round-robin, each with its own cold caches.

Every call the handler's clients make is counted (botocore events on the real
moto-backed clients).  The ESM's own ReceiveMessage/DeleteMessage are made by
the Lambda service, not by the handler, and are not counted.

The burst runs twice, once per prestage path (docs/handler.md, "Two prestage paths"): every account on
the AD tools host (``DomainJoin-Prestage``, one command per domain and batch), then every account on an AWS
Managed Microsoft AD with a ``directoryId`` (one ``ds:CreateComputer`` per computer, stubbed as in the
handler tests: moto lacks it).  A table compares API calls per join event and SSM commands per join.

The last line is ``calls_per_join_event <number>`` of the tools-host path (target <= 1.0); the line before
it, ``calls_per_join_event_directory_service <number>``.
"""

from __future__ import annotations

import collections
import contextlib
import datetime
import io
import os
import random
import sys
import time
import warnings
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.update(
    {
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_SESSION_TOKEN": "testing",
        "AWS_DEFAULT_REGION": "us-east-1",
        "AWS_REGION": "us-east-1",
        "POWERTOOLS_SERVICE_NAME": "domain-join",
        "POWERTOOLS_METRICS_NAMESPACE": "DomainJoinBench",
        "POWERTOOLS_LOG_LEVEL": "WARNING",  # the figures, not 1,000 log lines
        # The handler tests' two-image AMI catalogue: moto builds it for each of the 31 account/Region
        # EC2 backends, and the default one costs ~0.3 s each.
        "MOTO_AMIS_PATH": str(ROOT / "tests" / "handler" / "amis.json"),
    }
)

from moto import mock_aws  # noqa: E402

from handlers.domain_join import contract  # noqa: E402
from handlers.domain_join.prestage import DIRECTORY_SERVICE, TOOLS_HOST  # noqa: E402
from tests.handler.harness import FakeContext, World, app_module, eventbridge_body  # noqa: E402

LAUNCHES = 1000
ACCOUNTS = [f"{n:012d}" for n in range(210000000001, 210000000011)]
REGIONS = ["us-east-1", "eu-west-1", "ap-southeast-2"]
BURST_SIZES = (5, 10, 15, 20, 25, 30, 40)
BATCH_SIZE = 10
CONTAINERS = 4
SEED = 20261124


def plan_bursts(rng: random.Random) -> list[tuple[str, str, int]]:
    bursts: list[tuple[str, str, int]] = []
    left = LAUNCHES
    while left:
        size = min(rng.choice(BURST_SIZES), left)
        bursts.append((rng.choice(ACCOUNTS), rng.choice(REGIONS), size))
        left -= size
    return bursts


@dataclass(frozen=True)
class Run:
    """One burst through one prestage path."""

    path: str
    events: int
    bursts: int
    batches: int
    joined: int
    failures: int
    wall: float
    by_operation: collections.Counter[str]
    commands: collections.Counter[str]  # SendCommand calls by document
    handler_cpu: float
    aws_cpu: float

    @property
    def total(self) -> int:
        return sum(self.by_operation.values())


def run_burst(path: str) -> Run:
    """The seeded burst with every account on ``path``: a fresh moto world, four cold containers."""
    rng = random.Random(SEED)
    with mock_aws(config={"core": {"reset_boto3_session": False}}):
        world = World()
        os.environ.update(world.provision())
        directory_id = world.create_managed_directory() if path == DIRECTORY_SERVICE else None
        for account in ACCOUNTS:
            world.put_config(account, adGroupName=None, directoryId=directory_id)
        bursts = plan_bursts(rng)
        bodies: list[str] = []
        for account, region, size in bursts:
            ids = world.launch(account, region, count=size)
            bodies += [eventbridge_body(account, region, i) for i in ids]

        apps = [
            app_module.build_app(FakeContext(), client_factory=world.handler_client_factory)
            for _ in range(CONTAINERS)
        ]
        world.calls.clear()
        world.aws_cpu_seconds = 0.0
        handler_cpu = 0.0
        failures = 0
        batches = 0
        started = time.perf_counter()
        for start in range(0, len(bodies), BATCH_SIZE):
            event = world.deliver(bodies[start : start + BATCH_SIZE])
            app_module._app = apps[batches % CONTAINERS]
            cpu = time.process_time()
            with contextlib.redirect_stdout(io.StringIO()):  # EMF metric blobs
                response = app_module.lambda_handler(event, FakeContext())
            handler_cpu += time.process_time() - cpu
            failures += len(response["batchItemFailures"])
            for record in event["Records"]:  # the ESM deletes what succeeded
                world.client("sqs").delete_message(
                    QueueUrl=world.join_queue_url, ReceiptHandle=record["receiptHandle"]
                )
            batches += 1
        wall = time.perf_counter() - started

        joined = sum(1 for item in world.ledger().values() if item["status"] == "JOIN_SENT")
        return Run(
            path=path,
            events=len(bodies),
            bursts=len(bursts),
            batches=batches,
            joined=joined,
            failures=failures,
            wall=wall,
            by_operation=collections.Counter(f"{c.service}:{c.operation}" for c in world.calls),
            commands=collections.Counter(
                str(c.params["DocumentName"]) for c in world.calls if c.operation == "SendCommand"
            ),
            handler_cpu=handler_cpu,
            aws_cpu=world.aws_cpu_seconds,
        )


def report(run: Run) -> None:
    events = run.events
    print(f"== prestage path: {run.path}")
    print(f"burst: {events} launches, {run.bursts} bursts, {len(ACCOUNTS)} accounts x {len(REGIONS)} Regions")
    print(f"batches: {run.batches} of up to {BATCH_SIZE}; Lambda containers (own caches): {CONTAINERS}")
    today = datetime.date.today()
    print(f"joined: {run.joined}; failed records: {run.failures}; wall {run.wall:.1f} s ({today})")
    print()
    print(f"{'operation':44} {'calls':>6} {'per event':>10}")
    for operation, count in sorted(run.by_operation.items(), key=lambda kv: (-kv[1], kv[0])):
        print(f"{operation:44} {count:6d} {count / events:10.3f}")
    print(
        f"{'total (ESM ReceiveMessage/DeleteMessage excluded)':44} {run.total:6d} {run.total / events:10.3f}"
    )
    print()
    print(f"handler CPU ms per event (incl. in-process moto): {1000 * run.handler_cpu / events:.2f}")
    own_cpu = run.handler_cpu - run.aws_cpu
    print(f"handler CPU ms per event (outside AWS calls):     {1000 * own_cpu / events:.2f}")
    print()


def compare(runs: list[Run]) -> None:
    """API calls per join event and SSM commands per join, side by side."""
    print("== prestage paths compared (per join)")
    header = ("prestage path", "API calls/event", "SSM commands", "  prestage", "  join", "ds:CreateComputer")
    print(f"{header[0]:20} {header[1]:>16} {header[2]:>13} {header[3]:>10} {header[4]:>7} {header[5]:>18}")
    for run in runs:
        joined = max(run.joined, 1)
        commands = sum(run.commands.values())
        print(
            f"{run.path:20} {run.total / run.events:16.3f} {commands / joined:13.3f} "
            f"{run.commands[contract.PRESTAGE_DOCUMENT] / joined:10.3f} "
            f"{run.commands[contract.JOIN_DOCUMENT] / joined:7.3f} "
            f"{run.by_operation['ds:CreateComputer'] / joined:18.3f}"
        )
    print()


def main() -> None:
    warnings.filterwarnings("ignore", message="No application metrics to publish")
    runs = [run_burst(TOOLS_HOST), run_burst(DIRECTORY_SERVICE)]
    for run in runs:
        report(run)
    compare(runs)
    tools_host, directory_service = runs
    print(f"join_events {tools_host.events}")
    print(f"calls_per_join_event_directory_service {directory_service.total / directory_service.events:.3f}")
    print(f"calls_per_join_event {tools_host.total / tools_host.events:.3f}")


if __name__ == "__main__":
    main()
