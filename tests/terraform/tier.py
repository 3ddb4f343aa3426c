"""Work dirs the Terraform tier checks, prepared in the test process and checked two at a time.

A test names its work dir with a `job` parameter (a `Job`). On first use the session's `Tier` prepares the
work dir of every selected test, cheapest first (copying and adapting needs the synthesized stacks, so it runs
in the main thread, and synthesis is the slow part), and queues each one's Terraform run as soon as it is
ready on a pool of `WORKERS` threads: Terraform checks the first work dirs while the next are synthesized, and
a test only waits for its own result.
"""

from __future__ import annotations

import json
import re
import shutil
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from modules.landing_zone import LandingZone, load_landing_zone

from .tfcli import Outcome, StsStub, Terraform
from .v5 import (
    OVERRIDE_FILE,
    Schema,
    adapt_module_dir,
    adapt_stack,
    aws_provider_aliases,
    consumer_override,
    stack_account,
)

WORKERS = 2
REPOSITORY_ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = REPOSITORY_ROOT / "examples"
PLAIN_MODULES = REPOSITORY_ROOT / "terraform" / "modules"
EXAMPLE_LANDING_ZONE = EXAMPLES / "landing-zone.yaml"
CONSUMER_SUFFIX = "-consumer"
# Left behind by a user who ran an example in place; never copied into a work dir.
LOCAL_RUN_LEFTOVERS = shutil.ignore_patterns(".terraform", ".terraform.lock.hcl", "*.tfstate*", "*.tfplan")


@dataclass
class Prepared:
    workdir: Path
    expected: dict[str, Any] = field(default_factory=dict)  # what the test compares the plan with


@dataclass
class Context:
    """What a job's preparation may use: the provider schema, the STS stub, fresh folders, and values built
    once per session on first use (synthesized apps shared by several jobs)."""

    schema: Schema
    stub: StsStub
    root: Path
    values: dict[str, Any] = field(default_factory=dict)

    def value(self, name: str, build: Callable[[], Any]) -> Any:
        if name not in self.values:
            self.values[name] = build()
        return self.values[name]

    def folder(self, key: str) -> Path:
        path = self.root / re.sub(r"[^A-Za-z0-9_.-]+", "_", key)
        path.mkdir(parents=True)
        return path


def synthesize(landing_zone: LandingZone, outdir: Path) -> Path:
    """Every stack of a landing zone (modules.stacks.build_app), into `outdir`; returns its stacks folder."""
    from modules.stacks import build_app  # importing the provider bindings is slow: only when a job needs it

    build_app(landing_zone, outdir, outdir.parent / f"{outdir.name}-artifact" / "domain_join.zip").synth()
    return outdir / "stacks"


@dataclass(frozen=True)
class Job:
    key: str
    prepare: Callable[[Context], Prepared]
    cost: int = 0  # preparation order: 0 copies files, 1 uses the shared example synth, 2 synthesizes its own

    def __str__(self) -> str:
        return self.key


def example_landing_zone() -> LandingZone:
    return load_landing_zone(EXAMPLE_LANDING_ZONE)


def example_stacks(context: Context) -> Path:
    """The example landing zone's stacks folder, synthesized on first use."""
    stacks: Path = context.value(
        "example-stacks", lambda: synthesize(example_landing_zone(), context.root / "synth-example")
    )
    return stacks


def stack_name(kind: str, qualifier: str | None) -> str:
    from modules import stacks  # the stack names are spelled there only

    if kind == "hub":
        return stacks.HUB_STACK
    builder = {"forwarder": stacks.forwarder_stack_name, "spoke": stacks.spoke_stack_name}[kind]
    assert qualifier is not None
    return builder(qualifier)


def prepare_stack(context: Context, stack_dir: Path, key: str) -> Prepared:
    """A synthesized stack folder (cdk.tf.json and its assets), copied and adapted."""
    workdir = context.folder(key) / "stack"
    shutil.copytree(stack_dir, workdir, ignore=LOCAL_RUN_LEFTOVERS)
    config = json.loads((workdir / "cdk.tf.json").read_text())
    adapted = adapt_stack(config, context.schema, context.stub.endpoint(stack_account(config)))
    (workdir / "cdk.tf.json").write_text(json.dumps(adapted.config, indent=2))
    return Prepared(workdir, {"config": config, "region_stripped": adapted.region_stripped})


def prepare_consumer(context: Context, consumer: str) -> Prepared:
    """An example consumer with a copy of every plain module at the same relative path
    (`source = "../../terraform/modules/<name>"` resolves unchanged)."""
    root = context.folder(consumer)
    workdir = root / "examples" / consumer
    shutil.copytree(EXAMPLES / consumer, workdir, ignore=LOCAL_RUN_LEFTOVERS)
    stripped = []
    for module in sorted(path for path in PLAIN_MODULES.iterdir() if path.is_dir()):
        copied = root / "terraform" / "modules" / module.name
        shutil.copytree(module, copied, ignore=LOCAL_RUN_LEFTOVERS)
        stripped += adapt_module_dir(copied, context.schema)
    override = consumer_override(context.stub.endpoint(), aws_provider_aliases(workdir))
    (workdir / OVERRIDE_FILE).write_text(json.dumps(override, indent=2))
    return Prepared(workdir, {"region_stripped": stripped})


class Tier:
    def __init__(self, terraform: Terraform, context: Context) -> None:
        self.terraform = terraform
        self.context = context
        self.pool = ThreadPoolExecutor(max_workers=WORKERS, thread_name_prefix="terraform-tier")
        self.prepared: dict[str, Prepared] = {}
        self.futures: dict[str, Future[Outcome]] = {}
        self.errors: dict[str, Exception] = {}

    def submit(self, jobs: list[Job]) -> None:
        """Prepare each job not yet prepared (main thread) and queue its Terraform run at once, so Terraform
        checks the first work dirs while the next ones are still being synthesized."""
        for job in jobs:
            if job.key in self.prepared or job.key in self.errors:
                continue
            try:
                self.prepared[job.key] = job.prepare(self.context)
            except Exception as error:  # reported by the job's own test, not by every test of the session
                self.errors[job.key] = error
                continue
            self.futures[job.key] = self.pool.submit(self.terraform.check, self.prepared[job.key].workdir)

    def result(self, job: Job) -> tuple[Prepared, Outcome]:
        self.submit([job])
        if job.key in self.errors:
            raise self.errors[job.key]
        return self.prepared[job.key], self.futures[job.key].result()

    def wait_all(self) -> dict[str, Outcome]:
        """Every queued job's outcome, once all have run."""
        return {key: future.result() for key, future in self.futures.items()}

    def close(self) -> None:
        self.pool.shutdown(wait=True, cancel_futures=True)
