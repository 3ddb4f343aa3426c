"""Amazon Resource Names in every partition (aws, aws-cn, aws-us-gov, ...).

Pure: the partition is an input.  The adapter finds it from the Region with botocore's partition data
(``adapter.partitions.partition_of``); nothing here assumes ``arn:aws:``.

Public API (stable names)::

    DEFAULT_PARTITION           "aws"
    Arn                         a parsed ARN (partition, service, region, account, resource)
    arn(partition, service, region, account, resource) -> str
    role_arn(partition, account, role_name) -> str      IAM is global: no Region
    parse_arn(text) -> Arn                               raises ValueError for anything else

Example::

    >>> role_arn("aws-us-gov", "111111111111", "ec2-domain-join-execution")
    'arn:aws-us-gov:iam::111111111111:role/ec2-domain-join-execution'
    >>> parse_arn("arn:aws-cn:sqs:cn-north-1:123456789012:domain-join").partition
    'aws-cn'
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

DEFAULT_PARTITION: Final = "aws"  # the commercial partition (a Region no partition data knows is taken as it)


@dataclass(frozen=True, slots=True)
class Arn:
    partition: str
    service: str
    region: str
    account: str
    resource: str

    def __str__(self) -> str:
        return arn(self.partition, self.service, self.region, self.account, self.resource)


def arn(partition: str, service: str, region: str, account: str, resource: str) -> str:
    if not partition or not service or not resource:
        raise ValueError("an ARN needs a partition, a service and a resource")
    return f"arn:{partition}:{service}:{region}:{account}:{resource}"


def role_arn(partition: str, account: str, role_name: str) -> str:
    return arn(partition, "iam", "", account, f"role/{role_name}")


def parse_arn(text: str) -> Arn:
    parts = text.split(":", 5)
    if len(parts) != 6 or parts[0] != "arn" or not parts[1] or not parts[2] or not parts[5]:
        raise ValueError(f"not an ARN: {text[:80]!r}")
    _, partition, service, region, account, resource = parts
    return Arn(partition, service, region, account, resource)
