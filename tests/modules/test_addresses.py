"""No change may move a Terraform resource address silently (see pin_addresses.py and CHANGELOG.md)."""

from __future__ import annotations

from pathlib import Path

from modules_testlib import LandingZones, SynthesizedApp
from pin_addresses import (
    EXAMPLE,
    PLAIN_MODULES,
    TEST_ACCOUNT_LIST,
    TEST_ORGANIZATION,
    addresses,
    differences,
    pin_of,
    plain_module_stacks,
    read_pin,
)

from modules.plain_modules import UNITS

HOW_TO = (
    "Terraform destroys what is gone (-) and creates what is new (+): a renamed address loses the resource "
    "(tables lose their items). If the change is deliberate: a `moved` block per renamed address, a note in "
    "CHANGELOG.md, then `.venv/bin/python -m tests.modules.pin_addresses` and commit "
    "tests/modules/addresses.json."
)


def test_every_stack_and_plain_module_keeps_its_resource_addresses(
    example: SynthesizedApp, landing_zones: LandingZones, plain_modules: Path
) -> None:
    # GIVEN the pinned addresses, WHEN every stack and plain module is synthesized from today's code,
    # THEN each one has exactly the pinned addresses: none gone, none new
    current = pin_of(
        {
            EXAMPLE: example.stacks,
            TEST_ORGANIZATION: landing_zones.org.stacks,
            TEST_ACCOUNT_LIST: landing_zones.accounts.stacks,
            PLAIN_MODULES: plain_module_stacks(plain_modules),
        }
    )
    changed = differences(read_pin(), current)
    assert changed == [], "\n".join([*changed, HOW_TO])


def test_the_pin_covers_every_unit_and_the_hub_tables() -> None:
    # GIVEN the committed pin, THEN it holds a hub, forwarders and spokes of the example, the provisioned
    # config table's autoscaling, and every plain module: a pin of nothing would always pass
    pin = read_pin()
    assert {stack.split("-")[0] for stack in pin[EXAMPLE]} == {"hub", "forwarder", "spoke"}
    assert sum(a.startswith("aws_dynamodb_table.") for a in pin[EXAMPLE]["hub"]) == 2
    assert any(a.startswith("aws_appautoscaling_target.") for a in pin[TEST_ACCOUNT_LIST]["hub"])
    assert set(pin[PLAIN_MODULES]) == set(UNITS)
    assert {"hub", "region-forwarder", "spoke", "tools-host", "directory-config"} <= set(UNITS)


def test_addresses_name_data_sources_and_repeated_resources_as_terraform_does() -> None:
    # GIVEN a stack with a plain resource, a for_each resource, a counted one and a data source
    stack = {
        "resource": {
            "aws_sqs_queue": {"q": {}},
            "aws_ssm_document": {"d": {"for_each": "${toset(var.regions)}"}},
            "aws_iam_role": {"r": {"count": 1}},
        },
        "data": {"aws_region": {"region": {}}},
    }
    # WHEN its addresses are listed, THEN each is distinct in the form Terraform's state keys it
    assert addresses(stack) == [
        "aws_iam_role.r[count]",
        "aws_sqs_queue.q",
        "aws_ssm_document.d[for_each]",
        "data.aws_region.region",
    ]


def test_differences_name_the_lost_and_the_new_address() -> None:
    pinned = {"lz": {"hub": ["aws_sqs_queue.a", "aws_sqs_queue.b"]}}
    current = {"lz": {"hub": ["aws_sqs_queue.a", "aws_sqs_queue.c"]}, "new": {"s": ["aws_sns_topic.t"]}}
    assert differences(pinned, current) == [
        "lz / hub: - aws_sqs_queue.b",
        "lz / hub: + aws_sqs_queue.c",
        "new / s: + aws_sns_topic.t",
    ]


def test_a_building_block_keeps_the_addresses_its_resources_had_in_the_unit(
    landing_zones: LandingZones,
) -> None:
    # GIVEN a unit that creates a queue and its policy directly, and one that creates them through the Queue
    # block with the same id, WHEN cdktf names them, THEN the names are the same (Default + keep_address)
    from cdktf_cdktf_provider_aws.sqs_queue import SqsQueue
    from cdktf_cdktf_provider_aws.sqs_queue_policy import SqsQueuePolicy
    from constructs import Construct

    from modules.cdk import App, TerraformStack
    from modules.queue import Queue, QueueProps

    app = App()
    direct_unit = Construct(TerraformStack(app, "direct"), "unit")
    queue = SqsQueue(direct_unit, "join-queue", name="q")
    policy = SqsQueuePolicy(direct_unit, "join-queue-policy", queue_url=queue.url, policy="{}")
    block_stack = TerraformStack(app, "block")
    block = Queue(Construct(block_stack, "unit"), "join-queue", QueueProps(name="q", arn="arn:aws:sqs:r:1:q"))
    direct_names = [r.friendly_unique_id for r in (queue, policy)]
    block_names = [r.friendly_unique_id for r in (block.queue, block.policy)]
    assert block_names == direct_names
    assert block_names[1].startswith("unit_join-queue-policy_")
