"""The Entra ID side of workforce identity: the enterprise application that signs people in to IAM Identity
Center (SAML 2.0) and provisions users and groups into its identity store (SCIM 2.0).

The `identity-entra` stack, with the azuread provider:

- the gallery application "AWS IAM Identity Center" (`azuread_application_template` ->
  `azuread_application_from_template`), its service principal set to SAML single sign-on (imported with
  `use_existing`), the SAML identifier and reply URL that IAM Identity Center shows when its identity
  source is changed, and a token-signing certificate;
- an app role assignment ("User") of each chosen group, found by display name (`azuread_group`);
- with `scim`: the synchronization secret (SCIM endpoint and access token, Terraform variables marked
  sensitive, never in the landing-zone file), the synchronization job, and provision on demand of the assigned
  groups, so that the identity stack's group lookups and account assignments do not race the first cycle.

The azuread resources are written through cdktf's escape hatch (`TerraformResource`, `TerraformDataSource`,
`TerraformProvider` from `modules/cdk.py`), not prebuilt bindings: docs/identity.md says why.  Addresses are
fixed here (one per resource, one per group: derived from its display name).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Final

from constructs import Construct

from . import naming
from .cdk import (
    TerraformDataSource,
    TerraformOutput,
    TerraformProvider,
    TerraformResource,
    TerraformVariable,
    TerraformVariableValidationConfig,
)
from .identity import slug
from .patterns import EMAIL, GROUP_DISPLAY_NAME, GUID, HTTPS_URL, SYNCHRONIZATION_TEMPLATE_ID
from .validation import PropsError, check_pattern, check_unique

PROVIDER_SOURCE: Final = "hashicorp/azuread"
PROVIDER_VERSION: Final = "~> 3.7"
SCIM_ENDPOINT_VARIABLE: Final = "scim_endpoint"
SCIM_TOKEN_VARIABLE: Final = "scim_access_token"  # noqa: S105 - a variable's name, not a secret
SCIM_ENDPOINT_REGEX: Final = r"^https://scim\.[a-z0-9-]+\.amazonaws\.com(\.cn)?/[A-Za-z0-9_-]+/scim/v2/?$"
"""What IAM Identity Center shows as its SCIM endpoint (checked by the variable's validation at plan)."""
USER_APP_ROLE: Final = "User"  # the gallery application's role for people; its value is empty, so by name


@dataclass(frozen=True, kw_only=True)
class EntraProps:
    """Inputs of the Entra side.  The SCIM endpoint and token are not here: they are Terraform variables."""

    tenant_id: str
    """The Entra tenant (a GUID)."""
    groups: Sequence[str]
    """Display names of the Entra groups to assign and provision (the identity unit assigns these names)."""
    saml_entity_id: str
    """IAM Identity Center's issuer URL (Settings > Identity source > Change: "issuer URL")."""
    saml_acs_url: str
    """IAM Identity Center's assertion consumer service URL (the same page: "IAM Identity Center ACS URL")."""
    application_name: str = naming.ENTRA_APPLICATION_NAME
    gallery_template: str = naming.ENTRA_GALLERY_TEMPLATE
    """The gallery template's display name, matched exactly."""
    scim: bool = True
    """Create the synchronization secret, job and provision on demand (needs the SCIM variables at plan)."""
    synchronization_template_id: str = naming.ENTRA_SYNCHRONIZATION_TEMPLATE
    provisioning_rule_id: str = naming.ENTRA_PROVISIONING_RULE
    notification_emails: Sequence[str] = ()
    """Who Entra warns before the SAML signing certificate expires."""

    def __post_init__(self) -> None:
        check_pattern("tenant_id", self.tenant_id, GUID, "an Entra tenant id (a GUID)")
        if not self.groups:
            raise PropsError("groups", "name at least one group")
        for index, group in enumerate(self.groups):
            check_pattern(f"groups[{index}]", group, GROUP_DISPLAY_NAME, "a group display name")
        check_unique("groups", self.groups)
        slugs = [slug(group) for group in self.groups]
        if len(set(slugs)) != len(slugs):
            raise PropsError(
                "groups", "two display names would share an address (they differ only in case or punctuation)"
            )
        check_pattern("saml_entity_id", self.saml_entity_id, HTTPS_URL, "an https URL")
        check_pattern("saml_acs_url", self.saml_acs_url, HTTPS_URL, "an https URL")
        for field_name in ("application_name", "gallery_template"):
            value = getattr(self, field_name)
            if (
                not isinstance(value, str)
                or not 1 <= len(value) <= 256
                or not GROUP_DISPLAY_NAME.fullmatch(value)
            ):
                raise PropsError(field_name, f"{value!r} is not a display name (1-256 printable characters)")
        if not isinstance(self.scim, bool):
            raise PropsError("scim", f"{self.scim!r} must be true or false")
        check_pattern(
            "synchronization_template_id",
            self.synchronization_template_id,
            SYNCHRONIZATION_TEMPLATE_ID,
            "a template id",
        )
        check_pattern(
            "provisioning_rule_id", self.provisioning_rule_id, GUID, "a synchronization rule id (GUID)"
        )
        for index, email in enumerate(self.notification_emails):
            check_pattern(f"notification_emails[{index}]", email, EMAIL, "an email address")


def hcl_string(text: str) -> str:
    """`text` as the body of an HCL quoted string (backslashes and quotes escaped)."""
    return text.replace("\\", "\\\\").replace('"', '\\"')


class AzureAdBlock:
    """One azuread resource or data source written through the escape hatch, at a fixed address."""

    def __init__(
        self, scope: Construct, type_name: str, name: str, arguments: Mapping[str, Any], *, data: bool = False
    ) -> None:
        element_class = TerraformDataSource if data else TerraformResource
        construct_id = f"{'data-' if data else ''}{type_name}-{name}"
        self.element = element_class(scope, construct_id, terraform_resource_type=type_name)
        self.element.override_logical_id(name)
        for argument, value in arguments.items():
            self.element.add_override(argument, value)
        self.address = f"{'data.' if data else ''}{type_name}.{name}"

    def ref(self, attribute: str) -> str:
        """`${<address>.<attribute>}`: Terraform fills it in."""
        return f"${{{self.address}.{attribute}}}"


def azuread_provider(scope: Construct, tenant_id: str) -> TerraformProvider:
    """The azuread provider (credentials from the environment: Azure CLI, ARM_* variables or OIDC)."""
    provider = TerraformProvider(
        scope,
        "azuread",
        terraform_resource_type="azuread",
        terraform_provider_source=PROVIDER_SOURCE,
        terraform_generator_metadata={
            "provider_name": "azuread",
            "provider_version_constraint": PROVIDER_VERSION,
        },
    )
    provider.add_override("tenant_id", tenant_id)
    return provider


class EnterpriseApplication(Construct):
    """The gallery application, its service principal in SAML mode, the SAML URLs and signing certificate."""

    def __init__(self, scope: Construct, construct_id: str, props: EntraProps) -> None:
        super().__init__(scope, construct_id)
        template = AzureAdBlock(
            self,
            "azuread_application_template",
            "aws_identity_center",
            {"display_name": props.gallery_template},
            data=True,
        )
        self.application = AzureAdBlock(
            self,
            "azuread_application_from_template",
            "aws_identity_center",
            {"display_name": props.application_name, "template_id": template.ref("template_id")},
        )
        registration = AzureAdBlock(
            self,
            "azuread_application",
            "aws_identity_center",
            {"object_id": self.application.ref("application_object_id")},
            data=True,
        )
        self.client_id = registration.ref("client_id")
        self.service_principal = AzureAdBlock(
            self,
            "azuread_service_principal",
            "aws_identity_center",
            {
                "client_id": self.client_id,
                "use_existing": True,  # the template created it: manage that one
                "preferred_single_sign_on_mode": "saml",
                "app_role_assignment_required": True,  # only the assigned groups sign in
                **(
                    {"notification_email_addresses": list(props.notification_emails)}
                    if props.notification_emails
                    else {}
                ),
            },
        )
        AzureAdBlock(
            self,
            "azuread_application_identifier_uri",
            "saml_entity_id",
            {
                "application_id": self.application.ref("application_id"),
                "identifier_uri": props.saml_entity_id,
            },
        )
        AzureAdBlock(
            self,
            "azuread_application_redirect_uris",
            "saml_reply_url",
            {
                "application_id": self.application.ref("application_id"),
                "type": "Web",
                "redirect_uris": [props.saml_acs_url],
            },
        )
        AzureAdBlock(
            self,
            "azuread_service_principal_token_signing_certificate",
            "saml_signing",
            {
                "service_principal_id": self.service_principal.ref("id"),
                "display_name": f"CN={props.application_name} SAML signing",  # Entra's default: 3 years
            },
        )
        roles = f"{self.service_principal.address}.app_roles"
        user_role = f'one([for role in {roles} : role.id if role.display_name == "{USER_APP_ROLE}"])'
        self.user_role_id = f"${{{user_role}}}"


class GroupAssignments(Construct):
    """Each group, found by display name, assigned to the application's User role."""

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        groups: Sequence[str],
        application: EnterpriseApplication,
    ) -> None:
        super().__init__(scope, construct_id)
        self.group_object_ids: list[str] = []
        self.assignments: list[str] = []
        for group in groups:
            lookup = AzureAdBlock(
                self,
                "azuread_group",
                f"group_{slug(group)}",
                {"display_name": group, "security_enabled": True},
                data=True,
            )
            self.group_object_ids.append(lookup.ref("object_id"))
            assignment = AzureAdBlock(
                self,
                "azuread_app_role_assignment",
                f"group_{slug(group)}",
                {
                    "app_role_id": application.user_role_id,
                    "principal_object_id": lookup.ref("object_id"),
                    "resource_object_id": application.service_principal.ref("object_id"),
                },
            )
            self.assignments.append(assignment.address)


class ScimProvisioning(Construct):
    """The SCIM secret (sensitive variables), the synchronization job, provision on demand of the groups."""

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        props: EntraProps,
        application: EnterpriseApplication,
        groups: GroupAssignments,
    ) -> None:
        super().__init__(scope, construct_id)
        pattern = hcl_string(SCIM_ENDPOINT_REGEX)
        endpoint = TerraformVariable(
            self,
            SCIM_ENDPOINT_VARIABLE,
            type="string",
            sensitive=True,
            nullable=False,
            description="IAM Identity Center's SCIM endpoint (Settings > Automatic provisioning)",
            validation=[
                TerraformVariableValidationConfig(
                    # an HCL string literal inside the expression: backslashes doubled
                    condition=f'${{can(regex("{pattern}", var.{SCIM_ENDPOINT_VARIABLE}))}}',
                    error_message="scim_endpoint must be IAM Identity Center's SCIM endpoint "
                    "(https://scim.<region>.amazonaws.com/<id>/scim/v2/).",
                )
            ],
        )
        endpoint.override_logical_id(SCIM_ENDPOINT_VARIABLE)
        token = TerraformVariable(
            self,
            SCIM_TOKEN_VARIABLE,
            type="string",
            sensitive=True,
            nullable=False,
            description="IAM Identity Center's SCIM access token (shown once when created; rotate it yearly)",
        )
        token.override_logical_id(SCIM_TOKEN_VARIABLE)
        service_principal_id = application.service_principal.ref("id")
        secret = AzureAdBlock(
            self,
            "azuread_synchronization_secret",
            "scim",
            {
                "service_principal_id": service_principal_id,
                "credential": [
                    {"key": "BaseAddress", "value": f"${{var.{SCIM_ENDPOINT_VARIABLE}}}"},
                    {"key": "SecretToken", "value": f"${{var.{SCIM_TOKEN_VARIABLE}}}"},
                ],
            },
        )
        job = AzureAdBlock(
            self,
            "azuread_synchronization_job",
            "scim",
            {
                "service_principal_id": service_principal_id,
                "template_id": props.synchronization_template_id,
                "enabled": True,
                "depends_on": [secret.address],
            },
        )
        AzureAdBlock(
            self,
            "azuread_synchronization_job_provision_on_demand",
            "assigned_groups",
            {
                "service_principal_id": service_principal_id,
                "synchronization_job_id": job.ref("id"),
                "parameter": [
                    {
                        "rule_id": props.provisioning_rule_id,
                        "subject": [
                            {"object_id": object_id, "object_type_name": "Group"}
                            for object_id in groups.group_object_ids
                        ],
                    }
                ],
                # provisioned again when the set of groups changes
                "triggers": {"groups": ",".join(props.groups)},
                "depends_on": groups.assignments,
            },
        )


class Entra(Construct):
    """The Entra ID side (see the module docstring); outputs in `outputs`."""

    def __init__(self, scope: Construct, construct_id: str, props: EntraProps) -> None:
        super().__init__(scope, construct_id)
        self.props = props
        self.application = EnterpriseApplication(self, "application", props)
        self.groups = GroupAssignments(self, "groups", groups=props.groups, application=self.application)
        if props.scim:
            ScimProvisioning(self, "scim", props=props, application=self.application, groups=self.groups)
        self.outputs: dict[str, Any] = {
            "service_principal_object_id": self.application.service_principal.ref("object_id"),
            # the IdP metadata to upload to IAM Identity Center (docs/identity.md, step 3)
            "federation_metadata_url": (
                f"https://login.microsoftonline.com/{props.tenant_id}/federationmetadata/2007-06/"
                f"federationmetadata.xml?appid={self.application.client_id}"
            ),
        }


def add_outputs(scope: Construct, outputs: Mapping[str, Any]) -> None:
    for name, value in outputs.items():
        TerraformOutput(scope, name, value=value)
