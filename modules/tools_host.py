"""ToolsHost: the AD tools host's identity (role, instance profile) and, optionally, the instance itself.

The tools host runs `DomainJoin-Prestage` and `DomainJoin-Remove` in the security account's home Region.
Its role may do exactly what those scripts and the SSM agent need, and nothing else:

- the SSM agent's Run Command and Session Manager channels (`ec2messages:*`, `ssmmessages:*` calls, which
  have no resource-level permissions, and `ssm:UpdateInstanceInformation` on this account's instances);
- `ssm:GetParameter` on exactly the directories' join-password parameters;
- `kms:Decrypt` of those parameters only through SSM (`kms:ViaService`) and only for them (the
  `PARAMETER_ARN` encryption context SSM sends), when they are encrypted with a customer managed key.

The join-password SecureString itself is never created here: its value would be in Terraform state.
Create it once, out of band (docs/modules.md shows the command).

Optionally (`instance`), the instance: Amazon Linux 2023 (or Windows Server 2022) from the public SSM AMI
parameter, IMDSv2 only, encrypted root volume, no public address, user data that installs the directory
tools, and a security group whose egress is the AD client port table to the domain controllers plus HTTPS
for Systems Manager.

Example::

    ToolsHost(stack, "tools-host", ToolsHostProps(
        account_id="111111111111", region="eu-west-1",
        password_parameter_names=("/domain-join/join-password",),
        instance=ToolsHostInstanceProps(
            vpc_id="vpc-0abc", subnet_id="subnet-0abc", dc_cidrs=("10.0.0.0/24",)
        ),
    ))
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, cast

from cdktf_cdktf_provider_aws.data_aws_ssm_parameter import DataAwsSsmParameter
from cdktf_cdktf_provider_aws.iam_instance_profile import IamInstanceProfile
from cdktf_cdktf_provider_aws.iam_role import IamRole
from cdktf_cdktf_provider_aws.iam_role_policy import IamRolePolicy
from cdktf_cdktf_provider_aws.instance import (
    Instance,
    InstanceMetadataOptions,
    InstanceRootBlockDevice,
)
from cdktf_cdktf_provider_aws.security_group import SecurityGroup
from cdktf_cdktf_provider_aws.vpc_security_group_egress_rule import VpcSecurityGroupEgressRule
from constructs import Construct

from handlers.domain_join import patterns as shared
from handlers.domain_join import settings
from handlers.domain_join.contract import (
    INVENTORY_OUTPUT_PREFIX,
    SEAL_CONTEXT_PURPOSE,
    SEAL_PURPOSE_PRESTAGE,
)

from . import arns, iam, ports
from .cdk import Fn, Op, Token, is_token
from .patterns import ACCOUNT_ID, AMI_ID, KMS_KEY_ARN, REGION, RESOURCE_NAME
from .validation import PropsError, check_each, check_pattern, check_setting, str_default

LINUX_AMI_PARAMETER = "/aws/service/ami-amazon-linux-latest/al2023-ami-kernel-default-x86_64"
WINDOWS_AMI_PARAMETER = "/aws/service/ami-windows-latest/Windows_Server-2022-English-Full-Base"
LINUX_USER_DATA = """#!/bin/bash
# ec2-domain-join tools host: the directory tools DomainJoin-Prestage and DomainJoin-Remove run.
set -euo pipefail
dnf install -y adcli krb5-workstation openldap-clients cyrus-sasl-gssapi jq
"""
WINDOWS_USER_DATA = """<powershell>
# ec2-domain-join tools host: the ActiveDirectory module DomainJoin-Prestage and DomainJoin-Remove use.
Set-StrictMode -Version Latest
$ErrorActionPreference = 'Stop'
Install-WindowsFeature -Name RSAT-AD-PowerShell
</powershell>
"""
VPC_ID = "vpc-"
SUBNET_ID = "subnet-"
HTTPS = 443
PLATFORMS = ("linux", "windows")
INSTANCE_TYPES = {"linux": "t3.small", "windows": "t3.medium"}  # the defaults of `instance_type`
AMI_PARAMETERS = {"linux": LINUX_AMI_PARAMETER, "windows": WINDOWS_AMI_PARAMETER}
USER_DATA = {"linux": LINUX_USER_DATA, "windows": WINDOWS_USER_DATA}
HTTPS_EGRESS_DESCRIPTION = "Systems Manager (agent channels, Run Command)"
SECURITY_GROUP_DESCRIPTION = (
    "ec2-domain-join tools host: AD client ports to the DCs, HTTPS to Systems Manager"
)


def tools_host_role_name(name: str) -> str:
    return f"{name}-tools-host"


def egress_description(rule: ports.PortRule) -> str:
    """An egress rule's description: the port's purpose (EC2 takes at most 255 characters)."""
    return rule.purpose[:255]


@dataclass(frozen=True, kw_only=True)
class ToolsHostInstanceProps:
    """The tools-host instance, when the module should create it.

    Parameters:
        vpc_id: the VPC of the instance (``vpc-…``). Required.
        subnet_id: a private subnet that reaches the domain controllers (``subnet-…``). Required.
        dc_cidrs: the domain controllers' networks; egress is the AD client port table to each. Required.
        https_egress_cidrs: where Systems Manager is reached on 443. Default ``("0.0.0.0/0",)`` (through a
            NAT gateway); with the SSM interface endpoints, give the VPC CIDR.
        platform: ``linux`` (Amazon Linux 2023, adcli) or ``windows`` (Windows Server 2022,
            RSAT-AD-PowerShell). Default ``linux``.
        instance_type: default ``t3.small`` (Linux) / ``t3.medium`` (Windows).
        ami_parameter: public SSM parameter of the AMI. Default: the latest image of the platform.
        ami_id: a given AMI (``ami-…``) instead of the parameter's: no SSM read at plan. Default None.
    """

    vpc_id: str
    subnet_id: str
    dc_cidrs: Sequence[str]
    https_egress_cidrs: Sequence[str] = ("0.0.0.0/0",)
    platform: str = "linux"
    instance_type: str | None = None
    ami_parameter: str | None = None
    ami_id: str | None = None

    def __post_init__(self) -> None:
        if not (isinstance(self.vpc_id, str) and self.vpc_id.startswith(VPC_ID)):
            raise PropsError("instance.vpc_id", f"{self.vpc_id!r} is not a VPC id (vpc-…)")
        if not (isinstance(self.subnet_id, str) and self.subnet_id.startswith(SUBNET_ID)):
            raise PropsError("instance.subnet_id", f"{self.subnet_id!r} is not a subnet id (subnet-…)")
        if self.platform not in PLATFORMS:
            raise PropsError("instance.platform", f"{self.platform!r} must be linux or windows")
        if self.ami_id is not None:
            check_pattern("instance.ami_id", self.ami_id, AMI_ID, "an AMI id (ami-…)")
        try:
            ports.egress_rules(self.dc_cidrs)
            ports.egress_rules(self.https_egress_cidrs)
        except ValueError as error:
            raise PropsError("instance.dc_cidrs", str(error)) from None


@dataclass(frozen=True, kw_only=True)
class ToolsHostProps:
    """Inputs of ToolsHost.

    Parameters:
        account_id: the security account (where the hub runs). Required.
        region: the hub's home Region. Required.
        password_parameter_names: the join-password SecureStrings the host reads (the directories'
            ``join_password_parameter``). Required, at least one.
        password_kms_key_arn: the customer managed key of those parameters; None (default): the AWS managed
            key ``aws/ssm``, which SSM uses on the role's behalf without a KMS grant.
        name: prefix of the role and profile names. Default ``domain-join``.
        tag_key / tag_value: the tools-host tag the handler looks for. Default from the settings table
            (``ADToolsHost`` / ``true``).
        instance: create the instance too. Default None (bring your own host; attach the profile).
        tags: tags of every resource. Default none.
        partition / dns_suffix: ARN partition and DNS suffix of the service principals. Default None: the
            Region's (botocore's data); a plain module passes `data.aws_partition`.
    """

    account_id: str
    region: str
    password_parameter_names: Sequence[str]
    password_kms_key_arn: str | None = None
    name: str = "domain-join"
    tag_key: str = str_default(settings.TOOLS_HOST_TAG_KEY)
    tag_value: str = str_default(settings.TOOLS_HOST_TAG_VALUE)
    instance: ToolsHostInstanceProps | None = None
    tags: dict[str, str] = field(default_factory=dict)
    partition: str | None = None
    dns_suffix: str | None = None

    @property
    def arn_partition(self) -> str:
        return self.partition if self.partition is not None else arns.partition_of(self.region)

    @property
    def partition_dns_suffix(self) -> str:
        return self.dns_suffix if self.dns_suffix is not None else arns.dns_suffix_of(self.region)

    def __post_init__(self) -> None:
        check_pattern("account_id", self.account_id, ACCOUNT_ID, "a 12-digit account id")
        check_pattern("region", self.region, REGION, "an AWS Region name")
        check_pattern("name", self.name, RESOURCE_NAME, "a resource name")
        if not self.password_parameter_names:
            raise PropsError("password_parameter_names", "name at least one join-password parameter")
        check_each(
            "password_parameter_names",
            self.password_parameter_names,
            shared.SSM_PARAMETER_NAME,
            "a parameter name",
        )
        if self.password_kms_key_arn is not None:
            check_pattern("password_kms_key_arn", self.password_kms_key_arn, KMS_KEY_ARN, "a KMS key ARN")
        check_setting(settings.TOOLS_HOST_TAG_KEY, self.tag_key)
        check_setting(settings.TOOLS_HOST_TAG_VALUE, self.tag_value)


def parameter_arn(partition: str, region: str, account_id: str, name: str) -> str:
    """A parameter's ARN: names with a leading '/' drop it (the ARN already has `parameter/`)."""
    return arns.arn(partition, "ssm", region, account_id, f"parameter/{name.removeprefix('/')}")


def parameter_arns(partition: str, region: str, account_id: str, names: Sequence[str]) -> list[str]:
    """The parameters' ARNs; `names` may be a Terraform list (a plain module's variable): then one
    expression builds them at plan, as `parameter_arn` does."""
    if is_token(names):
        # Parameter names hold no ",": one regex replace over the joined list drops each leading "/".
        bare = Fn.split(",", Fn.replace(Fn.join(",", names), "/(^|,)//", "$1"))
        template = arns.arn(partition, "ssm", region, account_id, "parameter/%s")
        return Token.as_list(Fn.formatlist(template, [bare]))
    return [parameter_arn(partition, region, account_id, name) for name in names]


def tools_host_policy(props: ToolsHostProps, partition: str, dns_suffix: str) -> dict[str, object]:
    """The tools host's permissions: the SSM agent's channels, the join passwords, their key via SSM only."""
    parameters = parameter_arns(partition, props.region, props.account_id, props.password_parameter_names)
    statements = [
        iam.statement(
            "AgentRegistersItself",
            ["ssm:UpdateInstanceInformation"],
            arns.arn(partition, "ec2", props.region, props.account_id, "instance/*"),
        ),
        # Neither service supports resource-level permissions: the agent's message and session channels.
        iam.statement(
            "AgentChannels",
            [
                "ec2messages:AcknowledgeMessage",
                "ec2messages:DeleteMessage",
                "ec2messages:FailMessage",
                "ec2messages:GetEndpoint",
                "ec2messages:GetMessages",
                "ec2messages:SendReply",
                "ssmmessages:CreateControlChannel",
                "ssmmessages:CreateDataChannel",
                "ssmmessages:OpenControlChannel",
                "ssmmessages:OpenDataChannel",
            ],
            "*",
        ),
        iam.statement("ReadJoinPasswords", ["ssm:GetParameter"], parameters),
    ]
    if props.password_kms_key_arn is not None:
        decrypt = iam.statement(
            "DecryptJoinPasswordsThroughSsmOnly",
            ["kms:Decrypt"],
            props.password_kms_key_arn,
            conditions={
                "StringEquals": {"kms:ViaService": f"ssm.{props.region}.{dns_suffix}"},
                "ForAnyValue:StringEquals": {"kms:EncryptionContext:PARAMETER_ARN": parameters},
            },
        )
        if is_token(props.password_kms_key_arn):  # a plain module's variable: the statement only when set
            unset = Op.eq(props.password_kms_key_arn, Token.null_value())
            joined = Token.as_list(Fn.concat([statements, Fn.conditional(unset, [], [decrypt])]))
            return iam.policy_document(cast(list[iam.Statement], joined))  # one Terraform list token
        statements.append(decrypt)
    return iam.policy_document(statements)


def sealed_prestage_policy(key_arn: str) -> dict[str, object]:
    """kms:Decrypt of the hub key, only under the prestage encryption context: the sealed prestage lists
    (docs/handler.md "Sealed one-time passwords"); the hub key policy admits this role for it."""
    purpose = f"kms:EncryptionContext:{SEAL_CONTEXT_PURPOSE}"
    return iam.policy_document(
        [
            iam.statement(
                "OpenSealedPrestageLists",
                ["kms:Decrypt"],
                key_arn,
                conditions={"StringEquals": {purpose: SEAL_PURPOSE_PRESTAGE}},
            )
        ]
    )


def inventory_writer_policy(bucket_arn: str, key_arn: str, region: str, dns_suffix: str) -> dict[str, object]:
    """What Run Command's S3 output of `DomainJoin-Inventory` needs (docs/reconcile.md): put objects under
    exactly the planner's output prefix (`contract.INVENTORY_OUTPUT_KEY_PREFIX`), read the bucket's default
    encryption (the agent asks for it), and use the hub key only through S3 for this bucket (SSE-KMS with a
    bucket key: S3's encryption context is the bucket ARN); kms:Decrypt because an output above the
    multipart threshold is uploaded in parts, which S3 decrypts to complete."""
    return iam.policy_document(
        [
            iam.statement(
                "WriteInventoryOutput", ["s3:PutObject"], f"{bucket_arn}/{INVENTORY_OUTPUT_PREFIX}*"
            ),
            iam.statement("ReadInventoryBucketEncryption", ["s3:GetEncryptionConfiguration"], bucket_arn),
            iam.statement(
                "EncryptInventoryThroughS3Only",
                ["kms:GenerateDataKey", "kms:Decrypt"],
                key_arn,
                conditions={
                    "StringEquals": {
                        "kms:ViaService": f"s3.{region}.{dns_suffix}",
                        "kms:EncryptionContext:aws:s3:arn": bucket_arn,
                    }
                },
            ),
        ]
    )


class ToolsHost(Construct):
    """The tools host's role and instance profile, and optionally its instance and security group.

    Attributes: ``role`` and ``instance_profile`` (always); ``instance`` and ``security_group`` (when
    ``props.instance`` is given, else None); ``instance_profile_arn`` (what the hub pins the tools host to).
    """

    def __init__(self, scope: Construct, construct_id: str, props: ToolsHostProps) -> None:
        super().__init__(scope, construct_id)
        self.props = props
        partition = props.arn_partition
        dns_suffix = props.partition_dns_suffix
        role_name = tools_host_role_name(props.name)
        tags = dict(props.tags)
        self.role = IamRole(
            self,
            "role",
            name=role_name,
            description="ec2-domain-join AD tools host: prestage and remove computer accounts",
            assume_role_policy=iam.to_json(
                iam.policy_document(
                    [iam.trust_statement("Ec2AssumesToolsHostRole", {"Service": f"ec2.{dns_suffix}"})]
                )
            ),
            tags=tags,
        )
        IamRolePolicy(
            self,
            "policy",
            name="tools-host",
            role=self.role.id,
            policy=iam.to_json(tools_host_policy(props, partition, dns_suffix)),
        )
        self.instance_profile = IamInstanceProfile(
            self, "profile", name=role_name, role=self.role.name, tags=tags
        )
        self.instance_profile_arn = self.instance_profile.arn
        self.instance: Instance | None = None
        self.security_group: SecurityGroup | None = None
        if props.instance is not None:
            self._instance(props, props.instance, tags)

    def open_sealed_prestage_lists(self, key_arn: str) -> IamRolePolicy:
        """Grant `sealed_prestage_policy(key_arn)` (the hub key, known once the hub is built)."""
        self.sealed_prestage_policy_document = sealed_prestage_policy(key_arn)
        return IamRolePolicy(
            self,
            "sealed-prestage-policy",
            name="open-sealed-prestage-lists",
            role=self.role.id,
            policy=iam.to_json(self.sealed_prestage_policy_document),
        )

    def write_inventory(self, bucket_arn: str) -> IamRolePolicy:
        """Grant `inventory_writer_policy` (only with the reconciliation: its bucket, which the hub key
        encrypts).  The key is named as this account's keys (`key/*`), as the reconciliation's own roles
        name it: the S3-only and bucket-context conditions leave only the bucket's key, and the policy stays
        plain JSON (the hub key's ARN is known only after apply)."""
        p = self.props
        keys = arns.arn(p.arn_partition, "kms", p.region, p.account_id, "key/*")
        self.inventory_policy_document = inventory_writer_policy(
            bucket_arn, keys, p.region, p.partition_dns_suffix
        )
        return IamRolePolicy(
            self,
            "inventory-policy",
            name="write-reconcile-inventory",
            role=self.role.id,
            policy=iam.to_json(self.inventory_policy_document),
        )

    def _instance(self, props: ToolsHostProps, spec: ToolsHostInstanceProps, tags: dict[str, str]) -> None:
        ami_id = spec.ami_id
        if ami_id is None:
            ami_id = DataAwsSsmParameter(
                self, "ami", name=spec.ami_parameter or AMI_PARAMETERS[spec.platform]
            ).value
        self.security_group = SecurityGroup(
            self,
            "security-group",
            name=f"{props.name}-tools-host",
            description=SECURITY_GROUP_DESCRIPTION,
            vpc_id=spec.vpc_id,
            tags=tags,
        )
        for index, rule in enumerate(ports.egress_rules(spec.dc_cidrs)):
            VpcSecurityGroupEgressRule(
                self,
                f"egress-{index}",
                security_group_id=self.security_group.id,
                ip_protocol=rule.rule.protocol,
                from_port=rule.rule.from_port,
                to_port=rule.rule.to_port,
                cidr_ipv4=rule.cidr,
                description=egress_description(rule.rule),
            )
        for index, cidr in enumerate(spec.https_egress_cidrs):
            VpcSecurityGroupEgressRule(
                self,
                f"egress-https-{index}",
                security_group_id=self.security_group.id,
                ip_protocol="tcp",
                from_port=HTTPS,
                to_port=HTTPS,
                cidr_ipv4=cidr,
                description=HTTPS_EGRESS_DESCRIPTION,
            )
        self.instance = self._hardened_instance(
            ami=ami_id,
            instance_type=spec.instance_type or INSTANCE_TYPES[spec.platform],
            subnet_id=spec.subnet_id,
            security_group_id=self.security_group.id,
            user_data=USER_DATA[spec.platform],
            tags={**tags, props.tag_key: props.tag_value, "Name": f"{props.name}-tools-host"},
            volume_tags={**tags, "Name": f"{props.name}-tools-host"},  # the root volume: whose it is
        )

    def _hardened_instance(self, *, security_group_id: str, **given: Any) -> Instance:
        """The tools-host instance with the settings both forms share: IMDSv2 only (one hop), no public
        address, an encrypted gp3 root volume, detailed monitoring, EBS-optimized, this host's instance
        profile, and `ami` left alone after creation (the host is patched in place, not replaced when a new
        image is published)."""
        return Instance(
            self,
            "instance",
            vpc_security_group_ids=[security_group_id],
            iam_instance_profile=self.instance_profile.name,
            associate_public_ip_address=False,
            monitoring=True,
            ebs_optimized=True,
            metadata_options=InstanceMetadataOptions(
                http_tokens="required", http_endpoint="enabled", http_put_response_hop_limit=1
            ),
            root_block_device=InstanceRootBlockDevice(encrypted=True, volume_type="gp3"),
            lifecycle={"ignore_changes": ["ami"]},
            **given,
        )

    # --- the plain module (terraform/modules/tools-host): the instance from an object variable ---
    def instance_from_variable(
        self,
        instance: str = "var.instance",
        *,
        name: str = "var.name",
        tag_key: str = "var.tools_host_tag_key",
        tag_value: str = "var.tools_host_tag_value",
    ) -> None:
        """The optional instance of the plain module: `instance` is the reference of its object variable
        (`var.instance`, null: no instance), whose attributes are `ToolsHostInstanceProps`' fields (checked by
        the variable's validation blocks).  Every resource has `count` (or `for_each`) 0 when it is null; the
        port rows, AMI parameters, instance types and user data are the `plain_locals()` of the module;
        `name`, `tag_key` and `tag_value` are the references of the module's variables of those props."""
        props = self.props
        given = f"{instance} != null ? 1 : 0"
        platform = f"local.{PLATFORMS_LOCAL}[{instance}.platform]"
        ami = DataAwsSsmParameter(
            self, "ami", name=f"${{coalesce({instance}.ami_parameter, {platform}.ami_parameter)}}"
        )
        ami.add_override("count", f"${{var.create && try({instance}.ami_id == null, false) ? 1 : 0}}")
        group = SecurityGroup(
            self,
            "security-group",
            name=tools_host_role_name(props.name),
            description=SECURITY_GROUP_DESCRIPTION,
            vpc_id=f"${{{instance}.vpc_id}}",
        )
        group.add_override("count", f"${{{given}}}")
        group_id = f"${{{group.fqn}[0].id}}"
        ad = VpcSecurityGroupEgressRule(
            self,
            "ad-egress",
            security_group_id=group_id,
            ip_protocol="${each.value.protocol}",
            cidr_ipv4="${each.value.cidr_ipv4}",
            description="${each.value.description}",
        )
        ad.add_override(
            "for_each",
            f"${{{{for pair in setproduct(local.{EGRESS_LOCAL}, try({instance}.dc_cidrs, [])) : "
            '"${pair[0].key} ${pair[1]}" => merge(pair[0], { cidr_ipv4 = pair[1] })}}',
        )
        for argument in ("from_port", "to_port"):
            ad.add_override(argument, f"${{each.value.{argument}}}")
        https = VpcSecurityGroupEgressRule(
            self,
            "https-egress",
            security_group_id=group_id,
            ip_protocol="tcp",
            from_port=HTTPS,
            to_port=HTTPS,
            cidr_ipv4="${each.value}",
            description=HTTPS_EGRESS_DESCRIPTION,
        )
        https.add_override("for_each", f"${{toset(try({instance}.https_egress_cidrs, []))}}")
        host = self._hardened_instance(
            ami=f"${{try({ami.fqn}[0].value, {instance}.ami_id)}}",
            instance_type=f"${{coalesce({instance}.instance_type, {platform}.instance_type)}}",
            subnet_id=f"${{{instance}.subnet_id}}",
            security_group_id=group_id,
            user_data=f"${{{platform}.user_data}}",
        )
        host.add_override("count", f"${{{given}}}")
        # as the construct: the tools-host tag the handler looks for, then the Name (a token cannot be a key)
        named = tools_host_role_name("${" + name + "}")
        host.add_override("tags", f'${{{{ ({tag_key}) = {tag_value}, Name = "{named}" }}}}')
        host.add_override("volume_tags", f'${{merge(var.tags, {{ Name = "{named}" }})}}')
        self.plain_outputs = {
            "instance_id": f"${{{host.fqn}[0].id}}",
            "security_group_id": group_id,
        }


PLATFORMS_LOCAL = "tools_host_platforms"
EGRESS_LOCAL = "tools_host_egress"


def plain_locals() -> dict[str, object]:
    """The plain module's `locals`: per platform its AMI parameter, instance type and user data; the rows of
    the AD client port table the host's security group opens to each DC network (modules/ports.py)."""
    return {
        PLATFORMS_LOCAL: {
            platform: {
                "ami_parameter": AMI_PARAMETERS[platform],
                "instance_type": INSTANCE_TYPES[platform],
                "user_data": USER_DATA[platform],
            }
            for platform in PLATFORMS
        },
        EGRESS_LOCAL: [
            {
                "key": rule.key,
                "protocol": rule.protocol,
                "from_port": rule.from_port,
                "to_port": rule.to_port,
                "description": egress_description(rule),
            }
            for rule in ports.rules_between(ports.Role.CLIENT, ports.Role.DOMAIN_CONTROLLER)
        ],
    }
