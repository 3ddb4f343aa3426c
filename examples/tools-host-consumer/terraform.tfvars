# Example values (the accounts and Region of examples/landing-zone.yaml): replace them with yours.
security_account_id      = "111111111111"
home_region              = "eu-west-1"
password_parameter_names = ["/domain-join/join-password", "lab/join-password"]
password_kms_key_arn     = "arn:aws:kms:eu-west-1:111111111111:key/0a1b2c3d-4e5f-6a7b-8c9d-0e1f2a3b4c5d"
hub_kms_key_arn          = "arn:aws:kms:eu-west-1:111111111111:key/1234abcd-12ab-34cd-56ef-1234567890ab"
inventory_bucket_arn     = "arn:aws:s3:::domain-join-reconcile-111111111111" # null without reconciliation
tags                     = { Project = "ec2-domain-join" }
# The instance, created by the module (null: bring your own host). ami_id pins an AMI, so the plan reads no SSM
# parameter; drop it to take the latest Amazon Linux 2023 (or Windows Server 2022) image from its public parameter.
instance = {
  vpc_id             = "vpc-0a1b2c3d4e5f60718"
  subnet_id          = "subnet-0a1b2c3d4e5f60718"
  dc_cidrs           = ["10.10.1.0/24", "10.10.2.0/24"]
  https_egress_cidrs = ["10.20.0.0/16"] # the VPC's CIDR: Systems Manager through interface endpoints
  ami_id             = "ami-0123456789abcdef0"
}
