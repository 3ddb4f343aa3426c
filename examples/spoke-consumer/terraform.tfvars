# Example values (the accounts and Regions of examples/landing-zone.yaml): replace them with yours.
account_id          = "222222222222"
regions             = ["eu-west-1", "eu-central-1"]
security_account_id = "111111111111"
hub_lambda_role_arn = "arn:aws:iam::111111111111:role/domain-join-handler"
tags                = { Project = "ec2-domain-join" }

# With the reconciliation (../reconciliation-consumer's worker_role_arn): the describe-only reader role,
# trusted by the worker and by the operators' role (`ec2-domain-join reconcile --dry-run`).
reconciler_role_arn   = "arn:aws:iam::111111111111:role/domain-join-reconcile-worker"
reader_principal_arns = ["arn:aws:iam::111111111111:role/domain-join-operators"]
