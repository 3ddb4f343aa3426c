# A workload account's network additions for the domain join with the plain member-network module: in each
# listed VPC, the association of the directory's shared resolver rule (the step most often missing when a
# join fails on DNS) and a member security group whose egress is the AD client table to the domain
# controllers; optionally the Systems Manager interface endpoints. Run it once per account. The module serves
# the VPCs of its provider's Region: this file is the first Region, second_region.tf calls the module again
# with an aliased provider for the second (delete that file for one Region, copy it for a third).
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
  description = "The workload account (Terraform refuses to touch any other account)."
}

variable "region" {
  type        = string
  description = "The first Region: the Region of vpc_ids."
}

variable "vpc_ids" {
  type        = list(string)
  description = "The VPCs of the first Region whose instances join."
}

variable "dc_cidrs" {
  type        = list(string)
  description = "The domain controllers' networks."
}

variable "roles" {
  type        = list(string)
  description = "The member groups' roles: client, plus admin for a tools or admin host."
  default     = ["client"]
}

variable "resolver_rule_id" {
  type        = string
  description = "The first Region's shared rule (output resolver_rule_id of ../directory-network-consumer); null finds it by name."
  default     = null
}

variable "endpoint_services" {
  type        = list(string)
  description = "Interface endpoints to create in the VPCs of `endpoints` (ssm, ssmmessages, ec2messages, kms, logs)."
  default     = []
}

variable "endpoints" {
  type        = map(object({ vpc_cidr = string, subnet_ids = list(string) }))
  description = "First Region: VPC id -> its CIDR and the subnets of its interface endpoints."
  default     = {}
}

variable "assume_role_arn" {
  type        = string
  description = "Role Terraform assumes in the account; null uses the caller's credentials as they are."
  default     = null
}

variable "tags" {
  type        = map(string)
  description = "Tags on every resource (the provider's default_tags)."
  default     = {}
}

provider "aws" {
  region              = var.region
  allowed_account_ids = [var.account_id]

  dynamic "assume_role" {
    for_each = var.assume_role_arn == null ? [] : [var.assume_role_arn]
    content {
      role_arn     = assume_role.value
      session_name = "ec2-domain-join-member-network"
    }
  }

  default_tags {
    tags = merge({ ManagedBy = "ec2-domain-join" }, var.tags)
  }
}

module "member_network" {
  source = "../../terraform/modules/member-network"

  vpc_ids           = var.vpc_ids
  dc_cidrs          = var.dc_cidrs
  roles             = var.roles
  resolver_rule_id  = var.resolver_rule_id
  endpoint_services = var.endpoint_services
  endpoints         = var.endpoints
}

output "member_security_group_ids" {
  description = "First Region: VPC id -> the member security group: attach it to the instances that join."
  value       = module.member_network.member_security_group_ids
}
