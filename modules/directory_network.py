"""Directory network: the network of the account and VPC of the domain controllers (or AWS Managed AD).

What a join needs before our code matters, generated from the port table (`modules/ports.py`):

- the domain controllers' security group: the client table from the given client sources, DC <-> DC both
  ways (self-referencing, and to replication peers elsewhere), the admin table only from the admin source,
  HTTPS to the VPC (interface endpoints); optionally a network ACL on the DC subnets (stateless: with the
  return traffic);
- a Route 53 Resolver outbound endpoint (its own security group: DNS to the DNS servers only), a FORWARD
  rule for the domain to the DNS servers, and a RAM share of the rule with the organization, OUs or accounts;
- optional interface endpoints (ssm, ssmmessages, ec2messages, kms, logs) with a security group that admits
  HTTPS from the VPC only;
- administration without inbound ports: a Session Manager document of type Port pinned to RDP, and a
  managed policy for AD administrators that starts sessions only with it (or AWS-StartPortForwardingSession),
  only on instances with the DC tag, and ends or resumes only their own sessions;
- DC protection: a deny policy (stop, terminate, attribute and tag changes of DC-tagged instances, except by
  the AD-admin roles), as a managed policy and as JSON for an SCP; an EventBridge rule that notifies an SNS
  topic when Run Command or Session Manager targets a domain controller.

Every ARN takes its partition from the Region (`modules/partitions.py`).
"""

from __future__ import annotations

import ipaddress
import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Final

from cdktf_cdktf_provider_aws.iam_policy import IamPolicy
from cdktf_cdktf_provider_aws.kms_alias import KmsAlias
from cdktf_cdktf_provider_aws.kms_key import KmsKey
from cdktf_cdktf_provider_aws.network_acl import NetworkAcl
from cdktf_cdktf_provider_aws.network_acl_rule import NetworkAclRule
from cdktf_cdktf_provider_aws.ram_principal_association import RamPrincipalAssociation
from cdktf_cdktf_provider_aws.ram_resource_association import RamResourceAssociation
from cdktf_cdktf_provider_aws.ram_resource_share import RamResourceShare
from cdktf_cdktf_provider_aws.route53_resolver_endpoint import (
    Route53ResolverEndpoint,
    Route53ResolverEndpointIpAddress,
)
from cdktf_cdktf_provider_aws.route53_resolver_rule import Route53ResolverRule, Route53ResolverRuleTargetIp
from cdktf_cdktf_provider_aws.route53_resolver_rule_association import Route53ResolverRuleAssociation
from cdktf_cdktf_provider_aws.security_group import SecurityGroup
from cdktf_cdktf_provider_aws.sns_topic import SnsTopic
from cdktf_cdktf_provider_aws.sns_topic_policy import SnsTopicPolicy
from cdktf_cdktf_provider_aws.sqs_queue import SqsQueue
from cdktf_cdktf_provider_aws.sqs_queue_policy import SqsQueuePolicy
from cdktf_cdktf_provider_aws.ssm_document import SsmDocument
from cdktf_cdktf_provider_aws.vpc_endpoint import VpcEndpoint
from cdktf_cdktf_provider_aws.vpc_security_group_egress_rule import VpcSecurityGroupEgressRule
from cdktf_cdktf_provider_aws.vpc_security_group_ingress_rule import VpcSecurityGroupIngressRule
from constructs import Construct

from handlers.domain_join.patterns import DOMAIN, ROLE_ARN_PARTITION_GROUP

from . import arns, iam, naming, ports
from .cdk import Fn, Op, Token, is_token
from .partitions import UnknownRegionError
from .patterns import (
    ACCOUNT_ID,
    INSTANCE_ID,
    PREFIX_LIST_ID,
    REGION,
    RESOURCE_NAME,
    ROLE_ARN,
    SECURITY_GROUP_ID,
    SNS_ARN,
    SUBNET_ID,
    TAG_KEY,
    TAG_VALUE,
    VPC_ID,
)
from .ports import PortRule, Role
from .rules import Delivery, rule_with_target
from .validation import PropsError, check_each, check_pattern, check_range, check_unique

# --- value formats of this unit's inputs ------------------------------------------------------------------
ORGANIZATION_ARN: Final = re.compile(
    r"^arn:(aws[a-z-]*):organizations::[0-9]{12}:organization/o-[a-z0-9]{10,32}$"
)
OU_ARN: Final = re.compile(
    r"^arn:(aws[a-z-]*):organizations::[0-9]{12}:ou/o-[a-z0-9]{10,32}/ou-[a-z0-9]{4,32}-[a-z0-9]{8,32}$"
)

# What EC2 accepts in a VPC security group's (and its rules') description.
SECURITY_GROUP_DESCRIPTION: Final = re.compile(r"^[A-Za-z0-9 ._:/()#,@\[\]+=&;{}!$*-]{0,255}$")

ENDPOINT_SERVICES: Final = ("ssm", "ssmmessages", "ec2messages", "kms", "logs")
"""Interface endpoints this unit can create: Session Manager/Run Command; KMS and Logs for the tools host."""
SESSION_MANAGER_SERVICES: Final = ENDPOINT_SERVICES[:3]
PORT_FORWARDING_DOCUMENT: Final = "AWS-StartPortForwardingSession"
DEFAULT_LOCAL_PORT: Final = 13389
# 0-65535 (0: any free port), as the document's allowedPattern
LOCAL_PORT_PATTERN: Final = (
    "^([0-9]|[1-9][0-9]{1,3}|[1-5][0-9]{4}|6[0-4][0-9]{3}|65[0-4][0-9]{2}|655[0-2][0-9]|6553[0-5])$"
)
SECURITY_GROUP_RULE_QUOTA: Final = 60  # inbound (and outbound) rules per security group, AWS's default
NETWORK_ACL_RULE_QUOTA: Final = 20  # rules per direction of a network ACL, AWS's default (at most 40)
MAX_DNS_SERVERS: Final = 6  # target IPs of one resolver rule
MAX_RESOLVER_SUBNETS: Final = 6


# --- names (the spoke side finds the rule by name; the lab and docs name the document) ---------------------
def resolver_rule_name(name: str = naming.DEFAULT_NAME) -> str:
    return f"{name}-directory"


def resolver_rule_association_name(name: str, vpc_id: str) -> str:
    return f"{resolver_rule_name(name)}-{vpc_id}"


LONGEST_VPC_ID: Final = "vpc-" + "0" * 17


def resolver_endpoint_name(name: str = naming.DEFAULT_NAME) -> str:
    return f"{name}-directory-outbound"


def resource_share_name(name: str = naming.DEFAULT_NAME) -> str:
    return f"{name}-directory-resolver-rule"


def port_forwarding_document_name(name: str = naming.DEFAULT_NAME) -> str:
    """The Session Manager document that forwards a local port to RDP (3389) on the instance, nothing else."""
    return f"{name}-RDP-PortForwarding"


def admin_policy_name(name: str = naming.DEFAULT_NAME) -> str:
    return f"{name}-ad-admin-sessions"


def protection_policy_name(name: str = naming.DEFAULT_NAME) -> str:
    return f"{name}-dc-protection"


def dc_security_group_name(name: str = naming.DEFAULT_NAME) -> str:
    return f"{name}-domain-controllers"


def notification_rule_name(name: str = naming.DEFAULT_NAME) -> str:
    return f"{name}-dc-session-or-command"


def notification_topic_name(name: str = naming.DEFAULT_NAME) -> str:
    return f"{name}-dc-access"


def notification_dead_letter_queue_name(name: str = naming.DEFAULT_NAME) -> str:
    return f"{notification_rule_name(name)}-dlq"


def notification_key_alias(name: str = naming.DEFAULT_NAME) -> str:
    return f"alias/{notification_topic_name(name)}"


RESOLVER_NAME = naming.NameRule(
    "Route 53 Resolver", 64, re.compile(r"^(?![0-9]+$)[A-Za-z0-9 _-]+$"), "letters, digits, spaces, - and _"
)
SSM_DOCUMENT = naming.NameRule(
    "SSM document",
    128,
    re.compile(r"^(?!(?i:aws|amazon|amzn))[A-Za-z0-9_.-]+$"),
    "letters, digits, ., - and _ (not starting with aws, amazon or amzn)",
    min_length=3,
)
IAM_POLICY = naming.NameRule("IAM policy", 128, re.compile(r"^[\w+=,.@-]+$"), "letters, digits and +=,.@_-")
RAM_SHARE = naming.NameRule("RAM resource share", 255, re.compile(r"^[^\x00-\x1f]+$"), "printable characters")


def network_names(name: str) -> list[tuple[str, naming.NameRule, str]]:
    """Every (what, rule, value) the directory network derives from `name`."""
    return [
        ("resolver endpoint", RESOLVER_NAME, resolver_endpoint_name(name)),
        ("resolver rule", RESOLVER_NAME, resolver_rule_name(name)),
        ("resolver rule association", RESOLVER_NAME, resolver_rule_association_name(name, LONGEST_VPC_ID)),
        ("resource share", RAM_SHARE, resource_share_name(name)),
        ("RDP document", SSM_DOCUMENT, port_forwarding_document_name(name)),
        ("admin policy", IAM_POLICY, admin_policy_name(name)),
        ("protection policy", IAM_POLICY, protection_policy_name(name)),
        ("notification rule", naming.EVENT_RULE, notification_rule_name(name)),
        ("notification topic", naming.SNS_TOPIC, notification_topic_name(name)),
        ("notification dead-letter queue", naming.SQS_QUEUE, notification_dead_letter_queue_name(name)),
        ("notification key alias", naming.KMS_ALIAS, notification_key_alias(name)),
    ]


def endpoint_service_name(region: str, service: str) -> str:
    """`com.amazonaws.<region>.<service>`.  Some services use another prefix in some partitions
    (`cn.com.amazonaws` for ec2 or sqs in China, `gov.ic.c2s` for a few in us-iso-east-1); ENDPOINT_SERVICES
    are none of them, in any partition (`aws ec2 describe-vpc-endpoint-services` lists them)."""
    if service not in ENDPOINT_SERVICES:
        raise ValueError(f"{service!r} is not one of {ENDPOINT_SERVICES}")
    arns.partition_of(region)  # an unknown Region fails here
    return f"com.amazonaws.{region}.{service}"


def regional_arn(region: str, service: str, account: str, resource: str) -> str:
    """An ARN of `service` in `region`, in that Region's partition (`modules/arns.py` spells it)."""
    return arns.arn(arns.partition_of(region), service, region, account, resource)


# --- validation helpers -------------------------------------------------------------------------------------


def check_cidrs(field_name: str, values: Sequence[str]) -> None:
    if is_token(values):  # a plain module's variable: its validation block checks it at plan
        return
    for index, value in enumerate(values):
        where = f"{field_name}[{index}]"
        try:
            network = ipaddress.ip_network(value, strict=True)
        except (TypeError, ValueError):
            raise PropsError(where, f"{value!r} is not an IPv4 network (a.b.c.d/n, host bits zero)") from None
        if network.version != 4:
            raise PropsError(where, f"{value!r}: only IPv4 networks are supported")
        if network.prefixlen == 0:
            raise PropsError(where, f"{value!r} is the whole internet: give your own networks")
    check_unique(field_name, values)


def check_cidr(field_name: str, value: str) -> None:
    """One network: the error names the field itself."""
    if is_token(value):
        return
    try:
        check_cidrs(field_name, [value])
    except PropsError as error:
        raise PropsError(field_name, str(error).split(": ", 1)[1]) from None


def _check_ips(field_name: str, values: Sequence[str]) -> None:
    if is_token(values):
        return
    for index, value in enumerate(values):
        try:
            address = ipaddress.ip_address(value)
        except (TypeError, ValueError):
            raise PropsError(f"{field_name}[{index}]", f"{value!r} is not an IPv4 address") from None
        if address.version != 4:
            raise PropsError(f"{field_name}[{index}]", f"{value!r}: only IPv4 addresses are supported")
    check_unique(field_name, values)


def _check_ids(field_name: str, values: Sequence[str], pattern: re.Pattern[str], what: str) -> None:
    check_each(field_name, values, pattern, what)
    check_unique(field_name, values)


def _check_bool(field_name: str, value: Any) -> None:
    if not isinstance(value, bool):
        raise PropsError(field_name, f"{value!r} must be true or false")


def security_group_quota_problem(rules: int | str) -> str:
    """Why the DC security group's `rules` inbound rules do not fit (the props and the plain module's
    precondition say the same)."""
    return (
        f"the DC security group needs {rules} inbound rules: raise the quota (and this value), or "
        "summarise the client networks (one CIDR or prefix list)"
    )


NETWORK_ACL_DIRECTIONS: Final = ((False, "inbound"), (True, "outbound"))


def network_acl_quota_problem(count: int | str, direction: str) -> str:
    """Why a network ACL of `count` `direction` rules does not fit."""
    return (
        f"the network ACL needs {count} {direction} rules: summarise the networks (one CIDR for clients and "
        "DCs) or raise the quota (at most 40)"
    )


PORT_PAIRS: Final = {
    "client_to_dc": ports.CLIENT_TO_DC,
    "dc_to_dc": ports.DC_TO_DC,
    "admin_to_dc": ports.ADMIN_TO_DC,
}
"""The port table by role pair (the plain modules' `ad_ports` local has the same keys)."""
DC_INGRESS_SOURCES: Final = (
    ("client_to_dc", ("client_cidrs", "client_prefix_list_ids", "client_security_group_ids")),
    ("admin_to_dc", ("admin_cidrs", "admin_security_group_ids")),
    ("dc_to_dc", ("replication_peer_cidrs",)),
)
"""The DC security group's inbound sources: each field's entries get the rows of that pair (and the group
itself the DC <-> DC rows)."""
NETWORK_ACL_PEERS: Final = (
    ("client_cidrs", Role.CLIENT),
    ("admin_cidrs", Role.ADMIN),
    ("dc_subnet_cidrs", Role.DOMAIN_CONTROLLER),
    ("replication_peer_cidrs", Role.DOMAIN_CONTROLLER),
)
"""The networks of a network ACL and the role each plays towards the DCs (the VPC's CIDR: the endpoints)."""
NETWORK_ACL_FIRST_RULE: Final = 100
NETWORK_ACL_RULE_STEP: Final = 10

NETWORK_ACL_NEEDS: Final = (
    ("dc_subnet_ids", True, "the network ACL needs the DC subnets"),
    ("dc_subnet_cidrs", True, "the network ACL needs the DC subnets' CIDRs"),
    ("client_cidrs", True, "a network ACL admits networks only: give the members' CIDRs"),
    ("client_prefix_list_ids", False, "a network ACL cannot admit these: give the members as client_cidrs"),
    (
        "client_security_group_ids",
        False,
        "a network ACL cannot admit these: give the members as client_cidrs",
    ),
    ("admin_security_group_ids", False, "a network ACL cannot admit these: give admin_cidrs"),
)
"""What a network ACL needs of the inputs: (field, whether it must be non-empty, the problem otherwise)."""


def share_principal_problem(principal: str, partition: str) -> str | None:
    """Why RAM would not accept `principal` here (or None): an organization or OU ARN, or an account id."""
    if ACCOUNT_ID.fullmatch(principal):
        return None
    match = ORGANIZATION_ARN.fullmatch(principal) or OU_ARN.fullmatch(principal)
    if not match:
        return f"{principal!r} is not an organization ARN, an OU ARN or a 12-digit account id"
    if match.group(1) != partition:
        return f"{principal!r} is in partition {match.group(1)}, this Region's is {partition}"
    return None


@dataclass(frozen=True, kw_only=True)
class DirectoryNetworkProps:
    """Inputs of the directory network.  Defaults are the secure ones; every error names its field.

    Only IPv4 is supported.  Sources are given as networks (CIDRs), managed prefix lists or security groups;
    a network ACL can only use CIDRs.
    """

    account_id: str
    """The directory account (12 digits)."""
    region: str
    """The Region of the VPC; every ARN takes its partition from it."""
    vpc_id: str
    """The VPC of the domain controllers (vpc-…)."""
    vpc_cidr: str
    """The VPC's CIDR: interface endpoints admit HTTPS from it, and the DCs reach the endpoints in it."""
    domain_name: str
    """The AD domain's DNS name (corp.example.com): the resolver rule forwards it."""
    dns_server_ips: Sequence[str]
    """The domain's DNS servers (usually the DCs), 1-6: the rule's targets on port 53."""
    resolver_subnet_ids: Sequence[str]
    """Subnets of the outbound endpoint, 2-6, in at least two Availability Zones (one IP in each)."""
    client_cidrs: Sequence[str] = ()
    """Networks of the domain members (default none).  At least one client source of the three is needed."""
    client_prefix_list_ids: Sequence[str] = ()
    """Managed prefix lists of the members (default none); each counts as its max entries in the SG quota."""
    client_security_group_ids: Sequence[str] = ()
    """Security groups of the members, e.g. MemberNetwork's (default none; same VPC or a peered one)."""
    admin_cidrs: Sequence[str] = ()
    """Admin networks (bastions, admin VPN) that may use the admin ports (default none: port forwarding
    through Session Manager needs no inbound rule)."""
    admin_security_group_ids: Sequence[str] = ()
    """Security groups of admin hosts (default none)."""
    replication_peer_cidrs: Sequence[str] = ()
    """Domain controllers outside this security group (on premises, other VPCs): DC <-> DC rules both ways
    (default none; the DCs in this group always reach each other)."""
    create_network_acl: bool = False
    """Also a network ACL on the DC subnets, generated from the table (default false).  Stateless: it carries
    the return traffic too; needs `dc_subnet_ids`, `dc_subnet_cidrs` and CIDR sources only."""
    dc_subnet_ids: Sequence[str] = ()
    """The subnets of the domain controllers (for the network ACL)."""
    dc_subnet_cidrs: Sequence[str] = ()
    """Their CIDRs: DCs in different subnets replicate through the network ACL."""
    network_acl_rule_quota: int = NETWORK_ACL_RULE_QUOTA
    """Rules per direction the account may have in one network ACL (default 20, AWS allows at most 40)."""
    security_group_rule_quota: int = SECURITY_GROUP_RULE_QUOTA
    """Inbound rules per security group the account may have (default 60; raise it with Service Quotas)."""
    share_principals: Sequence[str] = ()
    """Who gets the resolver rule through RAM: the organization ARN, OU ARNs or account ids (default none:
    no share, e.g. when the members are in this account)."""
    associate_rule_with_vpc: bool = True
    """Also associate the rule with this VPC, so its own instances (the tools host) resolve the domain."""
    endpoint_services: Sequence[str] = ()
    """Interface endpoints to create, among ssm, ssmmessages, ec2messages, kms, logs (default none: the VPC
    has them already, or reaches the public endpoints)."""
    endpoint_subnet_ids: Sequence[str] = ()
    """Subnets of the interface endpoints (one per Availability Zone); needed with `endpoint_services`."""
    dc_tag_key: str = "ADDomainController"
    """The tag that marks domain controller instances (sessions, protection and notifications key on it)."""
    dc_tag_value: str = "true"
    """The value of that tag on domain controllers."""
    admin_role_arns: Sequence[str]
    """The AD-admin roles: the only principals the protection policy lets stop, terminate or change DCs."""
    dc_instance_ids: Sequence[str] = ()
    """The DC instances, for the notification (CloudTrail names instance ids, not tags).  Default none: every
    Session Manager session and Run Command in this account and Region is reported, which is right for an
    account that holds only the directory; commands sent by the DC tag are reported either way."""
    notification_topic_arn: str | None = None
    """An existing SNS topic for the notifications (its policy must let this rule publish).  Default: a
    KMS-encrypted topic is created; subscribe to it."""
    local_port: int = DEFAULT_LOCAL_PORT
    """The admin's local port the RDP document listens on by default (1024-65535)."""
    kms_key_deletion_window_days: int = 30
    """Days a deleted notification key stays recoverable (7-30)."""
    partition: str | None = None
    """The partition of every ARN (default: the Region's); the plain module passes the provider's."""
    name: str = naming.DEFAULT_NAME
    """Prefix of every name (the spoke side finds the resolver rule by it)."""
    tags: Mapping[str, str] = field(default_factory=dict)

    @property
    def terraform_inputs(self) -> bool:
        """True in the plain module (a Terraform variable as `vpc_id`): the values are known at plan only,
        where the variables' validation blocks check them; the construct then emits `for_each` resources."""
        return is_token(self.vpc_id)

    @property
    def arn_partition(self) -> str:
        """`partition`, else the Region's."""
        return self.partition or arns.partition_of(self.region)

    def arn(self, service: str, account: str, resource: str, region: str | None = None) -> str:
        """An ARN of `service` in this Region (or `region`) and partition."""
        return arns.arn(
            self.arn_partition, service, self.region if region is None else region, account, resource
        )

    def __post_init__(self) -> None:
        if self.terraform_inputs:
            for name in TERRAFORM_LISTS:
                if not is_token(getattr(self, name)):
                    raise PropsError(name, "with Terraform inputs, give every list as a Terraform value")
            return
        check_pattern("account_id", self.account_id, ACCOUNT_ID, "a 12-digit account id")
        check_pattern("region", self.region, REGION, "an AWS Region name")
        try:
            partition = arns.partition_of(self.region)
        except UnknownRegionError as error:
            raise PropsError("region", str(error)) from None
        check_pattern("vpc_id", self.vpc_id, VPC_ID, "a VPC id (vpc-…)")
        check_cidr("vpc_cidr", self.vpc_cidr)
        check_pattern("domain_name", self.domain_name, DOMAIN, "a DNS domain name (corp.example.com)")
        if not 1 <= len(self.dns_server_ips) <= MAX_DNS_SERVERS:
            raise PropsError("dns_server_ips", f"give 1-{MAX_DNS_SERVERS} DNS server addresses")
        _check_ips("dns_server_ips", self.dns_server_ips)
        if not 2 <= len(self.resolver_subnet_ids) <= MAX_RESOLVER_SUBNETS:
            raise PropsError(
                "resolver_subnet_ids", f"give 2-{MAX_RESOLVER_SUBNETS} subnets in two Availability Zones"
            )
        _check_ids("resolver_subnet_ids", self.resolver_subnet_ids, SUBNET_ID, "a subnet id (subnet-…)")
        check_cidrs("client_cidrs", self.client_cidrs)
        _check_ids("client_prefix_list_ids", self.client_prefix_list_ids, PREFIX_LIST_ID, "a prefix list id")
        _check_ids(
            "client_security_group_ids", self.client_security_group_ids, SECURITY_GROUP_ID, "a SG id (sg-…)"
        )
        if not (self.client_cidrs or self.client_prefix_list_ids or self.client_security_group_ids):
            raise PropsError(
                "client_cidrs",
                "give the members as client_cidrs, client_prefix_list_ids or client_security_group_ids",
            )
        check_cidrs("admin_cidrs", self.admin_cidrs)
        _check_ids(
            "admin_security_group_ids", self.admin_security_group_ids, SECURITY_GROUP_ID, "a SG id (sg-…)"
        )
        check_cidrs("replication_peer_cidrs", self.replication_peer_cidrs)
        _check_bool("create_network_acl", self.create_network_acl)
        _check_ids("dc_subnet_ids", self.dc_subnet_ids, SUBNET_ID, "a subnet id (subnet-…)")
        check_cidrs("dc_subnet_cidrs", self.dc_subnet_cidrs)
        check_range("network_acl_rule_quota", self.network_acl_rule_quota, 1, 40)
        check_range("security_group_rule_quota", self.security_group_rule_quota, 1, 1000)
        if self.create_network_acl:
            self._check_network_acl()
        rules = self.dc_ingress_rule_count
        if rules > self.security_group_rule_quota:
            raise PropsError("security_group_rule_quota", security_group_quota_problem(rules))
        for index, principal in enumerate(self.share_principals):
            problem = (
                share_principal_problem(principal, partition) if isinstance(principal, str) else "not text"
            )
            if problem:
                raise PropsError(f"share_principals[{index}]", problem)
        check_unique("share_principals", self.share_principals)
        _check_bool("associate_rule_with_vpc", self.associate_rule_with_vpc)
        for index, service in enumerate(self.endpoint_services):
            if service not in ENDPOINT_SERVICES:
                raise PropsError(
                    f"endpoint_services[{index}]", f"{service!r} is not one of {ENDPOINT_SERVICES}"
                )
        check_unique("endpoint_services", self.endpoint_services)
        _check_ids("endpoint_subnet_ids", self.endpoint_subnet_ids, SUBNET_ID, "a subnet id (subnet-…)")
        if self.endpoint_services and not self.endpoint_subnet_ids:
            raise PropsError("endpoint_subnet_ids", "the interface endpoints need their subnets")
        check_pattern("dc_tag_key", self.dc_tag_key, TAG_KEY, "a tag key")
        if self.dc_tag_key.lower().startswith("aws:"):
            raise PropsError("dc_tag_key", "aws: is reserved for AWS's own tags")
        check_pattern("dc_tag_value", self.dc_tag_value, TAG_VALUE, "a tag value")
        if not self.admin_role_arns:
            raise PropsError(
                "admin_role_arns", "name at least one AD-admin role (the protection's exception)"
            )
        check_each("admin_role_arns", self.admin_role_arns, ROLE_ARN, "an IAM role ARN")
        check_unique("admin_role_arns", self.admin_role_arns)
        for index, role_arn in enumerate(self.admin_role_arns):
            match = ROLE_ARN.fullmatch(role_arn)
            if match and match.group(ROLE_ARN_PARTITION_GROUP) != partition:
                raise PropsError(f"admin_role_arns[{index}]", f"{role_arn!r} is not in partition {partition}")
        _check_ids("dc_instance_ids", self.dc_instance_ids, INSTANCE_ID, "an instance id (i-…)")
        if self.notification_topic_arn is not None:
            check_pattern("notification_topic_arn", self.notification_topic_arn, SNS_ARN, "an SNS topic ARN")
        check_range("local_port", self.local_port, 1024, 65535)
        check_range("kms_key_deletion_window_days", self.kms_key_deletion_window_days, 7, 30)
        check_pattern("name", self.name, RESOURCE_NAME, "a resource name")
        problems = [
            f"{what}: {problem}"
            for what, rule, value in network_names(self.name)
            if (problem := naming.name_problem(rule, value))
        ]
        if problems:
            raise PropsError("name", "; ".join(problems))

    def _check_network_acl(self) -> None:
        for field_name, needed, problem in NETWORK_ACL_NEEDS:
            if bool(getattr(self, field_name)) != needed:
                raise PropsError(field_name, problem)
        entries = self.network_acl_entries()
        for egress, direction in NETWORK_ACL_DIRECTIONS:
            count = len([e for e in entries if e.egress == egress])
            if count > self.network_acl_rule_quota:
                raise PropsError("network_acl_rule_quota", network_acl_quota_problem(count, direction))

    def network_acl_entries(self) -> tuple[ports.AclEntry, ...]:
        """The network ACL's allow rules: the table from each network, in its roles, and the answers."""
        peers: dict[str, list[Role]] = {}
        for field_name, role in NETWORK_ACL_PEERS:
            for cidr in getattr(self, field_name):
                peers.setdefault(cidr, []).append(role)
        return ports.network_acl_entries(peers, endpoint_cidrs=[self.vpc_cidr])

    @property
    def dc_ingress_rule_count(self) -> int:
        """Inbound rules of the DC security group (a prefix list counted once: AWS counts its max entries):
        the DC <-> DC rows for the group itself, and each pair's rows per source of DC_INGRESS_SOURCES."""
        return len(PORT_PAIRS["dc_to_dc"]) + sum(
            len(PORT_PAIRS[pair]) * sum(len(getattr(self, f)) for f in fields)
            for pair, fields in DC_INGRESS_SOURCES
        )


def slug(value: str) -> str:
    """A source or port as a piece of a Terraform resource name: 10.0.0.0/16 -> 10_0_0_0_16."""
    return re.sub(r"[^A-Za-z0-9]+", "_", value).strip("_")


@dataclass(frozen=True)
class _Source:
    kind: str  # cidr_ipv4 | prefix_list_id | referenced_security_group_id
    value: str
    slug: str


def _sources(
    cidrs: Sequence[str], prefix_lists: Sequence[str] = (), groups: Sequence[str] = ()
) -> list[_Source]:
    return [
        *(_Source("cidr_ipv4", c, slug(c)) for c in cidrs),
        *(_Source("prefix_list_id", p, slug(p)) for p in prefix_lists),
        *(_Source("referenced_security_group_id", g, slug(g)) for g in groups),
    ]


def add_table_rules(
    scope: Construct,
    *,
    egress: bool,
    security_group_id: str,
    rules: Sequence[PortRule],
    peer: _Source,
    prefix: str,
    region: str,
    tags: Mapping[str, str] | None,
) -> None:
    """One security group rule per row and peer; logical ids name the row and the peer (stable addresses)."""
    rule_class = VpcSecurityGroupEgressRule if egress else VpcSecurityGroupIngressRule
    for rule in rules:
        logical_id = f"{prefix}_{rule.protocol}_{slug(rule.port_text)}_{peer.slug}"
        resource = rule_class(
            scope,
            logical_id,
            region=region,
            security_group_id=security_group_id,
            ip_protocol=rule.protocol,
            from_port=rule.from_port,
            to_port=rule.to_port,
            description=rule_description(rule),
            tags=dict(tags) if tags else None,
            **{peer.kind: peer.value},
        )
        resource.override_logical_id(logical_id)


def rule_description(rule: PortRule) -> str:
    """`client to domain-controller: Kerberos authentication`: in the characters EC2 accepts."""
    text = f"{rule.source} to {rule.destination}: {rule.purpose}"
    if not SECURITY_GROUP_DESCRIPTION.fullmatch(text):
        raise ValueError(f"{text!r} holds a character EC2 refuses in a security group description")
    return text


def escape_for_terraform(text: str) -> str:
    """IAM policy variables (${aws:userid}) must reach AWS as written: Terraform reads "$${" as "${"."""
    return text.replace("${", "$${")


class DirectoryNetwork(Construct):
    """The directory account's network for AD (see the module docstring).  Outputs in `outputs`."""

    def __init__(self, scope: Construct, construct_id: str, props: DirectoryNetworkProps) -> None:
        super().__init__(scope, construct_id)
        self.props = p = props
        if p.terraform_inputs:
            self._terraform_network()
            return
        region, name = p.region, p.name
        self.partition = arns.partition_of(region)
        tags = dict(p.tags) or None

        # --- the domain controllers' security group ---
        self.dc_security_group = SecurityGroup(
            self,
            "dc-sg",
            region=region,
            name=dc_security_group_name(name),
            description="Domain controllers: AD ports from members and admins, DC to DC (ec2-domain-join)",
            vpc_id=p.vpc_id,
            tags=tags,
        )
        self.dc_security_group.override_logical_id("dc_security_group")
        dc_sg = self.dc_security_group.id
        for peer in _sources(p.client_cidrs, p.client_prefix_list_ids, p.client_security_group_ids):
            add_table_rules(
                self, egress=False, security_group_id=dc_sg, rules=ports.CLIENT_TO_DC, peer=peer,
                prefix="dc_in_client", region=region, tags=tags,
            )  # fmt: skip
        for peer in _sources(p.admin_cidrs, (), p.admin_security_group_ids):
            add_table_rules(
                self, egress=False, security_group_id=dc_sg, rules=ports.ADMIN_TO_DC, peer=peer,
                prefix="dc_in_admin", region=region, tags=tags,
            )  # fmt: skip
        dc_peers = [
            _Source("referenced_security_group_id", dc_sg, "self"),
            *_sources(p.replication_peer_cidrs),
        ]
        for peer in dc_peers:
            for egress, prefix in ((False, "dc_in_dc"), (True, "dc_out_dc")):
                add_table_rules(
                    self, egress=egress, security_group_id=dc_sg, rules=ports.DC_TO_DC, peer=peer,
                    prefix=prefix, region=region, tags=tags,
                )  # fmt: skip
        https = VpcSecurityGroupEgressRule(
            self,
            "dc_out_https_vpc",
            region=region,
            security_group_id=dc_sg,
            ip_protocol="tcp",
            from_port=ports.HTTPS_PORT,
            to_port=ports.HTTPS_PORT,
            cidr_ipv4=p.vpc_cidr,
            description="DC to interface endpoints in the VPC: SSM agent (Session Manager, Run Command)",
            tags=tags,
        )
        https.override_logical_id("dc_out_https_vpc")

        # --- optional network ACL of the DC subnets (stateless) ---
        self.network_acl: NetworkAcl | None = None
        if p.create_network_acl:
            self._network_acl(tags)

        # --- DNS: outbound endpoint, forward rule, share ---
        resolver_sg = SecurityGroup(
            self,
            "resolver-sg",
            region=region,
            name=f"{resolver_endpoint_name(name)}-endpoint",
            description="Route 53 Resolver outbound endpoint: DNS to the DNS servers of the directory only",
            vpc_id=p.vpc_id,
            tags=tags,
        )
        resolver_sg.override_logical_id("resolver_security_group")
        self.resolver_security_group = resolver_sg
        for ip in p.dns_server_ips:
            for protocol in ports.PROTOCOLS:
                dns = VpcSecurityGroupEgressRule(
                    self,
                    f"resolver_out_dns_{protocol}_{slug(ip)}",
                    region=region,
                    security_group_id=resolver_sg.id,
                    ip_protocol=protocol,
                    from_port=ports.DNS_PORT,
                    to_port=ports.DNS_PORT,
                    cidr_ipv4=f"{ip}/32",
                    description=f"DNS queries for {p.domain_name} to its DNS server {ip}",
                    tags=tags,
                )
                dns.override_logical_id(f"resolver_out_dns_{protocol}_{slug(ip)}")
        self.resolver_endpoint = Route53ResolverEndpoint(
            self,
            "resolver-endpoint",
            region=region,
            name=resolver_endpoint_name(name),
            direction="OUTBOUND",
            protocols=["Do53"],
            security_group_ids=[resolver_sg.id],
            ip_address=[Route53ResolverEndpointIpAddress(subnet_id=s) for s in p.resolver_subnet_ids],
            tags=tags,
        )
        self.resolver_endpoint.override_logical_id("resolver_endpoint")
        self.resolver_rule = Route53ResolverRule(
            self,
            "resolver-rule",
            region=region,
            name=resolver_rule_name(name),
            domain_name=p.domain_name,
            rule_type="FORWARD",
            resolver_endpoint_id=self.resolver_endpoint.id,
            target_ip=[
                Route53ResolverRuleTargetIp(ip=ip, port=ports.DNS_PORT, protocol="Do53")
                for ip in p.dns_server_ips
            ],
            tags=tags,
        )
        self.resolver_rule.override_logical_id("resolver_rule")
        if p.associate_rule_with_vpc:
            association = Route53ResolverRuleAssociation(
                self,
                "resolver-rule-association",
                region=region,
                name=resolver_rule_association_name(name, p.vpc_id),
                resolver_rule_id=self.resolver_rule.id,
                vpc_id=p.vpc_id,
            )
            association.override_logical_id("resolver_rule_association")
        self.resource_share: RamResourceShare | None = None
        if p.share_principals:
            self._share(tags)

        # --- interface endpoints ---
        self.endpoint_security_group: SecurityGroup | None = None
        if p.endpoint_services:
            self.endpoint_security_group = add_interface_endpoints(
                self,
                region=region,
                vpc_id=p.vpc_id,
                vpc_cidr=p.vpc_cidr,
                subnet_ids=p.endpoint_subnet_ids,
                services=p.endpoint_services,
                name=name,
                tags=tags,
            )

        # --- administration without inbound ports, DC protection, notification ---
        self._administration(tags)
        self._notification(tags)

        self.outputs: dict[str, Any] = {
            "dc_security_group_id": self.dc_security_group.id,
            "resolver_security_group_id": resolver_sg.id,
            "resolver_endpoint_id": self.resolver_endpoint.id,
            "resolver_rule_id": self.resolver_rule.id,
            "resource_share_arn": self.resource_share.arn if self.resource_share else None,
            "endpoint_security_group_id": (
                self.endpoint_security_group.id if self.endpoint_security_group else None
            ),
            "port_forwarding_document_name": self.port_forwarding_document.name,
            "admin_policy_arn": self.admin_policy.arn,
            "protection_policy_arn": self.protection_policy.arn,
            "protection_policy_json": self.protection_policy_json,
            "notification_topic_arn": self.topic_arn,
        }

    def _administration(self, tags: dict[str, str] | None) -> None:
        """The RDP port-forwarding document, the AD-admin policy and the DC protection policy (also as JSON
        for an SCP), from the same functions on both paths; in the plain module as `jsonencode` of the
        variables (cdktf escapes the IAM policy variable ${aws:userid} there itself)."""
        p = self.props
        plain = p.terraform_inputs

        def policy_json(document: dict[str, Any]) -> str:
            return iam.to_json(document) if plain else escape_for_terraform(iam.to_json(document))

        local_port = Token.as_string(Fn.tostring(p.local_port)) if plain else p.local_port
        content = rdp_document_content(local_port)
        self.port_forwarding_document = SsmDocument(
            self,
            "rdp-document",
            region=p.region,
            name=port_forwarding_document_name(p.name),
            document_type="Session",
            document_format="JSON",
            content=iam.to_json(content) if plain else json.dumps(content, indent=2),
            tags=tags,
        )
        self.port_forwarding_document.override_logical_id("rdp_port_forwarding_document")
        self.admin_policy_document = admin_policy_document(p)
        self.admin_policy = IamPolicy(
            self,
            "admin-policy",
            name=admin_policy_name(p.name),
            description="AD administrators: RDP to domain controllers by Session Manager port forwarding",
            policy=policy_json(self.admin_policy_document),
            tags=tags,
        )
        self.admin_policy.override_logical_id("ad_admin_policy")
        self.protection_policy_document = protection_policy_document(p)
        self.protection_policy = IamPolicy(
            self,
            "protection-policy",
            name=protection_policy_name(p.name),
            description="Deny stopping, terminating or changing domain controllers, but to AD-admin roles",
            policy=policy_json(self.protection_policy_document),
            tags=tags,
        )
        self.protection_policy.override_logical_id("dc_protection_policy")
        if plain:  # the props' partition check of the exceptions, which only the provider's partition allows
            partition = Token.as_string(p.arn_partition)
            self.protection_policy.add_override(
                "lifecycle.precondition",
                [
                    {
                        "condition": (
                            f"${{alltrue([for arn in {Token.as_string(p.admin_role_arns)} : "
                            f'split(":", arn)[1] == {partition}])}}'
                        ),
                        "error_message": f"admin_role_arns: each must be in partition ${{{partition}}}.",
                    }
                ],
            )
        self.protection_policy_json = (
            self.protection_policy.policy if plain else json.dumps(self.protection_policy_document, indent=2)
        )

    def _terraform_network(self) -> None:
        """The network with Terraform variables as inputs (the plain module): the DC and resolver security
        groups with `for_each` rules over the port table (the `ad_ports` local) times the sources, the
        outbound endpoint and forward rule (dynamic blocks over the subnets and DNS servers), the
        association, the RAM share, the interface endpoints, the optional network ACL (`dc_network_acl_*`
        locals), and the administration and notification from the same functions as the landing-zone path;
        the props' quota and network-ACL checks as preconditions with the props' messages."""
        p = self.props
        region = p.region
        self.dc_security_group = SecurityGroup(
            self,
            "domain-controllers",
            region=region,
            name=dc_security_group_name(p.name),
            description="Domain controllers: AD ports from members and admins, DC to DC (ec2-domain-join)",
            vpc_id=p.vpc_id,
        )
        ingress_rules = f"length(local.{PORT_TABLE_LOCAL}.dc_to_dc) + " + " + ".join(
            f"length(local.{PORT_TABLE_LOCAL}.{pair}) * "
            f"({' + '.join(f'length({Token.as_string(getattr(p, f))})' for f in fields)})"
            for pair, fields in DC_INGRESS_SOURCES
        )
        self.dc_security_group.add_override(
            "lifecycle.precondition",
            [
                {
                    "condition": f"${{{ingress_rules} <= {Token.as_string(p.security_group_rule_quota)}}}",
                    "error_message": (
                        f"security_group_rule_quota: {security_group_quota_problem(f'${{{ingress_rules}}}')}."
                    ),
                }
            ],
        )
        dc_sg = self.dc_security_group.id
        ingress = [
            rows_times("client", "client_to_dc", p.client_cidrs),
            rows_times("client", "client_to_dc", p.client_prefix_list_ids, "prefix_list_id"),
            rows_times("client", "client_to_dc", p.client_security_group_ids, "referenced_security_group_id"),
            rows_times("admin", "admin_to_dc", p.admin_cidrs),
            rows_times("admin", "admin_to_dc", p.admin_security_group_ids, "referenced_security_group_id"),
        ]
        replication = [
            rows_times("dc", "dc_to_dc", None, peer_self=True),
            rows_times("dc", "dc_to_dc", p.replication_peer_cidrs),
        ]
        self.dc_ingress = add_table_rules_for_each(
            self, "domain-controllers-in", egress=False, security_group_id=dc_sg,
            maps=[*ingress, *replication], region=region,
        )  # fmt: skip
        self.dc_egress = add_table_rules_for_each(
            self, "domain-controllers-out", egress=True, security_group_id=dc_sg, maps=replication,
            region=region,
        )  # fmt: skip
        VpcSecurityGroupEgressRule(
            self,
            "domain-controllers-https",
            region=region,
            security_group_id=dc_sg,
            ip_protocol="tcp",
            from_port=ports.HTTPS_PORT,
            to_port=ports.HTTPS_PORT,
            cidr_ipv4=p.vpc_cidr,
            description="DC to interface endpoints in the VPC: SSM agent (Session Manager, Run Command)",
        )

        # --- DNS: outbound endpoint, forward rule, association, share ---
        resolver_sg = SecurityGroup(
            self,
            "resolver",
            region=region,
            name=f"{resolver_endpoint_name(p.name)}-endpoint",
            description="Route 53 Resolver outbound endpoint: DNS to the DNS servers of the directory only",
            vpc_id=p.vpc_id,
        )
        self.resolver_security_group = resolver_sg
        dns = VpcSecurityGroupEgressRule(
            self,
            "resolver-dns",
            region=region,
            security_group_id=resolver_sg.id,
            ip_protocol="${each.value[0]}",
            from_port=ports.DNS_PORT,
            to_port=ports.DNS_PORT,
            cidr_ipv4="${each.value[1]}/32",
            description=f"DNS queries for {p.domain_name} to its DNS server ${{each.value[1]}}",
        )
        protocols = json.dumps(list(ports.PROTOCOLS))
        dns.add_override(
            "for_each",
            f"${{{{for pair in setproduct({protocols}, {Token.as_string(p.dns_server_ips)}) : "
            f'"${{pair[0]}} ${{pair[1]}}" => pair}}}}',
        )
        self.resolver_endpoint = Route53ResolverEndpoint(
            self,
            "outbound",
            region=region,
            name=resolver_endpoint_name(p.name),
            direction="OUTBOUND",
            protocols=["Do53"],
            security_group_ids=[resolver_sg.id],
            ip_address=[],
        )
        self.resolver_endpoint.add_override(
            "dynamic.ip_address",
            {
                "for_each": Token.as_string(p.resolver_subnet_ids),
                "content": {"subnet_id": "${ip_address.value}"},
            },
        )
        self.resolver_rule = Route53ResolverRule(
            self,
            "directory",
            region=region,
            name=resolver_rule_name(p.name),
            domain_name=p.domain_name,
            rule_type="FORWARD",
            resolver_endpoint_id=self.resolver_endpoint.id,
        )
        self.resolver_rule.add_override(
            "dynamic.target_ip",
            {
                "for_each": Token.as_string(p.dns_server_ips),
                "content": {"ip": "${target_ip.value}", "port": ports.DNS_PORT, "protocol": "Do53"},
            },
        )
        association = Route53ResolverRuleAssociation(
            self,
            "association",
            region=region,
            name=resolver_rule_association_name(p.name, p.vpc_id),
            resolver_rule_id=self.resolver_rule.id,
            vpc_id=p.vpc_id,
        )
        association.add_override("count", f"${{{Token.as_string(p.associate_rule_with_vpc)} ? 1 : 0}}")
        sharing = f"length({Token.as_string(p.share_principals)}) > 0 ? 1 : 0"
        share = RamResourceShare(
            self, "share", region=region, name=resource_share_name(p.name), allow_external_principals=False
        )
        share.add_override("count", f"${{{sharing}}}")
        share_arn = f"${{{share.fqn}[0].arn}}"
        shared = RamResourceAssociation(
            self,
            "share-rule",
            region=region,
            resource_arn=self.resolver_rule.arn,
            resource_share_arn=share_arn,
        )
        shared.add_override("count", f"${{{sharing}}}")
        principal = RamPrincipalAssociation(
            self, "share-with", region=region, principal="${each.value}", resource_share_arn=share_arn
        )
        principal.add_override("for_each", f"${{toset({Token.as_string(p.share_principals)})}}")

        # --- interface endpoints ---
        wanted = f"length({Token.as_string(p.endpoint_services)}) > 0 ? 1 : 0"
        endpoint_sg = SecurityGroup(
            self,
            "endpoints",
            region=region,
            name=f"{p.name}-endpoints-{p.vpc_id}",
            description="Interface endpoints (Systems Manager, KMS, Logs): HTTPS from the VPC only",
            vpc_id=p.vpc_id,
        )
        endpoint_sg.add_override("count", f"${{{wanted}}}")
        endpoint_sg_id = f"${{{endpoint_sg.fqn}[0].id}}"
        https = VpcSecurityGroupIngressRule(
            self,
            "endpoints-https",
            region=region,
            security_group_id=endpoint_sg_id,
            ip_protocol="tcp",
            from_port=ports.HTTPS_PORT,
            to_port=ports.HTTPS_PORT,
            cidr_ipv4=p.vpc_cidr,
            description="HTTPS from the VPC to the interface endpoints",
        )
        https.add_override("count", f"${{{wanted}}}")
        endpoint = VpcEndpoint(
            self,
            "endpoint",
            region=region,
            vpc_id=p.vpc_id,
            service_name=f"com.amazonaws.{region}.${{each.value}}",
            vpc_endpoint_type="Interface",
            private_dns_enabled=True,
            subnet_ids=p.endpoint_subnet_ids,
            security_group_ids=[endpoint_sg_id],
        )
        endpoint.add_override("for_each", f"${{toset({Token.as_string(p.endpoint_services)})}}")

        network_acl_id = self._terraform_network_acl()
        self._administration(None)
        self._notification(None)
        self.outputs = {
            "dc_security_group_id": dc_sg,
            "resolver_security_group_id": resolver_sg.id,
            "resolver_endpoint_id": self.resolver_endpoint.id,
            "resolver_rule_id": self.resolver_rule.id,
            "resource_share_arn": share_arn,
            "endpoint_security_group_id": endpoint_sg_id,
            "network_acl_id": network_acl_id,
            "port_forwarding_document_name": self.port_forwarding_document.name,
            "admin_policy_arn": self.admin_policy.arn,
            "admin_policy_json": self.admin_policy.policy,
            "protection_policy_arn": self.protection_policy.arn,
            "protection_policy_json": self.protection_policy_json,
            "notification_topic_arn": self.topic_arn_output,
        }

    def _terraform_network_acl(self) -> str:
        """The optional network ACL of the DC subnets in the plain module: one rule per entry of the
        `dc_network_acl_rules` local (`network_acl_locals()`), the props' checks as preconditions.  Returns
        the ACL's id (of its one instance)."""
        p = self.props
        acl = NetworkAcl(
            self,
            "dc-subnets",
            region=p.region,
            vpc_id=p.vpc_id,
            subnet_ids=p.dc_subnet_ids,
            tags={"Name": f"{p.name}-domain-controllers"},
        )
        acl.add_override("count", f"${{{Token.as_string(p.create_network_acl)} ? 1 : 0}}")
        checks = [
            (
                f"length({Token.as_string(getattr(p, field_name))}) {'>' if needed else '=='} 0",
                f"{field_name}: {problem}.",
            )
            for field_name, needed, problem in NETWORK_ACL_NEEDS
        ]
        for _, direction in NETWORK_ACL_DIRECTIONS:
            count = f"length(local.{NETWORK_ACL_LOCAL}_{direction})"
            checks.append(
                (
                    f"{count} <= {Token.as_string(p.network_acl_rule_quota)}",
                    f"network_acl_rule_quota: {network_acl_quota_problem(f'${{{count}}}', direction)}.",
                )
            )
        acl.add_override(
            "lifecycle.precondition",
            [{"condition": f"${{{condition}}}", "error_message": message} for condition, message in checks],
        )
        acl_id = f"${{{acl.fqn}[0].id}}"
        rule = NetworkAclRule(
            self,
            "dc-subnets-rule",
            region=p.region,
            network_acl_id=acl_id,
            egress=False,
            rule_number=NETWORK_ACL_FIRST_RULE,
            rule_action="allow",
            protocol="tcp",
        )
        rule.add_override("for_each", f"${{local.{NETWORK_ACL_LOCAL}_rules}}")
        for argument in ("egress", "rule_number", "protocol", "from_port", "to_port", "cidr_block"):
            rule.add_override(argument, f"${{each.value.{argument}}}")
        return acl_id

    def _network_acl(self, tags: dict[str, str] | None) -> None:
        p = self.props
        self.network_acl = NetworkAcl(
            self,
            "dc-nacl",
            region=p.region,
            vpc_id=p.vpc_id,
            subnet_ids=list(p.dc_subnet_ids),
            tags={**(tags or {}), "Name": f"{p.name}-domain-controllers"},
        )
        self.network_acl.override_logical_id("dc_network_acl")
        numbers = {False: NETWORK_ACL_FIRST_RULE, True: NETWORK_ACL_FIRST_RULE}
        for entry in p.network_acl_entries():
            direction = "out" if entry.egress else "in"
            ports_text = (
                str(entry.from_port)
                if entry.from_port == entry.to_port
                else f"{entry.from_port}_{entry.to_port}"
            )
            logical_id = f"dc_nacl_{direction}_{entry.protocol}_{ports_text}_{slug(entry.cidr)}"
            acl_rule = NetworkAclRule(
                self,
                logical_id,
                region=p.region,
                network_acl_id=self.network_acl.id,
                egress=entry.egress,
                rule_number=numbers[entry.egress],
                rule_action="allow",
                protocol=entry.protocol,
                from_port=entry.from_port,
                to_port=entry.to_port,
                cidr_block=entry.cidr,
            )
            acl_rule.override_logical_id(logical_id)
            numbers[entry.egress] += NETWORK_ACL_RULE_STEP

    def _share(self, tags: dict[str, str] | None) -> None:
        p = self.props
        share = RamResourceShare(
            self,
            "share",
            region=p.region,
            name=resource_share_name(p.name),
            allow_external_principals=False,
            tags=tags,
        )
        share.override_logical_id("resolver_rule_share")
        self.resource_share = share
        resource = RamResourceAssociation(
            self,
            "share-rule",
            region=p.region,
            resource_arn=self.resolver_rule.arn,
            resource_share_arn=share.arn,
        )
        resource.override_logical_id("resolver_rule_share_resource")
        for principal in p.share_principals:
            logical_id = f"resolver_rule_share_{slug(principal.rsplit(':', 1)[-1])}"
            association = RamPrincipalAssociation(
                self, logical_id, region=p.region, principal=principal, resource_share_arn=share.arn
            )
            association.override_logical_id(logical_id)

    def _notification(self, tags: dict[str, str] | None) -> None:
        """The EventBridge rule (and its dead-letter queue) that tells the AD team of a session or command
        on a DC; its KMS-encrypted topic unless `notification_topic_arn` is given (in the plain module the
        key, alias, topic and topic policy are counted by that choice at plan)."""
        p = self.props
        account, region, name = p.account_id, p.region, p.name
        plain = p.terraform_inputs
        rule_arn = p.arn("events", account, f"rule/{notification_rule_name(name)}")
        own_topic_arn = p.arn("sns", account, notification_topic_name(name))
        if plain:
            self.topic_arn = Token.as_string(Fn.coalesce([p.notification_topic_arn, own_topic_arn]))
        else:
            self.topic_arn = p.notification_topic_arn or own_topic_arn
        self.topic_arn_output = self.topic_arn
        self.notification_key: KmsKey | None = None
        if plain or p.notification_topic_arn is None:
            key_policy = iam.policy_document(
                [
                    iam.resource_statement(
                        "AccountAdministersKey",
                        {"AWS": arns.account_root_arn(p.arn_partition, account)},
                        ["kms:*"],
                        "*",
                    ),
                    # As AWS documents it for EventBridge -> an encrypted topic: no source condition reaches
                    # the key (SNS calls KMS); the topic policy admits only this rule; the key serves only it
                    iam.resource_statement(
                        "EventBridgePublishesToTheTopic",
                        {"Service": arns.service_principal("events")},
                        ["kms:Decrypt", "kms:GenerateDataKey"],
                        "*",
                    ),
                ]
            )
            self.notification_key = KmsKey(
                self,
                "notification-key",
                region=region,
                description="ec2-domain-join: notifications of sessions and commands on domain controllers",
                enable_key_rotation=True,
                deletion_window_in_days=p.kms_key_deletion_window_days,
                policy=iam.to_json(key_policy),
                tags=tags,
            )
            self.notification_key.override_logical_id("notification_key")
            key = self.notification_key

            def attribute(resource: KmsKey | SnsTopic, name: str) -> str:
                """`resource`'s attribute; the first instance's when the plain module counts it."""
                return f"${{{resource.fqn}[0].{name}}}" if plain else str(getattr(resource, name))

            alias = KmsAlias(
                self,
                "notification-key-alias",
                region=region,
                name=notification_key_alias(name),
                target_key_id=attribute(key, "key_id"),
            )
            alias.override_logical_id("notification_key_alias")
            topic = SnsTopic(
                self,
                "topic",
                region=region,
                name=notification_topic_name(name),
                kms_master_key_id=attribute(key, "arn"),
                tags=tags,
            )
            topic.override_logical_id("notification_topic")
            self.topic_policy_document = iam.policy_document(
                [
                    iam.deny_insecure_transport(own_topic_arn, "sns:Publish"),
                    iam.resource_statement(
                        "NotificationRulePublishes",
                        {"Service": arns.service_principal("events")},
                        ["sns:Publish"],
                        own_topic_arn,
                        conditions={"ArnEquals": {"aws:SourceArn": rule_arn}},
                    ),
                ]
            )
            topic_policy = SnsTopicPolicy(
                self,
                "topic-policy",
                region=region,
                arn=attribute(topic, "arn"),
                policy=iam.to_json(self.topic_policy_document),
            )
            topic_policy.override_logical_id("notification_topic_policy")
            if plain:
                given = Token.as_string(p.notification_topic_arn)
                counted = f"${{{given} == null ? 1 : 0}}"
                for resource in (key, alias, topic, topic_policy):
                    resource.add_override("count", counted)
                # the output reads the created topic's ARN from the resource, so a caller's subscription
                # waits for the topic (the rule's target keeps the ARN known at plan, as the stacks have it)
                self.topic_arn_output = f"${{{given} == null ? {topic.fqn}[0].arn : {given}}}"
        dlq_name = notification_dead_letter_queue_name(name)
        dlq_arn = p.arn("sqs", account, dlq_name)
        dlq = SqsQueue(
            self,
            "notification-dlq",
            region=region,
            name=dlq_name,
            sqs_managed_sse_enabled=True,
            message_retention_seconds=14 * 24 * 3600,
            tags=tags,
        )
        dlq.override_logical_id("notification_dlq")
        self.dead_letter_queue_policy_document = iam.policy_document(
            [
                iam.deny_insecure_transport(dlq_arn, "sqs:*"),
                iam.resource_statement(
                    "NotificationRuleDeadLetters",
                    {"Service": arns.service_principal("events")},
                    ["sqs:SendMessage"],
                    dlq_arn,
                    conditions={"ArnEquals": {"aws:SourceArn": rule_arn}},
                ),
            ]
        )
        dlq_policy = SqsQueuePolicy(
            self,
            "notification-dlq-policy",
            region=region,
            queue_url=dlq.url,
            policy=iam.to_json(self.dead_letter_queue_policy_document),
        )
        dlq_policy.override_logical_id("notification_dlq_policy")
        self.notification_rule = rule_with_target(
            self,
            "notification-rule",
            name=notification_rule_name(name),
            description="Session Manager session or Run Command on a domain controller: notify the AD team",
            event_bus_name="default",
            event_pattern=session_or_command_pattern_json(p),
            tags=tags,
            delivery=Delivery(target_id="ad-team-topic", arn=self.topic_arn, dead_letter_arn=dlq.arn),
        )
        self.notification_rule.add_override("region", region)
        target = self.node.find_child("notification-target")
        target.add_override("region", region)  # type: ignore[attr-defined]
        target.override_logical_id("notification_target")  # type: ignore[attr-defined]


# --- the same construct fed with Terraform variables (the plain module) -------------------------------------
TERRAFORM_LISTS: Final = (
    "dns_server_ips",
    "resolver_subnet_ids",
    "client_cidrs",
    "client_prefix_list_ids",
    "client_security_group_ids",
    "admin_cidrs",
    "admin_security_group_ids",
    "replication_peer_cidrs",
    "share_principals",
    "endpoint_services",
    "endpoint_subnet_ids",
    "dc_subnet_ids",
    "dc_subnet_cidrs",
    "admin_role_arns",
    "dc_instance_ids",
)
PORT_TABLE_LOCAL: Final = "ad_ports"
"""The plain modules' `locals` value holding the port table (`port_table_locals()`), rows by role pair."""


def port_table_locals() -> dict[str, Any]:
    """The port table (modules/ports.py) as a Terraform `locals` value: one list of rows per role pair,
    each row {key, protocol, from_port, to_port, description}; `key` is unique in its list."""
    pairs = PORT_PAIRS
    return {
        PORT_TABLE_LOCAL: {
            pair: [
                {
                    "key": rule.key,
                    "protocol": rule.protocol,
                    "from_port": rule.from_port,
                    "to_port": rule.to_port,
                    "description": rule_description(rule),
                }
                for rule in rules
            ]
            for pair, rules in pairs.items()
        }
    }


NETWORK_ACL_LOCAL: Final = "dc_network_acl"
"""Prefix of the plain directory-network module's `locals` of the network ACL (`network_acl_locals()`)."""
NETWORK_ACL_ENDPOINTS: Final = "endpoints"
NETWORK_ACL_ROLE_KEYS: Final = {Role.CLIENT: "client", Role.ADMIN: "admin", Role.DOMAIN_CONTROLLER: "dc"}


def network_acl_role_sets() -> dict[str, list[dict[str, Any]]]:
    """Each set of roles one network can play towards the DCs, named `client+dc`, ... (`endpoints`: it is the
    VPC's CIDR, where the interface endpoints are) -> the entries `ports.network_acl_entries` gives such a
    network, in its order.  The plain module looks each network's entries up here: the port table and the
    merging of ranges stay in Python, never retyped in HCL."""
    stand_in = "192.0.2.0/24"  # TEST-NET-1, replaced by each network in the module
    roles = list(NETWORK_ACL_ROLE_KEYS)
    sets: dict[str, list[dict[str, Any]]] = {}
    for mask in range(1, 2 ** (len(roles) + 1)):
        chosen = [role for bit, role in enumerate(roles) if mask >> bit & 1]
        endpoints = bool(mask >> len(roles) & 1)
        names = [NETWORK_ACL_ROLE_KEYS[role] for role in chosen] + [NETWORK_ACL_ENDPOINTS] * endpoints
        entries = ports.network_acl_entries(
            {stand_in: chosen} if chosen else {}, endpoint_cidrs=[stand_in] if endpoints else []
        )
        sets["+".join(names)] = [
            {"egress": e.egress, "protocol": e.protocol, "from_port": e.from_port, "to_port": e.to_port}
            for e in entries
        ]
    return sets


def _hcl_value(value: Any) -> str:
    if isinstance(value, dict):
        return "{ " + ", ".join(f"{k} = {_hcl_value(v)}" for k, v in value.items()) + " }"
    return json.dumps(value)


def network_acl_locals() -> dict[str, str]:
    """The plain directory-network module's `locals` of the network ACL, as Terraform expressions: the role
    sets' entries (`network_acl_role_sets()`); the networks (NETWORK_ACL_PEERS' CIDRs and the VPC's, sorted
    as `ports.network_acl_entries` sorts them), each with the entries of its role set; those split by
    direction; and the rules keyed `<in|out> <protocol> <ports> <cidr>`, numbered per direction as the
    construct numbers them.  Empty unless `create_network_acl`."""
    name = NETWORK_ACL_LOCAL
    sets = ", ".join(
        f"{json.dumps(key)} = [{', '.join(_hcl_value(entry) for entry in entries)}]"
        for key, entries in network_acl_role_sets().items()
    )
    fields = [field_name for field_name, _ in NETWORK_ACL_PEERS]
    networks = f"concat({', '.join(f'var.{f}' for f in fields)}, [var.vpc_cidr])"
    role_tests = []
    for role, key in NETWORK_ACL_ROLE_KEYS.items():
        lists = [f"var.{f}" for f, peer_role in NETWORK_ACL_PEERS if peer_role == role]
        listed = lists[0] if len(lists) == 1 else f"concat({', '.join(lists)})"
        role_tests.append(f'contains({listed}, cidr) ? "{key}" : ""')
    role_tests.append(f'cidr == var.vpc_cidr ? "{NETWORK_ACL_ENDPOINTS}" : ""')
    role_set = f'join("+", compact([{", ".join(role_tests)}]))'
    ports_text = (
        'entry.from_port == entry.to_port ? tostring(entry.from_port) : format("%d-%d", entry.from_port, '
        "entry.to_port)"
    )
    rules = ", ".join(
        f"{{ for index, entry in local.{name}_{direction} : "
        f'format("%s %s %s %s", "{"out" if egress else "in"}", entry.protocol, {ports_text}, '
        "entry.cidr_block) "
        f"=> merge(entry, {{ rule_number = {NETWORK_ACL_FIRST_RULE} + {NETWORK_ACL_RULE_STEP} * index }}) }}"
        for egress, direction in NETWORK_ACL_DIRECTIONS
    )
    return {
        f"{name}_by_roles": f"${{{{ {sets} }}}}",
        f"{name}_networks": f"${{var.create_network_acl ? sort(distinct({networks})) : []}}",
        f"{name}_entries": (
            f"${{flatten([for cidr in local.{name}_networks : "
            f"[for entry in local.{name}_by_roles[{role_set}] : merge(entry, {{ cidr_block = cidr }})]])}}"
        ),
        **{
            f"{name}_{direction}": (
                f"${{[for entry in local.{name}_entries : entry if {'' if egress else '!'}entry.egress]}}"
            )
            for egress, direction in NETWORK_ACL_DIRECTIONS
        },
        f"{name}_rules": f"${{merge({rules})}}",
    }


def rows_times(label: str, pair: str, sources: Any, kind: str = "cidr_ipv4", peer_self: bool = False) -> str:
    """A Terraform expression: the map of the port table rows of `pair` times the list `sources` (a token),
    keyed `<label> <row key> <source>`, each value the row plus the source in `kind` (the other peer kinds
    null).  `peer_self`: the one peer is the rule's own security group (no `sources`)."""
    kinds = ("cidr_ipv4", "prefix_list_id", "referenced_security_group_id")
    rows = f"local.{PORT_TABLE_LOCAL}.{pair}"
    if peer_self:
        peer = ", ".join(f"{k} = null" for k in kinds)
        return (
            f'{{for row in {rows} : "{label} ${{row.key}} self" => merge(row, {{{peer}, own_group = true}})}}'
        )
    peer = ", ".join(f"{k} = {'pair[1]' if k == kind else 'null'}" for k in kinds)
    return (
        f"{{for pair in setproduct({rows}, {Token.as_string(sources)}) : "
        f'"{label} ${{pair[0].key}} ${{pair[1]}}" => merge(pair[0], {{{peer}, own_group = false}})}}'
    )


def add_table_rules_for_each(
    scope: Construct,
    construct_id: str,
    *,
    egress: bool,
    security_group_id: str,
    maps: Sequence[str],
    region: Any,
) -> VpcSecurityGroupIngressRule | VpcSecurityGroupEgressRule:
    """One rule resource with `for_each` over the merged `maps` (`rows_times`): one instance per row and
    peer, at a stable key, whatever the number of sources the variables hold at plan."""
    rule_class = VpcSecurityGroupEgressRule if egress else VpcSecurityGroupIngressRule
    resource = rule_class(
        scope,
        construct_id,
        region=region,
        security_group_id=security_group_id,
        ip_protocol="${each.value.protocol}",
        description="${each.value.description}",
    )
    resource.add_override("for_each", "${merge(" + ", ".join(maps) + ")}")
    for argument in ("from_port", "to_port", "cidr_ipv4", "prefix_list_id"):
        resource.add_override(argument, f"${{each.value.{argument}}}")
    own = Token.as_string(security_group_id)
    resource.add_override(
        "referenced_security_group_id",
        f"${{each.value.own_group ? {own} : each.value.referenced_security_group_id}}",
    )
    return resource


def add_interface_endpoints(
    scope: Construct,
    *,
    region: str,
    vpc_id: str,
    vpc_cidr: str,
    subnet_ids: Sequence[str],
    services: Sequence[str],
    name: str,
    tags: Mapping[str, str] | None,
    prefix: str = "",
) -> SecurityGroup:
    """Interface endpoints with private DNS, behind a security group that admits HTTPS from the VPC only."""
    tag_map = dict(tags) if tags else None
    group = SecurityGroup(
        scope,
        f"{prefix}endpoint-sg",
        region=region,
        name=f"{name}-endpoints-{vpc_id}",
        description="Interface endpoints (Systems Manager, KMS, Logs): HTTPS from the VPC only",
        vpc_id=vpc_id,
        tags=tag_map,
    )
    group.override_logical_id(f"{slug(prefix)}endpoint_security_group".lstrip("_"))
    https = VpcSecurityGroupIngressRule(
        scope,
        f"{prefix}endpoint-https",
        region=region,
        security_group_id=group.id,
        ip_protocol="tcp",
        from_port=ports.HTTPS_PORT,
        to_port=ports.HTTPS_PORT,
        cidr_ipv4=vpc_cidr,
        description="HTTPS from the VPC to the interface endpoints",
        tags=tag_map,
    )
    https.override_logical_id(f"{slug(prefix)}endpoint_in_https_vpc".lstrip("_"))
    for service in services:
        endpoint = VpcEndpoint(
            scope,
            f"{prefix}endpoint-{service}",
            region=region,
            vpc_id=vpc_id,
            service_name=endpoint_service_name(region, service),
            vpc_endpoint_type="Interface",
            private_dns_enabled=True,
            subnet_ids=list(subnet_ids),
            security_group_ids=[group.id],
            tags=tag_map,
        )
        endpoint.override_logical_id(f"{slug(prefix)}endpoint_{service}".lstrip("_"))
    return group


def rdp_document_content(local_port: int | str = DEFAULT_LOCAL_PORT) -> dict[str, Any]:
    """A Session document of type Port whose remote port is RDP, fixed: the admin picks the local port
    (a number, or the Terraform expression of one in the plain module)."""
    return {
        "schemaVersion": "1.0",
        "description": "Forward a local port to Remote Desktop (3389) on the instance; no other port",
        "sessionType": "Port",
        "parameters": {
            "localPortNumber": {
                "type": "String",
                "description": "Port on the admin's computer (0: any free port)",
                "allowedPattern": LOCAL_PORT_PATTERN,
                "default": str(local_port),
            }
        },
        "properties": {
            "portNumber": str(ports.RDP_PORT),
            "type": "LocalPortForwarding",
            "localPortNumber": "{{ localPortNumber }}",
        },
    }


def admin_policy_document(p: DirectoryNetworkProps) -> dict[str, Any]:
    """AD administrators: port-forwarding sessions to DC-tagged instances only, and only their own."""
    region, account = p.region, p.account_id
    documents = [
        p.arn("ssm", account, f"document/{port_forwarding_document_name(p.name)}"),
        p.arn("ssm", "", f"document/{PORT_FORWARDING_DOCUMENT}"),
    ]
    access_check = {"BoolIfExists": {"ssm:SessionDocumentAccessCheck": "true"}}
    return iam.policy_document(
        [
            iam.statement(
                "StartSessionsWithPortForwardingDocumentsOnly",
                ["ssm:StartSession"],
                documents,
                conditions=access_check,
            ),
            iam.statement(
                "StartSessionsOnDomainControllersOnly",
                ["ssm:StartSession"],
                p.arn("ec2", account, "instance/*"),
                conditions={
                    "StringEquals": keyed("ssm:resourceTag/", p.dc_tag_key, p.dc_tag_value),
                    **access_check,
                },
            ),
            iam.statement(
                "EndOrResumeOwnSessionsOnly",
                ["ssm:TerminateSession", "ssm:ResumeSession"],
                p.arn("ssm", account, "session/${aws:userid}-*"),
            ),
            # Listing has no resource-level permissions: "*" is the only valid resource.
            iam.statement(
                "FindDomainControllersAndSessions",
                ["ec2:DescribeInstances", "ssm:DescribeInstanceInformation", "ssm:DescribeSessions"],
                "*",
                conditions={"StringEquals": {"aws:RequestedRegion": region}},
            ),
        ]
    )


PROTECTED_ACTIONS: Final = (
    "ec2:StopInstances",
    "ec2:TerminateInstances",
    "ec2:ModifyInstanceAttribute",
    "ec2:ModifyInstanceMetadataOptions",
)


def protection_policy_document(p: DirectoryNetworkProps) -> dict[str, Any]:
    """Deny stop, terminate and attribute changes of DC-tagged instances, and removing or changing the DC tag
    (which would lift the protection), to every principal but the AD-admin roles.  Usable as an SCP."""
    instances = p.arn("ec2", "*", "instance/*", region="*")
    admins = p.admin_role_arns if is_token(p.admin_role_arns) else list(p.admin_role_arns)
    not_admin = {"ArnNotLike": {"aws:PrincipalArn": admins}}
    dc_tagged = keyed("aws:ResourceTag/", p.dc_tag_key, p.dc_tag_value)
    return iam.policy_document(
        [
            iam.statement(
                "ProtectDomainControllers",
                list(PROTECTED_ACTIONS),
                instances,
                conditions={"StringEquals": dc_tagged, **not_admin},
                effect="Deny",
            ),
            iam.statement(
                "ProtectTheDomainControllerTag",
                ["ec2:CreateTags", "ec2:DeleteTags"],
                instances,
                conditions={
                    "StringEquals": dc_tagged,
                    "ForAnyValue:StringEquals": {"aws:TagKeys": [p.dc_tag_key]},
                    **not_admin,
                },
                effect="Deny",
            ),
        ]
    )


def session_or_command_pattern(
    p: DirectoryNetworkProps, *, by_instance: bool | None = None
) -> dict[str, Any]:
    """CloudTrail events of StartSession / SendCommand that name a DC (by id, or by the DC tag for commands);
    every one in the account and Region when no DC instance ids are given.  `by_instance` forces one of the
    two forms (the plain module emits both and chooses at plan)."""
    detail: dict[str, Any] = {
        "eventSource": ["ssm.amazonaws.com"],
        "eventName": ["StartSession", "SendCommand"],
    }
    if bool(p.dc_instance_ids) if by_instance is None else by_instance:
        ids = p.dc_instance_ids if is_token(p.dc_instance_ids) else list(p.dc_instance_ids)
        detail["$or"] = [
            {"requestParameters": {"target": ids}},
            {"requestParameters": {"instanceIds": ids}},
            {"requestParameters": {"targets": {"key": [f"tag:{p.dc_tag_key}"], "values": [p.dc_tag_value]}}},
        ]
    return {"source": ["aws.ssm"], "detail-type": ["AWS API Call via CloudTrail"], "detail": detail}


def session_or_command_pattern_json(p: DirectoryNetworkProps) -> str:
    """The event pattern as the rule's argument; in the plain module the form is chosen at plan, by whether
    `dc_instance_ids` is empty."""
    if not is_token(p.dc_instance_ids):
        return json.dumps(session_or_command_pattern(p))
    listed = Op.gt(Fn.length_of(p.dc_instance_ids), Token.as_number("0"))
    return Token.as_string(
        Fn.conditional(
            listed,
            Fn.jsonencode(session_or_command_pattern(p, by_instance=True)),
            Fn.jsonencode(session_or_command_pattern(p, by_instance=False)),
        )
    )


def keyed(prefix: str, tag_key: str, value: Any) -> Any:
    """The condition body {prefix + tag_key: value}; with a Terraform value as the tag key (the plain module's
    variable), the expression that builds it (cdktf cannot write an object key that holds a variable)."""
    if is_token(tag_key):
        return Fn.zipmap([Fn.format(f"{prefix}%s", [tag_key])], [value])
    return {f"{prefix}{tag_key}": value}
