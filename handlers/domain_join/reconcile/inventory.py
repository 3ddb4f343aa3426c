"""Wire formats of the reconciliation, in one place: the inventory document's output and the work items.

**Inventory** (what ``DomainJoin-Inventory`` prints on stdout; Run Command's S3 output stores it under
``contract.INVENTORY_OUTPUT_PREFIX`` ``<command id>/<instance id>/.../stdout`` in the hub's inventory
bucket).  The last line of stdout that starts with ``{`` is one JSON object::

    {
      "version": 1,                                 # contract.INVENTORY_FORMAT_VERSION, required (or
                                                    # "schema": INVENTORY_SCHEMA)
      "domain": "corp.example.com",                 # the DomainName parameter (default: the command's)
      "takenAt": "2026-12-02T15:00:00Z",            # UTC, when the LDAP search ran (default: when the
                                                    # command was sent)
      "truncated": false,                           # true: a search ended early (size or admin limit)
      "objects": [                                  # every computer object whose description starts
        {                                           # with contract.STAMP_PREFIX, under the OUs searched
          "name": "EC2ABCDEFGHIJKL",                # sAMAccountName without "$" (the computer name)
          "dn": "CN=EC2ABCDEFGHIJKL,OU=Servers,DC=corp,DC=example,DC=com",
          "description": "ec2-domain-join:111111111111/eu-west-1/i-0123456789abcdef0"
        }
      ]
    }

Objects whose name or description is outside ``patterns.COMPUTER_NAME`` / ``patterns.STAMP`` are
ignored (counted in ``Inventory.ignored``): the reconciler acts only on exact stamps.

**Work item** (one message of the reconcile queue; ``encode_work_item`` / ``decode_work_item``)::

    {"v": 1, "account": "...", "region": "...", "roleArn": "...", "domain": "...",
     "takenAt": 0, "inventory": [["NAME", "i-..."], ...],
     "ledger": [["i-...", "STATUS", "NAME", updatedAt, retriedAt], ...],   # "ledger" may be absent
     "dryRun": true}                                                      # absent: false

Public API::

    INVENTORY_SCHEMA, InventoryError, Inventory, parse_inventory(text, domain="", taken_at=0) -> Inventory
    encode_work_item(item) -> str, decode_work_item(text) -> WorkItem (raises InventoryError)
    render_inventory(domain, taken_at, objects, complete=True) -> str   (the scripts' format, for tests)
"""

from __future__ import annotations

import datetime
import json
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any, Final

from .. import events, patterns
from ..contract import INVENTORY_FORMAT_VERSION
from ..naming import parse_ownership_stamp
from .plan import InventoryObject, LedgerRecord, WorkItem

INVENTORY_SCHEMA: Final = "ec2-domain-join/inventory/1"
WORK_ITEM_VERSION: Final = 1


class InventoryError(ValueError):
    """An inventory or work item outside its format; the message says what (never echoes a value)."""


@dataclass(frozen=True, slots=True)
class Inventory:
    """One parsed inventory: the domain, when it was taken (epoch seconds), its stamped objects."""

    domain: str
    taken_at: int
    complete: bool
    objects: tuple[InventoryObject, ...]
    ignored: int = 0


def parse_inventory(text: str, domain: str = "", taken_at: int = 0) -> Inventory:
    """The inventory in ``text`` (a command's whole stdout); raises ``InventoryError``.

    ``domain`` / ``taken_at``: what the command says (its DomainName, when it was sent), for documents
    that leave them out.
    """
    lines = [line.strip() for line in text.splitlines() if line.strip().startswith("{")]
    if not lines:
        raise InventoryError("no JSON object in the inventory output")
    try:
        document = json.loads(lines[-1])
    except ValueError as exc:
        raise InventoryError(f"inventory is not JSON ({exc.__class__.__name__})") from exc
    if not isinstance(document, dict) or not (
        document.get("schema") == INVENTORY_SCHEMA or document.get("version") == INVENTORY_FORMAT_VERSION
    ):
        raise InventoryError(f"inventory is not version {INVENTORY_FORMAT_VERSION}")
    domain = document.get("domain", domain)
    if not isinstance(domain, str) or not patterns.DOMAIN.match(domain):
        raise InventoryError("inventory domain is missing or not a DNS name")
    if "takenAt" in document or not taken_at:
        taken_at = _epoch(document.get("takenAt"))
    raw_objects = document.get("objects")
    if not isinstance(raw_objects, list):
        raise InventoryError("inventory objects is not a list")
    objects: list[InventoryObject] = []
    ignored = 0
    for raw in raw_objects:
        obj = _object(raw)
        if obj is None:
            ignored += 1
        else:
            objects.append(obj)
    complete = document.get("truncated", False) is not True and document.get("complete", True) is not False
    return Inventory(domain, taken_at, complete, tuple(objects), ignored)


def _object(raw: Any) -> InventoryObject | None:
    if not isinstance(raw, dict):
        return None
    name, dn, description = raw.get("name"), raw.get("dn", ""), raw.get("description")
    if not isinstance(name, str) or not isinstance(description, str) or not isinstance(dn, str):
        return None
    name = name.removesuffix("$").upper()
    stamp = parse_ownership_stamp(description)
    if not patterns.COMPUTER_NAME.match(name) or stamp is None:
        return None
    return InventoryObject(name, dn, *stamp)


def _epoch(value: Any) -> int:
    if not isinstance(value, str):
        raise InventoryError("inventory takenAt is missing")
    try:
        moment = datetime.datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError as exc:
        raise InventoryError("inventory takenAt is not an ISO 8601 time") from exc
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=datetime.UTC)
    return int(moment.timestamp())


def render_inventory(
    domain: str, taken_at: int, objects: Iterable[InventoryObject], complete: bool = True
) -> str:
    """The inventory document as ``DomainJoin-Inventory`` prints it (one line)."""
    return json.dumps(
        {
            "version": INVENTORY_FORMAT_VERSION,
            "domain": domain,
            "takenAt": events.event_time(taken_at),
            "truncated": not complete,
            "objects": [{"name": o.computer_name, "dn": o.dn, "description": o.stamp} for o in objects],
        },
        separators=(",", ":"),
    )


def encode_work_item(item: WorkItem) -> str:
    """The reconcile queue's message body for ``item`` (compact JSON)."""
    body: dict[str, Any] = {
        "v": WORK_ITEM_VERSION,
        "account": item.account_id,
        "region": item.region,
        "roleArn": item.role_arn,
        "domain": item.domain,
        "takenAt": item.inventory_taken_at,
        "inventory": [[o.computer_name, o.stamp_instance_id] for o in item.inventory],
    }
    if item.dry_run:
        body["dryRun"] = True
    if item.ledger is not None:
        body["ledger"] = [
            [r.instance_id, r.status, r.computer_name, r.updated_at, r.retried_at] for r in item.ledger
        ]
    return json.dumps(body, separators=(",", ":"))


def decode_work_item(text: str) -> WorkItem:
    """The work item in a reconcile message; raises ``InventoryError`` for anything outside the format."""
    try:
        body = json.loads(text)
    except ValueError as exc:
        raise InventoryError(f"work item is not JSON ({exc.__class__.__name__})") from exc
    if not isinstance(body, dict) or body.get("v") != WORK_ITEM_VERSION:
        raise InventoryError(f"work item is not version {WORK_ITEM_VERSION}")
    account, region = body.get("account"), body.get("region")
    if not isinstance(account, str) or not patterns.ACCOUNT_ID.match(account):
        raise InventoryError("work item account is not an account id")
    if not isinstance(region, str) or not patterns.REGION.match(region):
        raise InventoryError("work item region is not a Region name")
    role_arn = str(body.get("roleArn") or "")
    if role_arn and not patterns.ROLE_ARN.match(role_arn):
        raise InventoryError("work item roleArn is not a role ARN")
    try:
        inventory = tuple(
            InventoryObject(str(name), "", account, region, str(instance_id))
            for name, instance_id in body.get("inventory", [])
        )
        ledger = (
            tuple(
                LedgerRecord(str(i), account, region, str(status), str(name), int(updated), int(retried))
                for i, status, name, updated, retried in body["ledger"]
            )
            if "ledger" in body
            else None
        )
        taken_at = int(body.get("takenAt", 0))
    except (TypeError, ValueError) as exc:
        raise InventoryError(f"work item lists are malformed ({exc.__class__.__name__})") from exc
    for obj in inventory:
        if not patterns.COMPUTER_NAME.match(obj.computer_name) or not patterns.INSTANCE_ID.match(
            obj.stamp_instance_id
        ):
            raise InventoryError("work item inventory holds an invalid name or instance id")
    domain = str(body.get("domain") or "")
    return WorkItem(
        account, region, role_arn, domain, inventory, taken_at, ledger, body.get("dryRun") is True
    )
