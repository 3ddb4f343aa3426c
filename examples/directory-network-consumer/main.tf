# The directory account's network for AD with the plain directory-network module: the domain controllers'
# security group (rules from the port table), the outbound resolver endpoint and forward rule of the
# domain, its RAM share with the organization, optional interface endpoints and network ACL of the DC
# subnets, the RDP port-forwarding document, the AD-admin and DC-protection policies, and the notification
# of sessions and commands on DCs. Run it once per VPC of domain controllers. Values for a first try are in
# terraform.tfvars; see README.md.

terraform {
  required_version = ">= 1.5"
  required_providers {
    aws = {
      source  = "hashicorp/aws"
      version = ">= 6.0"
    }
  }
}

variable "directory_account_id" {
  type        = string
  description = "The account of the domain controllers (Terraform refuses to touch any other account)."
}

variable "region" {
  type        = string
  description = "The Region of the domain controllers' VPC."
}

variable "vpc_id" {
  type        = string
  description = "The VPC of the domain controllers."
}

variable "vpc_cidr" {
  type        = string
  description = "The VPC's CIDR."
}

variable "domain_name" {
  type        = string
  description = "The AD domain's DNS name."
}

variable "dns_server_ips" {
  type        = list(string)
  description = "The domain's DNS servers (usually the domain controllers)."
}

variable "resolver_subnet_ids" {
  type        = list(string)
  description = "Subnets of the outbound resolver endpoint, in two Availability Zones at least."
}

variable "client_cidrs" {
  type        = list(string)
  description = "Networks of the domain members."
}

variable "admin_cidrs" {
  type        = list(string)
  description = "Admin networks that may use the admin ports (RDP, WinRM, HTTPS); [] with Session Manager."
  default     = []
}

variable "share_principals" {
  type        = list(string)
  description = "Who gets the resolver rule: the organization ARN, OU ARNs or account ids."
  default     = []
}

variable "endpoint_services" {
  type        = list(string)
  description = "Interface endpoints to create (ssm, ssmmessages, ec2messages, kms, logs); [] when the VPC has them."
  default     = []
}

variable "endpoint_subnet_ids" {
  type        = list(string)
  description = "Subnets of the interface endpoints."
  default     = []
}

variable "create_network_acl" {
  type        = bool
  description = "Also a network ACL on the DC subnets (stateless: CIDR sources only)."
  default     = false
}

variable "dc_subnet_ids" {
  type        = list(string)
  description = "The DC subnets, for the network ACL."
  default     = []
}

variable "dc_subnet_cidrs" {
  type        = list(string)
  description = "Their CIDRs (summarised, when you can), for the network ACL."
  default     = []
}

variable "network_acl_rule_quota" {
  type        = number
  description = "Rules per direction your account may have in a network ACL (AWS: 20 by default, at most 40)."
  default     = 20
}

variable "admin_role_arns" {
  type        = list(string)
  description = "The AD-admin roles: the only principals the protection policy lets stop, terminate or change DCs."
}

variable "dc_tag_key" {
  type        = string
  description = "The tag that marks the domain controllers."
  default     = "ADDomainController"
}

variable "dc_tag_value" {
  type        = string
  description = "Its value on the domain controllers."
  default     = "true"
}

variable "dc_instance_ids" {
  type        = list(string)
  description = "The DC instances, for the notification; [] reports every session and command in the account."
  default     = []
}

variable "notification_topic_arn" {
  type        = string
  description = "An existing SNS topic for the notifications; null creates an encrypted one."
  default     = null
}

variable "assume_role_arn" {
  type        = string
  description = "Role Terraform assumes in the directory account; null uses the caller's credentials as they are."
  default     = null
}

variable "tags" {
  type        = map(string)
  description = "Tags on every resource (the provider's default_tags)."
  default     = {}
}

provider "aws" {
  region              = var.region
  allowed_account_ids = [var.directory_account_id]

  dynamic "assume_role" {
    for_each = var.assume_role_arn == null ? [] : [var.assume_role_arn]
    content {
      role_arn     = assume_role.value
      session_name = "ec2-domain-join-directory-network"
    }
  }

  default_tags {
    tags = merge({ ManagedBy = "ec2-domain-join" }, var.tags)
  }
}

module "directory_network" {
  source = "../../terraform/modules/directory-network"

  vpc_id              = var.vpc_id
  vpc_cidr            = var.vpc_cidr
  domain_name         = var.domain_name
  dns_server_ips      = var.dns_server_ips
  resolver_subnet_ids = var.resolver_subnet_ids
  client_cidrs        = var.client_cidrs
  admin_cidrs         = var.admin_cidrs
  share_principals    = var.share_principals
  endpoint_services   = var.endpoint_services
  endpoint_subnet_ids = var.endpoint_subnet_ids

  create_network_acl     = var.create_network_acl
  dc_subnet_ids          = var.dc_subnet_ids
  dc_subnet_cidrs        = var.dc_subnet_cidrs
  network_acl_rule_quota = var.network_acl_rule_quota

  admin_role_arns        = var.admin_role_arns
  dc_tag_key             = var.dc_tag_key
  dc_tag_value           = var.dc_tag_value
  dc_instance_ids        = var.dc_instance_ids
  notification_topic_arn = var.notification_topic_arn
}

output "dc_security_group_id" {
  description = "Attach it to the domain controllers."
  value       = module.directory_network.dc_security_group_id
}

output "resolver_rule_id" {
  description = "The forward rule of the domain; member accounts associate it (member-network module)."
  value       = module.directory_network.resolver_rule_id
}

output "resource_share_arn" {
  description = "RAM share of the rule (null: not shared)."
  value       = module.directory_network.resource_share_arn
}

output "network_acl_id" {
  description = "Network ACL of the DC subnets (null: none)."
  value       = module.directory_network.network_acl_id
}

output "port_forwarding_document_name" {
  description = "aws ssm start-session --document-name <this> --target <DC instance id>: RDP to localhost:13389."
  value       = module.directory_network.port_forwarding_document_name
}

output "admin_policy_arn" {
  description = "Attach it to the AD administrators' roles."
  value       = module.directory_network.admin_policy_arn
}

output "protection_policy_json" {
  description = "The DC protection as JSON, for a service control policy of the organization."
  value       = module.directory_network.protection_policy_json
}

output "notification_topic_arn" {
  description = "Subscribe the AD team to it."
  value       = module.directory_network.notification_topic_arn
}
