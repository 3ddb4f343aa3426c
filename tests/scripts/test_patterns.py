"""One set of formats: the Python patterns, the documents' allowedPatterns and every script's own input checks
agree on one accept/reject corpus (``pattern_corpus.py``).

Bash: each script runs for real, as the documents run it, with one option or one field of the computer list
set to the corpus value; the run stops at a known point right after the checks (``--dry-run`` for the join;
an empty password on stdin, exit 3, for the tools-host scripts), so the exit code says whether the check
accepted the value.  The callers' locale is C.UTF-8 (the scripts set LC_ALL=C themselves, so that POSIX ERE
ranges are byte-wise ASCII whatever the caller's locale).

PowerShell cannot run here: its checks are the ``$...Pattern`` literals of each script (tree-sitter finds them
and every comparison that uses them), compiled with Python's ``re`` after the one translation they need.
Differences between .NET and Python regexes that matter, and how they are covered:

- end anchor: .NET ``\\z`` is Python ``\\Z`` (end of the value); .NET's ``\\Z`` and ``$`` (like Python's
  ``$``) also match before a final newline, so the scripts must use ``\\z``: a pattern ending in anything
  else is refused here, and the corpus' trailing-newline values would show the difference anyway;
- case: PowerShell's ``-match``/``-notmatch`` ignore case (``[A-Z]`` would admit "web01", and the Kelvin sign
  U+212A folds to "k"); every comparison with a pattern must use ``-cmatch``/``-cnotmatch``;
- ``\\d``, ``\\w``, ``\\s`` match non-ASCII characters in both, with different tables: refused in the patterns
  (explicit ASCII ranges only); .NET-only syntax (character class subtraction ``[a-z-[aeiou]]``, ``\\p{..}``,
  inline options, look-around, named groups) is refused too, so what remains means the same in both engines;
- ``\\xHH`` is two hexadecimal digits in both; a character class matches one UTF-16 code unit in .NET and
  one code point in Python, which only differs for characters outside the BMP, where both accept or both
  refuse (the only class that admits non-ASCII is a negated one).

What is not covered for PowerShell: the splitting of the computer list and of an entry into fields (code,
not patterns); the scripts split on single spaces and "=" as bash does.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import botocore
import pytest
import tree_sitter_powershell
from tree_sitter import Language, Node, Parser

from handlers.domain_join import patterns
from modules.documents import JOIN, PRESTAGE, REMOVE, DocumentSpec, build_document

from .adlab import (
    BASE_ENV,
    COMPUTERS_ENV,
    JOIN_SCRIPT,
    PRESTAGE_SCRIPT,
    REMOVE_SCRIPT,
    SCRIPTS,
    parse_results,
)
from .pattern_corpus import ACCEPT, CORPUS, REJECT

POWERSHELL = Parser(Language(tree_sitter_powershell.language()))
IID = "i-0123456789abcdef0"
OTP = "Abcdefghijklmnop12345678"
STAMP = f"ec2-domain-join:123456789012/eu-west-1/{IID}"
DOMAIN = "corp.example.com"
USER = "svc-join"


def corpus(name: str) -> Iterator[tuple[str, bool]]:
    """(value, accepted) of one format."""
    for value in CORPUS[name][ACCEPT]:
        yield value, True
    for value in CORPUS[name][REJECT]:
        yield value, False


# --- Python ----------------------------------------------------------------------------------------------


@pytest.mark.parametrize("name", sorted(CORPUS))
def test_the_python_pattern_agrees_with_the_corpus(name: str) -> None:
    pattern = getattr(patterns, name)
    wrong = [value for value, accepted in corpus(name) if bool(pattern.match(value)) != accepted]
    wrong += [value for value, accepted in corpus(name) if bool(pattern.fullmatch(value)) != accepted]
    assert wrong == []


def test_document_pattern_changes_only_the_end_anchor() -> None:
    assert patterns.document_pattern(patterns.ACCOUNT_ID) == "^(?:[0-9]{12})$"
    assert patterns.document_pattern(patterns.ACCOUNT_ID, optional=True) == "^$|^(?:[0-9]{12})$"
    with pytest.raises(ValueError, match="not an anchored pattern"):
        patterns.document_pattern(re.compile("^[0-9]{12}$"))


def test_short_name_is_the_bare_name_sssd_reports() -> None:
    assert [patterns.short_name(g) for g in ("ops", "CORP\\Linux Admins", "ops@corp.example.com")] == [
        "ops",
        "Linux Admins",
        "ops",
    ]


def test_every_region_of_every_partition_is_a_region() -> None:
    """botocore's partition data names every Region AWS has (commercial, China, GovCloud, ISO, EUSC)."""
    data = json.loads((Path(botocore.__file__).parent / "data" / "partitions.json").read_text())
    regions = {
        (partition["id"], region)
        for partition in data["partitions"]
        for region in partition["regions"]
        if not region.endswith("-global")  # the partitions' pseudo-Regions of global endpoints
    }
    assert {partition for partition, _ in regions} >= {"aws", "aws-cn", "aws-us-gov", "aws-iso", "aws-iso-b"}
    assert [region for _, region in sorted(regions) if not patterns.REGION.match(region)] == []


def test_the_ipv4_pattern_reads_single_addresses_as_python_does() -> None:
    import ipaddress

    def python_reads(value: str) -> bool:
        try:
            ipaddress.IPv4Address(value)
        except ValueError:
            return False
        return True

    singles = [value for value, _ in corpus("IPV4_LIST") if "," not in value]
    assert [v for v in singles if bool(patterns.IPV4.match(v)) != python_reads(v)] == []


# --- the documents' allowedPattern -----------------------------------------------------------------------

DOCUMENT_PARAMETERS = [
    (JOIN, "DomainName", "DOMAIN", False),
    (JOIN, "DnsIpAddresses", "IPV4_LIST", True),
    (JOIN, "LoginGroup", "GROUP", True),
    (JOIN, "SudoGroup", "GROUP", True),
    (JOIN, "InstallRdsRole", "BOOLEAN", False),
    (JOIN, "InstallPackages", "BOOLEAN", False),
    (PRESTAGE, "DomainName", "DOMAIN", False),
    (PRESTAGE, "OuPath", "OU", True),
    (PRESTAGE, "JoinUserName", "USER", False),
    (PRESTAGE, "JoinPasswordParameter", "SSM_PARAMETER_NAME", False),
    (REMOVE, "JoinUserName", "USER", False),
    (REMOVE, "JoinPasswordParameter", "SSM_PARAMETER_NAME", False),
]


@pytest.mark.parametrize(
    ("spec", "parameter", "name", "optional"),
    DOCUMENT_PARAMETERS,
    ids=[f"{spec.name}.{parameter}" for spec, parameter, _, _ in DOCUMENT_PARAMETERS],
)
def test_the_document_pattern_agrees_with_the_corpus(
    spec: DocumentSpec, parameter: str, name: str, optional: bool
) -> None:
    pattern = re.compile(build_document(spec)["parameters"][parameter]["allowedPattern"])
    expected = dict(corpus(name))
    if optional:
        expected[""] = True  # "" means "not given"
    assert [v for v, accepted in expected.items() if bool(pattern.fullmatch(v)) != accepted] == []


# --- bash ------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Probe:
    """How one script receives one format, and the exit codes that tell whether its check accepted it."""

    script: Path
    name: str  # the format (a key of CORPUS)
    args: Callable[[str], list[str]]
    computers: Callable[[str], str]
    accepted: int
    rejected: int
    optional: bool = False  # "" means "not given" (not a value to check)

    @property
    def id(self) -> str:
        args = self.args("VALUE")
        where = args[args.index("VALUE") - 1] if "VALUE" in args else "list"
        return f"{self.script.name}-{self.name}-{where}"


def join_args(*args: str) -> list[str]:
    return ["--domain", DOMAIN, "--instance-id", IID, "--dry-run", *args]


def tools_args(*args: str, user: str = USER, domain: str = DOMAIN) -> list[str]:
    return ["--domain", domain, "--join-user", user, "--password-stdin", *args]


def by_parameter(name: str, user: str = USER, domain: str = DOMAIN) -> list[str]:
    return ["--domain", domain, "--join-user", user, "--password-parameter", name]


PRESTAGE_ENTRY = f"WEB01={OTP}={STAMP}"
REMOVE_ENTRY = f"WEB01={STAMP}"
JOIN_ENTRY = f"{IID}=WEB01={OTP}"

PROBES = [
    # domain-join.sh: usage errors exit 2, entry errors 4; a valid run stops at --dry-run with 0
    Probe(JOIN_SCRIPT, "DOMAIN", lambda v: ["--domain", v, "--instance-id", IID, "--dry-run"],
          lambda v: JOIN_ENTRY, 0, 2),
    Probe(JOIN_SCRIPT, "GROUP", lambda v: join_args("--login-group", v), lambda v: JOIN_ENTRY, 0, 2, True),
    Probe(JOIN_SCRIPT, "GROUP", lambda v: join_args("--sudo-group", v), lambda v: JOIN_ENTRY, 0, 2, True),
    Probe(JOIN_SCRIPT, "IPV4_LIST", lambda v: join_args("--dns-ips", v), lambda v: JOIN_ENTRY, 0, 2, True),
    Probe(JOIN_SCRIPT, "BOOLEAN", lambda v: join_args("--install-packages", v), lambda v: JOIN_ENTRY, 0, 2),
    Probe(JOIN_SCRIPT, "INSTANCE_ID", lambda v: ["--domain", DOMAIN, "--dry-run", "--instance-id", v],
          lambda v: f"{v}=WEB01={OTP}", 0, 2, True),
    Probe(JOIN_SCRIPT, "COMPUTER_NAME", lambda v: join_args(), lambda v: f"{IID}={v}={OTP}", 0, 4),
    Probe(JOIN_SCRIPT, "OTP", lambda v: join_args(), lambda v: f"{IID}=WEB01={v}", 0, 4),
    # prestage.sh / remove.sh: usage errors exit 2, malformed entries 8; valid ones reach the password: 3
    *(
        probe
        for script, entry in ((PRESTAGE_SCRIPT, PRESTAGE_ENTRY), (REMOVE_SCRIPT, REMOVE_ENTRY))
        for probe in (
            Probe(script, "DOMAIN", lambda v: tools_args(domain=v), lambda v, e=entry: e, 3, 2),
            Probe(script, "USER", lambda v: tools_args(user=v), lambda v, e=entry: e, 3, 2),
            Probe(script, "REGION", lambda v: tools_args("--region", v), lambda v, e=entry: e, 3, 2, True),
            Probe(script, "SSM_PARAMETER_NAME", by_parameter, lambda v, e=entry: e, 3, 2),
        )
    ),
    Probe(PRESTAGE_SCRIPT, "OU", lambda v: tools_args("--ou", v), lambda v: PRESTAGE_ENTRY, 3, 2, True),
    Probe(PRESTAGE_SCRIPT, "COMPUTER_NAME", lambda v: tools_args(), lambda v: f"{v}={OTP}={STAMP}", 3, 8),
    Probe(PRESTAGE_SCRIPT, "OTP", lambda v: tools_args(), lambda v: f"WEB01={v}={STAMP}", 3, 8),
    Probe(PRESTAGE_SCRIPT, "STAMP", lambda v: tools_args(), lambda v: f"WEB01={OTP}={v}", 3, 8),
    Probe(REMOVE_SCRIPT, "COMPUTER_NAME", lambda v: tools_args(), lambda v: f"{v}={STAMP}", 3, 8),
    Probe(REMOVE_SCRIPT, "STAMP", lambda v: tools_args(), lambda v: f"WEB01={v}", 3, 8),
]  # fmt: skip


@pytest.fixture(scope="module")
def failing_aws(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A PATH directory whose `aws` cannot read any parameter (the password then is missing: exit 3)."""
    bin_dir = tmp_path_factory.mktemp("bin")
    (bin_dir / "aws").write_text("#!/bin/sh\necho 'AccessDeniedException' >&2\nexit 254\n")
    (bin_dir / "aws").chmod(0o755)
    return bin_dir


def run_probe(probe: Probe, value: str, bin_dir: Path) -> int:
    env = {
        **BASE_ENV,
        "PATH": f"{bin_dir}:{BASE_ENV['PATH']}",
        "LC_ALL": "C.UTF-8",
        "AWS_REGION": "eu-west-1",
        COMPUTERS_ENV: probe.computers(value),
    }
    completed = subprocess.run(
        ["bash", str(probe.script), *probe.args(value)],
        env=env,
        input="\n",
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    results = parse_results(completed.stdout)  # every line of the output must stay JSON
    assert results, completed.stderr
    return completed.returncode


@pytest.mark.parametrize("probe", PROBES, ids=[p.id for p in PROBES])
def test_the_bash_check_agrees_with_the_corpus(probe: Probe, failing_aws: Path) -> None:
    disagreements = []
    for value, accepted in corpus(probe.name):
        if probe.optional and value == "":
            continue
        code = run_probe(probe, value, failing_aws)
        if code != (probe.accepted if accepted else probe.rejected):
            disagreements.append((value, accepted, code))
    assert disagreements == []


def test_every_script_parameter_of_a_document_is_probed() -> None:
    """Each document parameter with a shared format reaches a script whose check the corpus probes."""
    probed = {(probe.script.name, probe.name) for probe in PROBES}
    for spec, parameter, name, _ in DOCUMENT_PARAMETERS:
        if parameter == "InstallRdsRole":  # only the Windows join reads it (checked below)
            continue
        assert (Path(spec.linux_script).name, name) in probed


# --- PowerShell ------------------------------------------------------------------------------------------

# (script, variable) -> the format its literal must match, as each script receives it.
POWERSHELL_PATTERNS = {
    ("windows/DomainJoin.ps1", "DomainPattern"): "DOMAIN",
    ("windows/DomainJoin.ps1", "GroupPattern"): "GROUP",
    ("windows/DomainJoin.ps1", "Ipv4ListPattern"): "IPV4_LIST",
    ("windows/DomainJoin.ps1", "BooleanPattern"): "BOOLEAN",
    ("windows/DomainJoin.ps1", "InstanceIdPattern"): "INSTANCE_ID",
    ("windows/DomainJoin.ps1", "ComputerNamePattern"): "COMPUTER_NAME",
    ("windows/DomainJoin.ps1", "OtpPattern"): "OTP",
    ("toolshost/ToolsHostLib.ps1", "DomainPattern"): "DOMAIN",
    ("toolshost/ToolsHostLib.ps1", "UserPattern"): "USER",
    ("toolshost/ToolsHostLib.ps1", "RegionPattern"): "REGION",
    ("toolshost/ToolsHostLib.ps1", "ParameterNamePattern"): "SSM_PARAMETER_NAME",
    ("toolshost/ToolsHostLib.ps1", "ComputerNamePattern"): "COMPUTER_NAME",
    ("toolshost/ToolsHostLib.ps1", "OtpPattern"): "OTP",
    ("toolshost/ToolsHostLib.ps1", "StampPattern"): "STAMP",
    ("toolshost/Prestage.ps1", "OuPattern"): "OU",
}
# .NET regex syntax that reads differently in Python (or not at all): refused in the scripts' patterns.
DOTNET_ONLY = re.compile(r"\\[dwsDWSpPZ]|\(\?|\[[^\]]*-\[|\$$")


def nodes(node: Node) -> Iterator[Node]:
    yield node
    for child in node.children:
        yield from nodes(child)


def text(node: Node) -> str:
    return (node.text or b"").decode()


def pattern_literals(script: str) -> dict[str, str]:
    """Variable name -> value of every `$NamePattern = '...'` assignment (a verbatim string)."""
    root = POWERSHELL.parse((SCRIPTS / script).read_bytes()).root_node
    found = {}
    for node in nodes(root):
        if node.type != "assignment_expression":
            continue
        left, right = text(node.children[0]), text(node.children[-1])
        if re.fullmatch(r"\$\w+Pattern", left):
            assert right.startswith("'") and right.endswith("'"), f"{script}: {left} is not a '...' literal"
            found[left[1:]] = right[1:-1].replace("''", "'")
    return found


def pattern_comparisons(script: str) -> list[tuple[str, str]]:
    """(operator, right operand) of every comparison whose right operand is a pattern variable."""
    root = POWERSHELL.parse((SCRIPTS / script).read_bytes()).root_node
    found = []
    for node in nodes(root):
        if node.type == "comparison_expression" and len(node.children) == 3:
            operator, right = text(node.children[1]), text(node.children[2])
            if re.fullmatch(r"\$\w*Pattern(s\[\$\w+\])?", right):
                found.append((operator.lower(), right))
    return found


def dotnet_to_python(pattern: str) -> re.Pattern[str]:
    """A .NET pattern of the scripts, compiled with the same meaning in Python (see the module docstring)."""
    assert pattern.startswith("^") and pattern.endswith("\\z"), f"{pattern!r} must be anchored with ^ and \\z"
    assert not DOTNET_ONLY.search(pattern[:-2]), f"{pattern!r} uses syntax that .NET and Python read apart"
    return re.compile(pattern[:-2] + "\\Z")


POWERSHELL_SCRIPTS = sorted({script for script, _ in POWERSHELL_PATTERNS} | {"toolshost/Remove.ps1"})


@pytest.mark.parametrize(
    ("script", "variable"),
    sorted(POWERSHELL_PATTERNS),
    ids=[f"{s}-{v}" for s, v in sorted(POWERSHELL_PATTERNS)],
)
def test_the_powershell_pattern_agrees_with_the_corpus(script: str, variable: str) -> None:
    name = POWERSHELL_PATTERNS[(script, variable)]
    pattern = dotnet_to_python(pattern_literals(script)[variable])
    assert [value for value, accepted in corpus(name) if bool(pattern.match(value)) != accepted] == []


@pytest.mark.parametrize("script", POWERSHELL_SCRIPTS)
def test_every_powershell_pattern_is_probed_and_used_case_sensitively(script: str) -> None:
    literals = pattern_literals(script)
    assert {(script, name) for name in literals} <= set(POWERSHELL_PATTERNS)
    assert {name for s, name in POWERSHELL_PATTERNS if s == script} <= set(literals)
    comparisons = pattern_comparisons(script)
    assert comparisons or not literals
    assert [c for c in comparisons if c[0] not in {"-cmatch", "-cnotmatch"}] == []


def test_the_translation_refuses_what_reads_differently() -> None:
    """Guards the check above: a .NET-only or differently read construct is refused, not mistranslated."""
    for pattern in ("^a$", "^a\\Z", "^\\d\\z", "^[a-z-[aeiou]]\\z", "^(?i)a\\z", "^(?<n>a)\\z", "^\\p{L}\\z"):
        with pytest.raises(AssertionError):
            dotnet_to_python(pattern)


# --- JSON result lines -----------------------------------------------------------------------------------


@pytest.mark.parametrize("script", [JOIN_SCRIPT, SCRIPTS / "toolshost" / "toolshost-lib.sh"], ids=str)
def test_json_string_escapes_every_control_character(script: Path) -> None:
    """RFC 8259: the result line stays one line of JSON whatever text a message carries (LDAP errors do)."""
    value = "".join(chr(c) for c in range(1, 128)) + ' Büro 日本 \\" end'
    function = subprocess.run(
        ["sed", "-n", "/^json_string() {/,/^}/p", str(script)], capture_output=True, text=True, check=True
    ).stdout
    assert function, f"{script.name} defines no json_string"
    completed = subprocess.run(
        ["bash", "-c", 'set -euo pipefail; eval "$1"; json_string "$2"', "-", function, value],
        capture_output=True,
        text=True,
        check=True,
        env={**os.environ, "LC_ALL": "C"},
    )
    assert "\n" not in completed.stdout
    assert json.loads(completed.stdout) == value


def test_the_two_copies_of_json_string_are_the_same_text() -> None:
    """domain-join.sh ships alone (the join document carries no library), so it keeps its own copy of the
    tools-host library's json_string; the copies must not drift."""
    copies = {
        subprocess.run(
            ["sed", "-n", "/^# json_string VALUE/,/^}/p", str(script)],
            capture_output=True,
            text=True,
            check=True,
        ).stdout
        for script in (JOIN_SCRIPT, SCRIPTS / "toolshost" / "toolshost-lib.sh")
    }
    assert len(copies) == 1 and "json_string()" in copies.pop()


def test_the_join_normalises_every_accepted_group_as_the_shared_short_name() -> None:
    """domain-join.sh's own short_name (run from the script's text) against patterns.short_name."""
    function = subprocess.run(
        ["sed", "-n", "/^short_name() {/,/^}/p", str(JOIN_SCRIPT)], capture_output=True, text=True, check=True
    ).stdout
    assert function, "domain-join.sh defines no short_name"
    groups = CORPUS["GROUP"][ACCEPT]
    completed = subprocess.run(
        [
            "bash",
            "-c",
            'eval "$1"; shift; for g; do short_name "$g"; printf "\\n"; done',
            "-",
            function,
            *groups,
        ],
        capture_output=True,
        text=True,
        check=True,
    )
    assert completed.stdout.split("\n")[:-1] == [patterns.short_name(group) for group in groups]
