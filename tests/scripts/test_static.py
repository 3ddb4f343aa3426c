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
    "toolshost/Remove.ps1": {"DomainName", "JoinUserName", "PasswordParameter"},
}


# The library each tools-host script sources from its own directory (and the documents ship next to it).
LIBRARIES = {
    "toolshost/prestage.sh": "toolshost/toolshost-lib.sh",
    "toolshost/remove.sh": "toolshost/toolshost-lib.sh",
    "toolshost/Prestage.ps1": "toolshost/ToolsHostLib.ps1",
    "toolshost/Remove.ps1": "toolshost/ToolsHostLib.ps1",
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
        LIBRARIES["toolshost/prestage.sh"],
    }
    assert {relative(path) for path in POWERSHELL_SCRIPTS} == set(CONTRACT_PARAMETERS) | {
        LIBRARIES["toolshost/Prestage.ps1"]
    }


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
    spec = documents.PRESTAGE if "restage" in script else documents.REMOVE
    assert LIBRARIES[script] in (spec.linux_libraries if script.endswith(".sh") else spec.windows_libraries)


def test_the_parser_does_flag_broken_powershell() -> None:
    """Guards the check above: a script with a syntax error must produce ERROR or MISSING nodes."""
    tree = POWERSHELL.parse(b"param([string]$A\nif ($A -eq { Write-Output 'x' }\n")
    assert broken_nodes(tree.root_node) != []


# What both scripts of a shell report through their library (plus each script's own "failed").
SHARED_STATUSES = {"invalid-arguments", "invalid-entry", "no-password", "no-domain-controller", "failed"}


def reported_statuses(script: str) -> set[str]:
    """The result statuses a tools-host script can print, its library's included (bash: report/abort;
    PowerShell: Write-Result/Exit-ForEveryEntry)."""
    text = (SCRIPTS / script).read_text() + (SCRIPTS / LIBRARIES[script]).read_text()
    bash = re.findall(r'(?:report "[^"]*"|abort) "([a-z-]+)"', text)
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
        ("toolshost/remove.sh", "toolshost/Remove.ps1", {"deleted", "absent", "refused"}),
    ],
    ids=["prestage", "remove"],
)
def test_windows_tools_scripts_report_the_same_statuses_as_bash(
    bash: str, powershell: str, outcomes: set[str]
) -> None:
    """The Windows twin cannot run here; it must know every outcome bash has (already-joined, ...)."""
    bash_statuses = reported_statuses(bash)
    assert outcomes | SHARED_STATUSES <= bash_statuses
    # login-failed is bash's own: the AD module logs in on each call and fails as no-domain-controller there
    assert reported_statuses(powershell) == bash_statuses - {"login-failed"}
