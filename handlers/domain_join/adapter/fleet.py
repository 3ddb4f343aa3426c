"""EC2 and SSM: instance facts and readiness in the spokes, commands, and the AD tools host in the hub.

Example::

    fleet = Fleet(sessions, tools_host_tag=("ADToolsHost", "true"), cache_ttl_seconds=300,
                  tools_host_pin=ToolsHostPin(instance_profile_arn="arn:aws:iam::111111111111:instance-profile/x"))
    facts = fleet.describe_instances(spoke, ["i-0123456789abcdef0"])
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from typing import Any, Final

from aws_lambda_powertools import Logger, Metrics
from aws_lambda_powertools.metrics import MetricUnit

from ..contract import DOCUMENT_STEPS
from ..decisions import TOOLS_HOST_AMBIGUOUS, ToolsHostCandidate, ToolsHostPin, decide_tools_host
from ..errors import DomainJoinError, ToolsHostUnavailableError
from ..model import InstanceFacts, Spoke
from ..naming import refused_names
from .errors import expired_session, translated
from .sessions import Sessions

COMMAND_COMMENT: Final = "ec2-domain-join"
FILTER_VALUES_LIMIT: Final = 50
NO_PIN: Final = ToolsHostPin()  # no tools host qualifies: the secure default

logger = Logger(child=True)
metrics = Metrics()  # Powertools shares the metric set between instances: the app's flush publishes it


class Fleet:
    """Instances and commands.

    Parameters:
        sessions: hub and spoke clients.
        tools_host_tag: (key, value) of the tag that marks the AD tools host (a filter, not a proof).
        tools_host_pin: the instance profile ARN and/or instance id a tagged instance must have to qualify.
        cache_ttl_seconds: how long the tools host found is used before it is looked up again.
        clock: seconds since the epoch.
    """

    def __init__(
        self,
        sessions: Sessions,
        tools_host_tag: tuple[str, str],
        cache_ttl_seconds: int,
        clock: Callable[[], float] = time.time,
        tools_host_pin: ToolsHostPin = NO_PIN,
    ) -> None:
        self._sessions = sessions
        self._pin = tools_host_pin
        self._tag_key, self._tag_value = tools_host_tag
        self._ttl = cache_ttl_seconds
        self._clock = clock
        self._tools_host: tuple[float, str] | None = None

    @contextmanager
    def _in_spoke(self, spoke: Spoke) -> Iterator[None]:
        """Drop a session the spoke calls expired (clock skew, revoked session), so the retry re-assumes."""
        try:
            yield
        except DomainJoinError as exc:
            if expired_session(exc):
                self._sessions.drop(spoke)
            raise

    def describe_instances(self, spoke: Spoke, instance_ids: Sequence[str]) -> dict[str, InstanceFacts]:
        with self._in_spoke(spoke):
            client = self._sessions.spoke_client("ec2", spoke)
            facts: dict[str, InstanceFacts] = {}
            # A filter (not InstanceIds) so that one vanished instance does not fail the whole group.
            request: dict[str, Any] = {
                "Filters": [{"Name": "instance-id", "Values": list(instance_ids)}],
                "MaxResults": 1000,
            }
            while True:
                with translated(f"ec2:DescribeInstances in {spoke.account}/{spoke.region}"):
                    response = client.describe_instances(**request)
                for reservation in response.get("Reservations", []):
                    for instance in reservation.get("Instances", []):
                        facts[instance["InstanceId"]] = InstanceFacts(
                            instance_id=instance["InstanceId"],
                            state=instance.get("State", {}).get("Name", ""),
                            platform="windows" if instance.get("Platform") == "windows" else "linux",
                            tags={t["Key"]: t.get("Value", "") for t in instance.get("Tags", [])},
                        )
                if not response.get("NextToken"):
                    return facts
                request["NextToken"] = response["NextToken"]

    def online_instances(self, spoke: Spoke, instance_ids: Sequence[str]) -> set[str]:
        with self._in_spoke(spoke):
            client = self._sessions.spoke_client("ssm", spoke)
            return _online(client, instance_ids, f"{spoke.account}/{spoke.region}")

    def send_spoke_command(
        self, spoke: Spoke, document: str, instance_ids: Sequence[str], parameters: Mapping[str, str]
    ) -> str:
        with self._in_spoke(spoke):
            client = self._sessions.spoke_client("ssm", spoke)
            return _send(client, document, instance_ids, parameters, f"{spoke.account}/{spoke.region}")

    def tools_host(self) -> str:
        """The pinned AD tools host (cached): a running instance with the tools-host tag whose instance
        profile is the pinned one (or whose id is the pinned id), Online in SSM; raises
        ToolsHostUnavailableError with the reason, never picks an instance by its tag alone."""
        now = self._clock()
        if self._tools_host and self._tools_host[0] > now:
            return self._tools_host[1]
        key, value = self._tag_key, self._tag_value
        with translated("ec2:DescribeInstances (tools host)"):
            response = self._sessions.hub_client("ec2").describe_instances(
                Filters=[
                    {"Name": f"tag:{key}", "Values": [value]},
                    {"Name": "instance-state-name", "Values": ["running"]},
                ]
            )
        found = {
            str(i["InstanceId"]): str(i.get("IamInstanceProfile", {}).get("Arn", ""))
            for r in response.get("Reservations", [])
            for i in r.get("Instances", [])
        }
        if not found:
            raise ToolsHostUnavailableError(f"no running instance tagged {key}={value} in the hub")
        online = _online(self._sessions.hub_client("ssm"), sorted(found), "hub")
        choice = decide_tools_host(
            (ToolsHostCandidate(i, arn, i in online) for i, arn in found.items()), self._pin
        )
        if choice.refused:
            logger.warning(
                "tagged instances refused as tools host",
                extra={"refused": list(choice.refused), "tag": f"{key}={value}"},
            )
        if not choice.instance_id:
            raise ToolsHostUnavailableError(choice.reason)
        if choice.ambiguous:
            metrics.add_metric(name=TOOLS_HOST_AMBIGUOUS, unit=MetricUnit.Count, value=1)
            logger.warning(
                "tools host ambiguous",
                extra={"qualified": list(choice.qualified_online), "chosen": choice.instance_id},
            )
        self._tools_host = (now + self._ttl, choice.instance_id)
        return choice.instance_id

    def send_tools_command(self, document: str, instance_id: str, parameters: Mapping[str, str]) -> str:
        return _send(self._sessions.hub_client("ssm"), document, [instance_id], parameters, "hub")

    def prestage_refusals(self, command_id: str) -> frozenset[str]:
        """Names the tools host refused in prestage ``command_id``: its result lines, read from the current
        tools host's invocation, one ``ssm:GetCommandInvocation`` per document step (the step of the other
        platform is skipped and prints nothing)."""
        host = self.tools_host()
        client = self._sessions.hub_client("ssm")
        refused: set[str] = set()
        for step in DOCUMENT_STEPS:
            with translated(f"ssm:GetCommandInvocation {command_id} on {host}"):
                response = client.get_command_invocation(
                    CommandId=command_id, InstanceId=host, PluginName=step
                )
            refused |= refused_names(str(response.get("StandardOutputContent", "")))
        return frozenset(refused)


def _online(client: Any, instance_ids: Sequence[str], where: str) -> set[str]:
    online: set[str] = set()
    ids = list(instance_ids)
    for start in range(0, len(ids), FILTER_VALUES_LIMIT):
        request: dict[str, Any] = {
            "Filters": [{"Key": "InstanceIds", "Values": ids[start : start + FILTER_VALUES_LIMIT]}],
            "MaxResults": 50,
        }
        while True:
            with translated(f"ssm:DescribeInstanceInformation in {where}"):
                response = client.describe_instance_information(**request)
            online |= {
                info["InstanceId"]
                for info in response.get("InstanceInformationList", [])
                if info.get("PingStatus") == "Online"
            }
            if not response.get("NextToken"):
                break
            request["NextToken"] = response["NextToken"]
    return online


def _send(
    client: Any, document: str, instance_ids: Sequence[str], parameters: Mapping[str, str], where: str
) -> str:
    with translated(f"ssm:SendCommand {document} in {where}"):
        response = client.send_command(
            DocumentName=document,
            InstanceIds=list(instance_ids),
            Parameters={name: [value] for name, value in parameters.items()},
            Comment=COMMAND_COMMENT,
        )
    return str(response["Command"]["CommandId"])
