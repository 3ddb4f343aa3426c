"""Every checkov check this project skips, with its reason: the one place to review them.

checkov's terraform_json runner ignores inline skip comments, so the skips are
passed as `--skip-check`; the module tests also prove each skip is still needed
and applies only to the resource type named here.
"""

from __future__ import annotations

from typing import NamedTuple


class Skip(NamedTuple):
    resource_type: str
    reason: str


CHECKOV_SKIPS: dict[str, Skip] = {
    "CKV_AWS_116": Skip(
        "aws_lambda_function",
        "the handler is invoked only by the SQS event source mapping, never asynchronously, so a function"
        " DLQ would never receive anything; failed messages go to the join queue's redrive DLQ",
    ),
    "CKV_AWS_117": Skip(
        "aws_lambda_function",
        "the handler calls only AWS APIs and has no inbound surface; a VPC would add NAT or endpoint cost"
        " and failure modes without reducing exposure",
    ),
    "CKV_AWS_272": Skip(
        "aws_lambda_function",
        "the zip is built deterministically at synth from reviewed sources and pinned by source_code_hash;"
        " code signing needs an AWS Signer profile, outside this module",
    ),
}


# The directory and member network units (modules/directory_network.py, modules/member_network.py) and
# their plain modules; tests/modules/test_directory_network.py proves each is still needed on their
# synthesized stacks.
NETWORK_CHECKOV_SKIPS = {
    "CKV2_AWS_5": Skip(
        "aws_security_group",
        "the domain controllers' and members' groups are attached to instances launched outside these stacks"
        " (the DCs, the joining instances): checkov cannot see that attachment",
    ),
    "CKV2_AWS_1": Skip(
        "aws_network_acl",
        "the DC subnets exist outside these stacks: the ACL is attached by their ids (subnet_ids), which"
        " checkov cannot connect to an aws_subnet resource",
    ),
    "CKV_AWS_25": Skip(
        "aws_vpc_security_group_ingress_rule",
        "checkov reads an RDP rule whose peer is referenced_security_group_id (an admin host's group) as open"
        " to the world; the props refuse 0.0.0.0/0 and the tests pin every rule's peer",
    ),
}


# The reconciliation (modules/reconcile.py, deployed when the landing zone has a `reconciliation:` section);
# tests/modules/test_reconcile.py proves each is still needed on its synthesized hub.
RECONCILE_CHECKOV_SKIPS: dict[str, Skip] = {
    "CKV_AWS_18": Skip(
        "aws_s3_bucket",
        "the inventory bucket holds only Run Command output the planner reads within the hour; its readers"
        " and writer are the hub's own roles (the bucket policy denies every other account); CloudTrail"
        " data events, where wanted, log access without a second bucket",
    ),
    "CKV_AWS_144": Skip(
        "aws_s3_bucket",
        "the inventory is rewritten every run and expires after days: a copy in another Region would only"
        " keep a list of computer names longer than needed",
    ),
    "CKV2_AWS_62": Skip(
        "aws_s3_bucket",
        "nothing reacts to a new inventory object: the planner reads the newest one on its schedule",
    ),
}


def skip_check_argument() -> str:
    """Value for `checkov --skip-check`."""
    return ",".join(sorted(CHECKOV_SKIPS))
