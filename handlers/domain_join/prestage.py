"""Which way a computer is prestaged, and what an existing object means: pure decisions, no AWS.

Two paths (docs/handler.md, "Two prestage paths"):

* ``TOOLS_HOST``: a ``DomainJoin-Prestage`` command to the AD tools host (self-managed AD, or a directory
  without a Directory Service id).  One command per domain and up to 50 computers.
* ``DIRECTORY_SERVICE``: the account's config names a Directory Service directory (``directoryId``, AWS
  Managed Microsoft AD): the hub calls ``ds:CreateComputer`` itself, one call per computer, with the
  one-time password, the OU and our ownership stamp in ``description``.  No SSM command and no tools host.

An object of that name that already exists (``ComputerExistsError``) is never overwritten from the hub:
Directory Service can neither read an object's ``description`` nor reset its password.  With the
deterministic computer names it is, almost always, our own object of an earlier attempt (a join sent again
with a fresh one-time password, or a prestage whose ledger write was lost), but the hub cannot prove it.  So
such a computer goes to the tools host's ``DomainJoin-Prestage`` instead, whose script compares the stamp
exactly as for self-managed AD: ours and not yet joined -> its password is reset to the new one-time
password; ours and joined -> left alone; anyone else's -> refused, untouched (exit 6).  Without a tools
host such a join fails with ``ToolsHostUnavailable`` (retried until the readiness deadline, then
dead-lettered with that reason).

Public API (stable names)::

    TOOLS_HOST, DIRECTORY_SERVICE          the two paths
    decide_prestage_path(config)           the path of an account's computers
    directory_computer(plan)               the ds:CreateComputer input of a join plan
    decide_directory_failure(error)        FALL_BACK_TO_TOOLS_HOST or FAIL
    directory_prestage_id(directory_id)    what the ledger's prestageCommandId holds for the DS path

Example::

    >>> decide_directory_failure(ComputerExistsError("EC2ABC exists"))
    'fall-back-to-tools-host'
"""

from __future__ import annotations

from typing import Final

from .decisions import JoinPlan, stamp_of
from .errors import ComputerExistsError, DomainJoinError
from .model import AccountConfig, DirectoryComputer

TOOLS_HOST: Final = "tools-host"
DIRECTORY_SERVICE: Final = "directory-service"

FALL_BACK_TO_TOOLS_HOST: Final = "fall-back-to-tools-host"
FAIL: Final = "fail"

# The ledger's prestageCommandId of a computer prestaged through Directory Service (no command exists).
DIRECTORY_PRESTAGE_PREFIX: Final = "ds:"


def decide_prestage_path(config: AccountConfig) -> str:
    """``DIRECTORY_SERVICE`` when the account's directory has a Directory Service id, else ``TOOLS_HOST``."""
    return DIRECTORY_SERVICE if config.directory_id else TOOLS_HOST


def directory_computer(plan: JoinPlan) -> DirectoryComputer:
    """What ``ds:CreateComputer`` creates for ``plan``: its name, one-time password, OU and stamp."""
    _, ou_path, _, _ = plan.prestage_key  # the OU the tools host would be given: one OU rule for both paths
    return DirectoryComputer(
        directory_id=plan.config.directory_id,
        computer_name=plan.entry.computer_name,
        password=plan.otp,
        ou_path=ou_path,
        description=stamp_of(plan.entry),
    )


def decide_directory_failure(error: DomainJoinError) -> str:
    """An existing object goes to the tools host (which alone can read its stamp); anything else fails."""
    return FALL_BACK_TO_TOOLS_HOST if isinstance(error, ComputerExistsError) else FAIL


def directory_prestage_id(directory_id: str) -> str:
    return f"{DIRECTORY_PRESTAGE_PREFIX}{directory_id}"
