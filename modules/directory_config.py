"""DirectoryConfig: the config table's items as Terraform resources, one per enrolled account.

Written from the landing-zone file's `directories` (each spoke names its directory), so every change to
the directory settings of an account shows in `terraform plan`, and an account removed from the file
loses its item on the next apply.  Items written by hand for other accounts are not touched: Terraform
owns only the items it created.  Works on the hub's own table or on an existing one
(`config_table.create: false`): pass that table's name.

The item holds the join password parameter's *name* only (never a secret), so Terraform state stays
free of credentials.

Two ways in:

- concrete items (the landing-zone path, `LandingZone.config_items()`): one resource per account, address
  `...config-item-<account>...`, each item already checked by the handler's own reading (`AccountConfig`)
  when the landing-zone file was loaded;
- a Terraform map (the plain module `terraform/modules/directory-config`, variable `accounts`: account id ->
  the attributes of `ITEM_FIELDS`): ONE `aws_dynamodb_table_item` with `for_each` over it, the item built in
  HCL (`item_expression`).  `AccountConfig` cannot run there (the values are known only at plan): the plain
  module checks each field with a `validation` block using the handler's patterns instead.

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

from handlers.domain_join import contract, settings

from .cdk import TerraformIterator, Token, is_token
from .patterns import ACCOUNT_ID
from .validation import PropsError, check_pattern, str_default


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


@dataclass(frozen=True)
class ItemField:
    """One attribute of a plain module's `accounts` entry: its HCL type, the item attribute it fills, and
    when it is written (`always`, `if_set`: not null, `if_true`, `if_false`)."""

    name: str
    type: str
    attribute: str
    when: str = "always"


# The `accounts` entry of the plain module: the landing-zone `directories` fields (and the spoke's `ou` and
# Regions), one account's item.  dns_ips fills dnsIP1 and dnsIP2 (the handler reads two).
ITEM_FIELDS: tuple[ItemField, ...] = (
    ItemField("domain", "string", contract.CONFIG_DNS_NAME),
    ItemField("dns_ips", "list(string)", contract.CONFIG_DNS_IP1),
    ItemField("join_user", "string", contract.CONFIG_JOIN_USER),
    ItemField("join_password_parameter", "string", contract.CONFIG_PASSWORD_PARAMETER),
    ItemField("regions", "list(string)", contract.CONFIG_REGIONS),
    ItemField("ou", "optional(string)", contract.CONFIG_OU_PATH, "if_set"),
    ItemField("computer_name_prefix", "optional(string)", contract.CONFIG_COMPUTER_NAME_PREFIX, "if_set"),
    ItemField("sudo_group", "optional(string)", contract.CONFIG_SUDO_GROUP, "if_set"),
    ItemField("directory_id", "optional(string)", contract.CONFIG_DIRECTORY_ID, "if_set"),
    ItemField("ou_tag_key", "optional(string)", contract.CONFIG_OU_TAG_KEY, "if_set"),
    ItemField("ou_by_tag", "optional(map(string), {})", contract.CONFIG_OU_BY_TAG_VALUE, "if_set"),
    ItemField("computer_name_tag", "optional(string)", contract.CONFIG_COMPUTER_NAME_TAG, "if_set"),
    ItemField("install_rds_role", "optional(bool, false)", contract.CONFIG_INSTALL_RDS_ROLE, "if_true"),
    ItemField("install_packages", "optional(bool, true)", contract.CONFIG_INSTALL_PACKAGES, "if_false"),
    ItemField("seal_join_passwords", "optional(bool, false)", contract.CONFIG_SEAL_JOIN_PASSWORDS, "if_true"),
)
MANAGED_BY = "ec2-domain-join"  # the managedBy value of the items the landing zone writes


def accounts_type() -> str:
    """The HCL type of the plain module's `accounts` variable."""
    return "map(object({ " + ", ".join(f"{f.name} = {f.type}" for f in ITEM_FIELDS) + " }))"


def item_expression(partition: str, spoke_role_name: str) -> str:
    """The config item of `each.key` / `each.value` (an `accounts` entry) as a Terraform expression in
    DynamoDB's JSON form, the attributes `LandingZone.config_items()` writes: optional ones only when set,
    booleans only when not the handler's default, the Regions as a string set; `partition` and
    `spoke_role_name` are parts of a string template (text, or a token's `${...}`: the assumeRoleARN)."""
    value = "each.value"
    entries = {
        contract.CONFIG_TABLE_KEY: "{ S = each.key }",
        contract.CONFIG_ROLE_ARN: f'{{ S = "arn:{partition}:iam::${{each.key}}:role/{spoke_role_name}" }}',
        contract.CONFIG_MANAGED_BY: f'{{ S = "{MANAGED_BY}" }}',
    }
    for f in ITEM_FIELDS:
        ref = f"{value}.{f.name}"
        if f.name == "dns_ips":
            entries[contract.CONFIG_DNS_IP1] = f"{{ S = {ref}[0] }}"
            entries[contract.CONFIG_DNS_IP2] = f"length({ref}) > 1 ? {{ S = {ref}[1] }} : null"
        elif f.name == "regions":
            entries[f.attribute] = f"{{ SS = sort(distinct({ref})) }}"
        elif f.name == "ou_by_tag":
            entries[f.attribute] = (
                f"length({ref}) > 0 ? {{ M = {{ for tag, ou in {ref} : tag => {{ S = ou }} }} }} : null"
            )
        elif f.when == "always":
            entries[f.attribute] = f"{{ S = {ref} }}"
        elif f.when == "if_set":
            entries[f.attribute] = f"{ref} != null ? {{ S = {ref} }} : null"
        elif f.when == "if_true":
            entries[f.attribute] = f"{ref} ? {{ BOOL = true }} : null"
        else:
            entries[f.attribute] = f"{ref} ? null : {{ BOOL = false }}"
    body = ", ".join(f"{name} = {entries[name]}" for name in sorted(entries))
    return f"jsonencode({{ for name, attribute in {{ {body} }} : name => attribute if attribute != null }})"


@dataclass(frozen=True, kw_only=True)
class DirectoryConfigProps:
    """Inputs of DirectoryConfig.

    Parameters:
        table_name: the config table (the hub's `config_table_name`, or an existing table's name). Required.
        items: account id -> config item (attribute name -> value), as `LandingZone.config_items()` builds
            them; each item's key attribute must equal its account id. Or a Terraform map token (account id
            -> an entry of `ITEM_FIELDS`, checked by the plain module's validation, not here).
        partition / spoke_role_name: with a token only: the assumeRoleARN's partition and role name
            (Terraform expressions or plain text).  Default the commercial partition and the settings
            table's role name.
    """

    table_name: str
    items: Mapping[str, Mapping[str, Any]]
    partition: str = "aws"
    spoke_role_name: str = str_default(settings.SPOKE_ROLE_NAME)

    def __post_init__(self) -> None:
        if not is_token(self.table_name) and not (isinstance(self.table_name, str) and self.table_name):
            raise PropsError("table_name", "must name the config table")
        if is_token(self.items):
            return
        for account, item in self.items.items():
            check_pattern(f"items[{account!r}]", account, ACCOUNT_ID, "a 12-digit account id")
            if item.get(contract.CONFIG_TABLE_KEY) != account:
                raise PropsError(f"items[{account!r}]", f"{contract.CONFIG_TABLE_KEY} must be {account}")
            for attribute, value in item.items():
                try:
                    dynamodb_value(value)
                except TypeError as error:
                    raise PropsError(f"items[{account!r}].{attribute}", str(error)) from None


def _template_part(value: str) -> str:
    """A token or text as a part of a string template in a Terraform expression."""
    return Token.as_string(value) if is_token(value) else json.dumps(value)[1:-1].replace("${", "$${")


class DirectoryConfig(Construct):
    """One `aws_dynamodb_table_item` per account (address `...config-item-<account>...`), or, given a
    Terraform map, one `aws_dynamodb_table_item` with `for_each` over it (`each_item`)."""

    def __init__(self, scope: Construct, construct_id: str, props: DirectoryConfigProps) -> None:
        super().__init__(scope, construct_id)
        self.items: dict[str, DynamodbTableItem] = {}
        self.each_item: DynamodbTableItem | None = None
        if is_token(props.items):
            self.each_item = DynamodbTableItem(
                self,
                "config-item",
                for_each=TerraformIterator.from_map(Token.as_any_map(props.items)),
                table_name=props.table_name,
                hash_key=contract.CONFIG_TABLE_KEY,
                item="${"
                + item_expression(_template_part(props.partition), _template_part(props.spoke_role_name))
                + "}",
            )
            return
        for account in sorted(props.items):
            item = props.items[account]
            self.items[account] = DynamodbTableItem(
                self,
                f"config-item-{account}",
                table_name=props.table_name,
                hash_key=contract.CONFIG_TABLE_KEY,
                item=json.dumps({k: dynamodb_value(item[k]) for k in sorted(item)}, separators=(",", ":")),
            )
