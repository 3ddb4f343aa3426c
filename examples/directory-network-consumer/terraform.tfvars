# Example values: replace them with yours.
directory_account_id = "222222222222"
region               = "eu-west-1"
vpc_id               = "vpc-0a1b2c3d4e5f60718"
vpc_cidr             = "10.10.0.0/16"
domain_name          = "corp.example.com"
dns_server_ips       = ["10.10.1.10", "10.10.2.10"]
resolver_subnet_ids  = ["subnet-0a1b2c3d4e5f60718", "subnet-0f1e2d3c4b5a69788"]
client_cidrs         = ["10.20.0.0/16"]
admin_cidrs          = ["10.99.0.0/24"]
share_principals     = ["arn:aws:organizations::111111111111:organization/o-exampleorg1"]
endpoint_services    = ["ssm", "ssmmessages", "ec2messages"]
endpoint_subnet_ids  = ["subnet-0a1b2c3d4e5f60718", "subnet-0f1e2d3c4b5a69788"]
tags                 = { Project = "ec2-domain-join" }

# The network ACL of the DC subnets: client, admin and DC networks and the VPC's need more than AWS's
# default 20 rules per direction (ask for 40 with Service Quotas first).
create_network_acl     = true
dc_subnet_ids          = ["subnet-0d1c2b3a495867708", "subnet-0e1d2c3b4a5968718"]
dc_subnet_cidrs        = ["10.10.0.0/20"]
network_acl_rule_quota = 40

# Administration and DC protection
admin_role_arns = ["arn:aws:iam::222222222222:role/ad-admins"]
dc_tag_key      = "Role"
dc_tag_value    = "domain-controller"
dc_instance_ids = ["i-0a1b2c3d4e5f60718", "i-0f1e2d3c4b5a69788"]
