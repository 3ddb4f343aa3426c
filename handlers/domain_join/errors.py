"""Failures the engine knows how to react to.

Every one of them is retried with growing visibility timeouts until the
record's deadline, then dead-lettered with ``reason``: a missing config or a
denied role is usually fixed by an operator within that window.
"""

from __future__ import annotations


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


class MalformedMessage(Exception):
    """A queue body that is not a usable EC2 state-change event."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason
