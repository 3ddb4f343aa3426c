"""Value formats of the props classes and the landing-zone file (pure: no cdktf).

The formats the handler, the documents and the scripts share (account id, Region, role ARN, ...) live in
``handlers/domain_join/patterns.py`` and are re-exported here; the rest are the modules' own.  Every
pattern is anchored; use ``fullmatch`` (or ``match``: the shared ones end in ``\\Z``).
"""

from __future__ import annotations

import re

from handlers.domain_join.patterns import ACCOUNT_ID, INSTANCE_ID, REGION, ROLE_ARN

__all__ = [
    "ACCOUNT_ID",
    "AMI_ID",
    "BUCKET",
    "BUCKET_ARN",
    "EXTERNAL_ID",
    "INSTANCE_ID",
    "KMS_KEY_ARN",
    "ORGANIZATION_ID",
    "PREFIX_LIST_ID",
    "REGION",
    "RESOLVER_RULE_ID",
    "RESOURCE_NAME",
    "ROLE_ARN",
    "ROLE_NAME",
    "SECURITY_GROUP_ID",
    "SNS_ARN",
    "SUBNET_ID",
    "TAG_KEY",
    "TAG_VALUE",
    "VPC_ID",
]

ORGANIZATION_ID = re.compile(r"^o-[a-z0-9]{10,32}$")
RESOURCE_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,62}$")
ROLE_NAME = re.compile(r"^[A-Za-z0-9+=,.@_-]{1,64}$")
TAG_KEY = re.compile(r"^[\w .:/=+@-]{1,128}$")
EXTERNAL_ID = re.compile(r"^[\w+=,.@:/-]{2,1224}$")
BUCKET = re.compile(r"^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$")
BUCKET_ARN = re.compile(rf"^arn:aws[a-z-]*:s3:::{BUCKET.pattern[1:-1]}$")
SNS_ARN = re.compile(r"^arn:aws[a-z-]*:sns:[a-z0-9-]+:[0-9]{12}:[A-Za-z0-9_-]{1,256}$")
TAG_VALUE = re.compile(r"^[\w .:/=+@-]{0,256}$")
# EC2 and Route 53 Resolver resource ids
VPC_ID = re.compile(r"^vpc-[0-9a-f]{8,17}$")
SUBNET_ID = re.compile(r"^subnet-[0-9a-f]{8,17}$")
SECURITY_GROUP_ID = re.compile(r"^sg-[0-9a-f]{8,17}$")
AMI_ID = re.compile(r"^ami-[0-9a-f]{8,17}$")
PREFIX_LIST_ID = re.compile(r"^pl-[0-9a-f]{8,17}$")
RESOLVER_RULE_ID = re.compile(r"^rslvr-rr-[0-9a-f]{17}$")
KMS_KEY_ARN = re.compile(r"^arn:aws[a-z-]*:kms:[a-z0-9-]+:[0-9]{12}:key/[A-Za-z0-9-]{1,128}$")
# The hub's outputs the plain reconciliation module takes (modules/plain_modules.py)
SQS_ARN = re.compile(r"^arn:aws[a-z-]*:sqs:[a-z0-9-]+:[0-9]{12}:[A-Za-z0-9_-]{1,80}(\.fifo)?$")
LAYER_VERSION_ARN = re.compile(r"^arn:aws[a-z-]*:lambda:[a-z0-9-]+:[0-9]{12}:layer:[\w-]{1,140}:[0-9]+$")
# Workforce identity (modules/identity.py, modules/entra.py, the landing zone's `identity` section)
SSO_INSTANCE_ARN = re.compile(r"^arn:aws[a-z-]*:sso:::instance/(sso)?ins-[a-zA-Z0-9.-]{16}$")
GUID = re.compile(r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$")
IDENTITY_STORE_ID = re.compile(r"^(d-[0-9a-f]{10}|[0-9a-f]{8}(-[0-9a-f]{4}){3}-[0-9a-f]{12})$")
GROUP_DISPLAY_NAME = re.compile(r"^[^\x00-\x1f\x7f]{1,1024}$")  # the identity store's printable characters
# An identity store group id: a GUID, optionally prefixed by 10 hex digits and "-".
GROUP_ID = re.compile(r"^([0-9a-f]{10}-)?[0-9a-fA-F]{8}(-[0-9a-fA-F]{4}){3}-[0-9a-fA-F]{12}$")
HTTPS_URL = re.compile(r"^https://[A-Za-z0-9.-]+(:[0-9]{1,5})?(/[A-Za-z0-9._~%!$&'()*+,;=:@/?-]*)?$")
EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
SYNCHRONIZATION_TEMPLATE_ID = re.compile(r"^[A-Za-z][A-Za-z0-9]{0,63}$")
