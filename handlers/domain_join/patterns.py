"""The one set of value formats shared by the handler, the SSM documents, the modules and the scripts.

Pure data (``re`` only), imported by the handler at run time and by the modules at synth time.  Each format
is given twice: as a *syntax* string (``*_SYNTAX``, unanchored, for building larger formats such as the
``Computers`` wire formats) and as a compiled, anchored pattern of a whole value (the bare name).

Who checks what:

- the handler validates config items, tags and events with the compiled patterns (``match`` or
  ``fullmatch``: every pattern ends in ``\\Z``, so a trailing newline never slips through as it would with
  ``$``);
- ``modules/documents.py`` turns them into the documents' ``allowedPattern`` values with
  :func:`document_pattern` (the only translation: ``\\Z`` becomes ``$``, which SSM reads as "end of value");
- the bash and PowerShell scripts carry their own copies (they cannot import Python), and
  ``tests/scripts/test_patterns.py`` runs each script's own check against one accept/reject corpus and
  requires it to agree with the pattern here.

The syntax strings use only what Python ``re``, POSIX ERE (bash ``[[ =~ ]]``), .NET and the documents'
engine read alike: explicit ASCII ranges (no ``\\d``/``\\w``/``\\s``, which match non-ASCII digits and
letters in Python and .NET), bracket expressions, groups, ``|``, ``?``, ``+``, ``*`` and ``{m,n}``; no
look-around, no lazy quantifiers, no backreferences.  Control characters appear only as ``\\x..`` escapes
inside bracket expressions of Python strings (the scripts write them with ``$'...'``).

Every format is ASCII only except the values of an OU's RDNs, which may hold any character but the ones that
are special in a DN, in LDIF, in a shell, or a control character (``OU=Büro,DC=corp,DC=example,DC=com``).
"""

from __future__ import annotations

import re
from typing import Final

from .contract import STAMP_PREFIX


def _anchored(syntax: str) -> re.Pattern[str]:
    """A pattern that matches a whole value of ``syntax`` (also with ``re.match``)."""
    return re.compile(f"^(?:{syntax})\\Z")


def document_pattern(pattern: re.Pattern[str], *, optional: bool = False) -> str:
    """``pattern`` as an SSM document ``allowedPattern``; ``optional`` also admits "" (not given).

    The only difference between the syntaxes used here and the documents' is the end anchor: Python's
    ``$`` also matches before a final newline, so the patterns here end in ``\\Z``; SSM needs ``$``.
    """
    text = pattern.pattern
    if not (text.startswith("^") and text.endswith("\\Z")):
        raise ValueError(f"not an anchored pattern of this module: {text!r}")
    text = text[: -len("\\Z")] + "$"
    return f"^$|{text}" if optional else text


# --- AWS identifiers -------------------------------------------------------------------------------------
ACCOUNT_ID_SYNTAX: Final = "[0-9]{12}"
# Every partition's Region names share one shape: a 2-4 letter area ("us", "eusc"), one to three words
# ("east", "gov-west", "iso-east", "isob-east", "isof-south", "de-east") and a number: us-east-1,
# us-gov-west-1, cn-north-1, us-iso-east-1, us-isob-east-1, eu-isoe-west-1, us-isof-south-1, eusc-de-east-1.
# Syntactic only: whether a Region exists is AWS's answer.
REGION_SYNTAX: Final = "[a-z]{2,4}(-[a-z]{2,10}){1,3}-[0-9]{1,2}"
# EC2 instance ids: "i-" and 8 (old) or 17 hexadecimal digits; the range is kept for simplicity.
INSTANCE_ID_SYNTAX: Final = "i-[0-9a-f]{8,17}"
# Run Command command ids are UUIDs.
COMMAND_ID_SYNTAX: Final = "[0-9a-fA-F]{8}(-[0-9a-fA-F]{4}){3}-[0-9a-fA-F]{12}"
# A Run Command status as SSM's events spell it ("Failed", "TimedOut", "Cancelled", ...).
COMMAND_STATUS_SYNTAX: Final = "[A-Za-z]{1,40}"
# IAM role ARN; group 1 is the partition, group 2 the account.
ROLE_ARN_SYNTAX: Final = "arn:(aws(?:-[a-z]{1,10}){0,2}):iam::([0-9]{12}):role/[A-Za-z0-9_+=,.@/-]{1,512}"
ROLE_ARN_PARTITION_GROUP: Final = 1
ROLE_ARN_ACCOUNT_GROUP: Final = 2
# AWS Directory Service directory id (AWS Managed Microsoft AD): prestaged with ds:CreateComputer.
DIRECTORY_ID_SYNTAX: Final = "d-[0-9a-f]{10}"
# IAM instance profile ARN (as DescribeInstances reports ``IamInstanceProfile.Arn``): the tools host's pin.
INSTANCE_PROFILE_ARN_SYNTAX: Final = (
    "arn:aws(-[a-z]{1,10}){0,2}:iam::[0-9]{12}:instance-profile/[A-Za-z0-9_+=,.@/-]{1,512}"
)
# EC2 tag key (1-128 characters; AWS allows these in every service; "aws:" is reserved and refused apart).
TAG_KEY_SYNTAX: Final = "[A-Za-z0-9 _.:/=+@-]{1,128}"
# A value of an allow-list keyed by tag values (OU by tag): 1-256 of the same ASCII characters.
TAG_VALUE_SYNTAX: Final = "[A-Za-z0-9 _.:/=+@-]{1,256}"
# SSM parameter name (the join password's SecureString): letters, digits, "_", ".", "-" and "/" for the
# hierarchy; never starting with "-" (it would read as an option) or ".".
SSM_PARAMETER_NAME_SYNTAX: Final = "[A-Za-z0-9_/][A-Za-z0-9_./-]{0,2047}"

# --- Active Directory ------------------------------------------------------------------------------------
# DNS label: 1-63 letters, digits and inner hyphens.
_LABEL: Final = "[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?"
# The domain's DNS name: at least two labels.  (Neither the 253-character total nor the label count is
# checked: no pattern of this syntax counts across labels, and a bounded repeat of a label costs glibc's
# regcomp (bash) about 25 ms per check; such a name never resolves.)
DOMAIN_SYNTAX: Final = f"{_LABEL}(\\.{_LABEL})+"
# NetBIOS name of a domain, as in CORP\name.
_NETBIOS_DOMAIN: Final = "[A-Za-z0-9][A-Za-z0-9-]{0,14}"
# A user: name, NETBIOS\name or name@dns.domain; the name starts with a letter or digit (never "-", ".",
# "@" or "\").
_USER_NAME: Final = "[A-Za-z0-9][A-Za-z0-9._-]{0,63}"
USER_SYNTAX: Final = f"({_NETBIOS_DOMAIN}\\\\)?{_USER_NAME}(@{DOMAIN_SYNTAX})?"
# A group (login group, sudo group): the same three forms; the name may hold inner spaces
# ("Linux Admins") and neither starts with "-", ".", "@", "\" or a space nor ends with a space.
_GROUP_NAME: Final = "[A-Za-z0-9]([A-Za-z0-9 ._-]{0,254}[A-Za-z0-9._-])?"
GROUP_SYNTAX: Final = f"({_NETBIOS_DOMAIN}\\\\)?{_GROUP_NAME}(@{DOMAIN_SYNTAX})?"
# Distinguished name of the target OU: 1-32 RDNs "type=value" joined by ",".  A value holds no character
# that is special in a DN ("," "=" "+" "\" '"' "<" ">" ";"), in a shell ("'" "`" "$" "&" "|") or a control
# character (C0 and DEL); non-ASCII letters are fine ("OU=Büro").  DN escapes ("\,") are not supported.
_RDN_VALUE: Final = "[^,=+\"'`$;&|<>\\\\\\x00-\\x1f\\x7f]+"
_RDN: Final = f"[A-Za-z]{{1,16}}={_RDN_VALUE}"
OU_SYNTAX: Final = f"{_RDN}(,{_RDN}){{0,31}}"
# Computer name: NetBIOS-safe upper case, 1-15 characters, starting with a letter.
COMPUTER_NAME_SYNTAX: Final = "[A-Z][A-Z0-9-]{0,14}"
# A computer name taken from an instance tag (``computer_name_tag``): a NetBIOS name of 1-15 letters, digits
# and inner hyphens that starts with a letter (so never all digits); upper-cased, it is a COMPUTER_NAME.
COMPUTER_NAME_TAG_SYNTAX: Final = "[A-Za-z]([A-Za-z0-9-]{0,13}[A-Za-z0-9])?"
# Computer name prefix (configurable per account): 1-7 characters, so the hash part keeps at least 8.
COMPUTER_NAME_PREFIX_SYNTAX: Final = "[A-Z][A-Z0-9-]{0,6}"
# One-time password of a prestaged computer account.  (The handler's generator always mixes upper case,
# lower case and digits; the pattern checks the alphabet and the length only.)
OTP_SYNTAX: Final = "[A-Za-z0-9]{24,128}"

# --- Network ---------------------------------------------------------------------------------------------
_OCTET: Final = "(25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9]?[0-9])"
# Dotted-quad IPv4 without leading zeros (as Python's ipaddress reads it).
IPV4_SYNTAX: Final = f"{_OCTET}(\\.{_OCTET}){{3}}"
MAX_DNS_IPS: Final = 8
IPV4_LIST_SYNTAX: Final = f"{IPV4_SYNTAX}(,{IPV4_SYNTAX}){{0,{MAX_DNS_IPS - 1}}}"

# --- Ownership stamp -------------------------------------------------------------------------------------
if not re.fullmatch("[a-z0-9:-]+", STAMP_PREFIX):  # literal in every regex syntax used here
    raise ValueError(f"STAMP_PREFIX {STAMP_PREFIX!r} must be plain [a-z0-9:-]")
# The description of a computer object we own: ec2-domain-join:<account>/<region>/<instance id>.
STAMP_SYNTAX: Final = f"{STAMP_PREFIX}{ACCOUNT_ID_SYNTAX}/{REGION_SYNTAX}/{INSTANCE_ID_SYNTAX}"

# --- Flags -----------------------------------------------------------------------------------------------
BOOLEAN_SYNTAX: Final = "true|false"

# --- Whole values ----------------------------------------------------------------------------------------
ACCOUNT_ID: Final = _anchored(ACCOUNT_ID_SYNTAX)
REGION: Final = _anchored(REGION_SYNTAX)
INSTANCE_ID: Final = _anchored(INSTANCE_ID_SYNTAX)
COMMAND_ID: Final = _anchored(COMMAND_ID_SYNTAX)
COMMAND_STATUS: Final = _anchored(COMMAND_STATUS_SYNTAX)
ROLE_ARN: Final = _anchored(ROLE_ARN_SYNTAX)
DIRECTORY_ID: Final = _anchored(DIRECTORY_ID_SYNTAX)
INSTANCE_PROFILE_ARN: Final = _anchored(INSTANCE_PROFILE_ARN_SYNTAX)
TAG_KEY: Final = _anchored(TAG_KEY_SYNTAX)
TAG_VALUE: Final = _anchored(TAG_VALUE_SYNTAX)
SSM_PARAMETER_NAME: Final = _anchored(SSM_PARAMETER_NAME_SYNTAX)
DOMAIN: Final = _anchored(DOMAIN_SYNTAX)
USER: Final = _anchored(USER_SYNTAX)
GROUP: Final = _anchored(GROUP_SYNTAX)
OU: Final = _anchored(OU_SYNTAX)
COMPUTER_NAME: Final = _anchored(COMPUTER_NAME_SYNTAX)
COMPUTER_NAME_PREFIX: Final = _anchored(COMPUTER_NAME_PREFIX_SYNTAX)
COMPUTER_NAME_TAG: Final = _anchored(COMPUTER_NAME_TAG_SYNTAX)
OTP: Final = _anchored(OTP_SYNTAX)
IPV4: Final = _anchored(IPV4_SYNTAX)
IPV4_LIST: Final = _anchored(IPV4_LIST_SYNTAX)
STAMP: Final = _anchored(STAMP_SYNTAX)
BOOLEAN: Final = _anchored(BOOLEAN_SYNTAX)


def short_name(principal: str) -> str:
    """The bare name of ``NETBIOS\\name`` or ``name@dns.domain`` (what sssd reports without domains)."""
    return principal.rsplit("\\", 1)[-1].split("@", 1)[0]
