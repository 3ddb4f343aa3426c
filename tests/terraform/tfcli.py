"""The real Terraform CLI, offline: where it and the AWS provider mirror are, and how a work dir is checked.

Nothing here reaches a registry or AWS: `terraform init` installs hashicorp/* providers only from a local
filesystem mirror (a CLI config file written for the session), every work dir shares one plugin cache, and the
one AWS API a plan may call (STS GetCallerIdentity, read by `aws_caller_identity` data sources) is answered by
`StsStub`, an HTTP server on 127.0.0.1 that the offline provider configuration names as its STS endpoint;
every other AWS endpoint points at it too (AWS_ENDPOINT_URL), where any other call is refused.
"""

from __future__ import annotations

import http.server
import json
import os
import re
import shutil
import subprocess
import threading
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

AWS_PROVIDER = "registry.terraform.io/hashicorp/aws"
# Where a filesystem mirror of the AWS provider is looked for (the machine image's, the user's implicit local
# mirror, the packaged one), in this order.
MIRROR_CANDIDATES = (
    Path("/opt/tf-plugins"),
    Path.home() / ".terraform.d" / "plugins",
    Path("/usr/share/terraform/plugins"),
)
ACCOUNT_ID = re.compile(r"^[0-9]{12}$")
STUB_DEFAULT_ACCOUNT = "123456789012"
SOURCE_ARGUMENT = re.compile(r'^"?([A-Za-z_][A-Za-z0-9_-]*)"?\s*[:=]')


@dataclass(frozen=True)
class Mirror:
    path: Path
    aws_version: str  # the newest hashicorp/aws version it holds, e.g. "5.100.0"


def _version_key(version: str) -> tuple[int, ...]:
    return tuple(int(part) for part in re.findall(r"\d+", version))


def find_mirror(candidates: Iterable[Path] = MIRROR_CANDIDATES) -> Mirror | None:
    """The first candidate holding a `terraform-provider-aws*` binary in the mirror layout
    (<host>/<namespace>/<type>/<version>/<os>_<arch>/), or None."""
    for candidate in candidates:
        aws = candidate / AWS_PROVIDER
        binaries = sorted(aws.glob("*/*/terraform-provider-aws*")) if aws.is_dir() else []
        if binaries:
            versions = {binary.parent.parent.name for binary in binaries}
            return Mirror(candidate, max(versions, key=_version_key))
    return None


def cli_config(mirror: Path, plugin_cache: Path) -> str:
    """A Terraform CLI config: hashicorp/* from the mirror only, never from the network; work dirs without a
    lock file link the provider from the shared cache instead of installing it into the cache again."""
    return f"""provider_installation {{
  filesystem_mirror {{
    path    = {json.dumps(str(mirror))}
    include = ["registry.terraform.io/hashicorp/*"]
  }}
  direct {{
    exclude = ["registry.terraform.io/hashicorp/*"]
  }}
}}
plugin_cache_dir = {json.dumps(str(plugin_cache))}
plugin_cache_may_break_dependency_lock_file = true
"""


def offline_environment(cli_config_file: Path, plugin_cache: Path, aws_endpoint: str) -> dict[str, str]:
    """The process environment of every Terraform run: this session's CLI config and plugin cache, no
    prompts, no version check, no AWS credentials or Terraform settings inherited from the caller, and every
    AWS API endpoint at `aws_endpoint` (the stub): no call leaves the machine, even where a network exists."""
    inherited = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(("AWS_", "TF_")) and key != "CHECKPOINT_DISABLE"
    }
    return {
        **inherited,
        "TF_CLI_CONFIG_FILE": str(cli_config_file),
        "TF_PLUGIN_CACHE_DIR": str(plugin_cache),
        "TF_IN_AUTOMATION": "1",
        "TF_INPUT": "0",
        "CHECKPOINT_DISABLE": "1",
        "AWS_ENDPOINT_URL": aws_endpoint,
    }


@dataclass
class Step:
    command: list[str]
    returncode: int
    output: str
    seconds: float


@dataclass(frozen=True)
class Diagnostic:
    """One `Error:` block of Terraform's human-readable output."""

    summary: str
    block: str | None  # "resource.<type>.<name>" / "data.<type>.<name>" of the `in ...:` line
    address: str | None  # the `with <address>,` line
    source_line: str | None  # the quoted configuration line
    detail: str

    @property
    def attribute(self) -> str | None:
        """The argument of the quoted line: `name` in `"name": "x",` or `name = "x"`."""
        match = SOURCE_ARGUMENT.match(self.source_line or "")
        return match.group(1) if match else None


def parse_errors(output: str) -> list[Diagnostic]:
    errors = []
    for block in re.split(r"^(?=Error: )", output, flags=re.MULTILINE)[1:]:
        lines = block.splitlines()
        summary = lines[0].removeprefix("Error: ").strip()
        address = block_name = source_line = None
        detail = []
        for line in lines[1:]:
            if with_ := re.match(r"^\s+with (\S+?),?$", line):
                address = with_.group(1)
            elif on := re.match(r"^\s+on .* line \d+, in (.+):$", line):
                block_name = on.group(1)
            elif quoted := re.match(r"^\s*\d+:\s(.*)$", line):
                source_line = source_line or quoted.group(1).strip()
            elif line.strip():
                detail.append(line.strip())
        errors.append(Diagnostic(summary, block_name, address, source_line, " ".join(detail)))
    return errors


@dataclass
class Outcome:
    """What init, validate, plan and show said about one work dir (they stop at the first failure)."""

    workdir: Path
    steps: list[Step] = field(default_factory=list)
    plan: dict[str, Any] | None = None

    @property
    def failed_step(self) -> str | None:
        failed = [step for step in self.steps if step.returncode != 0]
        return failed[0].command[1] if failed else None

    @property
    def output(self) -> str:
        return "\n".join(
            f"$ {' '.join(step.command)}  ({step.seconds:.1f} s, exit {step.returncode})\n{step.output}"
            for step in self.steps
        )

    def errors(self) -> list[Diagnostic]:
        """The errors of the step that failed."""
        failed = [step for step in self.steps if step.returncode != 0]
        return parse_errors(failed[0].output) if failed else []

    def planned_creates(self) -> list[str]:
        """Addresses of every resource instance (not data source) the saved plan creates."""
        assert self.plan is not None, self.output
        return [
            change["address"]
            for change in self.plan.get("resource_changes", [])
            if change["mode"] == "managed" and change["change"]["actions"] == ["create"]
        ]

    def planned_changes(self) -> list[str]:
        assert self.plan is not None, self.output
        return [
            change["address"]
            for change in self.plan.get("resource_changes", [])
            if change["mode"] == "managed" and change["change"]["actions"] != ["no-op"]
        ]


class Terraform:
    def __init__(self, binary: str, environment: dict[str, str], timeout_seconds: int = 600) -> None:
        self.binary = binary
        self.environment = environment
        self.timeout_seconds = timeout_seconds
        self._init_lock = threading.Lock()  # the plugin cache is not safe for concurrent installs

    def run(self, workdir: Path, *args: str) -> Step:
        command = [self.binary, *args]
        started = time.monotonic()
        completed = subprocess.run(
            command,
            cwd=workdir,
            env=self.environment,
            capture_output=True,
            text=True,
            timeout=self.timeout_seconds,
            check=False,
        )
        return Step(
            command, completed.returncode, completed.stdout + completed.stderr, time.monotonic() - started
        )

    def check(self, workdir: Path) -> Outcome:
        """init (no backend), validate, an offline plan saved to a file, and its JSON."""
        outcome = Outcome(workdir)
        with self._init_lock:
            init = self.run(workdir, "init", "-backend=false", "-input=false", "-no-color")
        outcome.steps.append(init)
        if init.returncode != 0:
            return outcome
        for args in (
            ("validate", "-no-color"),
            ("plan", "-refresh=false", "-input=false", "-lock=false", "-no-color", "-out=tier.tfplan"),
        ):
            step = self.run(workdir, *args)
            outcome.steps.append(step)
            if step.returncode != 0:
                return outcome
        show = self.run(workdir, "show", "-json", "tier.tfplan")
        if show.returncode != 0:
            outcome.steps.append(show)
            return outcome
        outcome.plan = json.loads(show.output)
        return outcome

    def provider_schema(self, workdir: Path) -> dict[str, Any]:
        """The AWS provider's schema (`terraform providers schema -json`) in an initialized work dir."""
        step = self.run(workdir, "providers", "schema", "-json")
        if step.returncode != 0:
            raise RuntimeError(step.output)
        schemas: dict[str, Any] = json.loads(step.output)["provider_schemas"][AWS_PROVIDER]
        return schemas


class StsStub:
    """Answers STS GetCallerIdentity on 127.0.0.1 for offline plans, refuses any other call (HTTP 400) and
    records every request it gets.

    The account is the endpoint's first path segment (`<url>/222222222222`): each work dir reads its own."""

    def __init__(self) -> None:
        self.requests: list[tuple[str, str]] = []
        stub = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length).decode("utf-8", "replace")
                stub.requests.append((self.path, body))
                segment = self.path.strip("/").split("/")[0]
                account = segment if ACCOUNT_ID.match(segment) else STUB_DEFAULT_ACCOUNT
                if "Action=GetCallerIdentity" in body:
                    status, payload = (
                        200,
                        (
                            '<GetCallerIdentityResponse xmlns="https://sts.amazonaws.com/doc/2011-06-15/">'
                            f"<GetCallerIdentityResult><Arn>arn:aws:iam::{account}:user/offline-plan</Arn>"
                            f"<UserId>AIDAOFFLINEPLAN</UserId><Account>{account}</Account>"
                            "</GetCallerIdentityResult><ResponseMetadata><RequestId>offline</RequestId>"
                            "</ResponseMetadata></GetCallerIdentityResponse>"
                        ),
                    )
                else:
                    status, payload = (
                        400,
                        (
                            "<ErrorResponse><Error><Type>Sender</Type><Code>InvalidAction</Code>"
                            "<Message>the offline STS stub answers GetCallerIdentity only</Message></Error>"
                            "</ErrorResponse>"
                        ),
                    )
                data = payload.encode()
                self.send_response(status)
                self.send_header("Content-Type", "text/xml")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self) -> StsStub:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()

    def actions(self) -> set[str]:
        """The `Action=` of every request received (JSON-protocol requests count as "")."""
        return {(re.findall(r"(?:^|&)Action=([A-Za-z]+)", body) or [""])[0] for _, body in self.requests}

    def endpoint(self, account_id: str | None = None) -> str:
        host, port = self.server.server_address[:2]
        return f"http://{host}:{port}/{account_id or STUB_DEFAULT_ACCOUNT}"


def unavailable(reason: str) -> None:
    """Skip the test for a missing tool, or fail it under CI=true (CI must run the tier)."""
    if os.environ.get("CI") == "true":
        pytest.fail(f"{reason} (CI=true: the Terraform tier must run)", pytrace=False)
    pytest.skip(reason)


def find_terraform() -> str | None:
    return shutil.which("terraform")
