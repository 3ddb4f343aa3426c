"""ARNs and service principals for every AWS partition: the one place in `modules/` that spells `arn:`.

The partition (`aws`, `aws-cn`, `aws-us-gov`, ...) and its DNS suffix come from the Region, through
botocore's bundled partition data (`modules.partitions`, no network).  In a plain module the Region is a
Terraform value, so the units take the partition and DNS suffix from `data.aws_partition` there.

Example::

    >>> arn(partition_of("cn-north-1"), "sqs", "cn-north-1", "111111111111", "q")
    'arn:aws-cn:sqs:cn-north-1:111111111111:q'
    >>> service_principal("logs", "cn-north-1", dns_suffix_of("cn-north-1"))
    'logs.cn-north-1.amazonaws.com.cn'
"""

from __future__ import annotations

from . import partitions

# Services whose principal carries the Region and the partition's DNS suffix (CloudWatch Logs' key policy
# principal, e.g. logs.cn-north-1.amazonaws.com.cn); every other service this project trusts (events,
# sns, lambda) has the global principal `<service>.amazonaws.com` in every partition.
REGIONAL_PRINCIPAL_SERVICES = frozenset({"logs"})
GLOBAL_PRINCIPAL_SUFFIX = "amazonaws.com"


def partition_of(region: str) -> str:
    """The ARN partition of a Region name (raises partitions.UnknownRegionError for an unknown one)."""
    return partitions.arn_partition(region)


def dns_suffix_of(region: str) -> str:
    """The DNS suffix of the Region's partition: `amazonaws.com`, `amazonaws.com.cn`, ..."""
    return partitions.partition_of(region).dns_suffix


def arn(partition: str, service: str, region: str, account_id: str, resource: str) -> str:
    """`arn:<partition>:<service>:<region>:<account>:<resource>` (Region and account may be "" or "*")."""
    return f"arn:{partition}:{service}:{region}:{account_id}:{resource}"


def iam_arn(partition: str, account_id: str, resource: str) -> str:
    """An IAM ARN (global service: no Region)."""
    return arn(partition, "iam", "", account_id, resource)


def account_root_arn(partition: str, account_id: str) -> str:
    """The account as a principal: every IAM identity of it that its own policies allow."""
    return iam_arn(partition, account_id, "root")


def role_arn(partition: str, account_id: str, role_name: str) -> str:
    return iam_arn(partition, account_id, f"role/{role_name}")


def directory_arn(partition: str, region: str, account_id: str, directory_id: str) -> str:
    """An AWS Directory Service directory (`ds:CreateComputer` is authorized on it)."""
    return arn(partition, "ds", region, account_id, f"directory/{directory_id}")


def service_principal(service: str, region: str | None = None, dns_suffix: str | None = None) -> str:
    """The principal of an AWS service acting in `region`: global, or (REGIONAL_PRINCIPAL_SERVICES) with the
    Region and the partition's DNS suffix, which it then needs."""
    if service in REGIONAL_PRINCIPAL_SERVICES:
        if region is None or dns_suffix is None:
            raise ValueError(f"the {service} principal needs the Region and the partition's DNS suffix")
        return f"{service}.{region}.{dns_suffix}"
    return f"{service}.{GLOBAL_PRINCIPAL_SUFFIX}"
