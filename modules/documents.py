"""Content of the three SSM command documents, built from the script files.

Each document has a Linux step and a Windows step chosen by `platformType`.
Parameters reach the agent as environment variables (`interpolationType:
ENV_VAR`, SSM Agent >= 3.3.2746.0), so no value is ever templated into shell or
PowerShell text; `allowedPattern` is defence in depth.  The script text is
embedded unmodified: a quoted heredoc (bash) or a verbatim here-string
(PowerShell) writes it, and the library files it sources from its own
directory, into a private temporary directory; the script is run from there
with the values as arguments, and the directory is removed afterwards.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Any

from handlers.domain_join import contract, patterns, wire

REPOSITORY_ROOT = Path(__file__).resolve().parent.parent
SCRIPTS_DIR = REPOSITORY_ROOT / "scripts"
MAX_DOCUMENT_BYTES = 64 * 1024  # SSM's limit for a command document
HEREDOC_END = "DOMAIN_JOIN_SCRIPT_END"
_FILE_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]*")  # safe unquoted in both shells' single quotes

# allowedPattern of every parameter, generated from the shared formats (handlers/domain_join/patterns.py;
# the Computers values: handlers/domain_join/wire.py). "" always means "not given" (optional=True).
PATTERNS: dict[str, str] = {
    "domain": patterns.document_pattern(patterns.DOMAIN),
    "dns_ips": patterns.document_pattern(patterns.IPV4_LIST, optional=True),
    "group": patterns.document_pattern(patterns.GROUP, optional=True),
    "bool": patterns.document_pattern(patterns.BOOLEAN),
    "ou": patterns.document_pattern(patterns.OU, optional=True),
    "user": patterns.document_pattern(patterns.USER),
    "parameter_name": patterns.document_pattern(patterns.SSM_PARAMETER_NAME),
    "join_computers": wire.JOIN_PARAMETER_PATTERN,  # plain, or sealed (SealingKeyArn given)
    "prestage_computers": wire.PRESTAGE_PARAMETER_PATTERN,
    "sealing_key": wire.SEALING_KEY_PARAMETER_PATTERN,
    "sealed_batch": wire.SEALED_BATCH_PARAMETER_PATTERN,
    "remove_computers": wire.REMOVE_PATTERN,
    "remove_action": "^(" + "|".join(contract.REMOVE_ACTIONS) + ")$",
    # DomainJoin-Inventory's SearchBases: 1 to MAX_SEARCH_BASES OU DNs joined by SEARCH_BASES_SEPARATOR.
    "search_bases": patterns.document_pattern(
        re.compile(
            f"^(?:{patterns.OU_SYNTAX})({re.escape(contract.SEARCH_BASES_SEPARATOR)}(?:{patterns.OU_SYNTAX}))"
            f"{{0,{contract.MAX_SEARCH_BASES - 1}}}\\Z"
        ),
        optional=True,
    ),
}


class ScriptMissingError(FileNotFoundError):
    """A document cannot be built because a script it embeds is not there."""


@dataclass(frozen=True)
class Parameter:
    name: str
    description: str
    pattern: str
    default: str | None = None  # None: required

    def to_ssm(self) -> dict[str, Any]:
        body: dict[str, Any] = {
            "type": "String",
            "description": self.description,
            "interpolationType": "ENV_VAR",
            "allowedPattern": self.pattern,
        }
        if self.default is not None:
            body["default"] = self.default
        return body


@dataclass(frozen=True)
class Argument:
    """One command-line argument filled from a parameter's SSM_<name> variable."""

    linux_option: str | None  # None: the Linux script takes no such option
    windows_parameter: str | None
    parameter: str


@dataclass(frozen=True)
class DocumentSpec:
    name: str
    description: str
    linux_script: str  # relative to scripts/
    windows_script: str
    parameters: tuple[Parameter, ...]
    arguments: tuple[Argument, ...]
    computers_parameter: str | None  # None: the document takes no computer list (DomainJoin-Inventory)
    # Files the script sources from its own directory (relative to scripts/, in the script's folder): the step
    # writes them next to the script, so one copy serves several scripts in the repository.
    linux_libraries: tuple[str, ...] = ()
    windows_libraries: tuple[str, ...] = ()


def _read_script(relative: str, scripts_dir: Path, parameters: tuple[Parameter, ...]) -> str:
    path = scripts_dir / relative
    if not path.is_file():
        raise ScriptMissingError(
            f"cannot build the SSM document: script {path} does not exist (expected at scripts/{relative})"
        )
    text = path.read_text(encoding="utf-8")
    # SSM still substitutes {{ Name }} in commands; the scripts must never be templated.
    placeholder = re.compile(r"\{\{\s*(ssm:|" + "|".join(p.name for p in parameters) + r")")
    if placeholder.search(text):
        raise ValueError(f"scripts/{relative} contains an SSM {{{{ }}}} placeholder")
    return text


@dataclass(frozen=True)
class EmbeddedFile:
    """A file the step writes into its temporary directory: the script itself or a library it sources."""

    relative: str  # relative to scripts/
    name: str  # its file name in the temporary directory
    text: str  # without its final newline


def _read_files(
    script: str, libraries: tuple[str, ...], scripts_dir: Path, parameters: tuple[Parameter, ...]
) -> list[EmbeddedFile]:
    """The libraries first, then the script (last: the one the step runs)."""
    folder = PurePosixPath(script).parent
    files: list[EmbeddedFile] = []
    for relative in (*libraries, script):
        path = PurePosixPath(relative)
        if path.parent != folder:
            raise ValueError(f"scripts/{relative} must sit next to scripts/{script}, which sources it")
        if not _FILE_NAME.fullmatch(path.name):
            raise ValueError(f"scripts/{relative}: file name {path.name!r} is not safe to quote")
        text = _read_script(relative, scripts_dir, parameters)
        files.append(EmbeddedFile(relative, path.name, text.rstrip("\n")))
    names = [f.name for f in files]
    if len(set(names)) != len(names):
        raise ValueError(f"scripts/{script}: its libraries and it need distinct file names, got {names}")
    return files


def _linux_commands(spec: DocumentSpec, files: list[EmbeddedFile]) -> list[str]:
    guard = " || ".join(f'[ -z "${{SSM_{p.name}+x}}" ]' for p in spec.parameters)
    args = " ".join(f'{a.linux_option} "$SSM_{a.parameter}"' for a in spec.arguments if a.linux_option)
    commands = [
        "#!/bin/bash",
        "set -u",
        f"if {guard}; then",
        '  echo "SSM Agent 3.3.2746.0 or later is required (ENV_VAR parameters are missing)" >&2',
        "  exit 90",
        "fi",
        'script_dir="$(mktemp -d)"',
        "trap 'rm -rf \"$script_dir\"' EXIT",
        'chmod 0700 "$script_dir"',
    ]
    for file in files:
        lines = file.text.split("\n")
        if any(line.strip() == HEREDOC_END for line in lines):
            raise ValueError(f"scripts/{file.relative} contains the heredoc delimiter {HEREDOC_END}")
        commands += [f"cat > \"$script_dir/{file.name}\" <<'{HEREDOC_END}'", *lines, HEREDOC_END]
    run = f'bash "$script_dir/{files[-1].name}" {args}'
    if spec.computers_parameter is None:
        return [*commands, run]
    computers = f'{contract.SCRIPT_COMPUTERS_ENV}="$SSM_{spec.computers_parameter}"'
    return [*commands, f"{computers} {run}"]


def _windows_commands(spec: DocumentSpec, files: list[EmbeddedFile]) -> list[str]:
    missing = " -or ".join(f"($null -eq $env:SSM_{p.name})" for p in spec.parameters)
    args = " ".join(
        f"-{a.windows_parameter} $env:SSM_{a.parameter}" for a in spec.arguments if a.windows_parameter
    )
    commands = [
        "$ErrorActionPreference = 'Stop'",
        f"if ({missing}) {{",
        "  Write-Error 'SSM Agent 3.3.2746.0 or later is required (ENV_VAR parameters are missing)'",
        "  exit 90",
        "}",
        "$scriptDir = Join-Path $env:ProgramData ('domain-join-' + [guid]::NewGuid().ToString('N'))",
        "New-Item -ItemType Directory -Path $scriptDir | Out-Null",
        "try {",
    ]
    for file in files:
        lines = file.text.replace("\r\n", "\n").split("\n")
        if any(line.startswith("'@") for line in lines):
            raise ValueError(f"scripts/{file.relative} has a line starting with '@ (ends a here-string)")
        commands += [
            "  $fileText = @'",
            *lines,
            "'@",
            f"  $file = Join-Path $scriptDir '{file.name}'",
            "  Set-Content -LiteralPath $file -Value $fileText -Encoding UTF8",
        ]
    return [
        *commands,
        f"  $scriptFile = Join-Path $scriptDir '{files[-1].name}'",
        *(
            [f"  $env:{contract.SCRIPT_COMPUTERS_ENV} = $env:SSM_{spec.computers_parameter}"]
            if spec.computers_parameter is not None
            else []
        ),
        f"  & $scriptFile {args}",
        "  $code = $LASTEXITCODE",
        "} finally {",
        f"  Remove-Item Env:{contract.SCRIPT_COMPUTERS_ENV} -ErrorAction SilentlyContinue",
        "  Remove-Item -LiteralPath $scriptDir -Recurse -Force -ErrorAction SilentlyContinue",
        "}",
        "exit $code",
    ]


def build_document(spec: DocumentSpec, scripts_dir: Path = SCRIPTS_DIR) -> dict[str, Any]:
    linux = _read_files(spec.linux_script, spec.linux_libraries, scripts_dir, spec.parameters)
    windows = _read_files(spec.windows_script, spec.windows_libraries, scripts_dir, spec.parameters)
    return {
        "schemaVersion": "2.2",
        "description": spec.description,
        "parameters": {p.name: p.to_ssm() for p in spec.parameters},
        "mainSteps": [
            {
                "action": "aws:runShellScript",
                "name": "linux",
                "precondition": {"StringEquals": ["platformType", "Linux"]},
                "inputs": {"runCommand": _linux_commands(spec, linux), "timeoutSeconds": "1800"},
            },
            {
                "action": "aws:runPowerShellScript",
                "name": "windows",
                "precondition": {"StringEquals": ["platformType", "Windows"]},
                "inputs": {"runCommand": _windows_commands(spec, windows), "timeoutSeconds": "1800"},
            },
        ],
    }


def terraform_literal(text: str) -> str:
    """Escape text so Terraform keeps it verbatim (it reads ${ and %{ in any string as a template)."""
    return text.replace("${", "$${").replace("%{", "%%{")


def document_json(spec: DocumentSpec, scripts_dir: Path = SCRIPTS_DIR) -> str:
    text = json.dumps(build_document(spec, scripts_dir), indent=None, separators=(",", ":"))
    if len(text.encode("utf-8")) > MAX_DOCUMENT_BYTES:
        raise ValueError(f"document {spec.name} is {len(text)} bytes, over SSM's {MAX_DOCUMENT_BYTES}")
    return text


_DOMAIN = Parameter(
    contract.JOIN_PARAM_DOMAIN, "DNS name of the Active Directory domain.", PATTERNS["domain"]
)

JOIN = DocumentSpec(
    name=contract.JOIN_DOCUMENT,
    description="Joins this instance to Active Directory with its prestaged one-time password.",
    linux_script="linux/domain-join.sh",
    windows_script="windows/DomainJoin.ps1",
    parameters=(
        _DOMAIN,
        Parameter(
            contract.JOIN_PARAM_DNS_IPS,
            "Comma-separated DNS server IPv4 addresses, or empty.",
            PATTERNS["dns_ips"],
            "",
        ),
        Parameter(
            contract.JOIN_PARAM_LOGIN_GROUP, "AD group allowed to log in, or empty.", PATTERNS["group"], ""
        ),
        Parameter(
            contract.JOIN_PARAM_SUDO_GROUP, "AD group given sudo (Linux), or empty.", PATTERNS["group"], ""
        ),
        Parameter(
            contract.JOIN_PARAM_INSTALL_RDS,
            "Install the RDS session host role (Windows).",
            PATTERNS["bool"],
            "false",
        ),
        Parameter(
            contract.JOIN_PARAM_INSTALL_PACKAGES,
            "Linux: install the AD client when missing (true), or only check it is in the image (false).",
            PATTERNS["bool"],
            "true",
        ),
        Parameter(
            contract.JOIN_PARAM_COMPUTERS,
            "Space-separated INSTANCEID=COMPUTERNAME=OTP entries (OTP sealed when SealingKeyArn is given).",
            PATTERNS["join_computers"],
        ),
        Parameter(
            contract.PARAM_SEALING_KEY,
            "KMS key each OTP is sealed with for its instance, or empty (plain OTPs).",
            PATTERNS["sealing_key"],
            "",
        ),
    ),
    arguments=(
        Argument("--domain", "DomainName", contract.JOIN_PARAM_DOMAIN),
        Argument("--dns-ips", "DnsIpAddresses", contract.JOIN_PARAM_DNS_IPS),
        Argument("--login-group", "LoginGroup", contract.JOIN_PARAM_LOGIN_GROUP),
        Argument("--sudo-group", None, contract.JOIN_PARAM_SUDO_GROUP),
        Argument(None, "InstallRdsRole", contract.JOIN_PARAM_INSTALL_RDS),
        Argument("--install-packages", None, contract.JOIN_PARAM_INSTALL_PACKAGES),
        Argument("--sealing-key", "SealingKeyArn", contract.PARAM_SEALING_KEY),
    ),
    computers_parameter=contract.JOIN_PARAM_COMPUTERS,
)

_TOOLS_COMMON = (
    Parameter(contract.TOOLS_PARAM_DOMAIN, "DNS name of the Active Directory domain.", PATTERNS["domain"]),
    Parameter(
        contract.TOOLS_PARAM_JOIN_USER, "AD account that prestages and removes computers.", PATTERNS["user"]
    ),
    Parameter(
        contract.TOOLS_PARAM_PASSWORD_PARAMETER,
        "Name of the SecureString parameter holding that account's password (read on the host).",
        PATTERNS["parameter_name"],
    ),
)
_TOOLS_ARGUMENTS = (
    Argument("--domain", "DomainName", contract.TOOLS_PARAM_DOMAIN),
    Argument("--join-user", "JoinUserName", contract.TOOLS_PARAM_JOIN_USER),
    Argument("--password-parameter", "PasswordParameter", contract.TOOLS_PARAM_PASSWORD_PARAMETER),
)
# What prestage and remove share; each script sources it from its own directory.
_TOOLS_LINUX_LIBRARIES = ("toolshost/toolshost-lib.sh",)
_TOOLS_WINDOWS_LIBRARIES = ("toolshost/ToolsHostLib.ps1",)

PRESTAGE = DocumentSpec(
    name=contract.PRESTAGE_DOCUMENT,
    description="Prestages computer accounts with one-time passwords and an ownership stamp (AD tools host).",
    linux_script="toolshost/prestage.sh",
    windows_script="toolshost/Prestage.ps1",
    linux_libraries=_TOOLS_LINUX_LIBRARIES,
    windows_libraries=_TOOLS_WINDOWS_LIBRARIES,
    parameters=(
        *_TOOLS_COMMON,
        Parameter(
            contract.TOOLS_PARAM_OU, "Distinguished name of the target OU, or empty.", PATTERNS["ou"], ""
        ),
        Parameter(
            contract.TOOLS_PARAM_COMPUTERS,
            "Space-separated COMPUTERNAME=OTP=STAMP entries, or their KMS ciphertexts (SealingKeyArn given).",
            PATTERNS["prestage_computers"],
        ),
        Parameter(
            contract.PARAM_SEALING_KEY,
            "KMS key the Computers value is sealed with for the tools host, or empty (plain).",
            PATTERNS["sealing_key"],
            "",
        ),
        Parameter(
            contract.TOOLS_PARAM_SEALED_BATCH,
            "Batch id the sealed value's encryption context names, or empty (plain).",
            PATTERNS["sealed_batch"],
            "",
        ),
    ),
    arguments=(
        *_TOOLS_ARGUMENTS,
        Argument("--ou", "OuPath", contract.TOOLS_PARAM_OU),
        Argument("--sealing-key", "SealingKeyArn", contract.PARAM_SEALING_KEY),
        Argument("--sealed-batch", "SealedBatch", contract.TOOLS_PARAM_SEALED_BATCH),
    ),
    computers_parameter=contract.TOOLS_PARAM_COMPUTERS,
)

REMOVE = DocumentSpec(
    name=contract.REMOVE_DOCUMENT,
    description="Removes computer accounts whose ownership stamp matches (AD tools host).",
    linux_script="toolshost/remove.sh",
    windows_script="toolshost/Remove.ps1",
    linux_libraries=_TOOLS_LINUX_LIBRARIES,
    windows_libraries=_TOOLS_WINDOWS_LIBRARIES,
    parameters=(
        *_TOOLS_COMMON,
        Parameter(
            contract.TOOLS_PARAM_COMPUTERS,
            "Space-separated COMPUTERNAME=STAMP entries.",
            PATTERNS["remove_computers"],
        ),
        Parameter(
            contract.TOOLS_PARAM_ACTION,
            "delete (with child objects) or disable (quarantine: set ACCOUNTDISABLE, keep the object).",
            PATTERNS["remove_action"],
            contract.REMOVE_ACTION_DELETE,
        ),
    ),
    arguments=(*_TOOLS_ARGUMENTS, Argument("--action", "Action", contract.TOOLS_PARAM_ACTION)),
    computers_parameter=contract.TOOLS_PARAM_COMPUTERS,
)

INVENTORY = DocumentSpec(
    name=contract.INVENTORY_DOCUMENT,
    description="Lists the computer objects that carry an ownership stamp under the given OUs (AD tools "
    "host); its stdout is one JSON document.",
    linux_script="toolshost/inventory.sh",
    windows_script="toolshost/Inventory.ps1",
    linux_libraries=_TOOLS_LINUX_LIBRARIES,
    windows_libraries=_TOOLS_WINDOWS_LIBRARIES,
    parameters=(
        *_TOOLS_COMMON,
        Parameter(
            contract.TOOLS_PARAM_SEARCH_BASES,
            f"OU DNs whose subtrees are listed, joined by {contract.SEARCH_BASES_SEPARATOR!r}; "
            "empty: the domain's Computers container.",
            PATTERNS["search_bases"],
            "",
        ),
    ),
    arguments=(*_TOOLS_ARGUMENTS, Argument("--bases", "SearchBases", contract.TOOLS_PARAM_SEARCH_BASES)),
    computers_parameter=None,
)

# The documents the hub creates for the AD tools host.
TOOLS_HOST_DOCUMENTS = (PRESTAGE, REMOVE, INVENTORY)
