"""Member network: what a workload account needs in each listed VPC so that its instances can join.

Per VPC (any Region of the account, through the provider's per-resource `region`):

- the association of the directory's shared resolver rule with the VPC: the step most often missing when a
  join fails on DNS.  The rule is given by id, or found by name (``directory_network.resolver_rule_name``:
  the directory shares it under that name) with a data source at plan;
- optionally the Systems Manager interface endpoints (ssm, ssmmessages, ec2messages; kms, logs) with their
  security group (HTTPS from the VPC only);
- a member security group whose egress is the client table (`modules/ports.py`) to the
  domain controllers' networks: attach it to the instances that join (next to their other groups).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from cdktf_cdktf_provider_aws.data_aws_route53_resolver_rule import DataAwsRoute53ResolverRule
from cdktf_cdktf_provider_aws.route53_resolver_rule_association import Route53ResolverRuleAssociation
from cdktf_cdktf_provider_aws.security_group import SecurityGroup
from cdktf_cdktf_provider_aws.vpc_endpoint import VpcEndpoint
from cdktf_cdktf_provider_aws.vpc_security_group_egress_rule import VpcSecurityGroupEgressRule
from cdktf_cdktf_provider_aws.vpc_security_group_ingress_rule import VpcSecurityGroupIngressRule
from constructs import Construct

from . import arns, naming, ports
from .cdk import Token, is_token
from .directory_network import (
    ENDPOINT_SERVICES,
    LONGEST_VPC_ID,
    PORT_TABLE_LOCAL,
    RESOLVER_NAME,
    SECURITY_GROUP_RULE_QUOTA,
    add_interface_endpoints,
    check_cidr,
    check_cidrs,
    resolver_rule_association_name,
    resolver_rule_name,
    rule_description,
    slug,
)
from .partitions import UnknownRegionError
from .patterns import ACCOUNT_ID, REGION, RESOLVER_RULE_ID, RESOURCE_NAME, SUBNET_ID, VPC_ID
from .ports import Role
from .validation import PropsError, check_pattern, check_range, check_unique


@dataclass(frozen=True, kw_only=True)
class MemberVpc:
    """One VPC of the member account."""

    region: str
    """The VPC's Region (the shared rule must be from the directory's unit in this Region)."""
    vpc_id: str
    vpc_cidr: str | None = None
    """The VPC's CIDR; needed with `endpoint_services` (the endpoints admit HTTPS from it)."""
    resolver_rule_id: str | None = None
    """The shared rule's id (rslvr-rr-…).  Default: found by its name at plan (data source)."""
    endpoint_services: Sequence[str] = ()
    """Interface endpoints to create here, among ssm, ssmmessages, ec2messages, kms, logs (default none)."""
    endpoint_subnet_ids: Sequence[str] = ()
    """Subnets of the endpoints (one per Availability Zone)."""


@dataclass(frozen=True, kw_only=True)
class MemberNetworkProps:
    """Inputs of one member account's network additions; every error names its field."""

    account_id: str
    """The member account (12 digits)."""
    vpcs: Sequence[MemberVpc]
    """The VPCs whose instances join, in any of the account's Regions (at least one)."""
    dc_cidrs: Sequence[str]
    """The domain controllers' networks: the member group's egress reaches them on the client table."""
    roles: Sequence[Role] = (Role.CLIENT,)
    """The member group's roles: client (default), plus admin for a tools or admin host."""
    security_group_rule_quota: int = SECURITY_GROUP_RULE_QUOTA
    """Outbound rules per security group the account may have (default 60; raise it with Service Quotas)."""
    name: str = naming.DEFAULT_NAME
    """Must equal the directory network's `name`: the shared rule is found by a name derived from it."""
    tags: Mapping[str, str] = field(default_factory=dict)
    # --- with Terraform inputs only (the plain module: `vpcs` is then a list of VPC ids) ---
    region: str | None = None
    """The Region of every VPC (the plain module: the provider's)."""
    resolver_rule_id: str | None = None
    """The shared rule's id for every VPC (null: found by its name at plan)."""
    endpoint_services: Sequence[str] = ()
    """Interface endpoints in each VPC of `endpoints`, among ssm, ssmmessages, ec2messages, kms, logs."""
    endpoints: Any = None
    """VPC id -> {vpc_cidr, subnet_ids}: the VPCs that get the interface endpoints (a Terraform map)."""

    @property
    def terraform_inputs(self) -> bool:
        """True in the plain module (`vpcs` a Terraform list of VPC ids): the variables' validation blocks
        check the values at plan, and the construct emits `for_each` resources."""
        return is_token([vpc for vpc in self.vpcs if isinstance(vpc, str)])

    def __post_init__(self) -> None:
        if self.terraform_inputs:
            for name in ("dc_cidrs", "roles", "endpoint_services"):
                if not is_token(getattr(self, name)):
                    raise PropsError(name, "with Terraform inputs, give every list as a Terraform value")
            return
        check_pattern("account_id", self.account_id, ACCOUNT_ID, "a 12-digit account id")
        if not self.vpcs:
            raise PropsError("vpcs", "list at least one VPC")
        for index, vpc in enumerate(self.vpcs):
            where = f"vpcs[{index}]"
            if not isinstance(vpc, MemberVpc):
                raise PropsError(where, "must be a MemberVpc")
            check_pattern(f"{where}.region", vpc.region, REGION, "an AWS Region name")
            try:
                arns.partition_of(vpc.region)
            except UnknownRegionError as error:
                raise PropsError(f"{where}.region", str(error)) from None
            check_pattern(f"{where}.vpc_id", vpc.vpc_id, VPC_ID, "a VPC id (vpc-…)")
            if vpc.resolver_rule_id is not None:
                check_pattern(
                    f"{where}.resolver_rule_id", vpc.resolver_rule_id, RESOLVER_RULE_ID, "a rule id"
                )
            for number, service in enumerate(vpc.endpoint_services):
                if service not in ENDPOINT_SERVICES:
                    raise PropsError(
                        f"{where}.endpoint_services[{number}]",
                        f"{service!r} is not one of {ENDPOINT_SERVICES}",
                    )
            check_unique(f"{where}.endpoint_services", vpc.endpoint_services)
            for number, subnet in enumerate(vpc.endpoint_subnet_ids):
                check_pattern(f"{where}.endpoint_subnet_ids[{number}]", subnet, SUBNET_ID, "a subnet id")
            if vpc.endpoint_services:
                if not vpc.endpoint_subnet_ids:
                    raise PropsError(
                        f"{where}.endpoint_subnet_ids", "the interface endpoints need their subnets"
                    )
                if vpc.vpc_cidr is None:
                    raise PropsError(
                        f"{where}.vpc_cidr", "the interface endpoints admit HTTPS from the VPC CIDR"
                    )
            if vpc.vpc_cidr is not None:
                check_cidr(f"{where}.vpc_cidr", vpc.vpc_cidr)
        check_unique("vpcs", [vpc.vpc_id for vpc in self.vpcs])
        if not self.dc_cidrs:
            raise PropsError("dc_cidrs", "give the domain controllers' networks")
        check_cidrs("dc_cidrs", self.dc_cidrs)
        if not self.roles or any(role not in (Role.CLIENT, Role.ADMIN) for role in self.roles):
            raise PropsError("roles", "client, and admin for a tools or admin host")
        check_unique("roles", self.roles)
        check_range("security_group_rule_quota", self.security_group_rule_quota, 1, 1000)
        rules = len(ports.egress_rules(self.dc_cidrs, roles=tuple(self.roles)))
        if rules > self.security_group_rule_quota:
            raise PropsError(
                "security_group_rule_quota",
                f"the member security group needs {rules} outbound rules: raise the quota (and this value), "
                "or summarise dc_cidrs",
            )
        check_pattern("name", self.name, RESOURCE_NAME, "a resource name")
        problem = naming.name_problem(
            RESOLVER_NAME, resolver_rule_association_name(self.name, LONGEST_VPC_ID)
        )
        if problem:
            raise PropsError("name", f"resolver rule association: {problem}")


def member_security_group_name(name: str = naming.DEFAULT_NAME) -> str:
    return f"{name}-domain-member"


class MemberNetwork(Construct):
    """The member side of the directory network, for every listed VPC (see the module docstring)."""

    def __init__(self, scope: Construct, construct_id: str, props: MemberNetworkProps) -> None:
        super().__init__(scope, construct_id)
        self.props = p = props
        if p.terraform_inputs:
            self._terraform_member()
            return
        tags = dict(p.tags) or None
        self.security_groups: dict[str, SecurityGroup] = {}
        self.associations: dict[str, Route53ResolverRuleAssociation] = {}
        self.endpoint_security_groups: dict[str, SecurityGroup] = {}
        egress = ports.egress_rules(p.dc_cidrs, roles=tuple(p.roles))
        for vpc in p.vpcs:
            vpc_slug = slug(vpc.vpc_id)
            region = vpc.region

            # --- the shared resolver rule, associated with the VPC ---
            rule_id: Any = vpc.resolver_rule_id
            if rule_id is None:
                lookup = DataAwsRoute53ResolverRule(
                    self,
                    f"{vpc_slug}-rule",
                    region=region,
                    name=resolver_rule_name(p.name),
                    rule_type="FORWARD",
                )
                lookup.override_logical_id(f"{vpc_slug}_directory_rule")
                rule_id = lookup.resolver_rule_id
            association = Route53ResolverRuleAssociation(
                self,
                f"{vpc_slug}-association",
                region=region,
                name=resolver_rule_association_name(p.name, vpc.vpc_id),
                resolver_rule_id=rule_id,
                vpc_id=vpc.vpc_id,
            )
            association.override_logical_id(f"{vpc_slug}_directory_rule_association")
            self.associations[vpc.vpc_id] = association

            # --- the member security group: the client table to the DCs ---
            group = SecurityGroup(
                self,
                f"{vpc_slug}-member-sg",
                region=region,
                name=member_security_group_name(p.name),
                description="Domain members: AD ports to the domain controllers only (ec2-domain-join)",
                vpc_id=vpc.vpc_id,
                tags=tags,
            )
            group.override_logical_id(f"{vpc_slug}_member_security_group")
            self.security_groups[vpc.vpc_id] = group
            for addressed in egress:
                rule = addressed.rule
                logical_id = (
                    f"{vpc_slug}_member_out_{rule.source}_{rule.protocol}_{slug(rule.port_text)}_"
                    f"{slug(addressed.cidr)}"
                ).replace("-", "_")
                resource = VpcSecurityGroupEgressRule(
                    self,
                    logical_id,
                    region=region,
                    security_group_id=group.id,
                    ip_protocol=rule.protocol,
                    from_port=rule.from_port,
                    to_port=rule.to_port,
                    cidr_ipv4=addressed.cidr,
                    description=rule_description(rule),
                    tags=tags,
                )
                resource.override_logical_id(logical_id)

            # --- optional interface endpoints ---
            if vpc.endpoint_services:
                assert vpc.vpc_cidr is not None  # checked by the props
                self.endpoint_security_groups[vpc.vpc_id] = add_interface_endpoints(
                    self,
                    region=region,
                    vpc_id=vpc.vpc_id,
                    vpc_cidr=vpc.vpc_cidr,
                    subnet_ids=vpc.endpoint_subnet_ids,
                    services=vpc.endpoint_services,
                    name=p.name,
                    tags=tags,
                    prefix=f"{vpc_slug}-",
                )

        self.outputs: dict[str, Any] = {
            "member_security_group_ids": {vpc: group.id for vpc, group in self.security_groups.items()},
            "resolver_rule_association_ids": {vpc: a.id for vpc, a in self.associations.items()},
        }

    def _terraform_member(self) -> None:
        """The same resources with Terraform variables as inputs (the plain module): `for_each` over the VPC
        ids, the rows of the roles (the `ad_ports` local) times the DC networks, and the endpoint VPCs."""
        p = self.props
        vpc_ids = Token.as_string(p.vpcs)
        lookup = DataAwsRoute53ResolverRule(
            self, "directory-rule", name=resolver_rule_name(p.name), rule_type="FORWARD"
        )
        lookup.add_override("count", f"${{{Token.as_string(p.resolver_rule_id)} == null ? 1 : 0}}")
        self.rule_lookup = lookup  # read at plan: the plain module gates it on `create` too
        given = Token.as_string(p.resolver_rule_id)
        rule_id = f"${{coalesce({given}, one({lookup.fqn}[*].resolver_rule_id))}}"
        association = Route53ResolverRuleAssociation(
            self,
            "directory",
            name=f"{resolver_rule_name(p.name)}-${{each.value}}",
            resolver_rule_id=rule_id,
            vpc_id="${each.value}",
        )
        association.add_override("for_each", f"${{toset({vpc_ids})}}")
        group = SecurityGroup(
            self,
            "member",
            name=member_security_group_name(p.name),
            description="Domain members: AD ports to the domain controllers only (ec2-domain-join)",
            vpc_id="${each.value}",
        )
        group.add_override("for_each", f"${{toset({vpc_ids})}}")
        rows = (
            f"flatten([for role in {Token.as_string(p.roles)} : "
            f'[for row in local.{PORT_TABLE_LOCAL}["${{role}}_to_dc"] : merge(row, {{role = role}})]])'
        )
        egress = VpcSecurityGroupEgressRule(
            self,
            "member-out",
            security_group_id=f"${{{group.fqn}[each.value.vpc_id].id}}",
            ip_protocol="${each.value.protocol}",
            cidr_ipv4="${each.value.cidr_ipv4}",
            description="${each.value.description}",
        )
        egress.add_override(
            "for_each",
            f"${{{{for triple in setproduct({vpc_ids}, {rows}, {Token.as_string(p.dc_cidrs)}) : "
            f'"${{triple[0]}} ${{triple[1].role}} ${{triple[1].key}} ${{triple[2]}}" => '
            f"merge(triple[1], {{vpc_id = triple[0], cidr_ipv4 = triple[2]}})}}}}",
        )
        for argument in ("from_port", "to_port"):
            egress.add_override(argument, f"${{each.value.{argument}}}")

        # --- optional interface endpoints, in the VPCs of `endpoints` ---
        endpoints = Token.as_string(p.endpoints)
        endpoint_group = SecurityGroup(
            self,
            "endpoints",
            name=f"{p.name}-endpoints-${{each.key}}",
            description="Interface endpoints (Systems Manager, KMS, Logs): HTTPS from the VPC only",
            vpc_id="${each.key}",
        )
        wanted = f"${{(length({Token.as_string(p.endpoint_services)}) > 0 ? {endpoints} : {{}})}}"
        endpoint_group.add_override("for_each", wanted)
        https = VpcSecurityGroupIngressRule(
            self,
            "endpoints-https",
            security_group_id=f"${{{endpoint_group.fqn}[each.key].id}}",
            ip_protocol="tcp",
            from_port=ports.HTTPS_PORT,
            to_port=ports.HTTPS_PORT,
            cidr_ipv4="${each.value.vpc_cidr}",
            description="HTTPS from the VPC to the interface endpoints",
        )
        https.add_override("for_each", wanted)
        endpoint = VpcEndpoint(
            self,
            "endpoint",
            vpc_id="${each.value[0]}",
            service_name=f"com.amazonaws.{p.region}.${{each.value[1]}}",
            vpc_endpoint_type="Interface",
            private_dns_enabled=True,
            subnet_ids=Token.as_list(f"${{{endpoints}[each.value[0]].subnet_ids}}"),
            security_group_ids=[f"${{{endpoint_group.fqn}[each.value[0]].id}}"],
        )
        endpoint.add_override(
            "for_each",
            f"${{{{for pair in setproduct(keys({endpoints}), {Token.as_string(p.endpoint_services)}) : "
            f'"${{pair[0]}} ${{pair[1]}}" => pair}}}}',
        )
        self.outputs = {
            "member_security_group_ids": f"${{{{for vpc, group in {group.fqn} : vpc => group.id}}}}",
            "resolver_rule_association_ids": f"${{{{for vpc, a in {association.fqn} : vpc => a.id}}}}",
            "endpoint_security_group_ids": (
                f"${{{{for vpc, group in {endpoint_group.fqn} : vpc => group.id}}}}"
            ),
        }
