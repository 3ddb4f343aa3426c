"""The one import seam for CDK for Terraform.

cdktf is archived upstream; its maintained fork `cdktn` exposes the same API
under another import name.  Everything in this project imports the core
classes from here, so switching is a one-file change.
"""

from __future__ import annotations

from typing import Any

from constructs import Construct

try:
    import cdktf as _core
except ImportError:  # pragma: no cover - exercised only where the fork is installed
    import cdktn as _core  # type: ignore[no-redef]

App = _core.App
Fn = _core.Fn
Op = _core.Op
LocalBackend = _core.LocalBackend
S3Backend = _core.S3Backend
TerraformAsset = _core.TerraformAsset
TerraformIterator = _core.TerraformIterator
TerraformOutput = _core.TerraformOutput
TerraformStack = _core.TerraformStack
TerraformVariable = _core.TerraformVariable
TerraformVariableValidationConfig = _core.TerraformVariableValidationConfig
Token = _core.Token


# The id of a building block's main resource: cdktf leaves it out of the resource's name, so the resource
# keeps the address it had when the block's id was its own.
MAIN_RESOURCE_ID = "Default"


def keep_address(element: Any, address_id: str) -> None:
    """Give `element` the Terraform name it would have as child `address_id` of its construct's parent.

    cdktf names a resource after its construct path, and Terraform keys state by that name: a resource
    that moves into a building block (`modules/queue.py`, ...) would otherwise get a new address, and
    Terraform would destroy and recreate it.  A block's main resource keeps its address without this,
    under the id `Default`, which cdktf leaves out of the name; its other resources call this.  cdktf
    itself computes the name, for a throw-away node at the old path (tests/modules/addresses.json pins
    the result).
    """
    scope = element.node.scope.node.scope
    probe = Construct(scope, address_id)
    try:
        logical_id = TerraformStack.of(scope).get_logical_id(probe.node)
    finally:
        scope.node.try_remove_child(address_id)
    element.override_logical_id(logical_id)


_TOKEN_MARK = "TfToken["  # noqa: S105 - not a secret: cdktf's token marker


def is_token(value: Any) -> bool:
    """True when `value` is (or embeds) a value only Terraform knows, e.g. a variable.

    Strings and lists are checked in Python (their token encodings carry a
    marker), which avoids a round trip to the jsii kernel per check.
    """
    if value is None or isinstance(value, bool | int):
        return False
    if isinstance(value, str):
        return _TOKEN_MARK in value
    if isinstance(value, list | tuple):
        return any(is_token(item) for item in value)
    return bool(Token.is_unresolved(value))


def contains_token(value: Any) -> bool:
    if isinstance(value, dict):
        return any(contains_token(v) for v in value.values())
    if isinstance(value, (list, tuple)):
        return is_token(value) or any(contains_token(v) for v in value)
    return isinstance(value, str) and is_token(value)
