"""AWS Directory Service: prestaging a computer of an AWS Managed Microsoft AD with ``ds:CreateComputer``.

The call is made from the hub with the function's own credentials, in the hub's Region: the directory
lives in the security account's home Region (docs/handler.md, "Two prestage paths").  One call per
computer (the API has no batch form).

Errors become ours, raised ``from`` the original:

* ``EntityAlreadyExistsException`` -> ``ComputerExistsError`` (the engine hands the computer to the tools
  host, which alone can read the object's stamp; it is never overwritten from here);
* ``DirectoryUnavailableException``, throttling, 5xx, network -> ``TransientAwsError`` (retried with the
  record's backoff);
* ``AccessDeniedException`` / ``AuthenticationFailedException`` -> ``AccessDeniedError``;
* ``ClientException``, ``EntityDoesNotExistException``, ``InvalidParameterException`` and any other code ->
  ``AwsRequestError`` (``translate_error``).

Example::

    DirectoryService(sessions).create_computer(DirectoryComputer("d-1234567890", "EC2ABC", otp, ou, stamp))
"""

from __future__ import annotations

from typing import Any, Final

from botocore.exceptions import BotoCoreError, ClientError

from ..errors import AccessDeniedError, ComputerExistsError, TransientAwsError
from ..model import DirectoryComputer
from .errors import error_code, translate_error
from .sessions import Sessions

ACTION: Final = "ds:CreateComputer"
DESCRIPTION_ATTRIBUTE: Final = "description"  # the LDAP attribute our ownership stamp is written to
EXISTS_CODE: Final = "EntityAlreadyExistsException"
UNAVAILABLE_CODE: Final = "DirectoryUnavailableException"
AUTHENTICATION_CODE: Final = "AuthenticationFailedException"


def create_computer_request(computer: DirectoryComputer) -> dict[str, Any]:
    """The ``CreateComputer`` request; without an OU Directory Service uses the directory's default."""
    request: dict[str, Any] = {
        "DirectoryId": computer.directory_id,
        "ComputerName": computer.computer_name,
        "Password": computer.password,
        "ComputerAttributes": [{"Name": DESCRIPTION_ATTRIBUTE, "Value": computer.description}],
    }
    if computer.ou_path:
        request["OrganizationalUnitDistinguishedName"] = computer.ou_path
    return request


class DirectoryService:
    """``ds`` calls of the hub (the function's own credentials, the home Region)."""

    def __init__(self, sessions: Sessions) -> None:
        self._sessions = sessions

    def create_computer(self, computer: DirectoryComputer) -> None:
        where = f"{ACTION} {computer.computer_name} in {computer.directory_id}"
        try:
            self._sessions.hub_client("ds").create_computer(**create_computer_request(computer))
        except ClientError as exc:
            code = error_code(exc)
            if code == EXISTS_CODE:
                raise ComputerExistsError(f"{where}: an object of that name exists") from exc
            if code == UNAVAILABLE_CODE:
                raise TransientAwsError(f"{where}: {code}") from exc
            if code == AUTHENTICATION_CODE:
                raise AccessDeniedError(f"{where}: {code}") from exc
            raise translate_error(exc, where) from exc
        except BotoCoreError as exc:
            raise TransientAwsError(f"{where}: {exc.__class__.__name__}") from exc
