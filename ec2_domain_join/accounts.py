"""``ec2-domain-join accounts``: every config item of the hub, checked as the handler checks it.

Each item of the config table is read (a scan, operator's credentials) and validated with the handler's
own ``AccountConfig.from_item`` (same spoke role name and partition as the hub), so "valid" here means
the handler accepts it.  One row per item: account, directory (domain, and the AWS Directory Service id
when there is one), OU, Regions (the item's ``regions``, else the hub's), and ``valid`` or the problem.

Exit: 0 every item is valid (or there is none); 1 at least one is not.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from handlers.domain_join import contract
from handlers.domain_join.errors import ConfigInvalidError
from handlers.domain_join.model import AccountConfig

from .aws import OperatorAws
from .output import EXIT_FAILED, Failed, aligned, err, out

VALID = "valid"
HUB_REGIONS = "(hub's Regions)"
DEFAULT_OU = "(default Computers)"


@dataclass(frozen=True, slots=True)
class AccountLine:
    """One config item as ``accounts`` shows it; ``problem`` is "" for a valid item."""

    account: str
    directory: str
    ou: str
    regions: str
    problem: str = ""


def check_item(account: str, item: Mapping[str, Any], spoke_role_name: str, partition: str) -> AccountLine:
    """The line of one config item: its directory, OU and Regions, and whether the handler accepts it."""
    directory = str(item.get(contract.CONFIG_DNS_NAME) or "-")
    directory_id = str(item.get(contract.CONFIG_DIRECTORY_ID) or "")
    if directory_id:
        directory = f"{directory} ({directory_id})"
    ou = str(item.get(contract.CONFIG_OU_PATH) or DEFAULT_OU)
    raw_regions = item.get(contract.CONFIG_REGIONS)
    regions = (
        ",".join(sorted(str(r) for r in raw_regions))
        if isinstance(raw_regions, Iterable) and not isinstance(raw_regions, str | bytes) and raw_regions
        else HUB_REGIONS
    )
    try:
        AccountConfig.from_item(account, item, spoke_role_name, partition)
    except ConfigInvalidError as error:
        return AccountLine(account, directory, ou, regions, str(error))
    return AccountLine(account, directory, ou, regions)


def run(aws: OperatorAws) -> None:
    items = aws.config_items()
    if not items:
        err.print(
            f"warning: {aws.hub.config_table} ({aws.hub.region}) has no config items: no account is enrolled",
            markup=False,
        )
        return
    lines = [check_item(a, items[a], aws.hub.spoke_role_name, aws.partition) for a in sorted(items)]
    rows = [(line.account, line.directory, line.ou, line.regions, line.problem or VALID) for line in lines]
    for text in aligned(("account", "directory", "OU", "Regions", "check"), rows):
        out.print(text, markup=False)
    invalid = [line for line in lines if line.problem]
    out.print(f"{len(lines)} account(s), {len(invalid)} invalid", markup=False)
    if invalid:
        raise Failed([f"{len(invalid)} config item(s) the handler would refuse"], EXIT_FAILED)
