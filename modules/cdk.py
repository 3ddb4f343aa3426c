"""The one import seam for CDK for Terraform, and the one place that knows which CDK is in use.

cdktf is archived upstream; its maintained fork CDK Terrain (`cdktn`, with the AWS bindings
`cdktn-provider-aws`) has the same API under other import names.  The project's code imports the core
classes from here and the AWS bindings under cdktf's names (`cdktf_cdktf_provider_aws.<resource>`).
When cdktn is the one in use, `use_selected_cdk()` (run by `modules/__init__.py`) makes those names
resolve to cdktn's modules, so switching needs no other change.

Which one: `EC2_DOMAIN_JOIN_CDK=cdktf|cdktn`, or else cdktf when it is installed, else cdktn.  A user
switches by installing the other one (`pip install '.[cdktn]'` in an environment without cdktf; `make
synth-cdktn` does it in `.venv-cdktn`).  The plain modules (modules/plain_modules.py) use only the
core classes here, so either one generates them (tests/fork checks that the two agree byte for byte).

Nothing here imports a CDK at import time: `from modules.cdk import App` loads it on first use, so the
pure modules (`modules.landing_zone`, ...) stay fast to import.
"""

from __future__ import annotations

import importlib
import importlib.abc
import importlib.machinery
import importlib.util
import os
import sys
from collections.abc import Sequence
from functools import cache
from types import ModuleType
from typing import TYPE_CHECKING, Any

CHOICE_ENV = "EC2_DOMAIN_JOIN_CDK"
# import name of the core library, import name of its AWS bindings
FLAVOURS = {"cdktf": ("cdktf", "cdktf_cdktf_provider_aws"), "cdktn": ("cdktn", "cdktn_provider_aws")}


CORE_NAMES = (
    "App", "Fn", "Op", "LocalBackend", "S3Backend", "TerraformAsset", "TerraformIterator", "TerraformOutput",
    "TerraformStack", "TerraformVariable", "TerraformVariableValidationConfig", "Token",
    # the escape hatch for providers without bindings here (modules/entra.py: azuread)
    "TerraformDataSource", "TerraformProvider", "TerraformResource",
)  # fmt: skip
__all__ = [
    "CHOICE_ENV",
    "FLAVOURS",
    "MAIN_RESOURCE_ID",
    "App",
    "Fn",
    "LocalBackend",
    "Op",
    "S3Backend",
    "TerraformAsset",
    "TerraformDataSource",
    "TerraformIterator",
    "TerraformOutput",
    "TerraformProvider",
    "TerraformResource",
    "TerraformStack",
    "TerraformVariable",
    "TerraformVariableValidationConfig",
    "Token",
    "contains_token",
    "is_token",
    "keep_address",
    "selected",
    "use_selected_cdk",
]


@cache
def selected() -> str:
    """`cdktf` or `cdktn`: the CDK this process uses (see the module docstring)."""
    chosen = os.environ.get(CHOICE_ENV, "").strip()
    if chosen:
        if chosen not in FLAVOURS:
            raise ValueError(f"{CHOICE_ENV}={chosen!r}: choose one of {', '.join(FLAVOURS)}")
        return chosen
    return "cdktf" if importlib.util.find_spec("cdktf") is not None else "cdktn"


class _Alias(importlib.abc.MetaPathFinder, importlib.abc.Loader):
    """Resolves cdktf's import names to the selected fork's modules (the same objects, imported once)."""

    def __init__(self, renames: dict[str, str]) -> None:
        self.renames = renames

    def _target(self, fullname: str) -> str | None:
        for alias, real in self.renames.items():
            if fullname == alias or fullname.startswith(f"{alias}."):
                return real + fullname[len(alias) :]
        return None

    def find_spec(
        self, fullname: str, path: Sequence[str] | None = None, target: ModuleType | None = None
    ) -> importlib.machinery.ModuleSpec | None:
        if self._target(fullname) is None:
            return None
        return importlib.util.spec_from_loader(fullname, self)

    def create_module(self, spec: importlib.machinery.ModuleSpec) -> ModuleType:
        real = self._target(spec.name)
        assert real is not None  # find_spec answered only for aliased names
        return importlib.import_module(real)

    def exec_module(self, module: ModuleType) -> None:
        return None  # already imported under its own name


def use_selected_cdk() -> None:
    """Make cdktf's import names resolve to the selected CDK (nothing to do for cdktf itself)."""
    if selected() == "cdktf" or any(isinstance(f, _Alias) for f in sys.meta_path):
        return
    sys.meta_path.insert(0, _Alias(dict(zip(FLAVOURS["cdktf"], FLAVOURS[selected()], strict=True))))


@cache
def _core() -> ModuleType:
    use_selected_cdk()
    return importlib.import_module(FLAVOURS[selected()][0])


if TYPE_CHECKING:  # the type checker reads cdktf's classes; at run time they come from _core()
    from cdktf import (
        App,
        Fn,
        LocalBackend,
        Op,
        S3Backend,
        TerraformAsset,
        TerraformDataSource,
        TerraformIterator,
        TerraformOutput,
        TerraformProvider,
        TerraformResource,
        TerraformStack,
        TerraformVariable,
        TerraformVariableValidationConfig,
        Token,
    )
else:

    def __getattr__(name: str) -> Any:
        if name in CORE_NAMES:
            value = getattr(_core(), name)
            globals()[name] = value
            return value
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


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
    from constructs import Construct

    scope = element.node.scope.node.scope
    probe = Construct(scope, address_id)
    try:
        logical_id = _core().TerraformStack.of(scope).get_logical_id(probe.node)
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
    return bool(_core().Token.is_unresolved(value))


def contains_token(value: Any) -> bool:
    if isinstance(value, dict):
        return any(contains_token(v) for v in value.values())
    if isinstance(value, (list, tuple)):
        return is_token(value) or any(contains_token(v) for v in value)
    return isinstance(value, str) and is_token(value)
