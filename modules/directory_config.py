"""DirectoryConfig: the config table's items as Terraform resources, one per enrolled account.

Written from the landing-zone file's `directories` (each spoke names its directory), so every change to
the directory settings of an account shows in `terraform plan`, and an account removed from the file
loses its item on the next apply.  Items written by hand for other accounts are not touched: Terraform
owns only the items it created.  Works on the hub's own table or on an existing one
(`config_table.create: false`): pass that table's name.

The item holds the join password parameter's *name* only (never a secret), so Terraform state stays
free of credentials.

Example::

    DirectoryConfig(stack, "directory-config", DirectoryConfigProps(
        table_name=hub.config_table_name,
        items={"222222222222": {"accountId": "222222222222", "dnsName": "corp.example.com", ...}},
    ))
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from cdktf_cdktf_provider_aws.dynamodb_table_item import DynamodbTableItem
from constructs import Construct

from handlers.domain_join import contract

from .cdk import is_token
from .patterns import ACCOUNT_ID
from .validation import PropsError, check_pattern


def dynamodb_value(value: Any) -> dict[str, Any]:
    """One attribute value in DynamoDB's JSON form (strings, booleans, numbers, sets of strings, and maps
    of them: the OU-by-tag allow-list)."""
    if isinstance(value, bool):
        return {"BOOL": value}
    if isinstance(value, int):
        return {"N": str(value)}
    if isinstance(value, str):
        return {"S": value}
    if isinstance(value, list | tuple) and value and all(isinstance(v, str) for v in value):
        return {"SS": sorted(set(value))}
    if isinstance(value, Mapping) and all(isinstance(k, str) for k in value):
        return {"M": {k: dynamodb_value(value[k]) for k in sorted(value)}}
    raise TypeError(f"no DynamoDB form for {value!r}")


@dataclass(frozen=True, kw_only=True)
class DirectoryConfigProps:
    """Inputs of DirectoryConfig.

    Parameters:
        table_name: the config table (the hub's `config_table_name`, or an existing table's name). Required.
        items: account id -> config item (attribute name -> value), as `LandingZone.config_items()` builds
            them; each item's key attribute must equal its account id. Default: none.
    """

    table_name: str
    items: Mapping[str, Mapping[str, Any]]

    def __post_init__(self) -> None:
        if not is_token(self.table_name) and not (isinstance(self.table_name, str) and self.table_name):
            raise PropsError("table_name", "must name the config table")
        for account, item in self.items.items():
            check_pattern(f"items[{account!r}]", account, ACCOUNT_ID, "a 12-digit account id")
            if item.get(contract.CONFIG_TABLE_KEY) != account:
                raise PropsError(f"items[{account!r}]", f"{contract.CONFIG_TABLE_KEY} must be {account}")
            for attribute, value in item.items():
                try:
                    dynamodb_value(value)
                except TypeError as error:
                    raise PropsError(f"items[{account!r}].{attribute}", str(error)) from None


class DirectoryConfig(Construct):
    """One `aws_dynamodb_table_item` per account (address `...config-item-<account>...`)."""

    def __init__(self, scope: Construct, construct_id: str, props: DirectoryConfigProps) -> None:
        super().__init__(scope, construct_id)
        self.items: dict[str, DynamodbTableItem] = {}
        for account in sorted(props.items):
            item = props.items[account]
            self.items[account] = DynamodbTableItem(
                self,
                f"config-item-{account}",
                table_name=props.table_name,
                hash_key=contract.CONFIG_TABLE_KEY,
                item=json.dumps({k: dynamodb_value(item[k]) for k in sorted(item)}, separators=(",", ":")),
            )
