# Example values (the accounts and Region of examples/landing-zone.yaml): replace them with yours.
security_account_id = "111111111111"
home_region         = "eu-west-1"
organization_id     = "o-exampleorg1" # or, instead: principal_account_ids = ["222222222222"]
artifact_s3_bucket  = "my-artifacts"
artifact_s3_key     = "ec2-domain-join/domain_join.zip"
tags                = { Project = "ec2-domain-join" }

# The hub's outputs (terraform output -json in ../hub-consumer gives them), here for the hub's defaults.
hub = {
  kms_key_arn          = "arn:aws:kms:eu-west-1:111111111111:key/1234abcd-12ab-34cd-56ef-1234567890ab"
  queue_arn            = "arn:aws:sqs:eu-west-1:111111111111:domain-join-queue"
  queue_url            = "https://sqs.eu-west-1.amazonaws.com/111111111111/domain-join-queue"
  powertools_layer_arn = "arn:aws:lambda:eu-west-1:017000801446:layer:AWSLambdaPowertoolsPythonV3-python313-x86_64:36"
  config_table_name    = "domain-join-config"
  ledger_table_name    = "domain-join-ledger"
  handler_environment = {
    CONFIG_TABLE_NAME            = "domain-join-config"
    LEDGER_TABLE_NAME            = "domain-join-ledger"
    DEAD_LETTER_QUEUE_URL        = "https://sqs.eu-west-1.amazonaws.com/111111111111/domain-join-dlq"
    SEALING_KEY_ARN              = "arn:aws:kms:eu-west-1:111111111111:key/1234abcd-12ab-34cd-56ef-1234567890ab"
    POWERTOOLS_SERVICE_NAME      = "ec2-domain-join"
    POWERTOOLS_METRICS_NAMESPACE = "Ec2DomainJoin"
    SPOKE_ROLE_NAME              = "ec2-domain-join-execution"
    TOOLS_HOST_TAG_KEY           = "ADToolsHost"
    TOOLS_HOST_TAG_VALUE         = "true"
  }
}

# Report only until the first reports look right; quarantine orphans for a week before deleting them.
reconciliation = {
  schedule        = "rate(30 minutes)"
  dry_run         = true
  max_removals    = 40
  quarantine_days = 7
}
