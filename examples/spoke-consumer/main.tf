# A landing-zone pipeline enrolling one workload account with the plain spoke module.
# Run once per account (e.g. from the account-vending pipeline), after the hub is deployed.
# Values for a first try are in terraform.tfvars; see README.md.

terraform {
  required_version = ">= 1.5"
  required_providers {
    aws = {
      source  = "hashicorp/aws"
      version = ">= 6.0"
    }
  }
}

variable "account_id" {
  type        = string
  description = "The workload account being enrolled (Terraform refuses to touch any other account)."
}

variable "regions" {
  type        = list(string)
  description = "Regions governed by the landing zone for this account; the first one is the provider's."
}

variable "assume_role_arn" {
  type        = string
  description = "Role Terraform assumes in the account, e.g. arn:aws:iam::<account_id>:role/AWSControlTowerExecution; null uses the caller's credentials as they are."
  default     = null
}

variable "security_account_id" {
  type        = string
  description = "The account of the hub and forwarders."
}

variable "hub_lambda_role_arn" {
  type        = string
  description = "Output lambda_role_arn of the hub (../hub-consumer)."
}

variable "reconciler_role_arn" {
  type        = string
  description = "Output worker_role_arn of the reconciliation (../reconciliation-consumer); null: no reconciliation, no reader role."
  default     = null
}

variable "reader_principal_arns" {
  type        = list(string)
  description = "Roles (e.g. the operators') the reconcile reader role trusts beside the worker, for `ec2-domain-join reconcile --dry-run`."
  default     = []
}

variable "tags" {
  type        = map(string)
  description = "Tags on every resource (the provider's default_tags)."
  default     = {}
}

provider "aws" {
  region              = var.regions[0]
  allowed_account_ids = [var.account_id]

  dynamic "assume_role" {
    for_each = var.assume_role_arn == null ? [] : [var.assume_role_arn]
    content {
      role_arn     = assume_role.value
      session_name = "ec2-domain-join-enrolment"
    }
  }

  default_tags {
    tags = merge({ ManagedBy = "ec2-domain-join" }, var.tags)
  }
}

module "domain_join_spoke" {
  source = "../../terraform/modules/spoke"

  regions             = var.regions
  security_account_id = var.security_account_id
  hub_lambda_role_arn = var.hub_lambda_role_arn

  reconciler_role_arn   = var.reconciler_role_arn
  reader_principal_arns = var.reader_principal_arns
}

output "domain_join_execution_role_arn" {
  description = "Record it in the hub's config table as assumeRoleARN (optional: the default role name is used)."
  value       = module.domain_join_spoke.execution_role_arn
}

output "domain_join_events_role_arn" {
  description = "Role EventBridge uses to forward this account's events to the security account."
  value       = module.domain_join_spoke.events_role_arn
}

output "domain_join_reconcile_reader_role_arn" {
  description = "The describe-only role the hub's reconcile worker assumes here (null without reconciler_role_arn)."
  value       = module.domain_join_spoke.reconcile_reader_role_arn
}
