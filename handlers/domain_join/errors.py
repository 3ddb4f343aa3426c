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
