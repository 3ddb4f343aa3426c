# The config table's items as code with the plain directory-config module: one item per enrolled account, so a
# change shows in `terraform plan` and an account removed here loses its item. Run it in the security account
# after the hub (or against an existing config table). Values for a first try are in terraform.tfvars; see
# README.md.

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
  description = "The hub's Region, where the config table is."
}

variable "config_table_name" {
  type        = string
  description = "Output config_table_name of the hub (../hub-consumer), or an existing config table."
}

variable "accounts" {
  type        = any
  description = "Account id -> its directory settings (the module's `accounts`; see its README)."
}

variable "assume_role_arn" {
  type        = string
  description = "Role Terraform assumes in the security account; null uses the caller's credentials as they are."
  default     = null
}

provider "aws" {
  region              = var.home_region
  allowed_account_ids = [var.security_account_id]

  dynamic "assume_role" {
    for_each = var.assume_role_arn == null ? [] : [var.assume_role_arn]
    content {
      role_arn     = assume_role.value
      session_name = "ec2-domain-join-directory-config"
    }
  }
}

module "domain_join_directory_config" {
  source = "../../terraform/modules/directory-config"

  table_name = var.config_table_name
  accounts   = var.accounts
}

output "configured_account_ids" {
  description = "The accounts that have a config item."
  value       = module.domain_join_directory_config.account_ids
}
