"""The lab world: an AWS Organization in one moto server, driving real joins into the Samba AD lab.

One `moto.server.ThreadedMotoServer` on 127.0.0.1 holds the Organization: the security account and two spokes,
the home Region and one extra Region.  A lab landing zone (`landing_zone_text`) is synthesized by the
project's own `modules.stacks.build_app`, and every resource of the synthesized `cdk.tf.json` files is created
in moto from that JSON (`Deployment`: a small reader of the few Terraform expressions the stacks use,
`for_each` over Region sets included).  The handler runs from the synthesized artifact zip, with the
synthesized environment, under the synthesized role's credentials; the documents the agents run are the ones
registered in moto.  The Active Directory is the real-AD lab of `tests/scripts/adlab.py` (its `Lab` and
`Machine`); each lab machine is the body of one moto EC2 instance.

WHAT THE LAB PROVIDES WHERE MOTO FALLS SHORT (the one list; docs/e2e.md repeats it).  Nothing in the handler,
the stacks or the scripts changes for the lab:

1. EventBridge delivery (`Router`).  moto's own delivery rewrites `account`/`region` of an event forwarded to
   another account's bus and has no SNS targets.  The lab delivers events itself: the rules and targets are
   read back from moto (as deployed from the JSON), each pattern is matched by moto's own `EventPattern`, and
   the event goes on unchanged to the target: another bus (same event, as EventBridge forwards it), an SQS
   queue (the event JSON as body) or an SNS topic (`Publish`; moto then delivers to the subscribed queue
   itself, raw).
2. EC2 state-change events.  moto emits none; `World.launch/stop/start/terminate` call moto's EC2 API and put
   the "EC2 Instance State-change Notification" the real service would emit on that account's default bus.
3. `ssm:DescribeInstanceInformation` (not implemented by moto): answered from the lab's agent directory (an
   instance is listed, `Online`, once its agent has come up), patched into moto's SSM responses.
4. The SSM agent (`Agent`, one thread per instance): takes the commands sent to its instance (moto's
   `ListCommands`), reads the document as registered in that account and Region (`GetDocument`), runs its
   `platformType` Linux step with `sh` and the parameters as `SSM_<Name>` environment variables (values given,
   else the document's defaults), and records the exit code.  A failure emits the "EC2 Command Invocation
   Status-change Notification" (`Failed`) on that account's default bus.  moto keeps the command as sent (it
   has no API through which an agent reports).
5. Lambda (`LambdaContainer`, `EventSourceMapping`): moto cannot run the function without Docker.  The
   container is a Python process whose path holds only the extracted artifact (boto3 and Powertools from the
   environment, as the runtime and the layer give them), with the function's synthesized environment and the
   credentials of its synthesized role.  The event source mapping polls the join queue (honouring delay and
   visibility, batch size and batching window as synthesized), builds the SQS event as Lambda does, invokes
   the handler and deletes what did not fail (`ReportBatchItemFailures`).  One poller, so at most one
   invocation at a time.
6. The EC2 side of an instance: IMDSv2 (`IMDS_SERVER`, inside each machine's network namespace: token,
   instance-id, placement/region, the instance identity document), and for a machine with an instance
   profile (the AD tools host; an instance launched with `instance_role`) the AWS CLI: an `aws` stand-in that
   makes only the calls the scripts make, exactly as they make them (`ssm get-parameter --with-decryption`;
   `kms decrypt` of a sealed prestage list or join password, ciphertext on stdin) with the credentials of the
   profile's role, through a relay from the host's namespace into the machine's (the machines cannot reach
   127.0.0.1 of the host).
7. What stays out of Terraform: the join user's SecureString (put by the lab, as a team does out of band),
   the tools-host instance (a moto instance tagged as the landing zone says, with the hub's tools-host
   instance profile; its body is the lab's tools machine) and a spoke's workload instance role (trusted by
   EC2, with the spoke stack's unseal policy attached: `World.workload_profile`).  The config items come
   from the landing zone's `directories` (the hub stack writes them).  The lab's directories have no
   `directory_id`, so the tools host prestages and nothing stands in for `ds:CreateComputer`.
8. Cross-account KMS: moto looks a key up in the caller's account only; a spoke instance's `kms:Decrypt` of
   the hub key (named by its ARN) is answered by the key's own account (`_decrypt_across_accounts`).  Key
   policies and IAM policies are not evaluated (moto does not); the encryption context is checked.
9. `ssm:SendCommand` by `InstanceIds`: moto adds every instance of the account and Region when a command has
   no `Targets`; the lab keeps a command to the instances it names (`_instances_of_targets`).
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import json
import logging
import math
import os
import re
import secrets
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
import uuid
import zipfile
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, ClassVar

import boto3

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:  # tests/scripts/adlab.py is imported as a package module
    sys.path.insert(0, str(REPO))

from handlers.domain_join import contract  # noqa: E402
from tests.scripts.adlab import DC_IP, DOMAIN, OU_DN, REALM, Lab, Machine  # noqa: E402

SECURITY_ACCOUNT = "111111111111"
SPOKE_ACCOUNT = "222222222222"  # home and extra Region
OTHER_SPOKE_ACCOUNT = "333333333333"  # home Region only
HOME_REGION = "eu-west-1"
EXTRA_REGION = "eu-central-1"
ORGANIZATION_ID = "o-e2elab0001"
TOOLS_HOST_TAG = ("ADToolsHost", "true")
PASSWORD_PARAMETER = "/ec2-domain-join/join-password"  # noqa: S105 - a name, not a secret
PROVIDER_ROLE = "OrganizationAccountAccessRole"  # what the stacks' providers assume
WORKLOAD_ROLE = "lab-workload"  # a spoke's instance role, made by its team (World.workload_profile)
JOIN_USER = str(Lab.__dataclass_fields__["join_user"].default)  # the lab's delegated join user
AMI = "ami-1e749f67"  # a Linux image in moto's catalogue (Ubuntu)
RELAY_PORT = 4566  # inside the tools host's namespace
IMDS_ADDRESS = "169.254.169.254"
EC2_STATE = ("aws.ec2", "EC2 Instance State-change Notification")
SSM_STATUS = ("aws.ssm", "EC2 Command Invocation Status-change Notification")


def landing_zone_text() -> str:
    """The lab's landing zone: no hold (join delay 0), a readiness deadline of 90 s (one retry fits),
    the lab's directory (so the hub writes the config items) and the tools host's role and profile.  The
    other spoke's directory is the same domain with its join passwords sealed (`seal_join_passwords`)."""
    return f"""\
organization_id: {ORGANIZATION_ID}
security_account_id: "{SECURITY_ACCOUNT}"
home_region: {HOME_REGION}
extra_regions: [{EXTRA_REGION}]
role_name: {PROVIDER_ROLE}
tools_host_tag: {{key: {TOOLS_HOST_TAG[0]}, value: "{TOOLS_HOST_TAG[1]}"}}
join_delay_seconds: 0
readiness_deadline_seconds: 90
max_command_attempts: 3
directories:
  lab:
    domain: {DOMAIN}
    dns_ips: [{DC_IP}]
    join_user: {JOIN_USER}
    join_password_parameter: {PASSWORD_PARAMETER}
    default_ou: {OU_DN}
  sealed:
    domain: {DOMAIN}
    dns_ips: [{DC_IP}]
    join_user: {JOIN_USER}
    join_password_parameter: {PASSWORD_PARAMETER}
    default_ou: {OU_DN}
    seal_join_passwords: true
tools_host: {{}}
spokes:
  - account_id: "{SPOKE_ACCOUNT}"
    regions: [{HOME_REGION}, {EXTRA_REGION}]
    directory: lab
  - account_id: "{OTHER_SPOKE_ACCOUNT}"
    regions: [{HOME_REGION}]
    directory: sealed
"""


def now_iso() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


# --- timeline ------------------------------------------------------------------------------------------


@dataclass
class Timeline:
    """Timestamped steps of the world, printed live when `echo` is set (the demo)."""

    echo: bool = False
    started: float = field(default_factory=time.time)
    entries: list[tuple[float, str, str]] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def note(self, actor: str, text: str) -> None:
        stamp = time.time()
        with self.lock:
            self.entries.append((stamp, actor, text))
            if self.echo:
                wall = datetime.fromtimestamp(stamp, UTC).strftime("%H:%M:%S.%f")[:-3]
                print(f"{wall} +{stamp - self.started:7.2f}s  {actor:<14} {text}", flush=True)

    def first(self, actor: str, needle: str, after: float = 0.0) -> float | None:
        with self.lock:
            return next((t for t, a, x in self.entries if a == actor and needle in x and t >= after), None)


# --- moto ----------------------------------------------------------------------------------------------


@dataclass
class AgentInfo:
    instance_id: str
    online_at: float  # epoch seconds; listed (Online) from then on
    platform: str = "Linux"


class AgentDirectory:
    """Which SSM agents have registered, per (account, Region): what DescribeInstanceInformation answers."""

    def __init__(self) -> None:
        self._agents: dict[tuple[str, str], dict[str, AgentInfo]] = {}
        self._lock = threading.Lock()

    def register(self, account: str, region: str, info: AgentInfo) -> None:
        with self._lock:
            self._agents.setdefault((account, region), {})[info.instance_id] = info

    def set_online_at(self, account: str, region: str, instance_id: str, online_at: float) -> None:
        """When the agent is (again) listed Online; `math.inf`: it has stopped reporting."""
        with self._lock:
            self._agents[(account, region)][instance_id].online_at = online_at

    def listed(self, account: str, region: str, ids: set[str] | None) -> list[dict[str, Any]]:
        now = time.time()
        with self._lock:
            agents = list(self._agents.get((account, region), {}).values())
        return [
            {
                "InstanceId": a.instance_id,
                "PingStatus": "Online",
                "LastPingDateTime": now,
                "AgentVersion": "3.3.2746.0",
                "IsLatestVersion": True,
                "PlatformType": a.platform,
                "PlatformName": "Debian GNU/Linux",
                "ResourceType": "EC2Instance",
            }
            for a in agents
            if a.online_at <= now and (ids is None or a.instance_id in ids)
        ]


AGENTS = AgentDirectory()


def _describe_instance_information(self: Any) -> str:
    """moto's missing SSM action, answered from the lab's agent directory (stand-in 3)."""
    ids: set[str] | None = None
    for item in self._get_param("Filters") or []:
        if item.get("Key") == "InstanceIds":
            ids = set(item.get("Values", []))
    for item in self._get_param("InstanceInformationFilterList") or []:
        if item.get("key") == "InstanceIds":
            ids = set(item.get("valueSet", []))
    return json.dumps({"InstanceInformationList": AGENTS.listed(self.current_account, self.region, ids)})


def _decrypt_across_accounts(self: Any) -> str:
    """kms:Decrypt with a key of another account, named by its ARN, as KMS allows (stand-in 8): moto looks
    the key up in the caller's own account only.  The key's policy is not evaluated (moto does not)."""
    from moto.kms.models import kms_backends

    key_id = self._get_param("KeyId") or ""
    parts = key_id.split(":")
    if len(parts) < 6 or parts[2] != "kms" or parts[4] == self.current_account:
        assert _MOTO_DECRYPT is not None
        return str(_MOTO_DECRYPT(self))
    plaintext, arn = kms_backends[parts[4]][parts[3]].decrypt(
        ciphertext_blob=self._get_param("CiphertextBlob"),
        encryption_context=self._get_param("EncryptionContext", {}),
        key_id=key_id,
    )
    return json.dumps({"Plaintext": base64.b64encode(plaintext).decode(), "KeyId": arn})


_MOTO_DECRYPT: Callable[[Any], Any] | None = None
_MOTO_TARGETS: Callable[[Any], list[str]] | None = None


def _instances_of_targets(self: Any) -> list[str]:
    """A command's instances named by its Targets; none without Targets (stand-in 9: moto's own answer then
    lists every instance of the account and Region, so a command sent by InstanceIds reached them all)."""
    assert _MOTO_TARGETS is not None
    return _MOTO_TARGETS(self) if self.targets else []


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


class Moto:
    """The moto server and clients acting as any account (assumed-role credentials map to their account)."""

    def __init__(self) -> None:
        from moto.kms.responses import KmsResponse
        from moto.server import ThreadedMotoServer
        from moto.ssm.models import Command
        from moto.ssm.responses import SimpleSystemManagerResponse

        if "MOTO_ACCOUNT_ID" in os.environ:
            raise RuntimeError("MOTO_ACCOUNT_ID would override every request's account")
        SimpleSystemManagerResponse.describe_instance_information = _describe_instance_information  # type: ignore[attr-defined]
        global _MOTO_DECRYPT, _MOTO_TARGETS
        if _MOTO_DECRYPT is None:
            _MOTO_DECRYPT = KmsResponse.decrypt
            KmsResponse.decrypt = _decrypt_across_accounts  # type: ignore[method-assign]
        if _MOTO_TARGETS is None:
            _MOTO_TARGETS = Command._get_instance_ids_from_targets
            Command._get_instance_ids_from_targets = _instances_of_targets  # type: ignore[method-assign]
        logging.getLogger("werkzeug").setLevel(logging.ERROR)
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.server = ThreadedMotoServer(ip_address="127.0.0.1", port=self.port, verbose=False)
        self.server.start()
        self._credentials: dict[str, dict[str, str]] = {}
        self._lock = threading.Lock()

    def stop(self) -> None:
        self.server.stop()

    def _base(self, service: str, region: str) -> Any:
        return boto3.client(
            service,
            region_name=region,
            endpoint_url=self.url,
            aws_access_key_id="AKIALABOPERATOR0000",
            aws_secret_access_key="lab",  # noqa: S106 - moto's fake credentials
        )

    def role_credentials(self, role_arn: str, session: str = "lab") -> dict[str, str]:
        raw = self._base("sts", HOME_REGION).assume_role(RoleArn=role_arn, RoleSessionName=session)
        c = raw["Credentials"]
        return {
            "aws_access_key_id": c["AccessKeyId"],
            "aws_secret_access_key": c["SecretAccessKey"],
            "aws_session_token": c["SessionToken"],
        }

    def client(self, service: str, account: str, region: str) -> Any:
        """A client in `account` (as the role the stacks' providers assume there)."""
        with self._lock:
            if account not in self._credentials:
                arn = f"arn:aws:iam::{account}:role/{PROVIDER_ROLE}"
                self._credentials[account] = self.role_credentials(arn)
            credentials = self._credentials[account]
        return boto3.client(service, region_name=region, endpoint_url=self.url, **credentials)


# --- the synthesized stacks, put into moto -------------------------------------------------------------

SYNTH = """
import sys
from pathlib import Path
from modules.landing_zone import load_landing_zone
from modules.stacks import build_app
build_app(load_landing_zone(Path(sys.argv[1])), Path(sys.argv[2]), Path(sys.argv[3])).synth()
"""


def start_synth(workdir: Path) -> tuple[subprocess.Popen[bytes], Path]:
    """`modules.stacks.build_app(load_landing_zone(path), outdir, artifact).synth()` in its own process."""
    lz = workdir / "landing-zone.yaml"
    lz.write_text(landing_zone_text())
    outdir = workdir / "cdktf.out"
    env = {**os.environ, "PYTHONPATH": str(REPO), "PYTHONDONTWRITEBYTECODE": "1"}
    node = REPO / "tools" / "node_modules" / ".bin" / "node"
    if node.exists():
        env["JSII_NODE"] = str(node)
    log = (workdir / "synth.log").open("wb")
    process = subprocess.Popen(
        [sys.executable, "-c", SYNTH, str(lz), str(outdir), str(workdir / "artifact" / "domain_join.zip")],
        cwd=REPO,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    return process, outdir


_REFERENCE = re.compile(r"(aws_[a-z0-9_]+)\.([A-Za-z0-9_-]+)(\[each\.value\])?\.([a-z_]+)")
_NOT_ARGUMENTS = ("//", "for_each", "depends_on", "provider", "lifecycle", "region")
# Creation order: every reference points to a type created earlier.
TYPE_ORDER = (
    "aws_kms_key",
    "aws_kms_alias",
    "aws_iam_role",
    "aws_iam_role_policy",
    "aws_iam_policy",
    "aws_iam_instance_profile",
    "aws_sqs_queue",
    "aws_sqs_queue_policy",
    "aws_dynamodb_table",
    "aws_dynamodb_table_item",
    "aws_cloudwatch_log_group",
    "aws_cloudwatch_metric_alarm",
    "aws_cloudwatch_event_bus",
    "aws_cloudwatch_event_bus_policy",
    "aws_sns_topic",
    "aws_sns_topic_policy",
    "aws_sns_topic_subscription",
    "aws_cloudwatch_event_rule",
    "aws_cloudwatch_event_target",
    "aws_ssm_document",
    "aws_lambda_function",
    "aws_lambda_event_source_mapping",
)


@dataclass
class Resource:
    type: str
    name: str
    key: str | None
    account: str
    region: str
    stack: str
    attributes: dict[str, Any]  # arguments (resolved) and the attributes moto gave back


class Deployment:
    """Creates every resource of the synthesized stacks in moto, as Terraform would (stand-in for the CLI)."""

    def __init__(self, moto: Moto, outdir: Path) -> None:
        self.moto = moto
        self.outdir = outdir
        self.resources: dict[tuple[str, str, str | None], Resource] = {}

    def of_type(self, kind: str) -> list[Resource]:
        return [r for r in self.resources.values() if r.type == kind]

    def apply_all(self) -> None:
        stacks = sorted(p.parent for p in (self.outdir / "stacks").glob("*/cdk.tf.json"))
        if not stacks:
            raise RuntimeError(f"no synthesized stacks under {self.outdir}")
        for folder in stacks:
            self.apply(folder)

    def apply(self, folder: Path) -> None:
        document = json.loads((folder / "cdk.tf.json").read_text())
        provider = document["provider"]["aws"][0]
        account, region = provider["allowed_account_ids"][0], provider["region"]
        resources = document.get("resource", {})
        unknown = set(resources) - set(TYPE_ORDER)
        if unknown:
            raise RuntimeError(f"stack {folder.name}: the lab cannot create {sorted(unknown)} yet")
        for kind in TYPE_ORDER:
            for name, body in resources.get(kind, {}).items():
                keys = self._resolve(body["for_each"], None) if "for_each" in body else [None]
                for key in keys:
                    arguments = {k: self._resolve(v, key) for k, v in body.items() if k not in _NOT_ARGUMENTS}
                    where = self._resolve(body.get("region", region), key)
                    outputs = CREATORS[kind](self.moto, account, where, arguments, folder)
                    self.resources[(kind, name, key)] = Resource(
                        kind, name, key, account, where, folder.name, {**arguments, **outputs}
                    )

    def _resolve(self, value: Any, each: str | None) -> Any:
        if isinstance(value, dict):
            return {k: self._resolve(v, each) for k, v in value.items()}
        if isinstance(value, list):
            return [self._resolve(v, each) for v in value]
        if not isinstance(value, str):
            return value
        out: list[str] = []
        i = 0
        while i < len(value):
            if value.startswith("$${", i) or value.startswith("%%{", i):
                out.append(value[i + 1 : i + 3])
                i += 3
            elif value.startswith("${", i):
                end = _closing_brace(value, i + 2)
                result = self._expression(value[i + 2 : end], each)
                if i == 0 and end == len(value) - 1:
                    return result
                out.append(str(result))
                i = end + 1
            else:
                out.append(value[i])
                i += 1
        return "".join(out)

    def _expression(self, expression: str, each: str | None) -> Any:
        expression = expression.strip()
        if expression == "each.value":
            return each
        if expression.startswith("toset(") and expression.endswith(")"):
            return sorted(set(json.loads(expression[len("toset(") : -1])))
        if expression.startswith("jsonencode(") and expression.endswith(")"):
            reader = _HclReader(expression[len("jsonencode(") : -1], lambda x: self._expression(x, each))
            document = reader.value()
            reader.end()
            return json.dumps(self._resolve_strings(document, each), separators=(",", ":"))
        match = _REFERENCE.fullmatch(expression)
        if match is None:
            raise RuntimeError(f"the lab cannot evaluate the Terraform expression ${{{expression}}}")
        kind, name, indexed, attribute = match.groups()
        resource = self.resources[(kind, name, each if indexed else None)]
        return resource.attributes[attribute]

    def _resolve_strings(self, value: Any, each: str | None) -> Any:
        """String templates inside a jsonencode() document (`$${` is a literal `${` there too)."""
        if isinstance(value, _Template):
            return str(self._resolve(value.text, each))
        if isinstance(value, dict):
            return {k: self._resolve_strings(v, each) for k, v in value.items()}
        if isinstance(value, list):
            return [self._resolve_strings(v, each) for v in value]
        return value


def _closing_brace(text: str, start: int) -> int:
    """Where the `}` closing a `${` is, its expression starting at `start` (nesting and strings skipped)."""
    depth, i, quoted = 0, start, False
    while i < len(text):
        c = text[i]
        if quoted:
            if c == "\\":
                i += 1
            elif c == '"':
                quoted = False
        elif c == '"':
            quoted = True
        elif c in "{[(":
            depth += 1
        elif c in ")]}":
            if depth == 0:
                if c != "}":
                    break
                return i
            depth -= 1
        i += 1
    raise RuntimeError(f"the lab cannot find the end of the Terraform expression in {text[start - 2 :]!r}")


@dataclass(frozen=True)
class _Template:
    text: str  # a quoted HCL string, escapes undone; its `${...}` is resolved by the Deployment


class _HclReader:
    """The HCL the stacks write inside jsonencode(): objects `{"k" = v, ...}`, lists, strings, numbers,
    true/false/null and resource references (handed to `reference`)."""

    _ESCAPES: ClassVar[dict[str, str]] = {"n": "\n", "t": "\t", "r": "\r", '"': '"', "\\": "\\"}
    _BARE = re.compile(r"[A-Za-z0-9_.\[\]-]+")

    def __init__(self, text: str, reference: Callable[[str], Any]) -> None:
        self.text, self.i, self.reference = text, 0, reference

    def _skip(self) -> None:
        while self.i < len(self.text) and self.text[self.i] in " \t\r\n,":
            self.i += 1

    def end(self) -> None:
        self._skip()
        if self.i != len(self.text):
            raise RuntimeError(f"the lab cannot read the HCL after {self.text[: self.i]!r}")

    def value(self) -> Any:
        self._skip()
        c = self.text[self.i]
        if c == "{":
            return self._object()
        if c == "[":
            return self._list()
        if c == '"':
            return _Template(self._string())
        bare = self._BARE.match(self.text, self.i)
        if bare is None:
            raise RuntimeError(f"the lab cannot read the HCL at {self.text[self.i : self.i + 40]!r}")
        self.i = bare.end()
        word = bare.group()
        if word in ("true", "false", "null"):
            return json.loads(word)
        if re.fullmatch(r"-?[0-9]+(\.[0-9]+)?", word):
            return json.loads(word)
        return self.reference(word)

    def _string(self) -> str:
        self.i += 1
        out: list[str] = []
        while self.text[self.i] != '"':
            c = self.text[self.i]
            if c == "\\":
                out.append(self._ESCAPES[self.text[self.i + 1]])
                self.i += 2
            else:
                out.append(c)
                self.i += 1
        self.i += 1
        return "".join(out)

    def _object(self) -> dict[str, Any]:
        self.i += 1
        found: dict[str, Any] = {}
        while True:
            self._skip()
            if self.text[self.i] == "}":
                self.i += 1
                return found
            if self.text[self.i] == '"':
                key = self._string()
            else:
                bare = self._BARE.match(self.text, self.i)
                if bare is None:
                    near = self.text[self.i : self.i + 40]
                    raise RuntimeError(f"the lab cannot read the HCL key at {near!r}")
                key, self.i = bare.group(), bare.end()
            self._skip()
            if self.text[self.i] not in "=:":
                raise RuntimeError(f"the lab expects = after the HCL key {key!r}")
            self.i += 1
            found[key] = self.value()

    def _list(self) -> list[Any]:
        self.i += 1
        found: list[Any] = []
        while True:
            self._skip()
            if self.text[self.i] == "]":
                self.i += 1
                return found
            found.append(self.value())


def _create_kms_key(moto: Moto, account: str, region: str, a: dict[str, Any], _: Path) -> dict[str, Any]:
    meta = moto.client("kms", account, region).create_key(
        Description=a.get("description", ""), Policy=a["policy"]
    )["KeyMetadata"]
    return {"arn": meta["Arn"], "key_id": meta["KeyId"], "id": meta["KeyId"]}


def _create_kms_alias(moto: Moto, account: str, region: str, a: dict[str, Any], _: Path) -> dict[str, Any]:
    moto.client("kms", account, region).create_alias(AliasName=a["name"], TargetKeyId=a["target_key_id"])
    return {}


def _create_role(moto: Moto, account: str, region: str, a: dict[str, Any], _: Path) -> dict[str, Any]:
    role = moto.client("iam", account, region).create_role(
        RoleName=a["name"],
        AssumeRolePolicyDocument=a["assume_role_policy"],
        Description=a.get("description", ""),
        MaxSessionDuration=int(a.get("max_session_duration", 3600)),
    )["Role"]
    return {"arn": role["Arn"], "id": role["RoleName"]}


def _create_role_policy(moto: Moto, account: str, region: str, a: dict[str, Any], _: Path) -> dict[str, Any]:
    moto.client("iam", account, region).put_role_policy(
        RoleName=a["role"], PolicyName=a["name"], PolicyDocument=a["policy"]
    )
    return {}


def _create_policy(moto: Moto, account: str, region: str, a: dict[str, Any], _: Path) -> dict[str, Any]:
    policy = moto.client("iam", account, region).create_policy(
        PolicyName=a["name"], PolicyDocument=a["policy"], Description=a.get("description", "")
    )["Policy"]
    return {"arn": policy["Arn"], "id": policy["Arn"]}


_QUEUE_ATTRIBUTES = {
    "delay_seconds": "DelaySeconds",
    "message_retention_seconds": "MessageRetentionPeriod",
    "visibility_timeout_seconds": "VisibilityTimeout",
    "receive_wait_time_seconds": "ReceiveMessageWaitTimeSeconds",
    "redrive_policy": "RedrivePolicy",
    "redrive_allow_policy": "RedriveAllowPolicy",
    "kms_master_key_id": "KmsMasterKeyId",
    "kms_data_key_reuse_period_seconds": "KmsDataKeyReusePeriodSeconds",
    "sqs_managed_sse_enabled": "SqsManagedSseEnabled",
    "max_message_size": "MaximumMessageSize",
}


def _text(value: Any) -> str:
    return ("true" if value else "false") if isinstance(value, bool) else str(value)


def _create_queue(moto: Moto, account: str, region: str, a: dict[str, Any], _: Path) -> dict[str, Any]:
    unknown = set(a) - set(_QUEUE_ATTRIBUTES) - {"name", "tags"}
    if unknown:
        raise RuntimeError(f"queue {a['name']}: the lab does not know {sorted(unknown)}")
    sqs = moto.client("sqs", account, region)
    url = sqs.create_queue(
        QueueName=a["name"],
        Attributes={_QUEUE_ATTRIBUTES[k]: _text(v) for k, v in a.items() if k in _QUEUE_ATTRIBUTES},
    )["QueueUrl"]
    arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    return {"url": url, "id": url, "arn": arn}


def _create_queue_policy(moto: Moto, account: str, region: str, a: dict[str, Any], _: Path) -> dict[str, Any]:
    moto.client("sqs", account, region).set_queue_attributes(
        QueueUrl=a["queue_url"], Attributes={"Policy": a["policy"]}
    )
    return {}


def _create_table(moto: Moto, account: str, region: str, a: dict[str, Any], _: Path) -> dict[str, Any]:
    ddb = moto.client("dynamodb", account, region)
    keys = [{"AttributeName": a["hash_key"], "KeyType": "HASH"}]
    if a.get("range_key"):
        keys.append({"AttributeName": a["range_key"], "KeyType": "RANGE"})
    request: dict[str, Any] = {
        "TableName": a["name"],
        "AttributeDefinitions": [
            {"AttributeName": x["name"], "AttributeType": x["type"]} for x in a["attribute"]
        ],
        "KeySchema": keys,
        "BillingMode": a.get("billing_mode", "PROVISIONED"),
    }
    sse = a.get("server_side_encryption")
    if sse and sse.get("enabled"):
        request["SSESpecification"] = {
            "Enabled": True,
            "SSEType": "KMS",
            **({"KMSMasterKeyId": sse["kms_key_arn"]} if sse.get("kms_key_arn") else {}),
        }
    table = ddb.create_table(**request)["TableDescription"]
    ttl = a.get("ttl")
    if ttl and ttl.get("enabled"):
        ddb.update_time_to_live(
            TableName=a["name"],
            TimeToLiveSpecification={"Enabled": True, "AttributeName": ttl["attribute_name"]},
        )
    return {"arn": table["TableArn"], "id": a["name"]}


def _create_table_item(moto: Moto, account: str, region: str, a: dict[str, Any], _: Path) -> dict[str, Any]:
    moto.client("dynamodb", account, region).put_item(TableName=a["table_name"], Item=json.loads(a["item"]))
    return {}


def _create_instance_profile(
    moto: Moto, account: str, region: str, a: dict[str, Any], _: Path
) -> dict[str, Any]:
    iam = moto.client("iam", account, region)
    profile = iam.create_instance_profile(InstanceProfileName=a["name"])["InstanceProfile"]
    iam.add_role_to_instance_profile(InstanceProfileName=a["name"], RoleName=a["role"])
    return {"arn": profile["Arn"], "id": a["name"]}


def _create_log_group(moto: Moto, account: str, region: str, a: dict[str, Any], _: Path) -> dict[str, Any]:
    logs = moto.client("logs", account, region)
    logs.create_log_group(logGroupName=a["name"])
    if a.get("retention_in_days"):
        logs.put_retention_policy(logGroupName=a["name"], retentionInDays=int(a["retention_in_days"]))
    return {"arn": f"arn:aws:logs:{region}:{account}:log-group:{a['name']}"}


def _create_alarm(moto: Moto, account: str, region: str, a: dict[str, Any], _: Path) -> dict[str, Any]:
    moto.client("cloudwatch", account, region).put_metric_alarm(
        AlarmName=a["alarm_name"],
        AlarmDescription=a.get("alarm_description", ""),
        ComparisonOperator=a["comparison_operator"],
        EvaluationPeriods=int(a["evaluation_periods"]),
        MetricName=a["metric_name"],
        Namespace=a["namespace"],
        Period=int(a["period"]),
        Statistic=a["statistic"],
        Threshold=float(a["threshold"]),
        TreatMissingData=a.get("treat_missing_data", "missing"),
        Dimensions=[{"Name": k, "Value": v} for k, v in a.get("dimensions", {}).items()],
        AlarmActions=a.get("alarm_actions", []),
    )
    return {}


def _create_bus(moto: Moto, account: str, region: str, a: dict[str, Any], _: Path) -> dict[str, Any]:
    arn = moto.client("events", account, region).create_event_bus(Name=a["name"])["EventBusArn"]
    return {"arn": arn}


def _create_bus_policy(moto: Moto, account: str, region: str, a: dict[str, Any], _: Path) -> dict[str, Any]:
    moto.client("events", account, region).put_permission(
        EventBusName=a["event_bus_name"], Policy=a["policy"]
    )
    return {}


def _create_topic(moto: Moto, account: str, region: str, a: dict[str, Any], _: Path) -> dict[str, Any]:
    attributes = {"KmsMasterKeyId": a["kms_master_key_id"]} if a.get("kms_master_key_id") else {}
    arn = moto.client("sns", account, region).create_topic(Name=a["name"], Attributes=attributes)["TopicArn"]
    return {"arn": arn, "id": arn}


def _create_topic_policy(moto: Moto, account: str, region: str, a: dict[str, Any], _: Path) -> dict[str, Any]:
    moto.client("sns", account, region).set_topic_attributes(
        TopicArn=a["arn"], AttributeName="Policy", AttributeValue=a["policy"]
    )
    return {}


def _create_subscription(moto: Moto, account: str, region: str, a: dict[str, Any], _: Path) -> dict[str, Any]:
    attributes = {"RawMessageDelivery": _text(bool(a.get("raw_message_delivery", False)))}
    if a.get("redrive_policy"):
        attributes["RedrivePolicy"] = a["redrive_policy"]
    arn = moto.client("sns", account, region).subscribe(
        TopicArn=a["topic_arn"],
        Protocol=a["protocol"],
        Endpoint=a["endpoint"],
        Attributes=attributes,
        ReturnSubscriptionArn=True,
    )["SubscriptionArn"]
    return {"arn": arn}


def _create_rule(moto: Moto, account: str, region: str, a: dict[str, Any], _: Path) -> dict[str, Any]:
    arn = moto.client("events", account, region).put_rule(
        Name=a["name"],
        EventBusName=a.get("event_bus_name", "default"),
        EventPattern=a["event_pattern"],
        Description=a.get("description", ""),
        State=a.get("state", "ENABLED"),
    )["RuleArn"]
    return {"arn": arn, "event_bus_name": a.get("event_bus_name", "default")}


def _create_target(moto: Moto, account: str, region: str, a: dict[str, Any], _: Path) -> dict[str, Any]:
    target: dict[str, Any] = {"Id": a["target_id"], "Arn": a["arn"]}
    if a.get("role_arn"):
        target["RoleArn"] = a["role_arn"]
    if a.get("dead_letter_config"):
        target["DeadLetterConfig"] = {"Arn": a["dead_letter_config"]["arn"]}
    if a.get("retry_policy"):
        policy = a["retry_policy"]
        target["RetryPolicy"] = {
            "MaximumRetryAttempts": int(policy["maximum_retry_attempts"]),
            "MaximumEventAgeInSeconds": int(policy["maximum_event_age_in_seconds"]),
        }
    result = moto.client("events", account, region).put_targets(
        Rule=a["rule"], EventBusName=a.get("event_bus_name", "default"), Targets=[target]
    )
    if result.get("FailedEntryCount"):
        raise RuntimeError(f"put_targets failed: {result['FailedEntries']}")
    return {}


def _create_document(moto: Moto, account: str, region: str, a: dict[str, Any], _: Path) -> dict[str, Any]:
    moto.client("ssm", account, region).create_document(
        Content=a["content"],
        Name=a["name"],
        DocumentType=a.get("document_type", "Command"),
        DocumentFormat=a.get("document_format", "JSON"),
        TargetType=a.get("target_type", "/"),
    )
    return {"arn": f"arn:aws:ssm:{region}:{account}:document/{a['name']}"}


def _record_function(
    moto: Moto, account: str, region: str, a: dict[str, Any], folder: Path
) -> dict[str, Any]:
    # Not created in moto (it would need Docker to run); LambdaContainer runs it.
    return {
        "arn": f"arn:aws:lambda:{region}:{account}:function:{a['function_name']}",
        "artifact": str(folder / a["filename"]),
    }


def _record_mapping(moto: Moto, account: str, region: str, a: dict[str, Any], _: Path) -> dict[str, Any]:
    return {}  # EventSourceMapping polls the queue


CREATORS: dict[str, Callable[[Moto, str, str, dict[str, Any], Path], dict[str, Any]]] = {
    "aws_kms_key": _create_kms_key,
    "aws_kms_alias": _create_kms_alias,
    "aws_iam_role": _create_role,
    "aws_iam_role_policy": _create_role_policy,
    "aws_iam_policy": _create_policy,
    "aws_sqs_queue": _create_queue,
    "aws_sqs_queue_policy": _create_queue_policy,
    "aws_dynamodb_table": _create_table,
    "aws_dynamodb_table_item": _create_table_item,
    "aws_iam_instance_profile": _create_instance_profile,
    "aws_cloudwatch_log_group": _create_log_group,
    "aws_cloudwatch_metric_alarm": _create_alarm,
    "aws_cloudwatch_event_bus": _create_bus,
    "aws_cloudwatch_event_bus_policy": _create_bus_policy,
    "aws_sns_topic": _create_topic,
    "aws_sns_topic_policy": _create_topic_policy,
    "aws_sns_topic_subscription": _create_subscription,
    "aws_cloudwatch_event_rule": _create_rule,
    "aws_cloudwatch_event_target": _create_target,
    "aws_ssm_document": _create_document,
    "aws_lambda_function": _record_function,
    "aws_lambda_event_source_mapping": _record_mapping,
}


# --- EventBridge delivery (stand-in 1) -----------------------------------------------------------------


def _arn_parts(arn: str) -> tuple[str, str, str, str]:
    """(service, region, account, resource) of an ARN."""
    _, _, service, region, account, resource = arn.split(":", 5)
    return service, region, account, resource


class Router:
    """Delivers an event on a bus to the targets of the matching rules, as deployed in moto."""

    def __init__(self, moto: Moto, timeline: Timeline) -> None:
        self.moto = moto
        self.timeline = timeline

    def put(self, account: str, region: str, bus: str, event: dict[str, Any], hops: int = 0) -> int:
        """Returns how many targets received the event (over every hop)."""
        from moto.events.models import EventPattern

        if hops > 5:
            raise RuntimeError("event loop between buses")
        events = self.moto.client("events", account, region)
        delivered = 0
        for rule in events.list_rules(EventBusName=bus)["Rules"]:
            if rule.get("State") != "ENABLED" or not rule.get("EventPattern"):
                continue
            if not EventPattern.load(rule["EventPattern"]).matches_event(event):  # type: ignore[arg-type]
                continue
            targets = events.list_targets_by_rule(Rule=rule["Name"], EventBusName=bus)["Targets"]
            for target in targets:
                delivered += self._deliver(target["Arn"], event, f"{account}/{region}/{bus}", hops)
        return delivered

    def _deliver(self, arn: str, event: dict[str, Any], origin: str, hops: int) -> int:
        service, region, account, resource = _arn_parts(arn)
        body = json.dumps(event, separators=(",", ":"))
        if service == "events" and resource.startswith("event-bus/"):
            bus = resource.split("/", 1)[1]
            self.timeline.note("eventbridge", f"{origin} -> bus {account}/{region}/{bus}")
            return 1 + self.put(account, region, bus, event, hops + 1)
        if service == "sqs":
            sqs = self.moto.client("sqs", account, region)
            url = sqs.get_queue_url(QueueName=resource, QueueOwnerAWSAccountId=account)["QueueUrl"]
            sqs.send_message(QueueUrl=url, MessageBody=body)
            self.timeline.note("eventbridge", f"{origin} -> queue {resource}")
            return 1
        if service == "sns":
            self.moto.client("sns", account, region).publish(TopicArn=arn, Message=body)
            self.timeline.note("eventbridge", f"{origin} -> SNS topic {region}/{resource} (-> home queue)")
            return 1
        raise RuntimeError(f"the lab cannot deliver to {arn}")


def ec2_state_event(account: str, region: str, instance_id: str, state: str) -> dict[str, Any]:
    return {
        "version": "0",
        "id": str(uuid.uuid4()),
        "detail-type": EC2_STATE[1],
        "source": EC2_STATE[0],
        "account": account,
        "time": now_iso(),
        "region": region,
        "resources": [f"arn:aws:ec2:{region}:{account}:instance/{instance_id}"],
        "detail": {"instance-id": instance_id, "state": state},
    }


def command_status_event(
    account: str, region: str, instance_id: str, command: Mapping[str, Any], status: str
) -> dict[str, Any]:
    requested = command.get("RequestedDateTime")
    if isinstance(requested, datetime):
        requested = requested.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.000Z")
    return {
        "version": "0",
        "id": str(uuid.uuid4()),
        "detail-type": SSM_STATUS[1],
        "source": SSM_STATUS[0],
        "account": account,
        "time": now_iso(),
        "region": region,
        "resources": [f"arn:aws:ec2:{region}:{account}:instance/{instance_id}"],
        "detail": {
            "command-id": command["CommandId"],
            "document-name": command["DocumentName"],
            "instance-id": instance_id,
            "requested-date-time": str(requested),
            "status": status,
        },
    }


# --- Lambda (stand-in 5) -------------------------------------------------------------------------------

RUNTIME = r"""
import importlib, json, os, sys, time, traceback, uuid
module_name, function_name = sys.argv[1].rsplit(".", 1)
replies = os.fdopen(int(sys.argv[2]), "w")
timeout = int(os.environ["LAB_FUNCTION_TIMEOUT"])
handler = getattr(importlib.import_module(module_name), function_name)

class Context:
    def __init__(self):
        self.function_name = os.environ["AWS_LAMBDA_FUNCTION_NAME"]
        self.function_version = "$LATEST"
        self.invoked_function_arn = os.environ["LAB_FUNCTION_ARN"]
        self.memory_limit_in_mb = int(os.environ["AWS_LAMBDA_FUNCTION_MEMORY_SIZE"])
        self.aws_request_id = str(uuid.uuid4())
        self.log_group_name = os.environ["AWS_LAMBDA_LOG_GROUP_NAME"]
        self.log_stream_name = "lab"
        self._deadline = time.time() + timeout
    def get_remaining_time_in_millis(self):
        return max(0, int((self._deadline - time.time()) * 1000))

for line in sys.stdin:
    try:
        reply = {"response": handler(json.loads(line), Context())}
    except Exception:
        reply = {"error": traceback.format_exc()}
    replies.write(json.dumps(reply) + "\n")
    replies.flush()
"""


class LambdaContainer:
    """One warm container of the synthesized function, running the artifact's code."""

    def __init__(self, moto: Moto, function: Resource, workdir: Path) -> None:
        a = function.attributes
        code = workdir / "function"
        shutil.rmtree(code, ignore_errors=True)
        with zipfile.ZipFile(a["artifact"]) as archive:
            archive.extractall(code)
        credentials = moto.role_credentials(a["role"], session=a["function_name"])
        env = {
            "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
            "LANG": "C.UTF-8",
            "PYTHONPATH": str(code),
            "PYTHONDONTWRITEBYTECODE": "1",
            **a.get("environment", {}).get("variables", {}),
            "AWS_REGION": function.region,
            "AWS_DEFAULT_REGION": function.region,
            "AWS_LAMBDA_FUNCTION_NAME": a["function_name"],
            "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": str(a.get("memory_size", 128)),
            "AWS_LAMBDA_LOG_GROUP_NAME": a.get("logging_config", {}).get("log_group", ""),
            "AWS_EXECUTION_ENV": f"AWS_Lambda_{a.get('runtime', 'python')}",
            "AWS_ACCESS_KEY_ID": credentials["aws_access_key_id"],
            "AWS_SECRET_ACCESS_KEY": credentials["aws_secret_access_key"],
            "AWS_SESSION_TOKEN": credentials["aws_session_token"],
            "AWS_ENDPOINT_URL": moto.url,
            "LAB_FUNCTION_ARN": a["arn"],
            "LAB_FUNCTION_TIMEOUT": str(a.get("timeout", 3)),
        }
        self.environment = env
        self.log_path = workdir / "function.log"
        read_end, write_end = os.pipe()
        self._log = self.log_path.open("ab")
        self.process = subprocess.Popen(
            [sys.executable, "-c", RUNTIME, a["handler"], str(write_end)],
            cwd=code,
            env=env,
            stdin=subprocess.PIPE,
            stdout=self._log,
            stderr=subprocess.STDOUT,
            pass_fds=(write_end,),
            text=True,
        )
        os.close(write_end)
        self._replies = os.fdopen(read_end, "r")
        self._offset = 0

    def invoke(self, event: dict[str, Any]) -> dict[str, Any]:
        assert self.process.stdin is not None
        self.process.stdin.write(json.dumps(event) + "\n")
        self.process.stdin.flush()
        line = self._replies.readline()
        if not line:
            raise RuntimeError(f"the function's container died: {self.log_path.read_text()[-3000:]}")
        return dict(json.loads(line))

    def new_log_lines(self) -> list[dict[str, Any]]:
        """The JSON log lines the function wrote since the last call."""
        with self.log_path.open("rb") as log:
            log.seek(self._offset)
            data = log.read()
            self._offset += len(data)
        lines = []
        for raw in data.decode(errors="replace").splitlines():
            with contextlib.suppress(ValueError):
                parsed = json.loads(raw)
                if isinstance(parsed, dict):
                    lines.append(parsed)
        return lines

    def close(self) -> None:
        with contextlib.suppress(Exception):
            assert self.process.stdin is not None
            self.process.stdin.close()
        self.process.kill()
        self.process.wait(timeout=10)
        self._replies.close()
        self._log.close()


class EventSourceMapping(threading.Thread):
    """Lambda's SQS poller for the synthesized mapping: receive, invoke, delete what succeeded."""

    def __init__(
        self, moto: Moto, mapping: Resource, queue: Resource, container: LambdaContainer, timeline: Timeline
    ) -> None:
        super().__init__(name="esm", daemon=True)
        self.sqs = moto.client("sqs", queue.account, queue.region)
        self.queue_url = queue.attributes["url"]
        self.queue_arn = queue.attributes["arn"]
        self.region = queue.region
        self.batch_size = int(mapping.attributes.get("batch_size", 10))
        self.window = float(mapping.attributes.get("maximum_batching_window_in_seconds", 0))
        self.report_failures = "ReportBatchItemFailures" in mapping.attributes.get(
            "function_response_types", []
        )
        self.container = container
        self.timeline = timeline
        self.stopping = threading.Event()
        self.lock = threading.Lock()  # held while invoking: the container may be recycled in between
        self.invocations: list[tuple[float, dict[str, Any], dict[str, Any]]] = []
        self.errors: list[str] = []

    def _receive(self, count: int) -> list[dict[str, Any]]:
        return list(
            self.sqs.receive_message(
                QueueUrl=self.queue_url,
                MaxNumberOfMessages=count,
                WaitTimeSeconds=1,
                MessageSystemAttributeNames=["All"],
                MessageAttributeNames=["All"],
            ).get("Messages", [])
        )

    def record(self, message: dict[str, Any]) -> dict[str, Any]:
        attributes = {
            k: v
            for k, v in message.get("Attributes", {}).items()
            if k
            in ("ApproximateReceiveCount", "SentTimestamp", "SenderId", "ApproximateFirstReceiveTimestamp")
        }
        message_attributes = {
            name: {
                "stringValue": value.get("StringValue"),
                "binaryValue": value.get("BinaryValue"),
                "stringListValues": [],
                "binaryListValues": [],
                "dataType": value["DataType"],
            }
            for name, value in message.get("MessageAttributes", {}).items()
        }
        return {
            "messageId": message["MessageId"],
            "receiptHandle": message["ReceiptHandle"],
            "body": message["Body"],
            "attributes": attributes,
            "messageAttributes": message_attributes,
            "md5OfBody": hashlib.md5(message["Body"].encode()).hexdigest(),  # noqa: S324 - SQS's checksum
            "eventSource": "aws:sqs",
            "eventSourceARN": self.queue_arn,
            "awsRegion": self.region,
        }

    def run(self) -> None:
        while not self.stopping.is_set():
            try:
                self._poll_once()
            except Exception as error:  # keep polling, as Lambda does; tests see the errors
                self.errors.append(repr(error))
                self.timeline.note("lambda", f"poller error: {error!r}")
                time.sleep(0.5)

    def _poll_once(self) -> None:
        with self.lock:
            self._poll_locked()

    def _poll_locked(self) -> None:
        messages = self._receive(self.batch_size)
        if not messages:
            return
        window_end = time.monotonic() + self.window
        while (
            len(messages) < self.batch_size and time.monotonic() < window_end and not self.stopping.is_set()
        ):
            messages += self._receive(self.batch_size - len(messages))
        event = {"Records": [self.record(m) for m in messages]}
        self.timeline.note("lambda", f"invoke with {len(messages)} record(s)")
        started = time.time()
        reply = self.container.invoke(event)
        for line in self.container.new_log_lines():
            if line.get("message") and line.get("level") in ("INFO", "WARNING", "ERROR"):
                self.timeline.note("handler", f"{line['level']}: {line['message']}")
        self.invocations.append((started, event, reply))
        if "error" in reply:
            self.timeline.note(
                "lambda", "invocation failed: every record comes back after its visibility timeout"
            )
            self.errors.append(reply["error"])
            return
        response = reply.get("response") or {}
        failed = (
            {f["itemIdentifier"] for f in response.get("batchItemFailures", [])}
            if self.report_failures
            else set()
        )
        done = [m for m in messages if m["MessageId"] not in failed]
        if done:
            self.sqs.delete_message_batch(
                QueueUrl=self.queue_url,
                Entries=[{"Id": str(i), "ReceiptHandle": m["ReceiptHandle"]} for i, m in enumerate(done)],
            )
        self.timeline.note("lambda", f"{len(done)} deleted, {len(failed)} back to the queue for a retry")


# --- the EC2 side of a machine (stand-in 6) ------------------------------------------------------------

IMDS_SERVER = r"""
import http.server, secrets, sys
import json
instance_id, region, account, token = sys.argv[1], sys.argv[2], sys.argv[3], secrets.token_hex(16)
identity = {"accountId": account, "region": region, "instanceId": instance_id, "architecture": "x86_64"}
paths = {
    "/latest/meta-data/instance-id": instance_id,
    "/latest/meta-data/placement/region": region,
    "/latest/dynamic/instance-identity/document": json.dumps(identity, indent=2),
}
class Imds(http.server.BaseHTTPRequestHandler):
    def log_message(self, *args):
        pass
    def reply(self, code, body=b""):
        self.send_response(code); self.send_header("Content-Length", str(len(body))); self.end_headers()
        self.wfile.write(body)
    def do_PUT(self):
        ok = self.path == "/latest/api/token" and self.headers.get("X-aws-ec2-metadata-token-ttl-seconds")
        self.reply(200, token.encode()) if ok else self.reply(400)
    def do_GET(self):
        if self.headers.get("X-aws-ec2-metadata-token") != token:
            return self.reply(401)
        found = paths.get(self.path)
        self.reply(200, found.encode()) if found is not None else self.reply(404)
http.server.ThreadingHTTPServer(("169.254.169.254", 80), Imds).serve_forever()
"""

# Inside a machine: 127.0.0.1:PORT -> a Unix socket, which the host side relays to moto.
RELAY_IN_MACHINE = r"""
import socket, sys, threading
port, path = int(sys.argv[1]), sys.argv[2]
def pipe(a, b):
    try:
        while data := a.recv(65536):
            b.sendall(data)
    except OSError:
        pass
    finally:
        for s in (a, b):
            try: s.shutdown(socket.SHUT_RDWR)
            except OSError: pass
server = socket.create_server(("127.0.0.1", port))
while True:
    client, _ = server.accept()
    upstream = socket.socket(socket.AF_UNIX); upstream.connect(path)
    threading.Thread(target=pipe, args=(client, upstream), daemon=True).start()
    threading.Thread(target=pipe, args=(upstream, client), daemon=True).start()
"""

AWS_CLI_STANDIN = r"""#!@PYTHON@
# The lab's stand-in for the AWS CLI on a machine: only the calls the scripts make, exactly as they make them.
import base64
import json
import sys
import boto3
args = sys.argv[1:]
calls = {
    ("ssm", "get-parameter"): (("--region", "--name", "--query", "--output"), "Parameter.Value"),
    ("kms", "decrypt"): (("--region", "--key-id", "--encryption-context", "--ciphertext-blob", "--query",
                          "--output"), "Plaintext"),
}
usage = ("only `aws ssm get-parameter [--region R] --name N --with-decryption --query Parameter.Value "
         "--output text` and `aws kms decrypt --region R --key-id K --encryption-context JSON "
         "--ciphertext-blob fileb:///dev/stdin --query Plaintext --output text`")
call = tuple(args[:2])
if call not in calls:
    sys.exit(f"lab aws stand-in: {usage}")
known, query = calls[call]
options, i = {}, 2
while i < len(args):
    if args[i] == "--with-decryption" and call[0] == "ssm":
        options["decrypt"] = True; i += 1
    elif args[i] in known and i + 1 < len(args):
        options[args[i]] = args[i + 1]; i += 2
    else:
        sys.exit(f"lab aws stand-in: unexpected {args[i]!r}; {usage}")
if (options.get("--query"), options.get("--output")) != (query, "text"):
    sys.exit(f"lab aws stand-in: {usage}")
client = boto3.client(call[0], region_name=options.get("--region") or "@REGION@", endpoint_url="@ENDPOINT@",
                      aws_access_key_id="@KEY@", aws_secret_access_key="@SECRET@",
                      aws_session_token="@TOKEN@")
try:
    if call[0] == "ssm":
        if "--name" not in options:
            sys.exit(f"lab aws stand-in: {usage}")
        value = client.get_parameter(Name=options["--name"], WithDecryption=bool(options.get("decrypt")))
        print(value["Parameter"]["Value"])
    else:
        if options.get("--ciphertext-blob") != "fileb:///dev/stdin" or "--region" not in options:
            sys.exit(f"lab aws stand-in: {usage}")
        opened = client.decrypt(
            KeyId=options["--key-id"],
            EncryptionContext=json.loads(options["--encryption-context"]),
            CiphertextBlob=sys.stdin.buffer.read(),
        )
        print(base64.b64encode(opened["Plaintext"]).decode())
except Exception as error:
    sys.exit(f"An error occurred: {error}")
"""


def _pipe(a: socket.socket, b: socket.socket) -> None:
    try:
        while data := a.recv(65536):
            b.sendall(data)
    except OSError:
        pass
    finally:
        for s in (a, b):
            with contextlib.suppress(OSError):
                s.shutdown(socket.SHUT_RDWR)


class HostRelay(threading.Thread):
    """Unix socket (reachable from every machine through the shared work folder) -> moto on 127.0.0.1."""

    def __init__(self, path: Path, port: int) -> None:
        super().__init__(name="relay", daemon=True)
        self.path, self.port = path, port
        self.server = socket.socket(socket.AF_UNIX)
        self.server.bind(str(path))
        self.server.listen(16)

    def run(self) -> None:
        while True:
            try:
                client, _ = self.server.accept()
            except OSError:
                return
            upstream = socket.create_connection(("127.0.0.1", self.port))
            threading.Thread(target=_pipe, args=(client, upstream), daemon=True).start()
            threading.Thread(target=_pipe, args=(upstream, client), daemon=True).start()

    def close(self) -> None:
        with contextlib.suppress(OSError):
            self.server.close()


def start_imds(lab: Lab, machine: Machine, instance_id: str, region: str, account: str) -> None:
    added = machine.run(["ip", "addr", "add", f"{IMDS_ADDRESS}/32", "dev", "lo"])
    if added.returncode != 0:
        raise RuntimeError(f"IMDS address on {machine.name}: {added.stderr}")
    lab.processes.append(
        machine.popen(
            [sys.executable, "-c", IMDS_SERVER, instance_id, region, account],
            log=lab.workdir / f"imds-{machine.name}.log",
        )
    )
    for _ in range(100):
        probe = machine.run(
            ["curl", "-fsS", "-X", "PUT", "-H", "X-aws-ec2-metadata-token-ttl-seconds: 5",
             f"http://{IMDS_ADDRESS}/latest/api/token"]
        )  # fmt: skip
        if probe.returncode == 0:
            return
        time.sleep(0.1)
    raise RuntimeError(f"IMDS on {machine.name} did not start")


# --- the SSM agent (stand-in 4) ------------------------------------------------------------------------


@dataclass
class CommandRun:
    command_id: str
    document: str
    exit_code: int
    started: float
    finished: float
    output: str
    parameters: dict[str, str] = field(default_factory=dict)  # as the agent exported them (SSM_ stripped)


@dataclass
class Instance:
    account: str
    region: str
    instance_id: str
    machine: Machine
    agent: Agent | None = None

    @property
    def runs(self) -> list[CommandRun]:
        return list(self.agent.runs) if self.agent else []


class Agent(threading.Thread):
    """SSM Agent on one instance: runs the Linux step of each command sent to it, in order."""

    def __init__(self, world: World, instance: Instance, extra_env: Mapping[str, str] | None = None) -> None:
        super().__init__(name=f"agent-{instance.instance_id}", daemon=True)
        self.world = world
        self.instance = instance
        self.extra_env = dict(extra_env or {})
        self.ssm = world.moto.client("ssm", instance.account, instance.region)
        self.seen: set[str] = set()
        self.runs: list[CommandRun] = []
        self.stopping = threading.Event()
        self.paused = threading.Event()  # a stopped instance's agent does not run commands

    def run(self) -> None:
        while not self.stopping.wait(0.3):
            if self.paused.is_set():
                continue
            try:
                commands = self.ssm.list_commands(InstanceId=self.instance.instance_id)["Commands"]
            except Exception as error:  # moto restarting at teardown
                self.world.timeline.note(
                    "agent", f"{self.instance.instance_id}: list_commands failed: {error!r}"
                )
                continue
            for command in sorted(commands, key=lambda c: c["RequestedDateTime"]):
                if command["CommandId"] not in self.seen and not self.stopping.is_set():
                    self.seen.add(command["CommandId"])
                    self.execute(command)

    def execute(self, command: dict[str, Any]) -> None:
        instance = self.instance
        name = command["DocumentName"]
        content = json.loads(self.ssm.get_document(Name=name)["Content"])
        step = next(
            s
            for s in content["mainSteps"]
            if s.get("precondition", {}).get("StringEquals") == ["platformType", "Linux"]
        )
        if step["action"] != "aws:runShellScript":
            raise RuntimeError(f"{name}: the Linux step is {step['action']}")
        given = command.get("Parameters", {})
        env = dict(self.extra_env)
        for parameter, declaration in content.get("parameters", {}).items():
            if declaration.get("interpolationType") != "ENV_VAR":
                raise RuntimeError(f"{name}: parameter {parameter} is not ENV_VAR")
            values = given.get(parameter)
            value = values[0] if values else declaration.get("default")
            if value is None:
                raise RuntimeError(f"{name}: required parameter {parameter} missing")
            env[f"SSM_{parameter}"] = value
        folder = self.world.workdir / "ssm" / instance.instance_id
        folder.mkdir(parents=True, exist_ok=True)
        script = folder / f"{command['CommandId']}.sh"
        script.write_text("\n".join(step["inputs"]["runCommand"]) + "\n")
        self.world.timeline.note("agent", f"{instance.instance_id} runs {name} ({command['CommandId'][:8]})")
        started = time.time()
        timeout = float(step["inputs"].get("timeoutSeconds", 3600))
        try:
            result = instance.machine.run(["sh", str(script)], env=env, timeout=timeout)
            code, output = result.returncode, result.stdout + result.stderr
        except subprocess.TimeoutExpired:
            code, output = 124, "timed out"
        parameters = {k[len("SSM_") :]: v for k, v in env.items() if k.startswith("SSM_")}
        self.runs.append(
            CommandRun(command["CommandId"], name, code, started, time.time(), output, parameters)
        )
        status = "Success" if code == 0 else ("TimedOut" if code == 124 else "Failed")
        self.world.timeline.note("agent", f"{instance.instance_id} {name} -> {status} (exit {code})")
        (folder / f"{command['CommandId']}.out").write_text(output)
        if status != "Success":
            event = command_status_event(
                instance.account, instance.region, instance.instance_id, command, status
            )
            self.world.router.put(instance.account, instance.region, "default", event)


# --- logins on a joined instance -----------------------------------------------------------------------


def start_sssd(lab: Lab, machine: Machine) -> None:
    """sssd inside the instance (the lab has no systemd), and a PAM service on the stack the join enabled."""
    machine.path("/etc/pam.d/djtest").write_text("@include common-auth\n@include common-account\n")
    log = lab.workdir / f"sssd-{machine.name}.log"
    lab.processes.append(machine.popen(["sssd", "-i", "--logger=stderr"], log=log))
    for _ in range(120):
        if machine.run(["getent", "passwd", lab.member]).returncode == 0:
            return
        time.sleep(0.5)
    raise RuntimeError("sssd did not resolve domain users: " + log.read_text()[-2000:])


def pam_login(machine: Machine, user: str, password: str) -> subprocess.CompletedProcess[str]:
    return machine.run(["pamtester", "djtest", user, "authenticate", "acct_mgmt"], input=password + "\n")


def keytab_works(machine: Machine, computer_name: str) -> subprocess.CompletedProcess[str]:
    return machine.run(["kinit", "-k", f"{computer_name}$@{REALM}"], env={"KRB5CCNAME": "MEMORY:"})


# --- the world -----------------------------------------------------------------------------------------


def start_lab(workdir: Path, timeline: Timeline) -> Lab:
    """The Samba AD lab as tests/scripts/conftest.py provisions it (a DC and a tools host)."""
    # Its own suffix: the script suite's lab (same process, suffix = pid) may be up at the same time.
    lab = Lab.start(workdir, suffix=f"e{os.getpid() % 10000}")
    timeline.note("directory", f"Samba AD DC serving {DOMAIN} ({OU_DN})")
    return lab


class World:
    """The Organization in moto, the stacks deployed into it, the AD lab, agents, and the Lambda poller."""

    moto: Moto  # set by start()

    def __init__(self, workdir: Path | None = None, echo: bool = False) -> None:
        self.timeline = Timeline(echo=echo)
        self.workdir = workdir or Path(tempfile.mkdtemp(prefix="ec2-domain-join-e2e-", dir="/var/tmp"))
        self.workdir.chmod(0o755)
        self.lab: Lab | None = None
        self.instances: dict[str, Instance] = {}
        self._closers: list[Callable[[], None]] = []
        self._count = 0
        self._relay: HostRelay | None = None
        self._workload_profiles: dict[str, tuple[str, str]] = {}

    # --- bring-up ----------------------------------------------------------------------------------
    def start(self) -> World:
        try:
            self._start()
        except BaseException:
            self.close()
            raise
        return self

    def _start(self) -> None:
        synth, outdir = start_synth(self.workdir)
        self._closers.append(lambda: synth.kill() if synth.poll() is None else None)
        self.timeline.note("world", "synthesizing the lab landing zone (modules.stacks.build_app)")
        self.moto = Moto()
        self._closers.append(self.moto.stop)
        self.timeline.note("world", f"moto server on {self.moto.url}")
        lab_dir = self.workdir / "ad"
        lab_dir.mkdir()
        lab_dir.chmod(0o755)
        self.lab = start_lab(lab_dir, self.timeline)
        self._closers.append(self.lab.close)
        if synth.wait(timeout=600) != 0:
            raise RuntimeError("synth failed: " + (self.workdir / "synth.log").read_text()[-4000:])
        self.timeline.note(
            "world", f"synthesized {', '.join(sorted(p.name for p in (outdir / 'stacks').iterdir()))}"
        )
        self.deployment = Deployment(self.moto, outdir)
        self.deployment.apply_all()
        self.timeline.note("world", f"deployed {len(self.deployment.resources)} resources into moto")
        self.router = Router(self.moto, self.timeline)
        self._seed()
        self._start_tools_host()
        self._start_lambda()

    @property
    def function(self) -> Resource:
        (function,) = self.deployment.of_type("aws_lambda_function")
        return function

    def _table(self, variable: str) -> str:
        return str(self.function.attributes["environment"]["variables"][variable])

    def _seed(self) -> None:
        """What the teams provide out of band: the join user's SecureString (never in Terraform state)."""
        assert self.lab is not None
        if self.lab.join_user != JOIN_USER:
            raise RuntimeError(
                f"the landing zone names {JOIN_USER}, the lab delegates to {self.lab.join_user}"
            )
        self.moto.client("ssm", SECURITY_ACCOUNT, HOME_REGION).put_parameter(
            Name=PASSWORD_PARAMETER, Value=self.lab.join_password, Type="SecureString"
        )
        items = len(self.deployment.of_type("aws_dynamodb_table_item"))
        self.timeline.note("world", f"join password stored; {items} config items written by the hub stack")

    def _aws_cli(self, machine: Machine, role_arn: str, region: str) -> str:
        """The machine's AWS CLI (stand-in 6) acting with the role's credentials, as an instance profile
        gives them, through a relay into moto; returns the PATH that finds it."""
        assert self.lab is not None
        credentials = self.moto.role_credentials(role_arn, session=machine.name)
        if self._relay is None:
            self._relay = HostRelay(self.workdir / "aws.sock", self.moto.port)
            self._relay.start()
            self._closers.append(self._relay.close)
        self.lab.processes.append(
            machine.popen(
                [sys.executable, "-c", RELAY_IN_MACHINE, str(RELAY_PORT), str(self._relay.path)],
                log=self.workdir / f"relay-{machine.name}.log",
            )
        )
        bin_dir = self.workdir / f"bin-{machine.name}"
        bin_dir.mkdir()
        cli = bin_dir / "aws"
        text = AWS_CLI_STANDIN
        for placeholder, value in {
            "@PYTHON@": sys.executable,
            "@REGION@": region,
            "@ENDPOINT@": f"http://127.0.0.1:{RELAY_PORT}",
            "@KEY@": credentials["aws_access_key_id"],
            "@SECRET@": credentials["aws_secret_access_key"],
            "@TOKEN@": credentials["aws_session_token"],
        }.items():
            text = text.replace(placeholder, value)
        cli.write_text(text)
        cli.chmod(0o700)
        return f"{bin_dir}:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"

    def _start_tools_host(self) -> None:
        assert self.lab is not None
        # Its instance profile as the hub stack created it; the lab hands the role's credentials to the CLI.
        (profile,) = self.deployment.of_type("aws_iam_instance_profile")
        role = self.moto.client("iam", profile.account, profile.region).get_role(
            RoleName=profile.attributes["role"]
        )["Role"]
        tools = self.lab.tools
        path = self._aws_cli(tools, role["Arn"], HOME_REGION)
        self.tools_host = self._instance(
            SECURITY_ACCOUNT,
            HOME_REGION,
            tools,
            tags={TOOLS_HOST_TAG[0]: TOOLS_HOST_TAG[1], "Name": "ad-tools-host"},
            agent_env={"PATH": path},
            agent_delay=0.0,
            announce=False,
            instance_profile_arn=str(profile.attributes["arn"]),
        )
        self.timeline.note("world", f"AD tools host {self.tools_host.instance_id} (tagged, agent Online)")

    def _start_lambda(self) -> None:
        (mapping,) = self.deployment.of_type("aws_lambda_event_source_mapping")
        queue = next(
            q
            for q in self.deployment.of_type("aws_sqs_queue")
            if q.attributes["arn"] == mapping.attributes["event_source_arn"]
        )
        self.container = LambdaContainer(self.moto, self.function, self.workdir)
        self._closers.append(self.container.close)
        self.esm = EventSourceMapping(self.moto, mapping, queue, self.container, self.timeline)
        self.esm.start()
        self._closers.append(self.esm.stopping.set)
        self.timeline.note(
            "world",
            f"function {self.function.attributes['function_name']} polling {queue.attributes['name']}",
        )

    def recycle_lambda(self) -> None:
        """A new (cold) container: no cached config items or tools host, as after a Lambda scale-out."""
        with self.esm.lock:
            self.esm.container.close()
            self.container = LambdaContainer(self.moto, self.function, self.workdir)
            self.esm.container = self.container
            self._closers.append(self.container.close)
        self.timeline.note("lambda", "new container (cold start)")

    # --- instances ---------------------------------------------------------------------------------
    def _instance(
        self,
        account: str,
        region: str,
        machine: Machine,
        tags: Mapping[str, str],
        agent_env: Mapping[str, str] | None = None,
        agent_delay: float = 0.0,
        announce: bool = True,
        instance_profile_arn: str | None = None,
    ) -> Instance:
        ec2 = self.moto.client("ec2", account, region)
        # The handler accepts as tools host only an instance with the tools-host profile (issue 9).
        profile: dict[str, Any] = (
            {"IamInstanceProfile": {"Arn": instance_profile_arn}} if instance_profile_arn else {}
        )
        reservation = ec2.run_instances(
            **profile,
            ImageId=AMI,
            InstanceType="t3.micro",
            MinCount=1,
            MaxCount=1,
            TagSpecifications=[
                {"ResourceType": "instance", "Tags": [{"Key": k, "Value": v} for k, v in tags.items()]}
            ]
            if tags
            else [],
        )
        instance_id = reservation["Instances"][0]["InstanceId"]
        assert self.lab is not None
        start_imds(self.lab, machine, instance_id, region, account)
        instance = Instance(account, region, instance_id, machine)
        instance.agent = Agent(self, instance, agent_env)
        instance.agent.start()
        self._closers.append(instance.agent.stopping.set)
        AGENTS.register(account, region, AgentInfo(instance_id, time.time() + agent_delay))
        self.instances[instance_id] = instance
        if announce:
            self.timeline.note("ec2", f"{account}/{region} launched {instance_id} tags={dict(tags)}")
            self._emit_state(instance, "pending")
            self._emit_state(instance, "running")
        return instance

    def launch(
        self,
        account: str = SPOKE_ACCOUNT,
        region: str = HOME_REGION,
        tags: Mapping[str, str] | None = None,
        agent_delay: float = 0.0,
        instance_role: bool = False,
    ) -> Instance:
        """A Linux instance in a spoke: a new lab machine, a moto instance, its agent, its `running` event.
        `instance_role`: with the team's workload instance profile (`workload_profile`) and the AWS CLI
        acting with its role."""
        assert self.lab is not None
        self._count += 1
        machine = self.lab.new_instance(f"i{self._count}")
        if tags is None:
            tags = {"adGroupName": self.lab.login_group}
        if not instance_role:
            return self._instance(account, region, machine, tags, agent_delay=agent_delay)
        role_arn, profile_arn = self.workload_profile(account)
        path = self._aws_cli(machine, role_arn, region)
        return self._instance(
            account,
            region,
            machine,
            tags,
            agent_env={"PATH": path},
            agent_delay=agent_delay,
            instance_profile_arn=profile_arn,
        )

    def workload_profile(self, account: str) -> tuple[str, str]:
        """(role ARN, instance profile ARN) of the workloads' instance role in a spoke, as a team makes it
        (stand-in 7): trusted by EC2, with the spoke stack's unseal policy attached when it has one."""
        if account in self._workload_profiles:
            return self._workload_profiles[account]
        iam = self.moto.client("iam", account, HOME_REGION)
        trust = {
            "Version": "2012-10-17",
            "Statement": [
                {"Effect": "Allow", "Principal": {"Service": "ec2.amazonaws.com"}, "Action": "sts:AssumeRole"}
            ],
        }
        role = iam.create_role(RoleName=WORKLOAD_ROLE, AssumeRolePolicyDocument=json.dumps(trust))["Role"]
        for policy in self.deployment.of_type("aws_iam_policy"):
            if policy.account == account:
                iam.attach_role_policy(RoleName=WORKLOAD_ROLE, PolicyArn=policy.attributes["arn"])
        profile = iam.create_instance_profile(InstanceProfileName=WORKLOAD_ROLE)["InstanceProfile"]
        iam.add_role_to_instance_profile(InstanceProfileName=WORKLOAD_ROLE, RoleName=WORKLOAD_ROLE)
        self._workload_profiles[account] = (str(role["Arn"]), str(profile["Arn"]))
        return self._workload_profiles[account]

    def unseal(self, sealed: str, context: Mapping[str, str]) -> str:
        """A sealed value opened with the hub key by its own account (what only the test may do)."""
        key = self.function.attributes["environment"]["variables"][contract.ENV_SEALING_KEY_ARN]
        blob = base64.b64decode(sealed + "=" * (-len(sealed) % 4))
        opened = self.moto.client("kms", SECURITY_ACCOUNT, HOME_REGION).decrypt(
            KeyId=key, CiphertextBlob=blob, EncryptionContext=dict(context)
        )
        return bytes(opened["Plaintext"]).decode()

    def _emit_state(self, instance: Instance, state: str) -> None:
        event = ec2_state_event(instance.account, instance.region, instance.instance_id, state)
        targets = self.router.put(instance.account, instance.region, "default", event)
        self.timeline.note("ec2", f"{instance.instance_id} {state} event ({targets} deliveries)")

    def terminate(self, instance: Instance) -> None:
        ec2 = self.moto.client("ec2", instance.account, instance.region)
        ec2.terminate_instances(InstanceIds=[instance.instance_id])
        if instance.agent:
            instance.agent.paused.set()
        self._emit_state(instance, "shutting-down")
        self._emit_state(instance, "terminated")

    def stop(self, instance: Instance) -> None:
        self.moto.client("ec2", instance.account, instance.region).stop_instances(
            InstanceIds=[instance.instance_id]
        )
        if instance.agent:
            instance.agent.paused.set()
        self._emit_state(instance, "stopping")
        self._emit_state(instance, "stopped")

    def start_again(self, instance: Instance) -> None:
        self.moto.client("ec2", instance.account, instance.region).start_instances(
            InstanceIds=[instance.instance_id]
        )
        if instance.agent:
            instance.agent.paused.clear()
        self._emit_state(instance, "pending")
        self._emit_state(instance, "running")

    # --- what the tests read -----------------------------------------------------------------------
    def ledger(self, instance_id: str) -> dict[str, Any]:
        from boto3.dynamodb.types import TypeDeserializer

        item = (
            self.moto.client("dynamodb", SECURITY_ACCOUNT, HOME_REGION)
            .get_item(
                TableName=self._table(contract.ENV_LEDGER_TABLE),
                Key={contract.LEDGER_TABLE_KEY: {"S": instance_id}},
                ConsistentRead=True,
            )
            .get("Item", {})
        )
        return {k: TypeDeserializer().deserialize(v) for k, v in item.items()}

    def dead_letters(self) -> list[dict[str, Any]]:
        """The handler's DLQ messages (received with a short visibility, so they stay)."""
        sqs = self.moto.client("sqs", SECURITY_ACCOUNT, HOME_REGION)
        url = self.function.attributes["environment"]["variables"][contract.ENV_DEAD_LETTER_QUEUE_URL]
        found = sqs.receive_message(
            QueueUrl=url, MaxNumberOfMessages=10, VisibilityTimeout=1, MessageAttributeNames=["All"]
        ).get("Messages", [])
        return list(found)

    def wait_for(
        self, what: str, check: Callable[[], Any], timeout: float = 120.0, every: float = 0.5
    ) -> Any:
        deadline = time.monotonic() + timeout
        while True:
            value = check()
            if value:
                return value
            if time.monotonic() > deadline:
                errors = getattr(getattr(self, "esm", None), "errors", [])
                raise AssertionError(
                    f"timed out after {timeout}s waiting for {what}; poller errors: {errors[-3:]}"
                )
            time.sleep(every)

    def handled(self, instance_id: str, state: str, after: float = 0.0) -> bool:
        """Whether an invocation after `after` took the instance's `state` event and deleted it (no retry)."""
        for started, event, reply in list(self.esm.invocations):
            if started < after or "error" in reply:
                continue
            failed = {f["itemIdentifier"] for f in (reply.get("response") or {}).get("batchItemFailures", [])}
            for record in event["Records"]:
                body = record["body"]
                if instance_id in body and f'"state":"{state}"' in body and record["messageId"] not in failed:
                    return True
        return False

    def deliveries(self, instance_id: str, state: str) -> list[bool]:
        """Per invocation that carried the instance's `state` event: whether it was handed back (retry)."""
        found = []
        for _, event, reply in list(self.esm.invocations):
            failed = {f["itemIdentifier"] for f in (reply.get("response") or {}).get("batchItemFailures", [])}
            for record in event["Records"]:
                if instance_id in record["body"] and f'"state":"{state}"' in record["body"]:
                    found.append("error" in reply or record["messageId"] in failed)
        return found

    def tools_host_down(self) -> None:
        """The tools host's agent stops reporting (ConnectionLost): no longer listed Online, runs nothing."""
        AGENTS.set_online_at(SECURITY_ACCOUNT, HOME_REGION, self.tools_host.instance_id, math.inf)
        assert self.tools_host.agent is not None
        self.tools_host.agent.paused.set()
        self.timeline.note("world", "AD tools host agent down")

    def tools_host_up(self) -> None:
        AGENTS.set_online_at(SECURITY_ACCOUNT, HOME_REGION, self.tools_host.instance_id, time.time())
        assert self.tools_host.agent is not None
        self.tools_host.agent.paused.clear()
        self.timeline.note("world", "AD tools host agent Online again")

    def address_of(self, machine: Machine) -> str:
        shown = machine.run(["ip", "-4", "-o", "addr", "show"]).stdout
        found = re.search(r"inet (10\.251\.0\.\d+)/", shown)
        if found is None:
            raise RuntimeError(f"{machine.name} has no lab address: {shown}")
        return found.group(1)

    def block_kerberos(self, source: str) -> None:
        """The DC's firewall refuses Kerberos (88, 464; TCP and UDP) from one address."""
        assert self.lab is not None
        for rule in (
            ["add", "table", "inet", "e2e"],
            ["add", "chain", "inet", "e2e", "input", "{ type filter hook input priority 0 ; }"],
            ["add", "rule", "inet", "e2e", "input", "ip", "saddr", source, "meta", "l4proto", "{ tcp, udp }",
             "th", "dport", "{ 88, 464 }", "counter", "reject"],
        ):  # fmt: skip
            done = self.lab.dc.run(["nft", *rule])
            if done.returncode != 0:
                raise RuntimeError(f"nft {' '.join(rule)}: {done.stderr}")
        self.timeline.note("directory", f"DC firewall refuses Kerberos from {source}")

    def kerberos_refusals(self) -> int:
        assert self.lab is not None
        listed = self.lab.dc.run(["nft", "list", "table", "inet", "e2e"]).stdout
        return sum(int(n) for n in re.findall(r"counter packets (\d+)", listed))

    def open_firewall(self) -> None:
        assert self.lab is not None
        self.lab.dc.run(["nft", "delete", "table", "inet", "e2e"])
        self.timeline.note("directory", "DC firewall open again")

    def reset_computer_password(self, name: str) -> None:
        """What a second prestage of the same computer leaves behind: a one-time password the join lacks."""
        assert self.lab is not None
        from tests.scripts.adlab import random_otp

        self.lab.samba_tool(
            "user", "setpassword", f"--filter=(sAMAccountName={name}$)", f"--newpassword={random_otp()}"
        )
        self.timeline.note("directory", f"{name}: password reset (as a duplicate prestage would)")

    def dead_letter_for(self, instance_id: str) -> dict[str, Any] | None:
        """The handler's DLQ message about the instance, if any (left in the queue)."""
        for message in self.dead_letters():
            if instance_id in message["Body"]:
                return message
        return None

    def delivered_at(self, instance_id: str, state: str) -> float | None:
        """When the instance's `state` event was first delivered to the handler (invocation start)."""
        for started, event, _ in list(self.esm.invocations):
            for record in event["Records"]:
                if instance_id in record["body"] and f'"state":"{state}"' in record["body"]:
                    return started
        return None

    def directory_objects_of(self, instance_id: str) -> dict[str, list[str]]:
        """Any directory object whose description names the instance (what a stamp would)."""
        assert self.lab is not None
        return self.lab.object_attributes(f"(description=*{instance_id})", ["description"])

    # --- teardown ----------------------------------------------------------------------------------
    def close(self) -> None:
        for closer in reversed(self._closers):
            with contextlib.suppress(Exception):
                closer()
        self._closers.clear()
        if os.environ.get("DOMAIN_JOIN_REALAD_KEEP_LOGS") == "1":
            with contextlib.suppress(OSError):
                (self.workdir / "timeline.txt").write_text(
                    "".join(f"{t:.3f} {actor} {text}\n" for t, actor, text in self.timeline.entries)
                )
            print(f"e2e: logs kept in {self.workdir}")
        else:
            shutil.rmtree(self.workdir, ignore_errors=True)


@contextlib.contextmanager
def running_world(echo: bool = False) -> Iterator[World]:
    world = World(echo=echo).start()
    try:
        yield world
    finally:
        world.close()


def random_suffix() -> str:
    return secrets.token_hex(3)
