"""Failures the engine knows how to react to.

Every one of them is retried with growing visibility timeouts until the
record's deadline, then dead-lettered with ``reason``: a missing config or a
denied role is usually fixed by an operator within that window.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping


class DomainJoinError(Exception):
    """Base class; ``code`` is the short, stable reason used in the DLQ and logs."""

    code = "Error"

    @property
    def reason(self) -> str:
        return f"{self.code}: {self}"


class TransientAwsError(DomainJoinError):
    """Throttling, 5xx or a network failure that survived the client's own retries."""

    code = "TransientAwsError"


class CredentialsMissingError(TransientAwsError):
    """No usable AWS credentials (none in the chain, an unknown profile, an expired SSO session...).

    Transient for the handler (its role's credentials come back); the operator's CLI reports it as such.
    """


class AccessDeniedError(DomainJoinError):
    code = "AccessDenied"


class AwsRequestError(DomainJoinError):
    """Any other AWS error (missing document, invalid parameter…)."""

    code = "AwsRequestError"


class ConfigMissingError(DomainJoinError):
    code = "ConfigMissing"


class ConfigInvalidError(DomainJoinError):
    code = "ConfigInvalid"


class ToolsHostUnavailableError(DomainJoinError):
    code = "ToolsHostUnavailable"


class ComputerExistsError(DomainJoinError):
    """``ds:CreateComputer`` found an object of that name: Directory Service can neither read its stamp nor
    reset its password, so only the tools host may decide whether it is ours (``prestage.py``)."""

    code = "ComputerExists"


class LedgerClaimRefusedError(DomainJoinError):
    """A ledger claim transaction was cancelled; nothing of it was written.

    ``refused`` maps each instance whose record failed the claim's condition to the
    status that record has now ("" when there is none).  ``contended`` are the items
    that did not fail their condition but were cancelled for another reason
    (TransactionConflict, throttling): they may succeed when tried again.
    """

    code = "LedgerContended"

    def __init__(self, message: str, refused: Mapping[str, str], contended: Collection[str] = ()) -> None:
        super().__init__(message)
        self.refused: dict[str, str] = dict(refused)
        self.contended: frozenset[str] = frozenset(contended)


class MalformedMessageError(Exception):
    """A queue body that is not a usable EC2 state-change event."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason
