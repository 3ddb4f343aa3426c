# The scheduled reconciliation of fleet, ledger and directory (planner, worker, reconcile queue, inventory
# bucket, schedule, alarms) with the plain reconciliation module, beside the hub: in the security account's
# home Region, after the hub (it takes the hub module's outputs). Values for a first try are in
# terraform.tfvars; see README.md (it shows the same call wired to `module.<hub>.*` in one root module).

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
  description = "The hub's Region."
}

variable "assume_role_arn" {
  type        = string
  description = "Role Terraform assumes in the security account; null uses the caller's credentials as they are."
  default     = null
}

variable "organization_id" {
  type        = string
  description = "The hub's organization_id (null: principal_account_ids, as the hub was given)."
  default     = null
}

variable "principal_account_ids" {
  type        = list(string)
  description = "The hub's principal_account_ids, instead of organization_id."
  default     = []
}

variable "hub" {
  type = object({
    kms_key_arn          = string
    queue_arn            = string
    queue_url            = string
    handler_environment  = map(string)
    powertools_layer_arn = string
    config_table_name    = string
    ledger_table_name    = string
  })
  description = "Outputs of the hub (../hub-consumer's module.domain_join_hub), e.g. read from its state."
}

variable "artifact_s3_bucket" {
  type        = string
  description = "The bucket of the handler zip, as given to the hub (planner and worker run the same zip)."
  default     = null
}

variable "artifact_s3_key" {
  type        = string
  description = "Key of the handler zip, as given to the hub."
  default     = null
}

variable "reconciliation" {
  type = object({
    schedule        = optional(string, "rate(1 hour)")
    dry_run         = optional(bool, true)
    max_removals    = optional(number, 25)
    quarantine_days = optional(number, 0)
  })
  description = "The tunables this example sets (the module has more: docs/reconcile.md, Settings)."
  default     = {}
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
      session_name = "ec2-domain-join-reconciliation"
    }
  }

  default_tags {
    tags = merge({ ManagedBy = "ec2-domain-join" }, var.tags)
  }
}

module "domain_join_reconciliation" {
  source = "../../terraform/modules/reconciliation"

  organization_id       = var.organization_id
  principal_account_ids = var.principal_account_ids

  hub_kms_key_arn      = var.hub.kms_key_arn
  join_queue_arn       = var.hub.queue_arn
  join_queue_url       = var.hub.queue_url
  handler_environment  = var.hub.handler_environment
  powertools_layer_arn = var.hub.powertools_layer_arn
  config_table_name    = var.hub.config_table_name
  ledger_table_name    = var.hub.ledger_table_name
  artifact_s3_bucket   = var.artifact_s3_bucket
  artifact_s3_key      = var.artifact_s3_key

  schedule        = var.reconciliation.schedule
  dry_run         = var.reconciliation.dry_run
  max_removals    = var.reconciliation.max_removals
  quarantine_days = var.reconciliation.quarantine_days
}

output "worker_role_arn" {
  description = "Pass it to every spoke (../spoke-consumer) as reconciler_role_arn: its reader role trusts it."
  value       = module.domain_join_reconciliation.worker_role_arn
}

output "inventory_bucket_arn" {
  description = "Pass it to the tools host (../tools-host-consumer) as inventory_bucket_arn."
  value       = module.domain_join_reconciliation.bucket_arn
}

output "planner_function_arn" {
  description = "The planner: the schedule invokes it."
  value       = module.domain_join_reconciliation.planner_function_arn
}
