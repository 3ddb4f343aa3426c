# Example values (the accounts and Regions of examples/landing-zone.yaml): replace them with yours.
security_account_id = "111111111111"
region              = "eu-central-1"
home_region         = "eu-west-1"
organization_id     = "o-exampleorg1"
tags                = { Project = "ec2-domain-join" }
