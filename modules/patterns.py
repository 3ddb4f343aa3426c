"""Value formats shared by the props classes and the landing-zone file (pure: no cdktf)."""

from __future__ import annotations

import re

ACCOUNT_ID = re.compile(r"^[0-9]{12}$")
REGION = re.compile(r"^[a-z]{2}(-gov|-iso[a-z]*)?-[a-z]+-[0-9]$")
ORGANIZATION_ID = re.compile(r"^o-[a-z0-9]{10,32}$")
RESOURCE_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,62}$")
ROLE_NAME = re.compile(r"^[A-Za-z0-9+=,.@_-]{1,64}$")
ROLE_ARN = re.compile(r"^arn:aws[a-z-]*:iam::[0-9]{12}:role/[A-Za-z0-9+=,.@_/-]{1,512}$")
TAG_KEY = re.compile(r"^[\w .:/=+@-]{1,128}$")
EXTERNAL_ID = re.compile(r"^[\w+=,.@:/-]{2,1224}$")
BUCKET = re.compile(r"^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$")
SNS_ARN = re.compile(r"^arn:aws[a-z-]*:sns:[a-z0-9-]+:[0-9]{12}:[A-Za-z0-9_-]{1,256}$")
