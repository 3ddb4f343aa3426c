# One Region's forwarder (bus and topic relaying EC2 events to the hub's join queue) with the plain
# region-forwarder module. Run it once per extra Region of the security account (one pipeline stage or one
# workspace per Region, each with its own `region`), after the hub. Values for a first try are in
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
  description = "The security account that runs the hub and the forwarders."
}

variable "region" {
  type        = string
  description = "The extra Region this forwarder serves (one of the hub's forwarder_regions)."
}

variable "home_region" {
  type        = string
  description = "The hub's Region, where the join queue is."
}

variable "organization_id" {
  type        = string
  description = "AWS Organization whose accounts may send events to this Region's bus."
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
  region              = var.region
  allowed_account_ids = [var.security_account_id]

  dynamic "assume_role" {
    for_each = var.assume_role_arn == null ? [] : [var.assume_role_arn]
    content {
      role_arn     = assume_role.value
      session_name = "ec2-domain-join-forwarder"
    }
  }

  default_tags {
    tags = merge({ ManagedBy = "ec2-domain-join" }, var.tags)
  }
}

module "domain_join_forwarder" {
  source = "../../terraform/modules/region-forwarder"

  home_region     = var.home_region
  organization_id = var.organization_id
}

output "bus_arn" {
  description = "The domain-join bus of this Region."
  value       = module.domain_join_forwarder.bus_arn
}

output "topic_arn" {
  description = "The topic relaying this Region's events to the hub's join queue."
  value       = module.domain_join_forwarder.topic_arn
}
