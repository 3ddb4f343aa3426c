"""botocore errors -> the handler's ``...Error`` classes (``errors.py``), raised ``from`` the original."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Final

from botocore.exceptions import (
    BotoCoreError,
    ClientError,
    CredentialRetrievalError,
    NoCredentialsError,
    PartialCredentialsError,
    ProfileNotFound,
    SSOError,
    TokenRetrievalError,
)

from ..errors import (
    AccessDeniedError,
    AwsRequestError,
    CredentialsMissingError,
    DomainJoinError,
    TransientAwsError,
)

TRANSIENT_CODES: Final = frozenset(
    {
        "Throttling",
        "ThrottlingException",
        "ThrottledException",
        "RequestThrottled",
        "RequestThrottledException",
        "TooManyRequestsException",
        "RequestLimitExceeded",
        "ProvisionedThroughputExceededException",
        "LimitExceededException",
        "BandwidthLimitExceeded",
        "SlowDown",
        "PriorRequestNotComplete",
        "InternalError",
        "InternalFailure",
        "InternalServerError",
        "ServiceUnavailable",
        "RequestTimeout",
        "RequestTimeoutException",
        "IDPCommunicationError",
        "ExpiredToken",
        "ExpiredTokenException",
    }
)
EXPIRED_CODES: Final = frozenset({"ExpiredToken", "ExpiredTokenException", "RequestExpired"})
ACCESS_DENIED_CODES: Final = frozenset(
    {"AccessDenied", "AccessDeniedException", "UnauthorizedOperation", "AuthFailure", "InvalidClientTokenId"}
)


def error_code(exc: ClientError) -> str:
    return str(exc.response.get("Error", {}).get("Code", "Unknown"))


def translate_error(exc: ClientError, action: str) -> DomainJoinError:
    """Our error for ``exc``: transient (throttling, 5xx), access denied, or any other request error."""
    error = exc.response.get("Error", {})
    code = error_code(exc)
    status = int(exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode", 0) or 0)
    message = f"{action}: {code}"
    if code in TRANSIENT_CODES or status >= 500:
        return TransientAwsError(message)
    if code in ACCESS_DENIED_CODES:
        return AccessDeniedError(message)
    return AwsRequestError(f"{message} {str(error.get('Message', ''))[:200]}".rstrip())


# No usable credentials: none in the chain, a profile that does not exist, an SSO session that expired...
_CREDENTIALS_ERRORS: Final = (
    NoCredentialsError,
    PartialCredentialsError,
    ProfileNotFound,
    CredentialRetrievalError,
    SSOError,
    TokenRetrievalError,
)


def translate_core_error(exc: BotoCoreError, action: str) -> DomainJoinError:
    """Our error for a botocore error that is not a service's answer (credentials, network, endpoint)."""
    if isinstance(exc, _CREDENTIALS_ERRORS):
        return CredentialsMissingError(f"{action}: {exc}")
    return TransientAwsError(f"{action}: {exc.__class__.__name__}")


def failed_code(error: BaseException) -> str:
    """The AWS error code behind one of our errors ("" when no service answered with an error)."""
    cause = error.__cause__
    return error_code(cause) if isinstance(cause, ClientError) else ""


@contextmanager
def translated(action: str) -> Iterator[None]:
    """Raise our error for any botocore error inside, ``from`` the original."""
    try:
        yield
    except ClientError as exc:
        raise translate_error(exc, action) from exc
    except BotoCoreError as exc:
        raise translate_core_error(exc, action) from exc


def expired_session(error: DomainJoinError) -> bool:
    """The error came from a call whose session credentials the service called expired."""
    cause = error.__cause__
    return isinstance(cause, ClientError) and error_code(cause) in EXPIRED_CODES
