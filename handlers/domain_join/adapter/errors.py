"""botocore errors -> the handler's ``...Error`` classes (``errors.py``), raised ``from`` the original."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Final

from botocore.exceptions import BotoCoreError, ClientError

from ..errors import AccessDeniedError, AwsRequestError, DomainJoinError, TransientAwsError

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


@contextmanager
def translated(action: str) -> Iterator[None]:
    """Raise our error for any botocore error inside, ``from`` the original."""
    try:
        yield
    except ClientError as exc:
        raise translate_error(exc, action) from exc
    except BotoCoreError as exc:
        raise TransientAwsError(f"{action}: {exc.__class__.__name__}") from exc


def expired_session(error: DomainJoinError) -> bool:
    """The error came from a call whose session credentials the service called expired."""
    cause = error.__cause__
    return isinstance(cause, ClientError) and error_code(cause) in EXPIRED_CODES
