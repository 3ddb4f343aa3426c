# The security account's hub (bus, join queue, handler, tables, documents, alarm) with the plain hub module,
# as an HCL pipeline would deploy it: once, in the security account's home Region, before any spoke.
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

variable "security_account_id" {
  type        = string
  description = "The security account that runs the hub (Terraform refuses to touch any other account)."
}

variable "home_region" {
  type        = string
  description = "The hub's Region, where the join queue and the handler run."
}

variable "assume_role_arn" {
  type        = string
  description = "Role Terraform assumes in the security account; null uses the caller's credentials as they are."
  default     = null
}

variable "organization_id" {
  type        = string
  description = "AWS Organization whose accounts may send events to the hub's bus; null: principal_account_ids."
  default     = null
}

variable "principal_account_ids" {
  type        = list(string)
  description = "Instead of organization_id (give exactly one): the workload accounts allowed, by id."
  default     = []
}

variable "artifact_s3_bucket" {
  type        = string
  description = "Bucket (in the home Region) holding the handler zip built by `python -m modules.artifact OUT.zip`."
  default     = null
}

variable "artifact_s3_key" {
  type        = string
  description = "Key of the handler zip in artifact_s3_bucket."
  default     = null
}

variable "artifact_path" {
  type        = string
  description = "Instead of S3: a local handler zip (`python -m modules.artifact OUT.zip`) that Terraform uploads."
  default     = null
}

variable "forwarder_regions" {
  type        = list(string)
  description = "Extra Regions that run the region-forwarder module (see ../region-forwarder-consumer)."
  default     = []
}

variable "tools_host_instance_profile_arn" {
  type        = string
  description = "The AD tools host's instance profile (../tools-host-consumer's output): the handler sends tools-host commands only to a tagged instance with it."
  default     = null
}

variable "config_table_billing_mode" {
  type        = string
  description = "PAY_PER_REQUEST (on demand) or PROVISIONED (read and write capacity autoscaled between the module's config_table_min_capacity and config_table_max_capacity)."
  default     = "PAY_PER_REQUEST"
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
      session_name = "ec2-domain-join-hub"
    }
  }

  default_tags {
    tags = merge({ ManagedBy = "ec2-domain-join" }, var.tags)
  }
}

module "domain_join_hub" {
  source = "../../terraform/modules/hub"

  organization_id       = var.organization_id
  principal_account_ids = var.principal_account_ids
  artifact_s3_bucket    = var.artifact_s3_bucket
  artifact_s3_key       = var.artifact_s3_key
  artifact_path         = var.artifact_path
  forwarder_regions     = var.forwarder_regions

  tools_host_instance_profile_arn = var.tools_host_instance_profile_arn

  config_table_billing_mode = var.config_table_billing_mode
}

output "lambda_role_arn" {
  description = "Pass it to every spoke as hub_lambda_role_arn."
  value       = module.domain_join_hub.lambda_role_arn
}

output "queue_url" {
  description = "The join queue."
  value       = module.domain_join_hub.queue_url
}

output "bus_arn" {
  description = "The domain-join bus of the home Region."
  value       = module.domain_join_hub.bus_arn
}

output "config_table_name" {
  description = "Put one item per workload account here (see the README at the repository root)."
  value       = module.domain_join_hub.config_table_name
}

output "dead_letter_queue_arn" {
  description = "Messages the handler could not process; watched by the hub's alarm."
  value       = module.domain_join_hub.dead_letter_queue_arn
}
