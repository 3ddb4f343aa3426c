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

The last line is ``calls_per_join_event <number>`` (target <= 1.0).
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


def main() -> None:
    warnings.filterwarnings("ignore", message="No application metrics to publish")
    rng = random.Random(SEED)
    with mock_aws():
        world = World()
        os.environ.update(world.provision())
        for account in ACCOUNTS:
            world.put_config(account, adGroupName=None)
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
        by_operation = collections.Counter(f"{c.service}:{c.operation}" for c in world.calls)
        total = sum(by_operation.values())
        events = len(bodies)

    print(
        f"burst: {events} launches, {len(bursts)} bursts, {len(ACCOUNTS)} accounts x {len(REGIONS)} Regions"
    )
    print(f"batches: {batches} of up to {BATCH_SIZE}; Lambda containers (own caches): {CONTAINERS}")
    print(f"joined: {joined}; failed records: {failures}; wall {wall:.1f} s ({datetime.date.today()})")
    print()
    print(f"{'operation':44} {'calls':>6} {'per event':>10}")
    for operation, count in sorted(by_operation.items(), key=lambda kv: (-kv[1], kv[0])):
        print(f"{operation:44} {count:6d} {count / events:10.3f}")
    print(f"{'total (ESM ReceiveMessage/DeleteMessage excluded)':44} {total:6d} {total / events:10.3f}")
    print()
    print(f"handler CPU ms per event (incl. in-process moto): {1000 * handler_cpu / events:.2f}")
    own_cpu = handler_cpu - world.aws_cpu_seconds
    print(f"handler CPU ms per event (outside AWS calls):     {1000 * own_cpu / events:.2f}")
    print(f"join_events {events}")
    print(f"calls_per_join_event {total / events:.3f}")


if __name__ == "__main__":
    main()
