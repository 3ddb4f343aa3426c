"""SSM command documents: structure, ENV_VAR parameters, embedded scripts, and the wrappers at work."""

from __future__ import annotations

import dataclasses
import json
import os
import re
import subprocess
from pathlib import Path

import pytest
import tree_sitter_powershell
from modules_testlib import LandingZones, unescape_terraform
from tree_sitter import Language, Parser

from handlers.domain_join import contract, patterns, wire
from modules import documents
from modules.documents import (
    HEREDOC_END,
    INVENTORY,
    JOIN,
    PRESTAGE,
    REMOVE,
    ScriptMissingError,
    build_document,
)

ALL_SPECS = (JOIN, PRESTAGE, REMOVE, INVENTORY)
OTP = "Abcdefghijklmnopqrstuvw1"
STAMP = "ec2-domain-join:222222222222/eu-west-1/i-0123456789abcdef0"


def step(document: dict, platform: str) -> dict:
    return next(
        s for s in document["mainSteps"] if s["precondition"] == {"StringEquals": ["platformType", platform]}
    )


@pytest.mark.parametrize("spec", ALL_SPECS, ids=lambda s: s.name)
def test_document_has_a_linux_and_a_windows_step_and_env_var_parameters(spec: documents.DocumentSpec) -> None:
    document = build_document(spec)
    assert document["schemaVersion"] == "2.2"
    assert step(document, "Linux")["action"] == "aws:runShellScript"
    assert step(document, "Windows")["action"] == "aws:runPowerShellScript"
    for name, parameter in document["parameters"].items():
        assert parameter["type"] == "String", name
        assert parameter["interpolationType"] == "ENV_VAR", name
        assert parameter["allowedPattern"].startswith("^"), name
    commands = "\n".join(
        step(document, "Linux")["inputs"]["runCommand"] + step(document, "Windows")["inputs"]["runCommand"]
    )
    assert "{{" not in commands, "values must arrive as SSM_<Name> variables, never templated"


LINUX_FILE = re.compile(rf"cat > \"\$script_dir/(?P<name>[^\"/]+)\" <<'{HEREDOC_END}'")
WINDOWS_FILE = re.compile(r"  \$file = Join-Path \$scriptDir '(?P<name>[^'/]+)'")


def embedded_linux_files(commands: list[str]) -> dict[str, str]:
    """File name -> text of every heredoc the Linux step writes into its temporary directory, in order."""
    files, index = {}, 0
    while index < len(commands):
        if match := LINUX_FILE.fullmatch(commands[index]):
            end = commands.index(HEREDOC_END, index + 1)
            files[match["name"]] = "\n".join(commands[index + 1 : end])
            index = end
        index += 1
    return files


def embedded_windows_files(commands: list[str]) -> dict[str, str]:
    """File name -> text of every here-string the Windows step writes into its temporary folder, in order."""
    files, index = {}, 0
    while index < len(commands):
        if commands[index] == "  $fileText = @'":
            end = commands.index("'@", index + 1)
            match = WINDOWS_FILE.fullmatch(commands[end + 1])
            assert match, commands[end + 1]
            files[match["name"]] = "\n".join(commands[index + 1 : end])
            index = end
        index += 1
    return files


@pytest.mark.parametrize("spec", ALL_SPECS, ids=lambda s: s.name)
def test_scripts_and_their_libraries_are_embedded_unmodified(spec: documents.DocumentSpec) -> None:
    document = build_document(spec)
    for platform, embedded, relatives in (
        ("Linux", embedded_linux_files, (*spec.linux_libraries, spec.linux_script)),
        ("Windows", embedded_windows_files, (*spec.windows_libraries, spec.windows_script)),
    ):
        files = embedded(step(document, platform)["inputs"]["runCommand"])
        expected = {
            Path(relative).name: (documents.SCRIPTS_DIR / relative)
            .read_text()
            .replace("\r\n", "\n")
            .rstrip("\n")
            for relative in relatives
        }
        assert files == expected, platform


def test_tools_documents_ship_the_library_each_script_sources() -> None:
    for spec in (PRESTAGE, REMOVE, INVENTORY):
        assert spec.linux_libraries == ("toolshost/toolshost-lib.sh",), spec.name
        assert spec.windows_libraries == ("toolshost/ToolsHostLib.ps1",), spec.name
    assert JOIN.linux_libraries == JOIN.windows_libraries == ()
    windows = step(build_document(PRESTAGE), "Windows")["inputs"]["runCommand"]
    assert list(embedded_windows_files(windows)) == ["ToolsHostLib.ps1", "Prestage.ps1"], "library first"


def test_document_parameters_are_those_of_the_contract() -> None:
    assert set(build_document(JOIN)["parameters"]) == {
        contract.JOIN_PARAM_DOMAIN,
        contract.JOIN_PARAM_DNS_IPS,
        contract.JOIN_PARAM_LOGIN_GROUP,
        contract.JOIN_PARAM_SUDO_GROUP,
        contract.JOIN_PARAM_INSTALL_RDS,
        contract.JOIN_PARAM_INSTALL_PACKAGES,
        contract.JOIN_PARAM_COMPUTERS,
        contract.PARAM_SEALING_KEY,
    }
    tools = {
        contract.TOOLS_PARAM_DOMAIN,
        contract.TOOLS_PARAM_JOIN_USER,
        contract.TOOLS_PARAM_PASSWORD_PARAMETER,
    }
    assert set(build_document(PRESTAGE)["parameters"]) == tools | {
        contract.TOOLS_PARAM_OU,
        contract.TOOLS_PARAM_COMPUTERS,
        contract.PARAM_SEALING_KEY,
        contract.TOOLS_PARAM_SEALED_BATCH,
    }
    assert set(build_document(REMOVE)["parameters"]) == tools | {
        contract.TOOLS_PARAM_COMPUTERS,
        contract.TOOLS_PARAM_ACTION,
    }
    assert set(build_document(INVENTORY)["parameters"]) == tools | {contract.TOOLS_PARAM_SEARCH_BASES}
    assert documents.TOOLS_HOST_DOCUMENTS == (PRESTAGE, REMOVE, INVENTORY)


@pytest.mark.parametrize(
    ("spec", "parameter", "good", "bad"),
    [
        (
            JOIN,
            "Computers",
            [f"i-0123456789abcdef0=EC2-0123456789A={OTP} i-0abcdef1=WIN-1={OTP}"],
            [f"i-01234567=NAME={OTP};reboot", "i-01234567=NAME=short", f"i-01234567=name={OTP}", ""],
        ),
        (
            JOIN,
            "DnsIpAddresses",
            ["", "10.0.0.2", "10.0.0.2,10.0.1.2"],
            ["10.0.0.2;id", "10.0.0.2, 10.0.1.2"],
        ),
        (JOIN, "LoginGroup", ["", "Linux Admins", "CORP\\ops"], ["$(id)", "a`b", "x\ny"]),
        (JOIN, "InstallRdsRole", ["true", "false"], ["", "yes"]),
        (JOIN, "InstallPackages", ["true", "false"], ["", "no", "TRUE", "false\n", "true;id"]),
        (JOIN, "DomainName", ["corp.example.com"], ["", "corp.example.com;id", "-x"]),
        (PRESTAGE, "OuPath", ["", "OU=Servers,DC=corp,DC=example,DC=com"], ["OU=x;id", "DC=a,$(id)"]),
        (PRESTAGE, "Computers", [f"EC2-0123456789A={OTP}={STAMP}"], [f"EC2-1={OTP}=other:stamp"]),
        (REMOVE, "Computers", [f"EC2-0123456789A={STAMP} WIN-2={STAMP}"], [f"EC2-1={OTP}={STAMP}"]),
        (REMOVE, "JoinPasswordParameter", ["/domain-join/password"], ["/x y", "a;b"]),
        (REMOVE, "Action", ["delete", "disable"], ["", "Delete", "delete;id", "disable\n", "quarantine"]),
        (
            INVENTORY,
            "SearchBases",
            ["", "OU=Servers,DC=corp,DC=example,DC=com", "OU=A,DC=x,DC=y;OU=Büro Zürich,DC=x,DC=y"],
            ["OU=A,DC=x;", ";OU=A,DC=x", "OU=A,DC=x;;OU=B,DC=x", "OU=A,DC=x;$(id)", "OU=A\n,DC=x", "x"],
        ),
    ],
)
def test_allowed_patterns_accept_contract_values_and_refuse_injection(
    spec: documents.DocumentSpec, parameter: str, good: list[str], bad: list[str]
) -> None:
    pattern = re.compile(build_document(spec)["parameters"][parameter]["allowedPattern"])
    for value in good:
        assert pattern.fullmatch(value), value
    for value in bad:
        assert not pattern.fullmatch(value), value


def test_allowed_patterns_are_the_shared_formats_never_retyped() -> None:
    """Each allowedPattern is a shared format (patterns.py through document_pattern, or wire.py's list
    grammar), so the documents, the handler and the scripts cannot drift apart."""
    formats = [value for value in vars(patterns).values() if isinstance(value, re.Pattern)]
    shared = {patterns.document_pattern(f, optional=o) for f in formats for o in (False, True)}
    shared |= {wire.JOIN_PARAMETER_PATTERN, wire.PRESTAGE_PARAMETER_PATTERN, wire.REMOVE_PATTERN}
    shared |= {wire.SEALING_KEY_PARAMETER_PATTERN, wire.SEALED_BATCH_PARAMETER_PATTERN}
    # Remove's Action is the contract's list of actions; Inventory's SearchBases a list of the shared OU
    # format (tests/scripts/test_inventory_fakes.py runs it against the OU corpus and the script's check).
    assert documents.PATTERNS["remove_action"] == "^(" + "|".join(contract.REMOVE_ACTIONS) + ")$"
    assert patterns.OU_SYNTAX in documents.PATTERNS["search_bases"]
    shared |= {documents.PATTERNS["remove_action"], documents.PATTERNS["search_bases"]}
    for spec in ALL_SPECS:
        for name, parameter in build_document(spec)["parameters"].items():
            assert parameter["allowedPattern"] in shared, f"{spec.name}.{name}"


def test_computers_pattern_accepts_fifty_entries_and_not_fifty_one() -> None:
    pattern = re.compile(build_document(JOIN)["parameters"]["Computers"]["allowedPattern"])
    entry = f"i-0123456789abcdef0=EC2-0123456789A={OTP}"
    assert pattern.fullmatch(" ".join([entry] * 50))
    assert not pattern.fullmatch(" ".join([entry] * 51))


def test_missing_script_fails_naming_the_file(tmp_path: Path) -> None:
    (tmp_path / "linux").mkdir()
    (tmp_path / "linux" / "domain-join.sh").write_text("#!/bin/bash\n")
    with pytest.raises(ScriptMissingError, match=r"scripts/windows/DomainJoin\.ps1"):
        build_document(JOIN, tmp_path)


@pytest.mark.parametrize(
    ("library", "text", "error"),
    [
        ("toolshost/lib.sh", f"echo before\n{HEREDOC_END}\nreboot\n", "heredoc delimiter"),
        ("toolshost/lib.sh", "domain={{ DomainName }}\n", "placeholder"),
        ("toolshost/Lib.ps1", "$x = @'\nx\n'@\n", "here-string"),
        ("linux/lib.sh", "f() { :; }\n", "must sit next to"),
        ("toolshost/prestage.sh", "f() { :; }\n", "distinct file names"),
        ("toolshost/lib one.sh", "f() { :; }\n", "not safe to quote"),
    ],
)
def test_libraries_get_the_same_safety_checks_as_scripts(
    tmp_path: Path, library: str, text: str, error: str
) -> None:
    # GIVEN the prestage document's scripts, with a library the builder must refuse
    scripts = _stub_scripts(tmp_path, 0)
    (scripts / library).parent.mkdir(parents=True, exist_ok=True)
    (scripts / library).write_text(text)
    platform = "windows" if library.endswith(".ps1") else "linux"
    spec = dataclasses.replace(PRESTAGE, **{f"{platform}_libraries": (library,)})
    # WHEN the document is built THEN it fails, naming the problem
    with pytest.raises(ValueError, match=error):
        build_document(spec, scripts)


def test_a_missing_library_fails_naming_the_file(tmp_path: Path) -> None:
    scripts = _stub_scripts(tmp_path, 0)
    (scripts / REMOVE.windows_libraries[0]).unlink()
    with pytest.raises(ScriptMissingError, match=r"scripts/toolshost/ToolsHostLib\.ps1"):
        build_document(REMOVE, scripts)


def _stub_scripts(tmp_path: Path, exit_code: int) -> Path:
    """Scripts that record how they were called (argv, the computers variable, their own path, the files
    next to them and their folder's mode); libraries that only name themselves."""
    record = tmp_path / "record.json"
    body = f"""#!/bin/bash
python3 - "$0" "$@" <<'PY'
import json, os, sys
computers = os.environ.get("{contract.SCRIPT_COMPUTERS_ENV}")
folder = os.path.dirname(sys.argv[1])
mode = oct(os.stat(folder).st_mode & 0o777)
files = {{name: open(os.path.join(folder, name)).read() for name in os.listdir(folder)}}
record = {{"self": sys.argv[1], "argv": sys.argv[2:], "computers": computers, "mode": mode, "files": files}}
json.dump(record, open("{record}", "w"))
PY
exit {exit_code}
"""
    for spec in ALL_SPECS:
        for relative in (spec.linux_script, spec.windows_script):
            path = tmp_path / "scripts" / relative
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(body if relative.endswith(".sh") else "param()\n")
        for relative in (*spec.linux_libraries, *spec.windows_libraries):
            (tmp_path / "scripts" / relative).write_text(f"# library {relative}\n")
    return tmp_path / "scripts"


@pytest.mark.parametrize(("shell", "exit_code"), [("bash", 0), ("bash", 9), ("sh", 0)])
def test_linux_step_runs_the_script_with_values_from_ssm_variables(
    tmp_path: Path, shell: str, exit_code: int
) -> None:
    """The agent may run the step with sh (dash): the wrapper is POSIX, only the script itself needs bash."""
    # GIVEN the join document's Linux step, built around a recording stub script
    scripts = _stub_scripts(tmp_path, exit_code)
    linux = step(build_document(JOIN, scripts), "Linux")["inputs"]["runCommand"]
    computers = f"i-0123456789abcdef0=EC2-0123456789A={OTP}"
    env = {
        "PATH": os.environ["PATH"],
        "SSM_DomainName": "corp.example.com",
        "SSM_DnsIpAddresses": "10.0.0.2,10.0.1.2",
        "SSM_LoginGroup": "Linux Admins",
        "SSM_SudoGroup": "",
        "SSM_InstallRdsRole": "false",
        "SSM_InstallPackages": "false",
        "SSM_Computers": computers,
        "SSM_SealingKeyArn": "",
        "TMPDIR": str(tmp_path),
    }
    # WHEN the agent runs it (it writes runCommand lines to a file and runs it)
    wrapper = tmp_path / "_script.sh"
    wrapper.write_text("\n".join(linux) + "\n")
    result = subprocess.run([shell, str(wrapper)], env=env, capture_output=True, text=True, timeout=60)
    # THEN the script got the values as arguments, the computers in its environment, and its exit code is kept
    assert result.returncode == exit_code, result.stderr
    record = json.loads((tmp_path / "record.json").read_text())
    assert record["argv"] == [
        "--domain", "corp.example.com", "--dns-ips", "10.0.0.2,10.0.1.2",
        "--login-group", "Linux Admins", "--sudo-group", "", "--install-packages", "false",
        "--sealing-key", "",
    ]  # fmt: skip
    assert computers not in " ".join(record["argv"])
    assert record["computers"] == computers
    assert Path(record["self"]).name == "domain-join.sh" and list(record["files"]) == ["domain-join.sh"]
    assert record["mode"] == "0o700", "the script's folder must be private"
    assert not Path(record["self"]).parent.exists(), "the temporary folder must be removed"


@pytest.mark.parametrize("spec", [PRESTAGE, REMOVE, INVENTORY], ids=lambda s: s.name)
def test_linux_step_writes_the_library_next_to_the_script(
    tmp_path: Path, spec: documents.DocumentSpec
) -> None:
    # GIVEN a tools document's Linux step, built around a recording stub script and a stub library
    scripts = _stub_scripts(tmp_path, 0)
    linux = step(build_document(spec, scripts), "Linux")["inputs"]["runCommand"]
    env = {f"SSM_{p.name}": "x" for p in spec.parameters} | {
        "PATH": os.environ["PATH"],
        "TMPDIR": str(tmp_path),
    }
    # WHEN the agent runs it
    wrapper = tmp_path / "_script.sh"
    wrapper.write_text("\n".join(linux) + "\n")
    result = subprocess.run(["sh", str(wrapper)], env=env, capture_output=True, text=True, timeout=60)
    # THEN the script ran from a private folder that held exactly it and its library, removed afterwards
    assert result.returncode == 0, result.stderr
    record = json.loads((tmp_path / "record.json").read_text())
    assert Path(record["self"]).name == Path(spec.linux_script).name
    assert record["files"] == {
        "toolshost-lib.sh": "# library toolshost/toolshost-lib.sh\n",
        Path(spec.linux_script).name: (scripts / spec.linux_script).read_text(),
    }
    assert record["mode"] == "0o700"
    assert not Path(record["self"]).parent.exists()
    # the computer list reaches the script only from a document that has one
    assert record["computers"] == (None if spec.computers_parameter is None else "x")


@pytest.mark.parametrize(
    ("spec", "computers"),
    [(PRESTAGE, f"WEB01={OTP}={STAMP} WEB02={OTP}={STAMP}"), (REMOVE, f"WEB01={STAMP} WEB02={STAMP}")],
    ids=lambda v: getattr(v, "name", "computers"),
)
def test_real_tools_scripts_run_from_the_document_with_their_library(
    tmp_path: Path, spec: documents.DocumentSpec, computers: str
) -> None:
    """The real script sources the real library from the step's folder: options, the list and the password
    reading all live in the library, and an unreadable password parameter ends the run with exit 3."""
    # GIVEN a tools host whose AWS CLI cannot read the password parameter
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    (bin_dir / "aws").write_text("#!/bin/sh\necho 'AccessDeniedException' >&2\nexit 254\n")
    (bin_dir / "aws").chmod(0o755)
    (tmp_path / "tmp").mkdir()
    parameters = {
        contract.TOOLS_PARAM_DOMAIN: "corp.example.com",
        contract.TOOLS_PARAM_JOIN_USER: "CORP\\svc-join",
        contract.TOOLS_PARAM_PASSWORD_PARAMETER: "/domain-join/password",
        contract.TOOLS_PARAM_OU: "",
        contract.TOOLS_PARAM_COMPUTERS: computers,
        contract.PARAM_SEALING_KEY: "",
        contract.TOOLS_PARAM_SEALED_BATCH: "",
        contract.TOOLS_PARAM_ACTION: contract.REMOVE_ACTION_DELETE,
    }
    env = {
        f"SSM_{name}": value
        for name, value in parameters.items()
        if name in {p.name for p in spec.parameters}
    }
    env |= {
        "PATH": f"{bin_dir}:{os.environ['PATH']}",
        "TMPDIR": str(tmp_path / "tmp"),
        "AWS_REGION": "eu-west-1",
    }
    # WHEN the agent runs the document's Linux step
    wrapper = tmp_path / "_script.sh"
    wrapper.write_text("\n".join(step(build_document(spec), "Linux")["inputs"]["runCommand"]) + "\n")
    result = subprocess.run(["sh", str(wrapper)], env=env, capture_output=True, text=True, timeout=60)
    # THEN every computer is reported as no-password, with exit 3, and nothing is left in the temporary folder
    assert result.returncode == 3, result.stderr
    results = [
        json.loads(line.removeprefix("DOMAIN_JOIN_RESULT "))
        for line in result.stdout.splitlines()
        if line.startswith("DOMAIN_JOIN_RESULT ")
    ]
    assert [(r["computerName"], r["status"], r["exitCode"]) for r in results] == [
        ("WEB01", "no-password", 3),
        ("WEB02", "no-password", 3),
    ]
    assert OTP not in result.stdout + result.stderr
    assert list((tmp_path / "tmp").iterdir()) == []


def test_linux_step_refuses_to_run_on_an_agent_without_env_var_parameters(tmp_path: Path) -> None:
    scripts = _stub_scripts(tmp_path, 0)
    linux = step(build_document(REMOVE, scripts), "Linux")["inputs"]["runCommand"]
    wrapper = tmp_path / "_script.sh"
    wrapper.write_text("\n".join(linux) + "\n")
    result = subprocess.run(
        ["bash", str(wrapper)], env={"PATH": os.environ["PATH"]}, capture_output=True, text=True
    )
    assert result.returncode == 90 and "SSM Agent" in result.stderr
    assert not (tmp_path / "record.json").exists()


@pytest.mark.parametrize("spec", ALL_SPECS, ids=lambda s: s.name)
def test_windows_step_is_valid_powershell_passing_named_parameters(spec: documents.DocumentSpec) -> None:
    windows = step(build_document(spec), "Windows")["inputs"]["runCommand"]
    tree = Parser(Language(tree_sitter_powershell.language())).parse("\n".join(windows).encode())
    assert not tree.root_node.has_error
    invocation = next(line for line in windows if line.strip().startswith("& $scriptFile"))
    for argument in spec.arguments:
        if argument.windows_parameter:
            assert f"-{argument.windows_parameter} $env:SSM_{argument.parameter}" in invocation
    handed_over = f"$env:{contract.SCRIPT_COMPUTERS_ENV} = $env:SSM_"
    if spec.computers_parameter is None:
        assert handed_over not in "\n".join(windows)
    else:
        assert f"{handed_over}{spec.computers_parameter}" in "\n".join(windows)


def test_synthesized_documents_are_the_built_documents(landing_zones: LandingZones) -> None:
    synth = landing_zones.org
    hub_docs = {d["name"]: d for d in synth.resources("hub", "aws_ssm_document").values()}
    for spec in documents.TOOLS_HOST_DOCUMENTS:
        doc = hub_docs[spec.name]
        assert (doc["document_type"], doc["document_format"]) == ("Command", "JSON")
        assert json.loads(unescape_terraform(doc["content"])) == build_document(spec)
    join = synth.resource("spoke-333333333333", "aws_ssm_document")
    assert join["name"] == contract.JOIN_DOCUMENT and join["region"] == "${each.value}"
    assert json.loads(unescape_terraform(join["content"])) == build_document(JOIN)
    assert "${" not in join["content"].replace("$${", ""), (
        "script text must not be read as Terraform templates"
    )


def test_install_packages_defaults_to_installing_and_the_handler_need_not_send_it() -> None:
    # GIVEN the join document WHEN its InstallPackages parameter is read
    parameter = build_document(JOIN)["parameters"][contract.JOIN_PARAM_INSTALL_PACKAGES]
    # THEN its default keeps the old behaviour (install what is missing), so a handler that does not send
    # it changes nothing; and only the Linux step takes it (Windows installs no packages)
    assert parameter["default"] == "true"
    assert parameter["allowedPattern"] == patterns.document_pattern(patterns.BOOLEAN)
    windows = "\n".join(step(build_document(JOIN), "Windows")["inputs"]["runCommand"])
    assert f"$env:SSM_{contract.JOIN_PARAM_INSTALL_PACKAGES}" not in windows.split("& $scriptFile")[1]
