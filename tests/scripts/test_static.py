"""Static checks of the scripts: shellcheck for bash, tree-sitter for PowerShell (which cannot run here)."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest
import tree_sitter_powershell
from tree_sitter import Language, Node, Parser

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
    "toolshost/Remove.ps1": {"DomainName", "JoinUserName", "PasswordParameter"},
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
    }
    assert {relative(path) for path in POWERSHELL_SCRIPTS} == set(CONTRACT_PARAMETERS)


@pytest.mark.parametrize("script", SHELL_SCRIPTS, ids=relative)
def test_shell_script_is_shellcheck_clean(script: Path) -> None:
    if shutil.which("shellcheck") is None:
        if os.environ.get("CI") == "true":
            pytest.fail("shellcheck is not installed")
        pytest.skip("shellcheck is not installed (Debian package shellcheck)")
    completed = subprocess.run(
        ["shellcheck", "--severity=style", "--shell=bash", str(script)],
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


@pytest.mark.parametrize("script", POWERSHELL_SCRIPTS, ids=relative)
def test_powershell_script_takes_the_contract_parameters(script: Path) -> None:
    assert CONTRACT_PARAMETERS[relative(script)] <= script_parameters(script)


def test_the_parser_does_flag_broken_powershell() -> None:
    """Guards the check above: a script with a syntax error must produce ERROR or MISSING nodes."""
    tree = POWERSHELL.parse(b"param([string]$A\nif ($A -eq { Write-Output 'x' }\n")
    assert broken_nodes(tree.root_node) != []


def reported_statuses(script: Path) -> set[str]:
    """The result statuses a tools-host script can print (bash: report/abort; PowerShell: Write-Result)."""
    text = script.read_text()
    bash = re.findall(r'(?:report "[^"]*"|abort) "([a-z-]+)"', text)
    powershell = re.findall(r'Write-Result \S+ "([a-z-]+)"', text)
    return set(bash) | set(powershell)


@pytest.mark.parametrize(
    ("bash", "powershell", "outcomes"),
    [
        (
            "toolshost/prestage.sh",
            "toolshost/Prestage.ps1",
            {"created", "reset", "already-joined", "refused"},
        ),
        ("toolshost/remove.sh", "toolshost/Remove.ps1", {"deleted", "absent", "refused"}),
    ],
    ids=["prestage", "remove"],
)
def test_windows_tools_scripts_report_the_same_statuses_as_bash(
    bash: str, powershell: str, outcomes: set[str]
) -> None:
    """The Windows twin cannot run here; it must know every outcome bash has (already-joined, ...)."""
    bash_statuses = reported_statuses(SCRIPTS / bash)
    assert outcomes <= bash_statuses
    # login-failed is bash's own: the AD module logs in on each call and fails as no-domain-controller there
    assert reported_statuses(SCRIPTS / powershell) == bash_statuses - {"login-failed"}
