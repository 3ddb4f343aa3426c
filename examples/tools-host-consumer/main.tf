# The AD tools host with the plain tools-host module, in the security account's home Region, after the hub (it
# needs the hub's KMS key): its identity (role and instance profile) and, with `instance`, the instance itself
# (null: attach the profile to your own host and tag it as the hub expects). Values for a first try are in
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

variable "security_account_id" {
  type        = string
  description = "The security account that runs the hub (Terraform refuses to touch any other account)."
}

variable "home_region" {
  type        = string
  description = "The hub's Region, where the tools host runs."
}

variable "password_parameter_names" {
  type        = list(string)
  description = "The directories' join-password SecureStrings (created out of band, never by Terraform)."
}

variable "password_kms_key_arn" {
  type        = string
  description = "Customer managed key of those parameters; null: the AWS managed key aws/ssm."
  default     = null
}

variable "hub_kms_key_arn" {
  type        = string
  description = "Output kms_key_arn of the hub (../hub-consumer)."
}

variable "inventory_bucket_arn" {
  type        = string
  description = "The reconciliation bucket the host writes inventories to; null: no reconciliation."
  default     = null
}

variable "instance" {
  type = object({
    vpc_id             = string
    subnet_id          = string
    dc_cidrs           = list(string)
    https_egress_cidrs = optional(list(string), ["0.0.0.0/0"])
    platform           = optional(string, "linux")
    instance_type      = optional(string)
    ami_id             = optional(string)
  })
  description = "The tools-host instance the module creates (VPC, private subnet, DC networks); null: bring your own."
  default     = null
}

variable "assume_role_arn" {
  type        = string
  description = "Role Terraform assumes in the security account; null uses the caller's credentials as they are."
  default     = null
}

variable "tags" {
  type        = map(string)
  description = "Tags on every resource (the provider's default_tags)."
  default     = {}
}

provider "aws" {
  region              = var.home_region
  allowed_account_ids = [var.security_account_id]

  dynamic "assume_role" {
    for_each = var.assume_role_arn == null ? [] : [var.assume_role_arn]
    content {
      role_arn     = assume_role.value
      session_name = "ec2-domain-join-tools-host"
    }
  }

  default_tags {
    tags = merge({ ManagedBy = "ec2-domain-join" }, var.tags)
  }
}

module "domain_join_tools_host" {
  source = "../../terraform/modules/tools-host"

  password_parameter_names = var.password_parameter_names
  password_kms_key_arn     = var.password_kms_key_arn
  hub_kms_key_arn          = var.hub_kms_key_arn
  inventory_bucket_arn     = var.inventory_bucket_arn
  instance                 = var.instance
}

output "tools_host_instance_profile_arn" {
  description = "Attach it to the tools-host instance; the hub accepts only a host with this profile."
  value       = module.domain_join_tools_host.instance_profile_arn
}

output "tools_host_instance_profile_name" {
  description = "The profile's name (aws_instance.iam_instance_profile, or the console's IAM role field)."
  value       = module.domain_join_tools_host.instance_profile_name
}

output "tools_host_role_arn" {
  description = "The tools host's role."
  value       = module.domain_join_tools_host.role_arn
}

output "tools_host_instance_id" {
  description = "The tools-host instance (null without instance): the hub's tools_host_instance_id."
  value       = module.domain_join_tools_host.instance_id
}

output "tools_host_security_group_id" {
  description = "The instance's security group (null without instance): admit it on the DCs as a client."
  value       = module.domain_join_tools_host.security_group_id
}
