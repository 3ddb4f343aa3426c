"""AWS partitions and their Regions, from botocore's bundled partition data (no network).

The landing-zone reader checks Region names against these lists (a regex accepts Regions that do
not exist), and ARN builders take the partition (`aws`, `aws-cn`, `aws-us-gov`, ...) from the
Region instead of assuming `arn:aws:`.  Pure and cached: botocore reads one JSON file once.

Example::

    >>> partition_of("cn-north-1").name
    'aws-cn'
    >>> partition_of("us-gov-west-1").dns_suffix
    'amazonaws.com'
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache

from botocore.loaders import create_loader

from handlers.domain_join.patterns import (
    REGION,
)  # botocore also lists pseudo-Regions (`aws-global`): not these


@dataclass(frozen=True)
class Partition:
    """One AWS partition.

    Parameters:
        name: the ARN partition, e.g. ``aws-us-gov``.
        dns_suffix: the suffix of its service endpoints and principals, e.g. ``amazonaws.com.cn``.
        regions: the Region names botocore knows in it, sorted.
    """

    name: str
    dns_suffix: str
    regions: tuple[str, ...]


class UnknownRegionError(ValueError):
    """The Region is in no partition botocore knows."""


@cache
def partitions() -> tuple[Partition, ...]:
    """Every partition in botocore's data, `aws` first."""
    data = create_loader().load_data("partitions")
    result = []
    for entry in data["partitions"]:
        outputs = entry["outputs"]
        regions = tuple(sorted(r for r in entry.get("regions", {}) if REGION.match(r)))
        result.append(Partition(outputs["name"], outputs["dnsSuffix"], regions))
    return tuple(sorted(result, key=lambda p: (p.name != "aws", p.name)))


@cache
def _by_region() -> dict[str, Partition]:
    return {region: partition for partition in partitions() for region in partition.regions}


def is_region(region: str) -> bool:
    """True when `region` is a Region of some partition."""
    return region in _by_region()


def partition_of(region: str) -> Partition:
    """The partition that holds `region`; raises UnknownRegionError for a name botocore does not know."""
    try:
        return _by_region()[region]
    except KeyError:
        raise UnknownRegionError(f"{region!r} is not a Region of any AWS partition") from None


def arn_partition(region: str) -> str:
    """The ARN partition of `region` (``aws``, ``aws-cn``, ``aws-us-gov``, ...)."""
    return partition_of(region).name
