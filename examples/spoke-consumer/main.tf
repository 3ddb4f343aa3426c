# A landing-zone pipeline enrolling one workload account with the plain spoke module.
# Run once per account (e.g. from the account-vending pipeline), after the hub is deployed.

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
  description = "The workload account being enrolled."
}

variable "regions" {
  type        = list(string)
  description = "Regions governed by the landing zone for this account."
  default     = ["eu-west-1", "eu-central-1"]
}

variable "security_account_id" {
  type    = string
  default = "111111111111"
}

variable "hub_lambda_role_arn" {
  type        = string
  description = "Output lambda_role_arn of the hub module."
  default     = "arn:aws:iam::111111111111:role/domain-join-handler"
}

provider "aws" {
  region              = "eu-west-1"
  allowed_account_ids = [var.account_id]
  assume_role {
    role_arn     = "arn:aws:iam::${var.account_id}:role/AWSControlTowerExecution"
    session_name = "ec2-domain-join-enrolment"
  }
}

module "domain_join_spoke" {
  source = "../../terraform/modules/spoke"

  regions             = var.regions
  security_account_id = var.security_account_id
  hub_lambda_role_arn = var.hub_lambda_role_arn
  external_id         = ""
}

output "domain_join_execution_role_arn" {
  description = "Record it in the hub's config table as assumeRoleARN (optional: the default role name is used)."
  value       = module.domain_join_spoke.execution_role_arn
}

output "domain_join_events_role_arn" {
  value = module.domain_join_spoke.events_role_arn
}
