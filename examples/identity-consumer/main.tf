# Workforce identity with the plain identity module: permission sets ADAdministrators and AmazonQDeveloperUsers
# and their account assignments, in the management account (or the IAM Identity Center delegated
# administrator) and the instance's Region. Values for a first try are in terraform.tfvars; see README.md.

terraform {
  required_version = ">= 1.5"
  required_providers {
    aws = {
      source  = "hashicorp/aws"
      version = ">= 6.0"
    }
  }
}

variable "identity_account_id" {
  type        = string
  description = "The management account or the delegated administrator (Terraform refuses any other account)."
}

variable "region" {
  type        = string
  description = "The Region of the IAM Identity Center instance."
}

variable "instance_arn" {
  type        = string
  description = "The instance; null: read it with aws_ssoadmin_instances at plan."
  default     = null
}

variable "identity_store_id" {
  type        = string
  description = "Its identity store; null with instance_arn."
  default     = null
}

variable "permission_sets" {
  type = map(object({
    session_duration = optional(string)
    tags             = optional(map(string), {})
  }))
  description = "ADAdministrators and/or AmazonQDeveloperUsers, with their session duration and tags."
}

variable "assignments" {
  type = list(object({
    group          = string
    permission_set = string
    account_ids    = list(string)
  }))
  description = "Group display name, permission set and the accounts it is assigned in."
  default     = []
}

variable "group_ids" {
  type        = map(string)
  description = "Group ids by display name; the groups not listed are looked up by display name at plan."
  default     = {}
}

variable "directory" {
  type = object({
    account_id = string
    region     = string
  })
  description = "The directory network (account, Region) whose domain controllers ADAdministrators reach."
  default     = null
}

variable "assume_role_arn" {
  type        = string
  description = "Role Terraform assumes in the identity account; null uses the caller's credentials as they are."
  default     = null
}

variable "tags" {
  type        = map(string)
  description = "Tags on every resource (the provider's default_tags)."
  default     = {}
}

provider "aws" {
  region              = var.region
  allowed_account_ids = [var.identity_account_id]

  dynamic "assume_role" {
    for_each = var.assume_role_arn == null ? [] : [var.assume_role_arn]
    content {
      role_arn     = assume_role.value
      session_name = "ec2-domain-join-identity"
    }
  }

  default_tags {
    tags = merge({ ManagedBy = "ec2-domain-join" }, var.tags)
  }
}

module "domain_join_identity" {
  source = "../../terraform/modules/identity"

  instance_arn      = var.instance_arn
  identity_store_id = var.identity_store_id
  permission_sets   = var.permission_sets
  assignments       = var.assignments
  group_ids         = var.group_ids
  directory         = var.directory
}

output "permission_set_arns" {
  description = "Permission set name -> ARN."
  value       = module.domain_join_identity.permission_set_arns
}

output "group_ids" {
  description = "Group display name -> identity store group id."
  value       = module.domain_join_identity.group_ids
}
