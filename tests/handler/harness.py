"""Test harness: a moto-backed hub and spokes, and the SQS event source as the ESM builds it.

Shared by the tests (through conftest.py) and benchmarks/bench_handler.py.

Stubbed (moto lacks them): ssm DescribeInstanceInformation, answered from moto's
own EC2 instances; ds CreateComputer, answered for the directories moto holds (an unknown directory is
EntityDoesNotExistException, a name created before EntityAlreadyExistsException) and recorded in
``World.directory_computers``.  Injected failures go through botocore's ``before-call``
event on the real moto-backed clients, so everything else is moto's.
"""

from __future__ import annotations

import json
import os
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import boto3
from botocore.awsrequest import AWSResponse
from moto.ds.models import ds_backends
from moto.ec2.models import ec2_backends
from moto.iam.models import get_account_id_from

# Powertools resolves these when the handler module is imported.
os.environ.setdefault("POWERTOOLS_SERVICE_NAME", "domain-join")
os.environ.setdefault("POWERTOOLS_METRICS_NAMESPACE", "DomainJoinTest")

from handlers.domain_join import app as app_module
from handlers.domain_join import contract, settings
from handlers.domain_join.adapter import Credentials

HUB_ACCOUNT = "123456789012"  # moto's default account: the security (hub) account
HOME_REGION = "us-east-1"
SPOKE_A = "111111111111"
SPOKE_B = "222222222222"
TOOLS_TAG_KEY = str(settings.TOOLS_HOST_TAG_KEY.default)
TOOLS_TAG_VALUE = str(settings.TOOLS_HOST_TAG_VALUE.default)
TOOLS_HOST_PROFILE = "domain-join-tools-host"  # the instance profile the handler is pinned to
JOIN_PASSWORD = "Sup3r-Secret-Join-Pa55word!"
PASSWORD_PARAMETER = "/domain-join/join-password"
DOMAIN = "corp.example.com"
CONFIG_TABLE = "domain-join-config"
LINUX_IMAGE = "ami-0123456789abcdef0"
_WINDOWS_IMAGE: list[str] = []  # looked up once: listing moto's images costs seconds
LEDGER_TABLE = "domain-join-ledger"


@dataclass
class FakeContext:
    function_name: str = "domain-join"
    memory_limit_in_mb: int = 256
    invoked_function_arn: str = f"arn:aws:lambda:{HOME_REGION}:{HUB_ACCOUNT}:function:domain-join"
    aws_request_id: str = "00000000-0000-0000-0000-000000000000"
    timeout_millis: int = 900_000  # the function's timeout; the invocation is taken as just started

    def get_remaining_time_in_millis(self) -> int:
        return self.timeout_millis


@dataclass
class Clock:
    offset: float = 0.0

    def __call__(self) -> float:
        return time.time() + self.offset


@dataclass
class Call:
    service: str
    operation: str
    account: str
    region: str
    params: dict[str, Any]
    access_key_id: str | None = None  # None: the handler's own credentials; else the session's key


@dataclass
class Injection:
    operation: str
    code: str
    status: int
    account: str | None
    remaining: int | None
    extra: dict[str, Any] = field(default_factory=dict)


@dataclass
class Hook:
    """Something another party does just before one of the handler's calls (e.g. a racing container)."""

    operation: str
    action: Callable[[], None]
    fired: bool = False


def error_response(
    code: str, status: int, extra: dict[str, Any] | None = None
) -> tuple[AWSResponse, dict[str, Any]]:
    http = AWSResponse("https://stub.invalid", status, {}, None)
    parsed = {
        "Error": {"Code": code, "Message": f"injected {code}"},
        "ResponseMetadata": {"HTTPStatusCode": status},
        **(extra or {}),  # modelled error fields, e.g. CancellationReasons
    }
    return http, parsed


# Clients with the tests' or the handler's own (hub) credentials, shared by every test of the process.
_TEST_HUB_CLIENTS: dict[tuple[str, str], Any] = {}
_OBSERVED_HUB_CLIENTS: dict[tuple[str, str], Any] = {}
_DYNAMODB_RESOURCE: list[Any] = []
_CURRENT_WORLD: list[World] = []


def current_world() -> World:
    return _CURRENT_WORLD[0]


def _shared_hub_client(service: str, region: str, observed: bool) -> Any:
    if observed:  # the handler's own: a client of its own, so that the observers see only its calls
        return boto3.client(service, region_name=region)
    key = (service, region)
    if key not in _TEST_HUB_CLIENTS:
        _TEST_HUB_CLIENTS[key] = boto3.client(service, region_name=region)
    return _TEST_HUB_CLIENTS[key]


def _observe(client: Any, service: str, region: str, account: str, credentials: Credentials | None) -> None:
    """Record the handler's calls on the current World, and let it inject failures and stubs."""
    key = credentials.access_key_id if credentials else None

    def record(params: dict[str, Any], model: Any, context: dict[str, Any], **_: Any) -> None:
        current_world().on_parameters(Call(service, model.name, account, region, {}, key), params, context)

    def before_call(model: Any, context: dict[str, Any], **_: Any) -> Any:
        return current_world().on_before_call(account, region, model.name, context)

    def after_call(model: Any, parsed: dict[str, Any], context: dict[str, Any], **_: Any) -> None:
        current_world().on_after_call(model.name, parsed, context)

    client.meta.events.register("before-parameter-build", record)
    client.meta.events.register("after-call", after_call)
    client.meta.events.register("before-call", before_call)


@dataclass
class World:
    """The moto-backed Organization the handler runs against, plus what the handler did to it."""

    clock: Clock = field(default_factory=Clock)
    calls: list[Call] = field(default_factory=list)
    offline: set[str] = field(default_factory=set)
    injections: list[Injection] = field(default_factory=list)
    hooks: list[Hook] = field(default_factory=list)
    requested_targets: dict[str, list[str]] = field(default_factory=dict)
    issued_access_keys: dict[str, str] = field(default_factory=dict)  # role ARN -> key STS handed out
    aws_cpu_seconds: float = 0.0  # CPU spent inside AWS calls (moto's emulation, in this process)
    join_queue_url: str = ""
    join_queue_arn: str = ""
    dlq_url: str = ""
    tools_host_id: str = ""
    tools_host_profile_arn: str = ""
    # ds CreateComputer (stubbed): (directory id, computer name in upper case) -> the request
    directory_computers: dict[tuple[str, str], dict[str, Any]] = field(default_factory=dict)
    _clients: dict[tuple[str, str, str], Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        _CURRENT_WORLD[:] = [self]  # the shared clients' observers report here

    def provision(self) -> dict[str, str]:
        """Create the hub's tables, queues, join password and tools host; return the Lambda environment."""
        dynamodb = self.client("dynamodb")
        for table, key in ((CONFIG_TABLE, "accountId"), (LEDGER_TABLE, "instanceId")):
            dynamodb.create_table(
                TableName=table,
                KeySchema=[{"AttributeName": key, "KeyType": "HASH"}],
                AttributeDefinitions=[{"AttributeName": key, "AttributeType": "S"}],
                BillingMode="PAY_PER_REQUEST",
            )
        sqs = self.client("sqs")
        self.dlq_url = sqs.create_queue(QueueName="domain-join-dlq")["QueueUrl"]
        self.join_queue_url = sqs.create_queue(QueueName="domain-join")["QueueUrl"]
        self.join_queue_arn = sqs.get_queue_attributes(
            QueueUrl=self.join_queue_url, AttributeNames=["QueueArn"]
        )["Attributes"]["QueueArn"]
        self.client("ssm").put_parameter(Name=PASSWORD_PARAMETER, Value=JOIN_PASSWORD, Type="SecureString")
        self.tools_host_profile_arn = self.instance_profile(TOOLS_HOST_PROFILE)
        (self.tools_host_id,) = self.launch(
            HUB_ACCOUNT,
            HOME_REGION,
            tags={TOOLS_TAG_KEY: TOOLS_TAG_VALUE},
            windows=True,
            instance_profile_arn=self.tools_host_profile_arn,
        )
        return {
            "AWS_REGION": HOME_REGION,
            contract.ENV_CONFIG_TABLE: CONFIG_TABLE,
            contract.ENV_LEDGER_TABLE: LEDGER_TABLE,
            contract.ENV_DEAD_LETTER_QUEUE_URL: self.dlq_url,
            contract.ENV_TOOLS_HOST_TAG_KEY: TOOLS_TAG_KEY,
            contract.ENV_TOOLS_HOST_TAG_VALUE: TOOLS_TAG_VALUE,
            contract.ENV_TOOLS_HOST_INSTANCE_PROFILE_ARN: self.tools_host_profile_arn,
            contract.ENV_READINESS_DEADLINE_SECONDS: str(settings.READINESS_DEADLINE_SECONDS.default),
            contract.ENV_CONFIG_CACHE_TTL_SECONDS: str(settings.CONFIG_CACHE_TTL_SECONDS.default),
        }

    # --- clients as any account -------------------------------------------------
    def client(self, service: str, account: str = HUB_ACCOUNT, region: str = HOME_REGION) -> Any:
        """A client acting as ``account`` (the test's own, not observed), kept for the test."""
        key = (service, account, region)
        if key not in self._clients:
            self._clients[key] = self._new_client(service, account, region)
        return self._clients[key]

    def _table(self, name: str) -> Any:
        if not _DYNAMODB_RESOURCE:
            _DYNAMODB_RESOURCE.append(boto3.resource("dynamodb", region_name=HOME_REGION))
        return _DYNAMODB_RESOURCE[0].Table(name)

    def _new_client(self, service: str, account: str, region: str) -> Any:
        if account == HUB_ACCOUNT:
            return _shared_hub_client(service, region, observed=False)
        creds = self.client("sts").assume_role(
            RoleArn=f"arn:aws:iam::{account}:role/test-admin", RoleSessionName="test-setup"
        )["Credentials"]
        return boto3.client(
            service,
            region_name=region,
            aws_access_key_id=creds["AccessKeyId"],
            aws_secret_access_key=creds["SecretAccessKey"],
            aws_session_token=creds["SessionToken"],
        )

    def handler_client_factory(self, service: str, region: str, credentials: Credentials | None) -> Any:
        """What the handler gets instead of boto3.client: a real moto client, observed.

        Clients with the handler's own credentials are shared by every test (a client holds no moto
        state, and building one costs more than most calls); their observers report to the World
        created last (``current_world``).  Assumed-role clients carry per-test keys and are not shared.
        """
        if credentials is None:
            key = (service, region)
            if key not in _OBSERVED_HUB_CLIENTS:
                client = _shared_hub_client(service, region, observed=True)
                _observe(client, service, region, HUB_ACCOUNT, None)
                _OBSERVED_HUB_CLIENTS[key] = client
            return _OBSERVED_HUB_CLIENTS[key]
        client = boto3.client(
            service,
            region_name=region,
            aws_access_key_id=credentials.access_key_id,
            aws_secret_access_key=credentials.secret_access_key,
            aws_session_token=credentials.session_token,
        )
        _observe(client, service, region, get_account_id_from(credentials.access_key_id), credentials)
        return client

    def on_parameters(self, call: Call, params: dict[str, Any], context: dict[str, Any]) -> None:
        context["api_params"] = params
        context["cpu_started"] = time.process_time()
        self.calls.append(
            Call(call.service, call.operation, call.account, call.region, dict(params), call.access_key_id)
        )

    def on_before_call(self, account: str, region: str, operation: str, context: dict[str, Any]) -> Any:
        for hook in self.hooks:
            if hook.operation == operation and not hook.fired:
                hook.fired = True  # before acting: the action may call the handler again
                hook.action()
                break
        for injection in self.injections:
            if injection.operation == operation and injection.account in (None, account):
                if injection.remaining is not None:
                    if injection.remaining <= 0:
                        continue
                    injection.remaining -= 1
                return error_response(injection.code, injection.status, injection.extra)
        if operation == "DescribeInstanceInformation":
            return self._instance_information(account, region, context.get("api_params", {}))
        if operation == "CreateComputer":
            return self._create_computer(account, region, context.get("api_params", {}))
        return None

    def _create_computer(
        self, account: str, region: str, request: dict[str, Any]
    ) -> tuple[AWSResponse, dict[str, Any]]:
        """The stub of ds CreateComputer (moto lacks it), for the directories moto holds."""
        directory_id = request["DirectoryId"]
        if directory_id not in ds_backends[account][region].directories:
            return error_response("EntityDoesNotExistException", 400)
        key = (directory_id, request["ComputerName"].upper())
        if key in self.directory_computers:
            return error_response("EntityAlreadyExistsException", 400)
        self.directory_computers[key] = dict(request)
        computer = {
            "ComputerId": f"S-1-5-21-{len(self.directory_computers)}",
            "ComputerName": request["ComputerName"],
            "ComputerAttributes": request.get("ComputerAttributes", []),
        }
        return AWSResponse("https://stub.invalid", 200, {}, None), {
            "Computer": computer,
            "ResponseMetadata": {"HTTPStatusCode": 200},
        }

    def create_managed_directory(self, name: str = DOMAIN) -> str:
        """An AWS Managed Microsoft AD in the hub's account and Region (moto); returns its directory id."""
        ec2 = self.client("ec2")
        vpc = ec2.create_vpc(CidrBlock="10.20.0.0/16")["Vpc"]["VpcId"]
        subnets = []
        for n, zone in enumerate("ab"):
            subnet = ec2.create_subnet(
                VpcId=vpc, CidrBlock=f"10.20.{n}.0/24", AvailabilityZone=HOME_REGION + zone
            )
            subnets.append(subnet["Subnet"]["SubnetId"])
        return str(
            self.client("ds").create_microsoft_ad(
                Name=name,
                Password="Directory-Admin-Pa55word!",  # moto's fake directory
                VpcSettings={"VpcId": vpc, "SubnetIds": subnets},
                Edition="Standard",
            )["DirectoryId"]
        )

    def on_after_call(self, operation: str, parsed: dict[str, Any], context: dict[str, Any]) -> None:
        self.aws_cpu_seconds += time.process_time() - context.get("cpu_started", time.process_time())
        if operation == "AssumeRole" and "Credentials" in parsed:
            role_arn = context["api_params"]["RoleArn"]
            self.issued_access_keys[role_arn] = parsed["Credentials"]["AccessKeyId"]
        if operation == "SendCommand" and "Command" in parsed:
            self.requested_targets[parsed["Command"]["CommandId"]] = list(
                context["api_params"]["InstanceIds"]
            )

    def _instance_information(
        self, account: str, region: str, request: dict[str, Any]
    ) -> tuple[AWSResponse, dict[str, Any]]:
        wanted: set[str] | None = None
        for flt in request.get("Filters", []):
            if flt["Key"] == "InstanceIds":
                wanted = set(flt["Values"])
        infos = [
            {
                "InstanceId": instance.id,
                "PingStatus": "ConnectionLost" if instance.id in self.offline else "Online",
                "PlatformType": "Windows" if instance.platform == "windows" else "Linux",
            }
            for instance in ec2_backends[account][region].all_instances()
            if instance.state == "running" and (wanted is None or instance.id in wanted)
        ]
        return AWSResponse("https://stub.invalid", 200, {}, None), {
            "InstanceInformationList": infos,
            "ResponseMetadata": {"HTTPStatusCode": 200},
        }

    def inject(
        self,
        operation: str,
        code: str,
        status: int = 400,
        account: str | None = None,
        times: int | None = None,
        extra: dict[str, Any] | None = None,
    ) -> None:
        self.injections.append(Injection(operation, code, status, account, times, dict(extra or {})))

    def before(self, operation: str, action: Callable[[], None]) -> None:
        """Run ``action`` once, just before the handler's next ``operation`` call not yet hooked."""
        self.hooks.append(Hook(operation, action))

    def calls_of(self, operation: str) -> list[Call]:
        return [c for c in self.calls if c.operation == operation]

    # --- accounts, config, instances -----------------------------------------
    def put_config(self, account: str, **overrides: Any) -> dict[str, Any]:
        item: dict[str, Any] = {
            "accountId": account,
            "adJoinUserName": "svc-domain-join",
            "adJoinUserPwParam": PASSWORD_PARAMETER,
            "dnsName": DOMAIN,
            "dnsIP1": "10.0.0.10",
            "dnsIP2": "10.0.1.10",
            "assumeRoleARN": f"arn:aws:iam::{account}:role/{contract.DEFAULT_SPOKE_ROLE_NAME}",
        }
        item.update(overrides)
        item = {k: v for k, v in item.items() if v is not None}
        self._table(CONFIG_TABLE).put_item(Item=item)
        return item

    def instance_profile(self, name: str, account: str = HUB_ACCOUNT) -> str:
        """An instance profile (with a role of the same name) in ``account``; returns its ARN."""
        iam = self.client("iam", account)
        trust = {
            "Version": "2012-10-17",
            "Statement": [
                {"Effect": "Allow", "Principal": {"Service": "ec2.amazonaws.com"}, "Action": "sts:AssumeRole"}
            ],
        }
        iam.create_role(RoleName=name, AssumeRolePolicyDocument=json.dumps(trust))
        arn = str(iam.create_instance_profile(InstanceProfileName=name)["InstanceProfile"]["Arn"])
        iam.add_role_to_instance_profile(InstanceProfileName=name, RoleName=name)
        return arn

    def launch(
        self,
        account: str,
        region: str = HOME_REGION,
        count: int = 1,
        tags: dict[str, str] | None = None,
        windows: bool = False,
        instance_profile_arn: str | None = None,
    ) -> list[str]:
        ec2 = self.client("ec2", account, region)
        platform = "windows" if windows else "linux"
        image = self._image(ec2, platform)
        request: dict[str, Any] = {"ImageId": image, "MinCount": count, "MaxCount": count}
        if instance_profile_arn:
            request["IamInstanceProfile"] = {"Arn": instance_profile_arn}
        if tags:
            request["TagSpecifications"] = [
                {"ResourceType": "instance", "Tags": [{"Key": k, "Value": v} for k, v in tags.items()]}
            ]
        return [i["InstanceId"] for i in ec2.run_instances(**request)["Instances"]]

    @staticmethod
    def _image(ec2: Any, platform: str) -> str:
        if platform != "windows":
            return LINUX_IMAGE  # moto runs any image id; only the Windows ones carry Platform=windows
        if not _WINDOWS_IMAGE:
            images = ec2.describe_images(Filters=[{"Name": "platform", "Values": ["windows"]}])["Images"]
            _WINDOWS_IMAGE.append(sorted(i["ImageId"] for i in images)[0])
        return _WINDOWS_IMAGE[0]

    def terminate(self, account: str, region: str, instance_ids: list[str]) -> None:
        self.client("ec2", account, region).terminate_instances(InstanceIds=instance_ids)

    # --- the event source -----------------------------------------------------
    def deliver(self, bodies: list[str]) -> dict[str, Any]:
        """Send ``bodies`` to the real join queue and receive them as the ESM would (one batch)."""
        sqs = self.client("sqs")
        for body in bodies:
            sqs.send_message(QueueUrl=self.join_queue_url, MessageBody=body)
        return self.receive(max_messages=len(bodies))

    def receive(self, max_messages: int = 10) -> dict[str, Any]:
        sqs = self.client("sqs")
        records: list[dict[str, Any]] = []
        while len(records) < max_messages:
            got = sqs.receive_message(
                QueueUrl=self.join_queue_url,
                MaxNumberOfMessages=min(10, max_messages - len(records)),
                MessageSystemAttributeNames=["All"],
                MessageAttributeNames=["All"],
            ).get("Messages", [])
            if not got:
                break
            records += [self._record(m) for m in got]
        return {"Records": records}

    def _record(self, message: dict[str, Any]) -> dict[str, Any]:
        return {
            "messageId": message["MessageId"],
            "receiptHandle": message["ReceiptHandle"],
            "body": message["Body"],
            "attributes": dict(message.get("Attributes", {})),
            "messageAttributes": {},
            "md5OfBody": message["MD5OfBody"],
            "eventSource": "aws:sqs",
            "eventSourceARN": self.join_queue_arn,
            "awsRegion": HOME_REGION,
        }

    def let_time_pass(self, event: dict[str, Any]) -> None:
        """Make the batch's messages visible again now (the visibility timeout 'elapsed')."""
        sqs = self.client("sqs")
        for record in event["Records"]:
            sqs.change_message_visibility(
                QueueUrl=self.join_queue_url, ReceiptHandle=record["receiptHandle"], VisibilityTimeout=0
            )

    def invoke(self, event: dict[str, Any], context: FakeContext | None = None) -> dict[str, Any]:
        """Run the real Lambda entry point, then delete the processed messages as the ESM does."""
        response: dict[str, Any] = dict(app_module.lambda_handler(event, context or FakeContext()))
        failed = {f["itemIdentifier"] for f in response["batchItemFailures"]}
        sqs = self.client("sqs")
        for record in event["Records"]:
            if record["messageId"] not in failed:
                sqs.delete_message(QueueUrl=self.join_queue_url, ReceiptHandle=record["receiptHandle"])
        return response

    def run(self, bodies: list[str], context: FakeContext | None = None) -> dict[str, Any]:
        return self.invoke(self.deliver(bodies), context)

    def put_ledger(
        self, instance_id: str, account: str, region: str = HOME_REGION, **attributes: Any
    ) -> None:
        """Write a ledger record as another container (or an earlier handler version) would have."""
        item: dict[str, Any] = {
            "instanceId": instance_id,
            "account": account,
            "region": region,
            "computerName": "EC2OTHERWRITER",
            "domain": DOMAIN,
            "joinUserName": "svc-domain-join",
            "joinPasswordParameter": PASSWORD_PARAMETER,
            "createdAt": int(self.clock()) - 60,
            "updatedAt": int(self.clock()),
            **attributes,
        }
        self._table(LEDGER_TABLE).put_item(Item=item)

    # --- what the handler left behind ----------------------------------------
    def ledger(self) -> dict[str, dict[str, Any]]:
        items = self._table(LEDGER_TABLE).scan()["Items"]
        return {item["instanceId"]: item for item in items}

    def commands(self, account: str = HUB_ACCOUNT, region: str = HOME_REGION) -> list[dict[str, Any]]:
        """Commands moto holds for that account/Region, parameters flattened to strings.

        moto adds every instance of the Region to a command sent without Targets, so
        ``InstanceIds`` is replaced by the ids the handler asked for (seen on the wire).
        """
        found = self.client("ssm", account, region).list_commands()["Commands"]
        return [
            {
                **c,
                "InstanceIds": self.requested_targets[c["CommandId"]],
                "Params": {k: v[0] for k, v in c.get("Parameters", {}).items()},
            }
            for c in sorted(found, key=lambda c: c["RequestedDateTime"])
        ]

    def dead_letters(self) -> list[dict[str, Any]]:
        sqs = self.client("sqs")
        messages: list[dict[str, Any]] = []
        while True:
            got = sqs.receive_message(
                QueueUrl=self.dlq_url, MaxNumberOfMessages=10, MessageAttributeNames=["All"]
            ).get("Messages", [])
            if not got:
                return messages
            messages += got


# --- event body factories ------------------------------------------------------
def state_change(
    account: str, region: str, instance_id: str, state: str = "running", event_id: str = "evt-1"
) -> dict[str, Any]:
    return {
        "version": "0",
        "id": event_id,
        "detail-type": "EC2 Instance State-change Notification",
        "source": "aws.ec2",
        "account": account,
        "time": "2026-11-24T00:00:00Z",
        "region": region,
        "resources": [f"arn:aws:ec2:{region}:{account}:instance/{instance_id}"],
        "detail": {"instance-id": instance_id, "state": state},
    }


def eventbridge_body(account: str, region: str, instance_id: str, state: str = "running") -> str:
    return json.dumps(state_change(account, region, instance_id, state))


def sns_body(account: str, region: str, instance_id: str, state: str = "running") -> str:
    return json.dumps(
        {
            "Type": "Notification",
            "MessageId": "6a1c9a62-0000-0000-0000-000000000000",
            "TopicArn": f"arn:aws:sns:{region}:{HUB_ACCOUNT}:domain-join",
            "Message": json.dumps(state_change(account, region, instance_id, state)),
            "Timestamp": "2026-11-24T00:00:00.000Z",
            "SignatureVersion": "1",
        }
    )


def raw_body(account: str, region: str, instance_id: str, state: str = "running") -> str:
    # SNS raw message delivery hands over the published message itself.
    return json.dumps(state_change(account, region, instance_id, state), indent=1)


def stdout_json(text: str) -> list[dict[str, Any]]:
    """Every JSON line the handler printed (Powertools logs and EMF metrics)."""
    lines = []
    for line in text.splitlines():
        line = line.strip()
        if line.startswith("{"):
            try:
                lines.append(json.loads(line))
            except ValueError:
                continue
    return lines


def emitted_metrics(text: str) -> dict[str, float]:
    totals: dict[str, float] = {}
    for blob in stdout_json(text):
        if "_aws" not in blob:
            continue
        for definition in blob["_aws"]["CloudWatchMetrics"]:
            for metric in definition["Metrics"]:
                value = blob[metric["Name"]]
                values = value if isinstance(value, list) else [value]
                totals[metric["Name"]] = totals.get(metric["Name"], 0) + sum(values)
    return totals


class CurrentStdout:
    """Writes wherever sys.stdout points now (capsys swaps it per test)."""

    def write(self, text: str) -> int:
        return sys.stdout.write(text)

    def flush(self) -> None:
        sys.stdout.flush()


def command_status(
    account: str,
    region: str,
    command_id: str,
    document: str,
    instance_id: str,
    status: str = "Failed",
    event_id: str = "evt-cmd-1",
) -> dict[str, Any]:
    """SSM's "EC2 Command Invocation Status-change Notification" for one instance of a command."""
    return {
        "version": "0",
        "id": event_id,
        "detail-type": contract.COMMAND_STATUS_DETAIL_TYPE,
        "source": contract.COMMAND_STATUS_SOURCE,
        "account": account,
        "time": "2026-11-24T00:10:00Z",
        "region": region,
        "resources": [f"arn:aws:ec2:{region}:{account}:instance/{instance_id}"],
        "detail": {
            "command-id": command_id,
            "document-name": document,
            "instance-id": instance_id,
            "requested-date-time": "2026-11-24T00:00:01.000Z",
            "status": status,
        },
    }


def sns_wrapped(event: dict[str, Any]) -> str:
    """Any event as it arrives through an SNS topic without raw delivery."""
    return json.dumps(
        {
            "Type": "Notification",
            "MessageId": "6a1c9a62-0000-0000-0000-000000000001",
            "TopicArn": f"arn:aws:sns:{event['region']}:{HUB_ACCOUNT}:domain-join",
            "Message": json.dumps(event),
            "Timestamp": "2026-11-24T00:10:00.000Z",
            "SignatureVersion": "1",
        }
    )
