"""EC2 and SSM: instance facts and readiness in the spokes, commands, and the AD tools host in the hub.

Example::

    fleet = Fleet(sessions, tools_host_tag=("ADToolsHost", "true"), cache_ttl_seconds=300)
    facts = fleet.describe_instances(spoke, ["i-0123456789abcdef0"])
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from typing import Any, Final

from ..errors import DomainJoinError, ToolsHostUnavailableError
from ..model import InstanceFacts, Spoke
from .errors import expired_session, translated
from .sessions import Sessions

COMMAND_COMMENT: Final = "ec2-domain-join"
FILTER_VALUES_LIMIT: Final = 50


class Fleet:
    """Instances and commands.

    Parameters:
        sessions: hub and spoke clients.
        tools_host_tag: (key, value) of the tag that marks the AD tools host.
        cache_ttl_seconds: how long the tools host found is used before it is looked up again.
        clock: seconds since the epoch.
    """

    def __init__(
        self,
        sessions: Sessions,
        tools_host_tag: tuple[str, str],
        cache_ttl_seconds: int,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._sessions = sessions
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
        """An Online instance tagged as the tools host (cached); raises ToolsHostUnavailableError."""
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
        candidates = sorted(
            str(i["InstanceId"]) for r in response.get("Reservations", []) for i in r.get("Instances", [])
        )
        if not candidates:
            raise ToolsHostUnavailableError(f"no running instance tagged {key}={value} in the hub")
        online = _online(self._sessions.hub_client("ssm"), candidates, "hub")
        ready = [c for c in candidates if c in online]
        if not ready:
            raise ToolsHostUnavailableError(f"tools host {', '.join(candidates)} not Online in SSM")
        self._tools_host = (now + self._ttl, ready[0])
        return ready[0]

    def send_tools_command(self, document: str, instance_id: str, parameters: Mapping[str, str]) -> str:
        return _send(self._sessions.hub_client("ssm"), document, [instance_id], parameters, "hub")


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
