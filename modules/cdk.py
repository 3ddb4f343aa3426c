"""The one import seam for CDK for Terraform.

cdktf is archived upstream; its maintained fork `cdktn` exposes the same API
under another import name.  Everything in this project imports the core
classes from here, so switching is a one-file change.
"""

from __future__ import annotations

from typing import Any

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
