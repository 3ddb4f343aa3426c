# Example values: replace them with yours.
account_id        = "333333333333"
region            = "eu-west-1"
vpc_ids           = ["vpc-0123456789abcdef0", "vpc-0fedcba9876543210"]
dc_cidrs          = ["10.10.0.0/16"]
resolver_rule_id  = "rslvr-rr-0123456789abcdef0"
endpoint_services = ["ssm", "ssmmessages", "ec2messages"]
endpoints = {
  "vpc-0123456789abcdef0" = { vpc_cidr = "10.20.0.0/16", subnet_ids = ["subnet-0123456789abcdef0"] }
}
tags = { Project = "ec2-domain-join" }
