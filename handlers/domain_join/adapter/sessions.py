"""Clients and assumed-role sessions, cached for the life of the container.

Clients use standard retry mode; STS resolves to its regional endpoint (botocore's default, asserted by
a test).  An assumed-role session is used until five minutes before it expires, or until a spoke calls
it expired (``drop``).

Example::

    sessions = Sessions("eu-west-1", spoke_role_external_id="")
    ssm = sessions.spoke_client("ssm", spoke)   # assumes spoke.role_arn once, then reuses it
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Final

import boto3
from boto3.dynamodb.types import TypeDeserializer, TypeSerializer
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError

from ..errors import AccessDeniedError
from ..model import Spoke
from .errors import translate_core_error, translate_error

# boto3's DynamoDB value codec, used by adapter.dynamodb: this is the one module that imports boto3.
DYNAMODB_SERIALIZER: Final = TypeSerializer()
DYNAMODB_DESERIALIZER: Final = TypeDeserializer()

CLIENT_CONFIG: Final = Config(
    retries={"mode": "standard", "max_attempts": 3},
    connect_timeout=5,
    read_timeout=20,
)
SESSION_REFRESH_MARGIN_SECONDS: Final = 300
ROLE_SESSION_NAME: Final = "ec2-domain-join"


@dataclass(frozen=True, slots=True)
class Credentials:
    access_key_id: str
    secret_access_key: str
    session_token: str


ClientFactory = Callable[[str, str, Credentials | None], Any]
"""(service, Region, credentials or None for the function's own) -> a boto3 client."""


def boto3_client_factory(service: str, region: str, credentials: Credentials | None) -> Any:
    if credentials is None:
        return boto3.client(service, region_name=region, config=CLIENT_CONFIG)
    return boto3.client(
        service,
        region_name=region,
        config=CLIENT_CONFIG,
        aws_access_key_id=credentials.access_key_id,
        aws_secret_access_key=credentials.secret_access_key,
        aws_session_token=credentials.session_token,
    )


def session_client_factory(session: Any) -> ClientFactory:
    """A ``ClientFactory`` whose own clients come from a boto3 ``session`` (an operator's profile, for the
    CLI); assumed-role clients are built as ``boto3_client_factory`` builds them."""

    def factory(service: str, region: str, credentials: Credentials | None) -> Any:
        if credentials is None:
            return session.client(service, region_name=region, config=CLIENT_CONFIG)
        return boto3_client_factory(service, region, credentials)

    return factory


class Sessions:
    """Hub clients (the function's own credentials) and spoke clients (an assumed execution role).

    Parameters:
        home_region: the hub's Region.
        spoke_role_external_id: presented when assuming a spoke role ("" for none).
        client_factory: builds clients (a moto-backed factory in tests).
        clock: seconds since the epoch.
    """

    def __init__(
        self,
        home_region: str,
        spoke_role_external_id: str = "",
        client_factory: ClientFactory = boto3_client_factory,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._home_region = home_region
        self._spoke_role_external_id = spoke_role_external_id
        self._factory = client_factory
        self._clock = clock
        self._clients: dict[tuple[str, str, str], Any] = {}
        self._sessions: dict[str, tuple[float, Credentials]] = {}

    def hub_client(self, service: str, region: str = "") -> Any:
        return self._client(service, region or self._home_region, None, "")

    def spoke_client(self, service: str, spoke: Spoke) -> Any:
        # Always the execution role, in the own account too: the hub role may run no DomainJoin-Join.
        credentials = self._assume(spoke)
        return self._client(service, spoke.region, credentials, credentials.access_key_id)

    def drop(self, spoke: Spoke) -> None:
        """Forget the spoke's session (a spoke called it expired), so the next call assumes the role again."""
        self._sessions.pop(spoke.role_arn, None)

    def _client(self, service: str, region: str, credentials: Credentials | None, identity: str) -> Any:
        key = (service, region, identity)
        client = self._clients.get(key)
        if client is None:
            try:
                client = self._factory(service, region, credentials)
            except BotoCoreError as exc:  # an unknown profile, a Region botocore cannot resolve...
                raise translate_core_error(exc, f"{service} client in {region}") from exc
            self._clients[key] = client
        return client

    def _assume(self, spoke: Spoke) -> Credentials:
        cached = self._sessions.get(spoke.role_arn)
        if cached and cached[0] - SESSION_REFRESH_MARGIN_SECONDS > self._clock():
            return cached[1]
        request: dict[str, Any] = {"RoleArn": spoke.role_arn, "RoleSessionName": ROLE_SESSION_NAME}
        if self._spoke_role_external_id:
            request["ExternalId"] = self._spoke_role_external_id
        try:
            response = self.hub_client("sts").assume_role(**request)
        except ClientError as exc:
            error = translate_error(exc, "sts:AssumeRole")
            if isinstance(error, AccessDeniedError):
                raise AccessDeniedError(
                    f"AssumeRole into account {spoke.account} denied for role {spoke.role_arn}"
                ) from exc
            raise error from exc
        except BotoCoreError as exc:
            raise translate_core_error(exc, "sts:AssumeRole") from exc
        raw = response["Credentials"]
        credentials = Credentials(raw["AccessKeyId"], raw["SecretAccessKey"], raw["SessionToken"])
        if cached:  # clients bound to the expiring session are of no further use
            self._clients = {k: c for k, c in self._clients.items() if k[2] != cached[1].access_key_id}
        self._sessions[spoke.role_arn] = (raw["Expiration"].timestamp(), credentials)
        return credentials
