"""The one wording of the AWS errors the commands meet, and their exit codes (``output``'s table).

The adapter turns botocore's errors into the handler's classes (``handlers/domain_join/errors.py``);
this names them for an operator, one line each, never with a traceback::

    no AWS credentials: dynamodb:GetItem: Unable to locate credentials (set AWS_PROFILE, ...)   -> 3
    access denied: dynamodb:Scan: AccessDeniedException (the credentials lack that permission)  -> 3
    AWS throttled or unavailable: ssm:ListCommands: ThrottlingException (try again later)       -> 3
"""

from __future__ import annotations

from handlers.domain_join.errors import (
    AccessDeniedError,
    AwsRequestError,
    CredentialsMissingError,
    DomainJoinError,
    TransientAwsError,
)

from .output import EXIT_AWS, EXIT_FAILED


def describe(error: DomainJoinError) -> tuple[str, int]:
    """One line for ``error`` and the exit code it calls for."""
    line, code = _describe(error)
    return " ".join(line.split()), code  # a service's message may hold line breaks


def _describe(error: DomainJoinError) -> tuple[str, int]:
    if isinstance(error, CredentialsMissingError):
        return (
            f"no AWS credentials: {error} (set AWS_PROFILE or AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY, "
            "or run `aws sso login`)",
            EXIT_AWS,
        )
    if isinstance(error, AccessDeniedError):
        return f"access denied: {error} (the credentials lack that permission)", EXIT_AWS
    if isinstance(error, TransientAwsError):
        return f"AWS throttled or unavailable: {error} (try again later)", EXIT_AWS
    if isinstance(error, AwsRequestError):
        return f"AWS refused the request: {error}", EXIT_AWS
    return f"{error.code}: {error}", EXIT_FAILED
