# The directory account's network for AD with the plain directory-network module: the domain controllers'
# security group (rules from the port table), the outbound resolver endpoint and forward rule of the
# domain, its RAM share with the organization, and optional interface endpoints. Run it once per VPC of
# domain controllers. Values for a first try are in terraform.tfvars; see README.md.

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
