"""One deployable stack per unit and account, from a landing-zone file.

`hub`, `forwarder-<region>` (both in the security account) and
`spoke-<account id>` (also for the security account when it is enrolled, to join
its own instances: then without forwarding); each has its own AWS provider that assumes the configured
role in its target account, so a pipeline can run `cdktf deploy spoke-<id>`
account by account.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path

from cdktf_cdktf_provider_aws.provider import AwsProvider, AwsProviderAssumeRole, AwsProviderDefaultTags
from constructs import Construct

from . import arns, naming
from .artifact import LocalArtifact, S3Artifact, build_local_artifact
from .cdk import App, LocalBackend, S3Backend, TerraformOutput, TerraformStack
from .directory_config import DirectoryConfig, DirectoryConfigProps
from .directory_network import DirectoryNetwork, DirectoryNetworkProps
from .documents import SCRIPTS_DIR
from .entra import Entra, EntraProps, azuread_provider
from .forwarder import RegionForwarder, RegionForwarderProps
from .hub import Hub, HubProps
from .identity import (
    AssignmentProps,
    Identity,
    IdentityProps,
    PermissionSetProps,
    ad_administrators_permission_set,
    q_developer_permission_set,
)
from .landing_zone import DirectoryNetworkSettings, IdentitySettings, LandingZone
from .landing_zone import Spoke as SpokeSettings
from .member_network import MemberNetwork, MemberNetworkProps, MemberVpc
from .naming import DIRECTORY_NETWORK_STACK, HUB_STACK, forwarder_stack_name, spoke_stack_name
from .spoke import Spoke, SpokeProps
from .tools_host import ToolsHost, ToolsHostInstanceProps, ToolsHostProps

REPOSITORY_ROOT = Path(__file__).resolve().parent.parent
DEFAULT_ARTIFACT_PATH = REPOSITORY_ROOT / "build" / "lambda" / "domain_join.zip"


def local_state_path(state_dir: Path, outdir: Path, stack_id: str) -> str:
    """Where a stack without a remote backend keeps its state, relative to the stack's folder.

    cdktf runs Terraform in `<outdir>/stacks/<stack>/` and deletes stack folders it no longer
    synthesizes (as `make clean` deletes the whole output folder), so state must never live there.
    The path is relative so that the same checkout gives the same output on every machine.
    Raises ValueError when `state_dir` lies inside `outdir`.
    """
    state = state_dir.resolve()
    out = outdir.resolve()
    if state == out or out in state.parents:
        raise ValueError(f"local state folder {state} lies inside the output folder {out} (cdktf deletes it)")
    return os.path.relpath(state / f"{stack_id}.tfstate", out / "stacks" / stack_id)


def _account_stack(
    scope: Construct,
    stack_id: str,
    lz: LandingZone,
    account_id: str,
    region: str,
    role_name: str,
    outdir: Path,
) -> TerraformStack:
    stack = TerraformStack(scope, stack_id)
    AwsProvider(
        stack,
        "aws",
        region=region,
        allowed_account_ids=[account_id],
        assume_role=[
            AwsProviderAssumeRole(
                role_arn=arns.role_arn(arns.partition_of(region), account_id, role_name),
                session_name=f"ec2-domain-join-{stack_id}",
            )
        ],
        default_tags=[AwsProviderDefaultTags(tags={"ManagedBy": "ec2-domain-join", **lz.tags})],
    )
    _state_backend(stack, stack_id, lz, outdir)
    return stack


def _state_backend(stack: TerraformStack, stack_id: str, lz: LandingZone, outdir: Path) -> None:
    """The stack's state: in the landing zone's S3 backend, else in the local state folder."""
    if lz.backend is not None:
        S3Backend(
            stack,
            bucket=lz.backend.bucket,
            key=f"{lz.backend.key_prefix}/{stack_id}.tfstate",
            region=lz.backend.region,
            encrypt=True,
            kms_key_id=lz.backend.kms_key_id,
        )
        # S3-native state locking (Terraform >= 1.10); cdktf's S3Backend predates the argument.
        stack.add_override("terraform.backend.s3.use_lockfile", True)
    else:
        LocalBackend(stack, path=local_state_path(lz.local_state_dir, outdir, stack_id))


def hub_props(lz: LandingZone, artifact: LocalArtifact | S3Artifact) -> HubProps:
    return HubProps(
        account_id=lz.security_account_id,
        region=lz.home_region,
        artifact=artifact,
        organization_id=lz.organization_id,
        principal_account_ids=() if lz.organization_id else lz.principal_account_ids,
        name=lz.name,
        forwarder_regions=lz.extra_regions,
        join_delay_seconds=lz.join_delay_seconds,
        readiness_deadline_seconds=lz.readiness_deadline_seconds,
        max_command_attempts=lz.max_command_attempts,
        powertools_layer_version=lz.powertools_layer_version,
        tools_host_tag_key=lz.tools_host_tag_key,
        tools_host_tag_value=lz.tools_host_tag_value,
        tools_host_instance_id=lz.tools_host.instance_id if lz.tools_host else None,
        spoke_role_name=lz.spoke_role_name,
        spoke_role_external_id=lz.spoke_role_external_id,
        create_config_table=lz.create_config_table,
        config_table_name=lz.config_table_name,
        config_table_billing_mode=lz.config_table_billing_mode,
        ledger_table_name=lz.ledger_table_name,
        alarm_topic_arn=lz.alarm_topic_arn,
        join_failed_alarm_threshold=lz.join_failed_alarm_threshold,
        join_failed_alarm_period_minutes=lz.join_failed_alarm_period_minutes,
        directory_ids=lz.directory_ids,
        reconciliation=lz.reconciliation,
    )


def _outputs(stack: TerraformStack, outputs: dict[str, object], prefix: str = "") -> None:
    for output_name, value in outputs.items():
        if value is not None:
            TerraformOutput(stack, f"{prefix}{output_name}", value=value)


def _tools_host(scope: Construct, lz: LandingZone) -> ToolsHost | None:
    """The tools host's role, profile and optional instance, in the hub stack."""
    if lz.tools_host is None:
        return None
    spec = lz.tools_host.instance
    return ToolsHost(
        scope,
        "tools-host",
        ToolsHostProps(
            account_id=lz.security_account_id,
            region=lz.home_region,
            password_parameter_names=lz.password_parameter_names,
            password_kms_key_arn=lz.tools_host.password_kms_key_arn,
            name=lz.name,
            tag_key=lz.tools_host_tag_key,
            tag_value=lz.tools_host_tag_value,
            instance=None
            if spec is None
            else ToolsHostInstanceProps(
                vpc_id=spec.vpc_id,
                subnet_id=spec.subnet_id,
                dc_cidrs=spec.dc_cidrs,
                https_egress_cidrs=spec.https_egress_cidrs,
                platform=spec.platform,
                instance_type=spec.instance_type,
                ami_parameter=spec.ami_parameter,
                ami_id=spec.ami_id,
            ),
        ),
    )


def directory_network_props(lz: LandingZone, dn: DirectoryNetworkSettings) -> DirectoryNetworkProps:
    directory = lz.directories[dn.directory]
    return DirectoryNetworkProps(
        account_id=dn.account_id,
        region=dn.region,
        vpc_id=dn.vpc_id,
        vpc_cidr=dn.vpc_cidr,
        domain_name=directory.domain,
        dns_server_ips=directory.dns_ips,
        resolver_subnet_ids=dn.resolver_subnet_ids,
        client_cidrs=dn.client_cidrs,
        client_prefix_list_ids=dn.client_prefix_list_ids,
        client_security_group_ids=dn.client_security_group_ids,
        admin_cidrs=dn.admin_cidrs,
        admin_security_group_ids=dn.admin_security_group_ids,
        replication_peer_cidrs=dn.replication_peer_cidrs,
        create_network_acl=bool(dn.network_acl_subnet_ids),
        dc_subnet_ids=dn.network_acl_subnet_ids,
        dc_subnet_cidrs=dn.network_acl_subnet_cidrs,
        share_principals=dn.share_with,
        endpoint_services=dn.endpoint_services,
        endpoint_subnet_ids=dn.endpoint_subnet_ids,
        dc_tag_key=dn.dc_tag_key,
        dc_tag_value=dn.dc_tag_value,
        admin_role_arns=dn.admin_role_arns,
        dc_instance_ids=dn.dc_instance_ids,
        notification_topic_arn=dn.notification_topic_arn,
        name=lz.name,
    )


def member_network_props(
    lz: LandingZone, spoke: SpokeSettings, dn: DirectoryNetworkSettings
) -> MemberNetworkProps:
    return MemberNetworkProps(
        account_id=spoke.account_id,
        vpcs=[
            MemberVpc(
                region=vpc.region,
                vpc_id=vpc.vpc_id,
                vpc_cidr=vpc.vpc_cidr,
                resolver_rule_id=vpc.resolver_rule_id,
                endpoint_services=vpc.endpoint_services,
                endpoint_subnet_ids=vpc.endpoint_subnet_ids,
            )
            for vpc in spoke.vpcs
        ],
        dc_cidrs=dn.dc_cidrs,
        name=lz.name,
    )


def build_app(
    lz: LandingZone,
    outdir: Path,
    artifact_path: Path = DEFAULT_ARTIFACT_PATH,
    scripts_dir: Path = SCRIPTS_DIR,
    on_stack: Callable[[str], None] | None = None,
) -> App:
    """Construct every stack of the landing zone (call `.synth()` on the result).

    `on_stack` is called with each stack's name once it is built (progress for the command line).
    """
    built = on_stack or (lambda name: None)
    app = App(outdir=str(outdir))
    artifact: LocalArtifact | S3Artifact
    if lz.artifact is not None:
        artifact = S3Artifact(lz.artifact.bucket, lz.artifact.key, lz.artifact.object_version)
    else:
        artifact = build_local_artifact(artifact_path)

    hub_stack = _account_stack(
        app, HUB_STACK, lz, lz.security_account_id, lz.home_region, lz.role_name, outdir
    )
    # The tools host first: the hub pins the handler to its instance profile.
    tools_host = _tools_host(hub_stack, lz)
    hub = Hub(
        hub_stack,
        "hub",
        replace(
            hub_props(lz, artifact),
            scripts_dir=scripts_dir,
            tools_host_instance_profile_arn=tools_host.instance_profile_arn if tools_host else None,
        ),
    )
    if tools_host is not None:  # it opens the prestage lists the handler seals with the hub key
        tools_host.open_sealed_prestage_lists(hub.kms_key_arn)
        if hub.reconciliation is not None:  # and writes DomainJoin-Inventory's output to the bucket
            tools_host.write_inventory(hub.reconciliation.bucket_arn)
    for output_name, value in {
        "lambda_role_arn": hub.lambda_role_arn,
        "lambda_function_arn": hub.lambda_function_arn,
        "queue_arn": hub.queue_arn,
        "queue_url": hub.queue_url,
        "dead_letter_queue_arn": hub.dead_letter_queue_arn,
        "bus_arn": hub.bus_arn,
        "config_table_name": hub.config_table_name,
        "ledger_table_name": hub.ledger_table_name,
        "kms_key_arn": hub.kms_key_arn,
    }.items():
        TerraformOutput(hub_stack, output_name, value=value)
    config_items = lz.config_items()
    if config_items:
        DirectoryConfig(
            hub_stack,
            "directory-config",
            DirectoryConfigProps(
                # the hub's own table by reference (created first), or the existing table by name
                table_name=hub.config_table.name if hub.config_table is not None else hub.config_table_name,
                items=config_items,
            ),
        )
    if tools_host is not None:
        TerraformOutput(hub_stack, "tools_host_instance_profile_arn", value=tools_host.instance_profile_arn)
        TerraformOutput(hub_stack, "tools_host_role_arn", value=tools_host.role.arn)
        if tools_host.instance is not None:
            TerraformOutput(hub_stack, "tools_host_instance_id", value=tools_host.instance.id)
    built(HUB_STACK)

    directory_stack = None
    dn = lz.directory_network
    if dn is not None:
        directory_stack = _account_stack(
            app, DIRECTORY_NETWORK_STACK, lz, dn.account_id, dn.region, dn.role_name, outdir
        )
        network = DirectoryNetwork(directory_stack, "directory-network", directory_network_props(lz, dn))
        _outputs(directory_stack, network.outputs)
        built(DIRECTORY_NETWORK_STACK)

    for region in lz.extra_regions:
        stack_id = forwarder_stack_name(region)
        stack = _account_stack(app, stack_id, lz, lz.security_account_id, region, lz.role_name, outdir)
        forwarder = RegionForwarder(
            stack,
            "forwarder",
            RegionForwarderProps(
                account_id=lz.security_account_id,
                region=region,
                home_region=lz.home_region,
                organization_id=lz.organization_id,
                principal_account_ids=() if lz.organization_id else lz.principal_account_ids,
                name=lz.name,
            ),
        )
        TerraformOutput(stack, "topic_arn", value=forwarder.topic_arn)
        TerraformOutput(stack, "bus_arn", value=forwarder.bus_arn)
        built(stack_id)

    hub_role_arn = naming.handler_role_arn(arns.partition_of(lz.home_region), lz.security_account_id, lz.name)
    for spoke_config in lz.spokes:
        stack_id = spoke_stack_name(spoke_config.account_id)
        account, region = spoke_config.account_id, spoke_config.regions[0]
        stack = _account_stack(app, stack_id, lz, account, region, spoke_config.role_name, outdir)
        spoke = Spoke(
            stack,
            "spoke",
            SpokeProps(
                account_id=spoke_config.account_id,
                regions=spoke_config.regions,
                security_account_id=lz.security_account_id,
                hub_lambda_role_arn=hub_role_arn,
                execution_role_name=lz.spoke_role_name,
                spoke_role_external_id=lz.spoke_role_external_id,
                name=lz.name,
                # The security account's default buses already feed the hub and forwarders.
                forward_events=spoke_config.account_id != lz.security_account_id,
                scripts_dir=scripts_dir,
                # Its directory seals join passwords: offer the policy its instance roles attach.
                unseal_join_passwords=spoke_config.directory is not None
                and lz.directories[spoke_config.directory].seal_join_passwords,
                hub_region=lz.home_region,
                reconciler_role_arn=(
                    naming.reconcile_worker_role_arn(
                        arns.partition_of(lz.home_region), lz.security_account_id, lz.name
                    )
                    if lz.reconciliation is not None
                    else None
                ),
                reader_principal_arns=(
                    lz.reconciliation.reader_principal_arns if lz.reconciliation is not None else ()
                ),
            ),
        )
        TerraformOutput(stack, "execution_role_arn", value=spoke.execution_role_arn)
        if spoke.unseal_join_password_policy_arn is not None:
            TerraformOutput(
                stack, "unseal_join_password_policy_arn", value=spoke.unseal_join_password_policy_arn
            )
        if dn is not None and spoke_config.vpcs:
            member = MemberNetwork(stack, "member-network", member_network_props(lz, spoke_config, dn))
            _outputs(stack, member.outputs)
            if directory_stack is not None and member_looks_up_rule(spoke_config):
                stack.add_dependency(directory_stack)  # the rule is found by name once it is shared
        built(stack_id)

    if lz.identity is not None:
        _identity_stacks(app, lz, lz.identity, outdir, built)
    return app


def permission_set_props(lz: LandingZone, identity: IdentitySettings) -> list[PermissionSetProps]:
    """The permission sets the file names; ADAdministrators' policy comes from the directory network's."""
    result = []
    for spec in identity.permission_sets:
        tags = dict(spec.tags)
        if spec.name == naming.AD_ADMINISTRATORS_PERMISSION_SET:
            assert lz.directory_network is not None  # the landing zone refuses the file otherwise
            network = directory_network_props(lz, lz.directory_network)
            result.append(
                ad_administrators_permission_set(network, session_duration=spec.session_duration, tags=tags)
            )
        else:
            result.append(q_developer_permission_set(session_duration=spec.session_duration, tags=tags))
    return result


def identity_props(lz: LandingZone, identity: IdentitySettings) -> IdentityProps:
    return IdentityProps(
        account_id=identity.account_id,
        region=identity.region,
        instance_arn=identity.instance_arn,
        identity_store_id=identity.identity_store_id,
        permission_sets=permission_set_props(lz, identity),
        assignments=[
            AssignmentProps(group=group, permission_set=spec.name, account_ids=accounts)
            for spec in identity.permission_sets
            for group, accounts in spec.assignments
        ],
    )


def _identity_stacks(
    app: App, lz: LandingZone, identity: IdentitySettings, outdir: Path, built: Callable[[str], None]
) -> None:
    """`identity-entra` (when the file has `identity.entra`), then `identity`, which waits for it: the
    Entra side provisions the groups that the identity stack looks up."""
    entra_stack = None
    if identity.entra is not None:
        entra = identity.entra
        entra_stack = TerraformStack(app, naming.ENTRA_STACK)
        azuread_provider(entra_stack, entra.tenant_id)
        _state_backend(entra_stack, naming.ENTRA_STACK, lz, outdir)
        side = Entra(
            entra_stack,
            "entra",
            EntraProps(
                tenant_id=entra.tenant_id,
                groups=identity.groups,
                saml_entity_id=entra.saml_entity_id,
                saml_acs_url=entra.saml_acs_url,
                application_name=entra.application_name,
                gallery_template=entra.gallery_template,
                scim=entra.scim,
                synchronization_template_id=entra.synchronization_template_id,
                provisioning_rule_id=entra.provisioning_rule_id,
                notification_emails=entra.notification_emails,
            ),
        )
        _outputs(entra_stack, side.outputs)
        built(naming.ENTRA_STACK)
    stack = _account_stack(
        app, naming.IDENTITY_STACK, lz, identity.account_id, identity.region, identity.role_name, outdir
    )
    unit = Identity(stack, "identity", identity_props(lz, identity))
    _outputs(stack, unit.outputs)
    if entra_stack is not None:
        stack.add_dependency(entra_stack)
    built(naming.IDENTITY_STACK)


def member_looks_up_rule(spoke: SpokeSettings) -> bool:
    return any(vpc.resolver_rule_id is None for vpc in spoke.vpcs)
