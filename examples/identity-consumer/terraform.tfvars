# Example values (the accounts of examples/landing-zone-identity.yaml): replace them with yours.
identity_account_id = "999999999999" # the management account or the delegated administrator
region              = "eu-west-1"
# Given, so that the plan reads nothing from IAM Identity Center (null: aws_ssoadmin_instances finds them).
instance_arn      = "arn:aws:sso:::instance/ssoins-0123456789abcdef"
identity_store_id = "d-0123456789"
permission_sets = {
  ADAdministrators      = { tags = { Team = "directory" } }
  AmazonQDeveloperUsers = { session_duration = "PT4H" }
}
assignments = [
  { group = "AD Administrators", permission_set = "ADAdministrators", account_ids = ["444444444444"] },
  { group = "Amazon Q Developers", permission_set = "AmazonQDeveloperUsers", account_ids = ["222222222222", "333333333333"] },
]
# Group ids, so that the plan needs no identity store lookup; drop an entry to look the group up by display name.
group_ids = {
  "AD Administrators"   = "9067c8d1a2-1f2e3d4c-5b6a-4789-8a9b-0c1d2e3f4a5b"
  "Amazon Q Developers" = "9067c8d1a2-6a7b8c9d-0e1f-4a2b-9c3d-4e5f6a7b8c9d"
}
directory = { account_id = "444444444444", region = "eu-west-1" }
tags      = { Project = "ec2-domain-join" }
