"""Names shared by the handler, the Terraform modules and the scripts.

One place, so that the IAM policies the modules write, the documents they
create and the calls the handler makes can never drift apart.  Pure data: the
modules import it at synth time, the handler at run time.
"""

from __future__ import annotations

from typing import Final

# --- SSM command documents (docs/architecture.md "Contracts") --------------------------
JOIN_DOCUMENT: Final = "DomainJoin-Join"  # spoke accounts, every Region; runs on the instance
PRESTAGE_DOCUMENT: Final = "DomainJoin-Prestage"  # hub; runs on the AD tools host
REMOVE_DOCUMENT: Final = "DomainJoin-Remove"  # hub; runs on the AD tools host
INVENTORY_DOCUMENT: Final = "DomainJoin-Inventory"  # hub; runs on the AD tools host (reconciliation)

# Parameters of DomainJoin-Join.  Every parameter is delivered to the script
# as an environment variable (interpolationType ENV_VAR), never templated into
# the script text.
JOIN_PARAM_DOMAIN: Final = "DomainName"
JOIN_PARAM_DNS_IPS: Final = "DnsIpAddresses"  # comma separated IPv4, may be ""
JOIN_PARAM_LOGIN_GROUP: Final = "LoginGroup"  # adGroupName tag, may be ""
JOIN_PARAM_SUDO_GROUP: Final = "SudoGroup"  # may be ""
JOIN_PARAM_INSTALL_RDS: Final = "InstallRdsRole"  # "true" | "false" (Windows only)
JOIN_PARAM_COMPUTERS: Final = "Computers"  # "i-…=NAME=OTP i-…=NAME=OTP"; each instance picks its own entry

# Parameters of DomainJoin-Prestage / DomainJoin-Remove (tools host).
TOOLS_PARAM_DOMAIN: Final = "DomainName"
TOOLS_PARAM_OU: Final = "OuPath"  # DN of the target OU, may be "" (default Computers container)
TOOLS_PARAM_JOIN_USER: Final = "JoinUserName"
# SecureString *name*; the tools host reads the value itself
TOOLS_PARAM_PASSWORD_PARAMETER: Final = "JoinPasswordParameter"  # noqa: S105 - a name, not a secret
# prestage: "NAME=OTP=STAMP …"; remove: "NAME=STAMP …"
TOOLS_PARAM_COMPUTERS: Final = "Computers"
# DomainJoin-Remove: what happens to an object that carries the entry's stamp (docs/scripts.md).
TOOLS_PARAM_ACTION: Final = "Action"
REMOVE_ACTION_DELETE: Final = "delete"  # the default: delete it with its child objects (LDAP tree delete)
REMOVE_ACTION_DISABLE: Final = "disable"  # quarantine: set ACCOUNTDISABLE (0x2), keep the object
REMOVE_ACTIONS: Final = (REMOVE_ACTION_DELETE, REMOVE_ACTION_DISABLE)
# DomainJoin-Inventory (no Computers): the OU DNs whose subtrees it lists, joined by ";" (no OU value holds
# one); "" = the domain's Computers container. Its stdout is one JSON document (docs/scripts.md, "Inventory").
TOOLS_PARAM_SEARCH_BASES: Final = "SearchBases"
SEARCH_BASES_SEPARATOR: Final = ";"
MAX_SEARCH_BASES: Final = 16
INVENTORY_FORMAT_VERSION: Final = 1

# Sealed one-time passwords (docs/handler.md "Sealed one-time passwords"): both documents take the KMS key
# the values are sealed with ("" = the Computers value holds plain one-time passwords); the prestage document
# also takes the batch id its ciphertexts' encryption context names.
PARAM_SEALING_KEY: Final = "SealingKeyArn"
TOOLS_PARAM_SEALED_BATCH: Final = "SealedBatch"
# Encryption context of a sealed value: its purpose, and the batch (prestage) or the instance (join).
SEAL_CONTEXT_PURPOSE: Final = "ec2-domain-join:purpose"
SEAL_CONTEXT_BATCH: Final = "ec2-domain-join:batch"
SEAL_CONTEXT_INSTANCE: Final = "ec2-domain-join:instance-arn"
SEAL_PURPOSE_PRESTAGE: Final = "prestage"
SEAL_PURPOSE_JOIN: Final = "join"

# --- Reconciliation (docs/reconcile.md) ------------------------------------------------
# Hub; runs on the AD tools host: lists the computer objects carrying our stamp under the given OUs (one
# LDAP search) and prints the JSON document of handlers/domain_join/reconcile/inventory.py on stdout,
# which Run Command writes to the hub's inventory bucket (its API output is truncated at 24,000 characters).
# (INVENTORY_DOCUMENT, TOOLS_PARAM_SEARCH_BASES, TOOLS_PARAM_ACTION and REMOVE_ACTION_*: above.)
# Where Run Command writes the inventory output in the bucket: <prefix><command id>/<instance id>/...
# The planner's OutputS3KeyPrefix is INVENTORY_OUTPUT_KEY_PREFIX; the tools host may put exactly under it.
INVENTORY_OUTPUT_KEY_PREFIX: Final = "inventory"
INVENTORY_OUTPUT_PREFIX: Final = f"{INVENTORY_OUTPUT_KEY_PREFIX}/"
# Reconciler environment (set by modules/reconcile.py; tunables in settings.py).
ENV_JOIN_QUEUE_URL: Final = "JOIN_QUEUE_URL"
ENV_RECONCILE_QUEUE_URL: Final = "RECONCILE_QUEUE_URL"
ENV_INVENTORY_BUCKET: Final = "INVENTORY_BUCKET_NAME"
ENV_HUB_REGIONS: Final = "HUB_REGIONS"  # comma separated; the Regions of accounts whose item has none
ENV_RECONCILE_DRY_RUN: Final = "RECONCILE_DRY_RUN"
ENV_RECONCILE_MAX_REMOVALS: Final = "RECONCILE_MAX_REMOVALS"
ENV_RECONCILE_MAX_REMOVAL_PERCENT: Final = "RECONCILE_MAX_REMOVAL_PERCENT"
ENV_RECONCILE_RETRY_PERIOD_SECONDS: Final = "RECONCILE_RETRY_PERIOD_SECONDS"
ENV_RECONCILE_QUARANTINE_DAYS: Final = "RECONCILE_QUARANTINE_DAYS"
ENV_RECONCILE_READER_ROLE_NAME: Final = "RECONCILE_READER_ROLE_NAME"
# The describe-only role of every spoke that the worker assumes (modules/naming.reconcile_reader_role_name
# of the default name; the hub sets the environment variable to its own).
DEFAULT_RECONCILE_READER_ROLE_NAME: Final = "domain-join-reconcile-reader"

# The tools-host scripts print one "DOMAIN_JOIN_RESULT {json}" line per computer ({"computerName", "status",
# "exitCode", "message"}); "refused": an object of that name exists and is not ours (left untouched).
# (The scripts carry their own copy of the tag: scripts/toolshost/toolshost-lib.sh, ToolsHostLib.ps1.)
RESULT_LINE_TAG: Final = "DOMAIN_JOIN_RESULT"
RESULT_STATUS_REFUSED: Final = "refused"
# The steps (plugins) of every document: one per platform, each with a platformType precondition.
DOCUMENT_STEPS: Final = ("linux", "windows")

# Ownership stamp written to the computer object's `description`.
STAMP_PREFIX: Final = "ec2-domain-join:"  # + "<account>/<region>/<instance id>"

# Environment variable through which the documents hand the Computers list to
# the scripts (kept out of argv, so it never shows in a process listing).
SCRIPT_COMPUTERS_ENV: Final = "DOMAIN_JOIN_COMPUTERS"

# --- DynamoDB tables ---------------------------------------------------------
CONFIG_TABLE_KEY: Final = "accountId"  # seed attribute names kept
LEDGER_TABLE_KEY: Final = "instanceId"
LEDGER_TTL_ATTRIBUTE: Final = "expiresAt"
# When a JOIN_FAILED / REMOVE_FAILED record was last put back on the join queue (`ec2-domain-join retry`, the
# reconciler); the handler's next claim of the record (a full put) drops it.
LEDGER_RETRIED_AT_ATTRIBUTE: Final = "retriedAt"

# --- Lambda environment (set by the hub module, read by the handler) --------
ENV_CONFIG_TABLE: Final = "CONFIG_TABLE_NAME"
ENV_LEDGER_TABLE: Final = "LEDGER_TABLE_NAME"
ENV_DEAD_LETTER_QUEUE_URL: Final = "DEAD_LETTER_QUEUE_URL"
ENV_TOOLS_HOST_TAG_KEY: Final = "TOOLS_HOST_TAG_KEY"  # seed: ADToolsHostTagKey
ENV_TOOLS_HOST_TAG_VALUE: Final = "TOOLS_HOST_TAG_VALUE"  # seed: ADToolsHostTagValue
# The tools host is accepted only with this instance profile or this instance id (issue 9; either may be "").
ENV_TOOLS_HOST_INSTANCE_PROFILE_ARN: Final = "TOOLS_HOST_INSTANCE_PROFILE_ARN"
ENV_TOOLS_HOST_INSTANCE_ID: Final = "TOOLS_HOST_INSTANCE_ID"
# Metric (the hub alarms on it): more than one instance qualifies as the tools host.
METRIC_TOOLS_HOST_AMBIGUOUS: Final = "ToolsHostAmbiguous"
ENV_SPOKE_ROLE_EXTERNAL_ID: Final = "SPOKE_ROLE_EXTERNAL_ID"  # optional
ENV_SEALING_KEY_ARN: Final = "SEALING_KEY_ARN"  # the hub key one-time passwords are sealed with
# Defaults, ranges and meanings of the tunable ones: settings.py (the one table).
ENV_READINESS_DEADLINE_SECONDS: Final = "READINESS_DEADLINE_SECONDS"
ENV_CONFIG_CACHE_TTL_SECONDS: Final = "CONFIG_CACHE_TTL_SECONDS"
ENV_LEDGER_LEASE_SECONDS: Final = "LEDGER_LEASE_SECONDS"

# --- Instance tags (docs/architecture.md) ----------------------------------------------
TAG_OPT_OUT: Final = "autoadjoin"  # value "false", any case, opts out
TAG_LOGIN_GROUP: Final = "adGroupName"

# Default name of the spoke execution role the hub Lambda assumes.
DEFAULT_SPOKE_ROLE_NAME: Final = "ec2-domain-join-execution"

# --- EC2 instance state changes (the events that start a join or a removal) ---
INSTANCE_STATE_SOURCE: Final = "aws.ec2"
INSTANCE_STATE_DETAIL_TYPE: Final = "EC2 Instance State-change Notification"

# --- Run Command results (SSM "EC2 Command Invocation Status-change Notification") ---
# Only failures travel: a join that was sent and never reported failed is a join that worked, which keeps
# the success path free of extra events and calls.
COMMAND_STATUS_SOURCE: Final = "aws.ssm"
COMMAND_STATUS_DETAIL_TYPE: Final = "EC2 Command Invocation Status-change Notification"
COMMAND_FAILED_STATUSES: Final = ("Failed", "TimedOut", "Cancelled")
# Name of the spoke execution role, for accounts whose config item has no assumeRoleARN.
ENV_SPOKE_ROLE_NAME: Final = "SPOKE_ROLE_NAME"
ENV_MAX_COMMAND_ATTEMPTS: Final = "MAX_COMMAND_ATTEMPTS"

# --- Config item attributes (the seed's names kept; the landing zone writes them, the handler reads them) --
CONFIG_DNS_NAME: Final = "dnsName"
CONFIG_DNS_IP1: Final = "dnsIP1"
CONFIG_DNS_IP2: Final = "dnsIP2"
CONFIG_JOIN_USER: Final = "adJoinUserName"
CONFIG_PASSWORD_PARAMETER: Final = "adJoinUserPwParam"  # noqa: S105 - the SecureString's name
CONFIG_ROLE_ARN: Final = "assumeRoleARN"
CONFIG_OU_PATH: Final = "ouPath"
CONFIG_COMPUTER_NAME_PREFIX: Final = "computerNamePrefix"
CONFIG_SUDO_GROUP: Final = "sudoGroupName"
CONFIG_INSTALL_RDS_ROLE: Final = "installRdsRole"
CONFIG_INSTALL_PACKAGES: Final = "installPackages"  # false: private subnets, the AD client is in the image
CONFIG_DIRECTORY_ID: Final = "directoryId"  # AWS Directory Service id, when the domain is AWS Managed AD
CONFIG_REGIONS: Final = "regions"  # the account's enrolled Regions (string set), for reconciliation
CONFIG_MANAGED_BY: Final = "managedBy"  # "ec2-domain-join" on items the landing zone writes
# true: seal each instance's one-time password for that instance (its role needs the spoke's unseal policy).
CONFIG_SEAL_JOIN_PASSWORDS: Final = "sealJoinPasswords"
# OU by tag (optional): the instance tag whose value picks the OU, and the allow-list value -> OU DN (a map).
CONFIG_OU_TAG_KEY: Final = "ouTagKey"
CONFIG_OU_BY_TAG_VALUE: Final = "ouByTagValue"
# Computer name from a tag (optional): the instance tag whose value is the computer name when valid.
CONFIG_COMPUTER_NAME_TAG: Final = "computerNameTag"

# DomainJoin-Join: "false" forbids the Linux script to install packages (private subnets without a package
# mirror: the AD client is baked into the image, and a missing piece fails with exit 14). Default "true".
JOIN_PARAM_INSTALL_PACKAGES: Final = "InstallPackages"
