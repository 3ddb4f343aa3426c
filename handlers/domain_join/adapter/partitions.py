"""The partition of a Region (aws, aws-cn, aws-us-gov, ...), from botocore's partition data.

botocore ships with Lambda's Python runtime; its endpoint data names the partition of every Region it
knows, and recognises new Regions by each partition's Region pattern.
"""

from __future__ import annotations

import functools

import botocore.session
from botocore.exceptions import UnknownRegionError

from ..arns import DEFAULT_PARTITION


@functools.cache
def partition_of(region: str) -> str:
    """``"aws-us-gov"`` for ``"us-gov-west-1"``, ``"aws-cn"`` for ``"cn-north-1"``.

    A Region no partition's pattern matches (never the one Lambda runs in) is taken as ``"aws"``.
    """
    try:
        return str(botocore.session.get_session().get_partition_for_region(region))
    except UnknownRegionError:
        return DEFAULT_PARTITION
