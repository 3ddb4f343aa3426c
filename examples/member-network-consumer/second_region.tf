# The second Region of the account: the same module called again, with a provider configuration aliased to
# that Region (a module serves its provider's Region; Terraform has one provider configuration per Region).
# The rule is regional: it is the one of the directory network deployed in this Region. Delete this file for
# one Region; copy it (alias, module and output renamed) for a third.

variable "second_region" {
  type = object({
    region           = string
    vpc_ids          = list(string)
    resolver_rule_id = optional(string)
    endpoints        = optional(map(object({ vpc_cidr = string, subnet_ids = list(string) })), {})
  })
  description = "The second Region, its VPCs whose instances join, its shared rule (null finds it by name) and the VPCs that get the interface endpoints (endpoint_services)."
}

provider "aws" {
  alias               = "second_region"
  region              = var.second_region.region
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

module "member_network_second_region" {
  source = "../../terraform/modules/member-network"
  providers = {
    aws = aws.second_region
  }

  vpc_ids           = var.second_region.vpc_ids
  dc_cidrs          = var.dc_cidrs
  roles             = var.roles
  resolver_rule_id  = var.second_region.resolver_rule_id
  endpoint_services = var.endpoint_services
  endpoints         = var.second_region.endpoints
}

output "second_region_member_security_group_ids" {
  description = "Second Region: VPC id -> the member security group: attach it to the instances that join."
  value       = module.member_network_second_region.member_security_group_ids
}
