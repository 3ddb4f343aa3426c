"""Fake hosts for running the real scripts past their checks without a domain (shared by several tests).

`Host`: domain-join.sh as root in a private mount namespace whose /etc is an overlay (writes land in a
temporary directory) and whose /run is empty, with the domain's tools faked first on PATH, in a private
network namespace where `fake_dc.py` plays the domain controller for the preflight (DNS on FAKE_DC_IP, the
DC's TCP ports, its clock); `Host.dc` configures it.
`Directory`: prestage.sh / remove.sh / inventory.sh with the Kerberos and LDAP tools faked first on PATH.
"""

from __future__ import annotations

import base64
import json
import shutil
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path

from .adlab import BASE_ENV, COMPUTERS_ENV, JOIN_SCRIPT, parse_results

DOMAIN = "corp.example.com"
FAKE_DC = Path(__file__).resolve().parent / "fake_dc.py"
FAKE_DC_IP = "10.99.0.1"
# The tools-host scripts' shared options; the password comes on stdin.
TOOLS_ARGS = ["--domain", DOMAIN, "--join-user", "svc-join", "--password-stdin", "--server", "dc1"]


@dataclass
class Host:
    """A fake host: PATH shims, the overlay's upper directory (what the run wrote) and its log of calls."""

    root: Path
    dc: dict[str, object] = field(default_factory=dict)  # fake_dc.py's configuration (see its docstring)
    hidden: list[str] = field(default_factory=list)  # host files made to look absent (packages not installed)
    keytab: bool = False  # plant a (fake) /etc/krb5.keytab: a host that joined before
    domain: str = DOMAIN

    @property
    def bin(self) -> Path:
        return self.root / "bin"

    @property
    def written(self) -> Path:
        return self.root / "upper"

    @property
    def calls(self) -> list[str]:
        log = self.root / "calls.log"
        return log.read_text().splitlines() if log.exists() else []

    def fake(self, name: str, body: str) -> None:
        """A command that logs its call, then runs body (sh)."""
        path = self.bin / name
        path.write_text(f'#!/bin/sh\necho "{name} $*" >>"{self.root}/calls.log"\n{body}\n')
        path.chmod(0o755)

    def failing(self, name: str, when: str) -> None:
        """The real command, except that it fails when an argument matches the sh pattern `when`."""
        real = shutil.which(name, path=BASE_ENV["PATH"])
        assert real, name
        self.fake(
            name,
            f'for a in "$@"; do case "$a" in {when}) echo "{name}: injected" >&2; exit 1;; esac; done\n'
            f'exec {real} "$@"',
        )


def new_host(tmp_path: Path) -> Host:
    """A fake host whose join steps all work."""
    fake = Host(tmp_path)
    fake.bin.mkdir()
    (tmp_path / "upper").mkdir()
    (tmp_path / "work").mkdir()
    fake.fake("adcli", 'case "$1" in join) cat >/dev/null; exit 0;; *) exit 1;; esac')
    fake.fake("authselect", 'case "$1" in current) exit 2;; *) exit 0;; esac')
    fake.fake("visudo", "exit 0")
    fake.fake("sss_cache", "exit 0")
    fake.fake("systemctl", "exit 0")
    return fake


def run_join(
    host: Host, computers: str, instance_id: str, *extra: str, systemd: bool = False
) -> tuple[int, dict[str, object], str]:
    """domain-join.sh on the fake host for instance_id; its one result line and stderr."""
    root = host.root
    (host.root / "dc.json").write_text(json.dumps({"domain": host.domain, "address": FAKE_DC_IP, **host.dc}))
    (host.root / "absent").write_text("")
    # A directory is hidden under an empty tmpfs, a command under an empty file that is not executable.
    hide = "".join(
        f" && mount -t tmpfs tmpfs {path}"
        if Path(path).is_dir()
        else f" && mount --bind {host.root}/absent {path}"
        for path in host.hidden
    )
    setup = (
        f"mount -t overlay overlay -o lowerdir=/etc,upperdir={host.root}/upper,workdir={host.root}/work /etc"
        " && mount -t tmpfs tmpfs /run && rm -f /etc/krb5.keytab"
        + (" && echo keytab >/etc/krb5.keytab" if host.keytab else "")
        + (" && mkdir -p /run/systemd/system" if systemd else "")
        + hide
        # getaddrinfo (AI_ADDRCONFIG) ignores IPv4 without a non-loopback address: the DC sits on a veth.
        + " && ip link set lo up && ip link add dc0 type veth peer dc1"
        + f" && ip addr add {FAKE_DC_IP}/24 dev dc0 && ip link set dc1 up && ip link set dc0 up"
        + f" && rm -f /etc/resolv.conf && echo 'nameserver {FAKE_DC_IP}' >/etc/resolv.conf"
        + f" && {{ {sys.executable} {FAKE_DC} {root}/dc.json {root}/dc.ready >{root}/dc.log 2>&1 & }}"
        + f" && n=0 && while [ ! -e {root}/dc.ready ] && [ $n -lt 200 ]; do sleep 0.05; n=$((n + 1)); done"
        + ' && exec bash "$0" "$@"'
    )
    args = [
        "--domain",
        host.domain,
        "--instance-id",
        instance_id,
        "--skip-packages",
        "--wait-seconds",
        "0",
        *extra,
    ]
    completed = subprocess.run(
        # A PID namespace too: the fake DC ends with the script (its init).
        [
            *("unshare", "--mount", "--net", "--pid", "--fork", "--propagation", "private"),
            *("sh", "-c", setup, str(JOIN_SCRIPT), *args),
        ],
        env={**BASE_ENV, "PATH": f"{host.bin}:{BASE_ENV['PATH']}", COMPUTERS_ENV: computers},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    results = parse_results(completed.stdout)
    assert len(results) == 1, completed.stdout + completed.stderr
    return completed.returncode, results[0], completed.stderr


# The fake ldapmodify (a Python program, run by a shim): see Directory.
FAKE_LDAPMODIFY = r"""
import base64, sys
from pathlib import Path

root, args = Path(sys.argv[1]), sys.argv[2:]
text = sys.stdin.read()
with (root / "modify.ldif").open("a") as log:
    log.write(text.rstrip("\n") + "\n\n")
rejects = args[args.index("-S") + 1] if "-S" in args else None
error_file = root / "modify.err"
if (root / "modify.down").exists():  # the whole run fails: no record is rejected on its own
    sys.stderr.write((root / "modify.down").read_text() + "\n")
    sys.exit(255)


def value(line):
    name, _, rest = line.partition(":")
    return base64.b64decode(rest[2:]).decode() if rest.startswith(": ") else rest[1:]


def answer_of(dn):
    for path in sorted((root / "answers").iterdir()):
        first = path.read_text().splitlines()[0]
        if value(first) == dn:
            return path
    return None


failed = 0
for record in (block for block in text.split("\n\n") if block.strip()):
    lines = record.split("\n")
    dn = value(lines[0])
    error = None
    if error_file.exists():
        error = error_file.read_text()
    for path in sorted((root / "reject").iterdir()):
        if f"CN={path.name}," in dn:
            error = path.read_text()
    if error is not None:
        failed = 50
        sys.stderr.write(error + "\n")
        if rejects:
            with open(rejects, "a") as out:
                out.write("# Error: " + " ".join(error.split("\n")) + "\n" + record + "\n\n")
        continue
    answer = answer_of(dn)
    if "changetype: add" in lines:
        name = next(value(line) for line in lines if line.startswith("sAMAccountName:")).rstrip("$")
        description = next(value(line) for line in lines if line.startswith("description:"))
        (root / "answers" / name).write_text(f"{lines[0]}\ndescription: {description}\n")
    elif "changetype: delete" in lines and answer is not None and not (root / "stays").exists():
        answer.unlink()
    elif "add: userAccountControl" in lines and answer is not None:
        uac = lines[lines.index("add: userAccountControl") + 1]
        kept = [x for x in answer.read_text().splitlines() if not x.startswith("userAccountControl:")]
        answer.write_text("\n".join([*kept, uac]) + "\n")
sys.exit(failed)
"""


class Directory:
    """The faked tools, each logging its arguments to `calls.log`: `ldapsearch` prints the file
    `answers/NAME` of every computer it searches (if any; a `sAMAccountName: NAME$` line is added after its
    first line unless it has one), and for an inventory search (a `description=` filter) the file
    `inventory/<base64 of the search base>` (no such file: "No such object", exit 32; then the exit code in
    `<that file>.exit`, if any); `ldapmodify` logs its LDIF and rejects the records whose DN holds
    `CN=<name>,` for a file `reject/<name>`, or every record when `modify.err` exists, with that file's text
    (on stderr and in the -S file, as ldapmodify -c -S does), or fails as a whole (exit 255, nothing
    rejected) when `modify.down` exists; an applied add writes the computer's answer file, an applied delete
    removes it (unless `stays` exists), an added userAccountControl replaces the one in it."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.bin = root / "bin"
        self.tmp = root / "tmp"
        self.bin.mkdir()
        self.tmp.mkdir()
        for folder in ("answers", "reject", "inventory"):
            (root / folder).mkdir()
        r = self.root
        (r / "fake_ldapmodify.py").write_text(FAKE_LDAPMODIFY)
        self.fake("kinit", f'cat >/dev/null; echo "$*" >"{r}/kinit.args"; : >"${{KRB5CCNAME#FILE:}}"')
        self.fake("kdestroy", f'echo "$KRB5CCNAME" >>"{r}/kdestroy.log"')
        self.fake(
            "ldapsearch",
            f'echo "ldapsearch $*" >>"{r}/calls.log"\n'
            f'[ ! -e "{r}/hang" ] || {{ : >"{r}/searching"; exec sleep 60; }}\n'
            'case "$*" in *"(description="*)\n'
            '  base=$(while [ "$#" -gt 0 ]; do [ "$1" != -b ] || printf "%s" "$2"; shift; done)\n'
            f'  file="{r}/inventory/$(printf "%s" "$base" | base64 -w0 | tr / _)"\n'
            '  [ -e "$file" ] || { echo "No such object (32)" >&2; exit 32; }\n'
            '  cat "$file"; [ ! -e "$file.exit" ] || exit "$(cat "$file.exit")"; exit 0;;\n'
            "esac\n"
            "for name in $(printf '%s\\n' \"$@\" | grep -o 'sAMAccountName=[A-Z0-9-]*' | sed 's/.*=//'); do\n"
            f'  answer="{r}/answers/$name"\n'
            '  [ -e "$answer" ] || continue\n'
            '  head -n1 "$answer"\n'
            '  grep -qi "^samaccountname:" "$answer" || printf "sAMAccountName: %s\\$\\n" "$name"\n'
            '  tail -n +2 "$answer"; echo\n'
            "done\n"
            "exit 0",
        )
        self.fake(
            "ldapmodify",
            f'echo "ldapmodify $*" >>"{r}/calls.log"\n'
            f'exec "{sys.executable}" "{r}/fake_ldapmodify.py" "{r}" "$@"',
        )
        self.fake("adcli", f'echo "adcli $*" >>"{r}/calls.log"; exit 1')

    def fake(self, name: str, body: str) -> None:
        (self.bin / name).write_text(f"#!/bin/sh\n{body}\n")
        (self.bin / name).chmod(0o755)

    def answer(self, text: str, name: str = "WEB01") -> None:
        (self.root / "answers" / name).write_text(text)

    def inventory(self, base: str, text: str) -> None:
        """What an inventory search under base answers (LDIF)."""
        key = base64.b64encode(base.encode()).decode().replace("/", "_")
        (self.root / "inventory" / key).write_text(text)

    def inventory_exit(self, base: str, code: int) -> None:
        """The inventory search under base answers, then exits with code (4: size limit exceeded)."""
        key = base64.b64encode(base.encode()).decode().replace("/", "_")
        (self.root / "inventory" / f"{key}.exit").write_text(str(code))

    def reject(self, name: str, error: str) -> None:
        """ldapmodify rejects the records of computer name with this error text."""
        (self.root / "reject" / name).write_text(error)

    @property
    def calls(self) -> list[str]:
        log = self.root / "calls.log"
        return log.read_text().splitlines() if log.exists() else []

    def env(self, computers: str | None) -> dict[str, str]:
        env = {**BASE_ENV, "PATH": f"{self.bin}:{BASE_ENV['PATH']}", "TMPDIR": str(self.tmp)}
        if computers is not None:
            env[COMPUTERS_ENV] = computers
        return env

    def run(
        self, script: Path, computers: str | None, *extra: str
    ) -> tuple[int, list[dict[str, object]], str]:
        completed = self.run_raw(script, computers, *extra)
        return completed.returncode, parse_results(completed.stdout), completed.stderr

    def run_raw(self, script: Path, computers: str | None, *extra: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            ["bash", str(script), *TOOLS_ARGS, *extra],
            env=self.env(computers),
            input="Join0Password\n",
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )


def ldif_records(text: str) -> list[dict[str, str]]:
    """LDIF records as attribute -> value, base64 values decoded as UTF-8 (unicodePwd: as UTF-16LE)."""
    records = []
    for block in text.strip().split("\n\n"):
        record = {}
        for line in block.splitlines():
            name, _, value = line.partition(":")
            if value.startswith(": "):
                raw = base64.b64decode(value[2:])
                record[name] = raw.decode("utf-16-le") if name == "unicodePwd" else raw.decode()
            else:
                record[name] = value[1:]
        records.append(record)
    return records
