# Example values (the accounts and Region of examples/landing-zone.yaml): replace them with yours.
security_account_id      = "111111111111"
home_region              = "eu-west-1"
password_parameter_names = ["/domain-join/join-password", "lab/join-password"]
password_kms_key_arn     = "arn:aws:kms:eu-west-1:111111111111:key/0a1b2c3d-4e5f-6a7b-8c9d-0e1f2a3b4c5d"
hub_kms_key_arn          = "arn:aws:kms:eu-west-1:111111111111:key/1234abcd-12ab-34cd-56ef-1234567890ab"
inventory_bucket_arn     = "arn:aws:s3:::domain-join-reconcile-111111111111" # null without reconciliation
tags                     = { Project = "ec2-domain-join" }
