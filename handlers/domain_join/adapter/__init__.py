"""The adapter: the only package that talks to AWS (boto3 and botocore are imported here and nowhere else).

``AwsGateway`` implements ``model.AwsPort`` (what the engine needs) plus the two queue operations of the
batch layer, from small parts:

* ``sessions``   clients (standard retry mode, regional STS) and assumed-role sessions, cached;
* ``errors``     botocore ``ClientError`` codes -> our ``...Error`` classes (raised ``from`` the original);
* ``partitions`` the partition of a Region, from botocore's partition data;
* ``dynamodb``   BatchGetItem/BatchWriteItem with their ``UnprocessedKeys``/``UnprocessedItems`` loops;
* ``ledger``     the ledger store: item codec, reads, writes and claims whose conditions are derived from
  the one transition table (``claims.TRANSITIONS``);
* ``fleet``      EC2 and SSM: instances, readiness, commands, the AD tools host;
* ``directory_service`` ``ds:CreateComputer`` (AWS Managed Microsoft AD prestage from the hub);
* ``queues``     the join queue's visibility timeouts, its DLQ, and queue URLs from the SQS endpoint.

Public API (stable names): ``AwsGateway`` (takes the handler's one ``settings.Settings``), ``ClientFactory``,
``Credentials``,
``boto3_client_factory``, ``translate_error``, ``partition_of``.

Example::

    gateway = AwsGateway(Settings.from_env(os.environ))
"""

from __future__ import annotations

from .errors import translate_error
from .gateway import AwsGateway
from .partitions import partition_of
from .sessions import ClientFactory, Credentials, boto3_client_factory

__all__ = [
    "AwsGateway",
    "ClientFactory",
    "Credentials",
    "boto3_client_factory",
    "partition_of",
    "translate_error",
]
