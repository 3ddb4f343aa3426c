"""The DomainJoin-Join document as SSM Agent would run it on a Linux instance, against the real DC.

The document's Linux command (built by modules/documents.py, the script embedded unchanged) runs with the
SSM_<Parameter> variables the agent exports for ENV_VAR parameters; names, OTPs and stamps come from the
handler's own naming functions.  IMDS is the one stand-in: a tiny IMDSv2 server inside the instance's
network namespace, so the script finds its instance id the way it does on EC2.
"""

from __future__ import annotations

import sys
import time

import pytest

from handlers.domain_join import contract
from handlers.domain_join.naming import computer_name, one_time_password, ownership_stamp
from modules.documents import JOIN, build_document

from .adlab import DC_IP, DOMAIN, OU_DN, REALM, Lab, Machine, parse_results, random_instance_id

pytestmark = pytest.mark.realad

IMDS_ADDRESS = "169.254.169.254"
# IMDSv2 only: a PUT for a token first, then GETs carrying it (what the script must do on EC2).
IMDS_SERVER = r"""
import http.server, secrets, sys
instance_id, token = sys.argv[1], secrets.token_hex(16)
class Imds(http.server.BaseHTTPRequestHandler):
    def reply(self, code, body=b""):
        self.send_response(code); self.send_header("Content-Length", str(len(body))); self.end_headers()
        self.wfile.write(body)
    def do_PUT(self):
        ok = self.path == "/latest/api/token" and self.headers.get("X-aws-ec2-metadata-token-ttl-seconds")
        self.reply(200, token.encode()) if ok else self.reply(400)
    def do_GET(self):
        if self.headers.get("X-aws-ec2-metadata-token") != token:
            return self.reply(401)
        found = self.path == "/latest/meta-data/instance-id"
        self.reply(200, instance_id.encode()) if found else self.reply(404)
http.server.HTTPServer(("169.254.169.254", 80), Imds).serve_forever()
"""


def start_imds(lab: Lab, instance: Machine, instance_id: str) -> None:
    address = instance.run(["ip", "addr", "add", f"{IMDS_ADDRESS}/32", "dev", "lo"])
    assert address.returncode == 0, address.stderr
    lab.processes.append(
        instance.popen([sys.executable, "-c", IMDS_SERVER, instance_id], log=lab.workdir / "imds.log")
    )
    for _ in range(50):
        token_url = f"http://{IMDS_ADDRESS}/latest/api/token"
        probe = instance.run(
            ["curl", "-fsS", "-X", "PUT", "-H", "X-aws-ec2-metadata-token-ttl-seconds: 5", token_url]
        )
        if probe.returncode == 0:
            return
        time.sleep(0.1)
    raise AssertionError("the IMDS stand-in did not start: " + (lab.workdir / "imds.log").read_text())


def test_the_join_document_joins_a_linux_instance(ad_lab: Lab) -> None:
    # GIVEN an instance launched in a spoke account, prestaged by the tools host as the handler asks
    instance = ad_lab.new_instance("document")
    instance_id = random_instance_id()
    start_imds(ad_lab, instance, instance_id)
    name, otp = computer_name(instance_id), one_time_password()
    stamp = ownership_stamp("210987654321", "ap-southeast-2", instance_id)
    assert ad_lab.prestage(f"{name}={otp}={stamp}").returncode == 0
    other_id = random_instance_id()

    # WHEN SSM Agent runs the document's Linux step with the parameters the handler sends
    linux_step = build_document(JOIN)["mainSteps"][0]
    assert linux_step["action"] == "aws:runShellScript"
    script = ad_lab.workdir / "document" / "_script.sh"
    script.write_text("\n".join(linux_step["inputs"]["runCommand"]) + "\n")
    parameters = {
        contract.JOIN_PARAM_DOMAIN: DOMAIN,
        contract.JOIN_PARAM_DNS_IPS: DC_IP,
        contract.JOIN_PARAM_LOGIN_GROUP: ad_lab.login_group,
        contract.JOIN_PARAM_SUDO_GROUP: "",
        contract.JOIN_PARAM_INSTALL_RDS: "false",
        # SSM Agent exports a parameter's default when the command does not send it: installing allowed, and
        # nothing to install (the lab's instances have the AD client).
        contract.JOIN_PARAM_INSTALL_PACKAGES: "true",
        contract.PARAM_SEALING_KEY: "",  # the default: this directory's join OTPs are not sealed
        contract.JOIN_PARAM_COMPUTERS: f"{other_id}={computer_name(other_id)}={one_time_password()} "
        f"{instance_id}={name}={otp}",
    }
    completed = instance.run(
        ["bash", str(script)], env={f"SSM_{key}": value for key, value in parameters.items()}
    )

    # THEN the instance joined under its prestaged name, found its id through IMDSv2, and printed no secret
    assert completed.returncode == 0, completed.stderr
    assert [(r["status"], r["instanceId"], r["computerName"]) for r in parse_results(completed.stdout)] == [
        ("joined", instance_id, name)
    ]
    assert otp not in completed.stdout + completed.stderr
    kinit = instance.run(["kinit", "-k", f"{name}$@{REALM}"], env={"KRB5CCNAME": "MEMORY:"})
    assert kinit.returncode == 0, kinit.stderr
    computer = ad_lab.computer(name)
    assert (computer["dn"], computer["description"]) == ([f"CN={name},{OU_DN}"], [stamp])
