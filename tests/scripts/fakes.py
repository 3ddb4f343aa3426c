"""Fake hosts for running the real scripts past their checks without a domain (shared by several tests).

`Host`: domain-join.sh as root in a private mount namespace whose /etc is an overlay (writes land in a
temporary directory) and whose /run is empty, with the domain's tools faked first on PATH, in a private
network namespace where `fake_dc.py` plays the domain controller for the preflight (DNS on FAKE_DC_IP, the
DC's TCP ports, its clock); `Host.dc` configures it.
`Directory`: prestage.sh / remove.sh with the Kerberos and LDAP tools faked first on PATH.
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


class Directory:
    """The faked tools: `ldapsearch` prints the file `answers/NAME` of the computer it searches (if any),
    `ldapmodify` logs its LDIF and fails with the text of `modify.err` when it exists, `adcli
    delete-computer NAME` removes `answers/NAME`."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.bin = root / "bin"
        self.tmp = root / "tmp"
        self.bin.mkdir()
        self.tmp.mkdir()
        (root / "answers").mkdir()
        r = self.root
        self.fake("kinit", f'cat >/dev/null; echo "$*" >"{r}/kinit.args"; : >"${{KRB5CCNAME#FILE:}}"')
        self.fake("kdestroy", f'echo "$KRB5CCNAME" >>"{r}/kdestroy.log"')
        self.fake(
            "ldapsearch",
            f'[ ! -e "{r}/hang" ] || {{ : >"{r}/searching"; exec sleep 60; }}\n'
            'name=$(printf "%s\\n" "$@" | sed -n "s/.*sAMAccountName=\\([A-Z0-9-]*\\)\\$.*/\\1/p")\n'
            f'cat "{r}/answers/$name" 2>/dev/null; exit 0',
        )
        self.fake(
            "ldapmodify",
            f'cat >>"{r}/modify.ldif"; printf "\\n\\n" >>"{r}/modify.ldif"\n'
            f'[ ! -e "{r}/modify.err" ] || {{ cat "{r}/modify.err" >&2; exit 50; }}',
        )
        self.fake(
            "adcli",
            f'case "$1" in delete-computer) for a; do n=$a; done; rm -f "{r}/answers/$n";; esac',
        )

    def fake(self, name: str, body: str) -> None:
        (self.bin / name).write_text(f"#!/bin/sh\n{body}\n")
        (self.bin / name).chmod(0o755)

    def answer(self, text: str, name: str = "WEB01") -> None:
        (self.root / "answers" / name).write_text(text)

    def env(self, computers: str) -> dict[str, str]:
        return {
            **BASE_ENV,
            "PATH": f"{self.bin}:{BASE_ENV['PATH']}",
            "TMPDIR": str(self.tmp),
            COMPUTERS_ENV: computers,
        }

    def run(self, script: Path, computers: str, *extra: str) -> tuple[int, list[dict[str, object]], str]:
        completed = subprocess.run(
            ["bash", str(script), *TOOLS_ARGS, *extra],
            env=self.env(computers),
            input="Join0Password\n",
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
        return completed.returncode, parse_results(completed.stdout), completed.stderr


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
