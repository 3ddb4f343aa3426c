# Example values (the accounts and Regions of examples/landing-zone.yaml): replace them with yours.
security_account_id = "111111111111"
home_region         = "eu-west-1"
organization_id     = "o-exampleorg1" # or, instead: principal_account_ids = ["222222222222"]
artifact_s3_bucket  = "my-artifacts"
artifact_s3_key     = "ec2-domain-join/domain_join.zip"
forwarder_regions   = ["eu-central-1", "us-east-1"]
tags                = { Project = "ec2-domain-join" }

# The tools host the handler trusts (output instance_profile_arn of the tools-host module).
tools_host_instance_profile_arn = "arn:aws:iam::111111111111:instance-profile/ec2-domain-join-tools-host"

# A provisioned config table, autoscaled (the module's default is on demand).
config_table_billing_mode = "PROVISIONED"
