"""The realad lab: a real Samba AD domain in network namespaces, driven by the project's scripts.

The lab is a real Samba AD domain controller plus "tools host" and "instance" machines, each a network
namespace joined with a private mount namespace (a copy of /etc, tmpfs over /run and /tmp, private sssd, pam
and samba state), so the host's own configuration is never read for secrets nor changed.  One lab per
session: provisioning a domain costs most of the suite's time.
"""

from __future__ import annotations

import base64
import contextlib
import json
import os
import re
import secrets
import shutil
import signal
import string
import subprocess
import sys
import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
SCRIPTS = REPO / "scripts"
JOIN_SCRIPT = SCRIPTS / "linux" / "domain-join.sh"
PRESTAGE_SCRIPT = SCRIPTS / "toolshost" / "prestage.sh"
REMOVE_SCRIPT = SCRIPTS / "toolshost" / "remove.sh"
INVENTORY_SCRIPT = SCRIPTS / "toolshost" / "inventory.sh"
RESULT_TAG = "DOMAIN_JOIN_RESULT "
COMPUTERS_ENV = "DOMAIN_JOIN_COMPUTERS"
BASE_ENV = {"PATH": "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin", "LANG": "C.UTF-8"}

DOMAIN = "dj.test"
REALM = DOMAIN.upper()
BASE_DN = "DC=dj,DC=test"
OU_NAME = "Servers"
OU_DN = f"OU={OU_NAME},{BASE_DN}"
COMPUTER_CLASS_GUID = "bf967a86-0de6-11d0-a285-00aa003049e2"
DC_IP = "10.251.0.1"

REALAD_COMMANDS = (
    "samba",
    "samba-tool",
    "ldbsearch",
    "ldbmodify",
    "adcli",
    "kinit",
    "klist",
    "ldapsearch",
    "ldapmodify",
    "sssd",
    "pamtester",
    "visudo",
    "pam-auth-update",
    "ip",
    "unshare",
    "nsenter",
    "iconv",
)
SCHEMA_DIR = Path("/usr/share/samba/setup/ad-schema")  # Debian package samba-ad-provision


def parse_results(stdout: str) -> list[dict[str, object]]:
    """The scripts' machine-readable result lines, parsed."""
    return [
        json.loads(line[len(RESULT_TAG) :]) for line in stdout.splitlines() if line.startswith(RESULT_TAG)
    ]


def random_password(length: int = 20) -> str:
    """A password that satisfies AD complexity (upper, lower, digit) using only [A-Za-z0-9]."""
    alphabet = string.ascii_letters + string.digits
    while True:
        candidate = "".join(secrets.choice(alphabet) for _ in range(length))
        if (
            any(c.isupper() for c in candidate)
            and any(c.islower() for c in candidate)
            and any(c.isdigit() for c in candidate)
        ):
            return candidate


def random_otp() -> str:
    return random_password(28)


def random_instance_id() -> str:
    return "i-0" + secrets.token_hex(8)[:16]


def stamp_for(instance_id: str, account: str = "111122223333", region: str = "eu-west-1") -> str:
    return f"ec2-domain-join:{account}/{region}/{instance_id}"


def require_realad() -> None:
    """Skip with a reason when this machine cannot host the lab; in CI the same condition fails."""
    reasons = []
    if os.geteuid() != 0:
        reasons.append("needs root for network and mount namespaces")
    missing = [command for command in REALAD_COMMANDS if shutil.which(command) is None]
    if missing:
        reasons.append("missing commands: " + ", ".join(missing))
    if not SCHEMA_DIR.is_dir():
        reasons.append(f"missing {SCHEMA_DIR} (Debian package samba-ad-provision)")
    if reasons:
        message = "realad: " + "; ".join(reasons)
        if os.environ.get("CI") == "true":
            pytest.fail(message)
        pytest.skip(message)


# What each machine replaces with a private copy (bind) or an empty tmpfs.
PRIVATE_COPIES = ("/etc", "/var/lib/sss", "/var/log/sssd", "/var/lib/pam")
EMPTY_MOUNTS = ("/run", "/tmp", "/var/lib/samba", "/var/cache/samba", "/var/log/samba")


def paths_hidden_by_machines(paths: Iterable[Path]) -> list[Path]:
    """Those of the paths a machine's private mounts would hide, outermost only (the rest come along)."""
    masked = [Path(root) for root in (*PRIVATE_COPIES, *EMPTY_MOUNTS)]
    hidden = {path for path in paths if any(path != root and path.is_relative_to(root) for root in masked)}
    return sorted(
        path for path in hidden if not any(path != other and path.is_relative_to(other) for other in hidden)
    )


def host_paths_to_keep() -> list[Path]:
    """The checkout and this interpreter (venv and base install), wherever they are.

    Tests run the checkout's own script files and this interpreter inside the machines, at the host's paths;
    a fresh CI clone (or its venv) may live under /tmp or /run, which every machine masks.
    """
    return paths_hidden_by_machines([REPO, Path(sys.prefix).resolve(), Path(sys.base_prefix).resolve()])


# Runs as PID of the namespace holder: private mounts, then sleep until the lab is torn down.  Paths to
# keep (arguments after the first two) are staged under the machine's root before the masks and moved back
# to where they were afterwards, so the machine sees the same files at the same paths as the host.
HOLDER_SCRIPT = r"""
set -eu
root=$1 nameserver=$2
shift 2
mkdir -p "$root/etc" "$root/sss" "$root/sss-log" "$root/pam"
cp -a /etc/. "$root/etc/"
rm -rf "$root/etc/krb5.keytab" "$root/etc/krb5.conf" "$root/etc/sssd/sssd.conf"
rm -rf "$root/etc/sudoers.d/ec2-domain-join"
rm -f "$root/etc/resolv.conf"
printf 'nameserver %s\n' "$nameserver" > "$root/etc/resolv.conf"
[ ! -d /var/lib/sss ] || cp -a /var/lib/sss/. "$root/sss/"
[ ! -d /var/lib/pam ] || cp -a /var/lib/pam/. "$root/pam/"
mount --make-rprivate /
index=0
for keep in "$@"; do
  mkdir -p "$root/keep/$index"
  mount --rbind "$keep" "$root/keep/$index"
  index=$((index + 1))
done
mount --bind "$root/etc" /etc
for pair in "sss:/var/lib/sss" "sss-log:/var/log/sssd" "pam:/var/lib/pam"; do
  [ ! -d "${pair#*:}" ] || mount --bind "$root/${pair%%:*}" "${pair#*:}"
done
for dir in @EMPTY_MOUNTS@; do
  [ ! -d "$dir" ] || mount -t tmpfs -o mode=0755 tmpfs "$dir"
done
chmod 1777 /tmp
index=0
for keep in "$@"; do
  mkdir -p "$keep"
  mount --move "$root/keep/$index" "$keep"
  index=$((index + 1))
done
mkdir -p /run/samba /run/sssd
touch "$root/ready"
exec sleep infinity
""".replace("@EMPTY_MOUNTS@", " ".join(EMPTY_MOUNTS))


@dataclass
class Machine:
    """A lab machine: a network namespace plus a private mount namespace held open by one process."""

    name: str
    netns: str
    root: Path
    holder: subprocess.Popen[bytes]

    def command(self, args: Sequence[str]) -> list[str]:
        return ["nsenter", "-t", str(self.holder.pid), "-m", "-n", "--", *args]

    def run(
        self,
        args: Sequence[str],
        *,
        env: Mapping[str, str] | None = None,
        input: str | None = None,
        timeout: float = 180,
    ) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            self.command(args),
            env={**BASE_ENV, **(env or {})},
            input=input if input is not None else "",
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )

    def popen(
        self, args: Sequence[str], *, env: Mapping[str, str] | None = None, log: Path
    ) -> subprocess.Popen[bytes]:
        with log.open("wb") as output:
            return subprocess.Popen(
                self.command(args),
                env={**BASE_ENV, **(env or {})},
                stdin=subprocess.DEVNULL,
                stdout=output,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )

    def path(self, inside: str) -> Path:
        """Host-side path of a file under the machine's private /etc."""
        assert inside.startswith("/etc/")
        return self.root / "etc" / inside[len("/etc/") :]


@dataclass
class Lab:
    """A provisioned domain and its machines; credentials are random per session."""

    workdir: Path
    suffix: str
    admin_password: str = field(default_factory=random_password)
    join_user: str = "svc-domainjoin"
    join_password: str = field(default_factory=random_password)
    login_group: str = "linux-admins"
    member: str = "alice"
    member_password: str = field(default_factory=random_password)
    outsider: str = "bob"
    outsider_password: str = field(default_factory=random_password)
    machines: dict[str, Machine] = field(default_factory=dict)
    processes: list[subprocess.Popen[bytes]] = field(default_factory=list)
    netnses: list[str] = field(default_factory=list)
    next_host: int = 10

    @property
    def dc(self) -> Machine:
        return self.machines["dc"]

    @property
    def tools(self) -> Machine:
        return self.machines["tools"]

    @property
    def smb_conf(self) -> Path:
        return self.workdir / "dc" / "etc" / "smb.conf"

    @property
    def sam_ldb(self) -> Path:
        return self.workdir / "dc" / "private" / "sam.ldb"

    # --- topology ---------------------------------------------------------------------------------
    def _ip(self, *args: str) -> None:
        subprocess.run(["ip", *args], check=True, capture_output=True, text=True)

    def add_netns(self, name: str) -> str:
        netns = f"djad{self.suffix}-{name}"
        self._ip("netns", "add", netns)
        self.netnses.append(netns)
        self._ip("-n", netns, "link", "set", "lo", "up")
        return netns

    def make_lan(self, dc_netns: str) -> None:
        """One bridge in the DC's namespace: every machine sits on 10.251.0.0/24 next to the DC."""
        self._ip("-n", dc_netns, "link", "add", "br0", "type", "bridge")
        # A fixed MAC: otherwise the bridge takes its lowest port's, and plugging in a machine can change the
        # DC's MAC under the feet of every neighbour's ARP cache.
        self._ip("-n", dc_netns, "link", "set", "br0", "address", "02:00:0a:fb:00:01")
        self._ip("-n", dc_netns, "addr", "add", f"{DC_IP}/24", "dev", "br0")
        self._ip("-n", dc_netns, "link", "set", "br0", "up")

    def plug(self, netns: str, host: int, dc_netns: str) -> str:
        """A veth pair from the machine to the DC's bridge; returns the machine's address."""
        bridge_end, machine_end = f"dj{self.suffix}b{host}", f"dj{self.suffix}m{host}"
        self._ip(
            "link", "add", bridge_end, "netns", dc_netns, "type", "veth", "peer", machine_end, "netns", netns
        )
        self._ip("-n", dc_netns, "link", "set", bridge_end, "master", "br0")
        self._ip("-n", dc_netns, "link", "set", bridge_end, "up")
        self._ip("-n", netns, "addr", "add", f"10.251.0.{host}/24", "dev", machine_end)
        self._ip("-n", netns, "link", "set", machine_end, "up")
        return f"10.251.0.{host}"

    def start_machine(self, name: str, netns: str, nameserver: str) -> Machine:
        root = self.workdir / name
        root.mkdir()
        with (root.parent / f"{name}.holder.log").open("wb") as log:
            holder = subprocess.Popen(
                [
                    *(
                        "ip",
                        "netns",
                        "exec",
                        netns,
                        "unshare",
                        "--mount",
                        "bash",
                        "-c",
                        HOLDER_SCRIPT,
                        "holder",
                    ),
                    str(root),
                    nameserver,
                    *(str(path) for path in host_paths_to_keep()),
                ],
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        self.processes.append(holder)
        deadline = time.monotonic() + 30
        while not (root / "ready").exists():
            if holder.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(
                    f"{name} namespace failed: {(root.parent / f'{name}.holder.log').read_text()}"
                )
            time.sleep(0.05)
        machine = Machine(name=name, netns=netns, root=root, holder=holder)
        self.machines[name] = machine
        return machine

    def new_instance(self, name: str) -> Machine:
        """A fresh, unjoined Linux instance whose resolver does not know the domain yet."""
        netns = self.add_netns(name)
        self.next_host += 1
        self.plug(netns, self.next_host, self.dc.netns)
        return self.start_machine(name, netns, "127.0.0.9")

    # --- the domain ---------------------------------------------------------------------------------
    def samba_tool(self, *args: str) -> str:
        result = self.dc.run(["samba-tool", *args, "-H", str(self.sam_ldb), "-s", str(self.smb_conf)])
        if result.returncode != 0:
            raise RuntimeError(f"samba-tool {args[:2]} failed: {result.stderr}")
        return result.stdout

    def provision(self) -> None:
        target = self.workdir / "dc"
        result = self.dc.run(
            [
                "samba-tool", "domain", "provision", f"--targetdir={target}", f"--realm={REALM}",
                "--domain=DJ", "--server-role=dc", "--dns-backend=SAMBA_INTERNAL",
                f"--adminpass={self.admin_password}", "--host-name=dc1", f"--host-ip={DC_IP}",
                f"--option=log file = {target}/log.%m",
            ]
        )  # fmt: skip
        if result.returncode != 0:
            raise RuntimeError(f"provision failed: {result.stdout}\n{result.stderr}")
        self.processes.append(
            self.dc.popen(
                ["samba", "-i", "--no-process-group", "-s", str(self.smb_conf)],
                log=self.workdir / "samba.log",
            )
        )
        self.samba_tool("ou", "add", f"OU={OU_NAME}")
        self.samba_tool("user", "create", self.join_user, self.join_password)
        self.samba_tool("group", "add", self.login_group)
        self.samba_tool("user", "create", self.member, self.member_password)
        self.samba_tool("user", "create", self.outsider, self.outsider_password)
        self.samba_tool("group", "addmembers", self.login_group, self.member)
        self.delegate(OU_DN)
        self.wait_until_serving()

    def delegate(self, ou_dn: str) -> None:
        """The seed's delegation to the join user: create/delete computer objects in this one OU, and manage
        only those objects."""
        sid = self.object_attributes(f"(sAMAccountName={self.join_user})", ["objectSid"])["objectSid"][0]
        self.samba_tool(
            "dsacl",
            "set",
            f"--objectdn={ou_dn}",
            f"--sddl=(OA;;CCDC;{COMPUTER_CLASS_GUID};;{sid})(OA;CIIO;RPWPCRLCLORCSDDTSW;;{COMPUTER_CLASS_GUID};{sid})",
        )

    def add_ou(self, name: str) -> str:
        """A new OU under the domain root, delegated to the join user; returns its DN."""
        self.samba_tool("ou", "add", f"OU={name}")
        self.delegate(f"OU={name},{BASE_DN}")
        return f"OU={name},{BASE_DN}"

    def wait_until_serving(self) -> None:
        deadline = time.monotonic() + 90
        while time.monotonic() < deadline:
            info = self.tools.run(["adcli", "info", "--domain", DOMAIN], timeout=20)
            kinit = self.tools.run(
                ["kinit", f"{self.join_user}@{REALM}"],
                env={"KRB5CCNAME": "MEMORY:", "KRB5_CONFIG": str(self.workdir / "probe-krb5.conf")},
                input=self.join_password + "\n",
                timeout=20,
            )
            # adcli info (CLDAP over UDP) and the KDC answer before samba's LDAP server listens on TCP (it
            # first generates its TLS keys): without this probe the first prestage could meet a closed port.
            ldap = self.tools.run(
                ["ldapsearch", "-x", "-H", f"ldap://{DC_IP}", "-s", "base", "-b", "", "dnsHostName"],
                timeout=20,
            )
            if info.returncode == 0 and kinit.returncode == 0 and ldap.returncode == 0:
                return
            time.sleep(1)
        raise RuntimeError(f"samba did not start serving: {(self.workdir / 'samba.log').read_text()[-3000:]}")

    def object_attributes(self, ldap_filter: str, attributes: Sequence[str]) -> dict[str, list[str]]:
        """Attributes of the one object matching the filter, read from the DC's database; {} when absent."""
        result = self.dc.run(
            [
                "ldbsearch",
                "-H",
                str(self.sam_ldb),
                "-b",
                BASE_DN,
                "--show-binary",
                ldap_filter,
                "dn",
                *attributes,
            ]
        )
        if result.returncode != 0:
            raise RuntimeError(f"ldbsearch failed: {result.stderr}")
        found: dict[str, list[str]] = {}
        for line in result.stdout.splitlines():
            if line.startswith("#") or ": " not in line or line.startswith(" "):
                continue
            key, value = line.split(": ", 1)
            if key.endswith(":"):  # "dn:: base64" for non-ASCII values
                key, value = key[:-1], base64.b64decode(value).decode()
            if key != "ref":  # referrals to the other naming contexts, not attributes
                found.setdefault(key, []).append(value)
        return found if "dn" in found else {}

    def computer(self, name: str) -> dict[str, list[str]]:
        return self.object_attributes(
            f"(&(objectClass=computer)(sAMAccountName={name}$))",
            [
                "description",
                "msDS-KeyVersionNumber",
                "pwdLastSet",
                "whenChanged",
                "uSNChanged",
                "servicePrincipalName",
            ],
        )

    def clear_service_principal_names(self, name: str) -> None:
        """What a join leaves behind when its SPN write fails (adcli ignores that failure): no SPN at all."""
        dn = self.computer(name)["dn"][0]
        result = self.dc.run(
            ["ldbmodify", "-H", str(self.sam_ldb)],
            input=f"dn: {dn}\nchangetype: modify\ndelete: servicePrincipalName\n",
        )
        if result.returncode != 0:
            raise RuntimeError(f"ldbmodify failed: {result.stderr}")

    def create_foreign_computer(self, name: str, description: str | None, ou_name: str = OU_NAME) -> None:
        """A computer object someone else owns, created by the domain admin, maybe with a description."""
        args = ["computer", "create", name, f"--computerou=OU={ou_name}"]
        if description is not None:
            args.append(f"--description={description}")
        self.samba_tool(*args)

    def add_child(self, parent_dn: str, name: str) -> str:
        """A service connection point under parent_dn (what Windows publishes under its computer object),
        written by the DC itself; returns its DN."""
        dn = f"CN={name},{parent_dn}"
        result = self.dc.run(
            ["ldbadd", "-H", str(self.sam_ldb)],
            input=f"dn: {dn}\nobjectClass: serviceConnectionPoint\nkeywords: ec2-domain-join-test\n",
        )
        if result.returncode != 0:
            raise RuntimeError(f"ldbadd failed: {result.stderr}")
        return dn

    def object_at(self, dn: str, attributes: Sequence[str] = ()) -> dict[str, list[str]]:
        """The object with this DN (its dn and the attributes asked for); {} when there is none."""
        return self.object_attributes(f"(distinguishedName={dn})", attributes)

    # --- the DC's firewall and DNS records (tests/scripts/test_realad_firewall.py) -----------------------
    def load_firewall(self, ruleset: str, name: str = "dc-firewall.nft") -> None:
        """Load an nftables ruleset (a whole file's text) in the DC's network namespace only."""
        path = self.workdir / name
        path.write_text(ruleset)
        result = self.dc.run(["nft", "-f", str(path)])
        if result.returncode != 0:
            raise RuntimeError(f"nft -f {name} failed: {result.stderr}")

    def clear_firewall(self, table: str) -> None:
        """Delete the DC's nftables table (inet family), if it is there."""
        self.dc.run(["nft", "delete", "table", "inet", table])

    def samba_dns(self, *args: str) -> str:
        """samba-tool dns ARGS against the DC as the domain administrator (password in the environment)."""
        result = self.dc.run(
            ["samba-tool", "dns", *args, "-U", "Administrator", "-s", str(self.smb_conf)],
            env={"PASSWD": self.admin_password},
        )
        if result.returncode != 0:
            raise RuntimeError(f"samba-tool dns {args[:1]} failed: {result.stdout}{result.stderr}")
        return result.stdout

    def srv_records(self, zone: str, name: str) -> list[str]:
        """The SRV records of name in zone, each as samba-tool writes one: "target port priority weight"."""
        output = self.dc.run(
            [
                "samba-tool",
                "dns",
                "query",
                DC_IP,
                zone,
                name,
                "SRV",
                "-U",
                "Administrator",
                "-s",
                str(self.smb_conf),
            ],
            env={"PASSWD": self.admin_password},
        ).stdout
        return [
            f"{m[1]} {m[2]} {m[3]} {m[4]}"
            for m in re.finditer(r"SRV: (\S+?)\.? \((\d+), (\d+), (\d+)\)", output)
        ]

    def tcp_answers(self, machine: Machine, address: str, port: int, seconds: int = 3) -> bool:
        """Whether address accepts a TCP connection on port from machine, within seconds."""
        probe = machine.run(
            ["timeout", str(seconds), "bash", "-c", 'exec 3<>"/dev/tcp/$1/$2"', "probe", address, str(port)],
            timeout=seconds + 30,
        )
        return probe.returncode == 0

    # --- the project's scripts ---------------------------------------------------------------------------
    def prestage(
        self, computers: str, *, password: str | None = None, ou: str = OU_DN
    ) -> subprocess.CompletedProcess[str]:
        return self.tools.run(
            [
                "bash",
                str(PRESTAGE_SCRIPT),
                "--domain",
                DOMAIN,
                "--ou",
                ou,
                "--join-user",
                self.join_user,
                "--password-stdin",
            ],
            env={COMPUTERS_ENV: computers},
            input=(self.join_password if password is None else password) + "\n",
        )

    def remove(self, computers: str, *extra: str) -> subprocess.CompletedProcess[str]:
        return self.tools.run(
            [
                "bash",
                str(REMOVE_SCRIPT),
                "--domain",
                DOMAIN,
                "--join-user",
                self.join_user,
                "--password-stdin",
                *extra,
            ],
            env={COMPUTERS_ENV: computers},
            input=self.join_password + "\n",
        )

    def inventory(self, *extra: str) -> subprocess.CompletedProcess[str]:
        return self.tools.run(
            [
                "bash",
                str(INVENTORY_SCRIPT),
                "--domain",
                DOMAIN,
                "--join-user",
                self.join_user,
                "--password-stdin",
                *extra,
            ],
            input=self.join_password + "\n",
        )

    def join(
        self,
        machine: Machine,
        instance_id: str,
        computers: str,
        *extra: str,
        login_group: str | None = None,
        sudo_group: str | None = None,
    ) -> subprocess.CompletedProcess[str]:
        """The login group defaults to the lab's; the sudo group to the login group."""
        group = self.login_group if login_group is None else login_group
        sudo = group if sudo_group is None else sudo_group
        return machine.run(
            [
                "bash", str(JOIN_SCRIPT), "--domain", DOMAIN, "--dns-ips", DC_IP, "--login-group", group,
                "--sudo-group", sudo, "--instance-id", instance_id, "--skip-packages", *extra,
            ],
            env={COMPUTERS_ENV: computers},
        )  # fmt: skip

    # --- teardown --------------------------------------------------------------------------------------
    @classmethod
    def start(cls, workdir: Path, suffix: str) -> Lab:
        """A provisioned domain: the DC and the AD tools host on one LAN (closed again if anything fails)."""
        lab = cls(workdir=workdir, suffix=suffix)
        try:
            (workdir / "probe-krb5.conf").write_text(
                f"[libdefaults]\n default_realm = {REALM}\n dns_lookup_kdc = true\n rdns = false\n"
            )
            dc_netns = lab.add_netns("dc")
            tools_netns = lab.add_netns("tools")
            lab.make_lan(dc_netns)
            lab.plug(tools_netns, 2, dc_netns)
            lab.start_machine("dc", dc_netns, DC_IP)
            lab.start_machine("tools", tools_netns, DC_IP)
            lab.provision()
        except BaseException:
            lab.close()
            raise
        return lab

    def close(self) -> None:
        for netns in self.netnses:
            pids = subprocess.run(["ip", "netns", "pids", netns], capture_output=True, text=True, check=False)
            for pid in pids.stdout.split():
                with contextlib.suppress(ProcessLookupError):
                    os.kill(int(pid), signal.SIGKILL)
        for process in self.processes:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGKILL)
            process.wait(timeout=10)
        for netns in self.netnses:
            subprocess.run(["ip", "netns", "del", netns], capture_output=True, check=False)
        if os.environ.get("DOMAIN_JOIN_REALAD_KEEP_LOGS") == "1":
            print(f"realad: logs kept in {self.workdir}")
        else:
            shutil.rmtree(self.workdir, ignore_errors=True)
