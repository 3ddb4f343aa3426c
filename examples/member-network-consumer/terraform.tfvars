# Example values: replace them with yours.
account_id        = "333333333333"
region            = "eu-west-1"
vpc_ids           = ["vpc-0123456789abcdef0", "vpc-0fedcba9876543210"]
dc_cidrs          = ["10.10.0.0/16"]
roles             = ["client", "admin"]
resolver_rule_id  = "rslvr-rr-0123456789abcdef0"
endpoint_services = ["ssm", "ssmmessages", "ec2messages"]
endpoints = {
  "vpc-0123456789abcdef0" = { vpc_cidr = "10.20.0.0/16", subnet_ids = ["subnet-0123456789abcdef0"] }
}
second_region = {
  region           = "eu-central-1"
  vpc_ids          = ["vpc-0aaaabbbbccccdddd"]
  resolver_rule_id = "rslvr-rr-0fedcba9876543210"
  endpoints = {
    "vpc-0aaaabbbbccccdddd" = { vpc_cidr = "10.30.0.0/16", subnet_ids = ["subnet-0aaaabbbbccccdddd"] }
  }
}
tags = { Project = "ec2-domain-join" }
