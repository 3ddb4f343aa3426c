"""Who may open a sealed one-time password: the hub key policy, the tools host's grant, the spoke's policy.

moto does not enforce key policies, so this module evaluates the synthesized policies with a small
evaluator of exactly what they use: principals (``*``, a role ARN, an account root), Allow statements
only, the operators StringEquals, ArnEquals, ArnLike, Null and ForAnyValue:StringEquals, and IAM policy
variables (``${ec2:SourceInstanceARN}``) whose missing key makes the condition false.  The access rule is
KMS's: a principal named in the key policy (a role ARN, or ``*``) needs nothing more in its own account; a
principal allowed through an account root, or from another account, needs an identity policy that allows
the request too.  Terraform's ``$${`` escape is read back as ``${`` (what AWS receives).
"""

from __future__ import annotations

import fnmatch
import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import parliament
import pytest
from modules_testlib import (
    HOME_REGION,
    ORG_ID,
    SECURITY_ACCOUNT,
    LandingZones,
    SynthesizedApp,
    as_list,
    parse_policy,
    run_checkov,
    statements_by_sid,
    unescape_terraform,
)

from handlers.domain_join import contract, sealing
from modules import naming

MEMBER = "222222222222"  # an account of the organization (the account-list landing zone's spoke too)
OUTSIDER = "999999999999"
TOOLS_HOST_ROLE = f"arn:aws:iam::{SECURITY_ACCOUNT}:role/{naming.DEFAULT_NAME}-tools-host"
INSTANCE_A = sealing.instance_arn("aws", HOME_REGION, MEMBER, "i-0aaaaaaaaaaaaaaaa")
INSTANCE_B = sealing.instance_arn("aws", HOME_REGION, MEMBER, "i-0bbbbbbbbbbbbbbbb")
OUTSIDE_INSTANCE = sealing.instance_arn("aws", HOME_REGION, OUTSIDER, "i-0cccccccccccccccc")
VARIABLE = re.compile(r"\$\{([^}]+)\}")


# --- the evaluator ---------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Request:
    principal_arn: str
    action: str
    resource: str
    context: Mapping[str, str]  # the encryption context
    org_id: str = ORG_ID
    source_instance_arn: str | None = None  # present for an instance's role credentials
    key_aliases: Sequence[str] = field(default_factory=tuple)

    @property
    def account(self) -> str:
        return self.principal_arn.split(":")[4]

    def keys(self) -> dict[str, list[str]]:
        found = {
            "aws:principalarn": [self.principal_arn],
            "aws:principalaccount": [self.account],
            "aws:principalorgid": [self.org_id],
            "kms:resourcealiases": list(self.key_aliases),
        }
        if self.source_instance_arn is not None:
            found["ec2:sourceinstancearn"] = [self.source_instance_arn]
        for name, value in self.context.items():  # the context key is case sensitive, the prefix is not
            found[f"kms:encryptioncontext:{name}"] = [value]
        return found


def _resolved(value: str, keys: Mapping[str, list[str]]) -> str | None:
    """``value`` with its policy variables filled in; None when one names a key the request lacks."""
    missing = False

    def fill(match: re.Match[str]) -> str:
        nonlocal missing
        found = keys.get(match.group(1).lower())
        if not found:
            missing = True
            return ""
        return found[0]

    text = VARIABLE.sub(fill, value)
    return None if missing else text


def _condition_holds(operator: str, key: str, wanted: Any, keys: Mapping[str, list[str]]) -> bool:
    present = keys.get(key.lower())
    if operator == "Null":
        return (not present) == (str(wanted).lower() == "true")
    if not present:
        return False
    values = [v for v in (_resolved(str(w), keys) for w in as_list(wanted)) if v is not None]
    if operator in ("StringEquals", "ForAnyValue:StringEquals", "ArnEquals"):
        return any(p == v for p in present for v in values)
    if operator == "ArnLike":
        return any(fnmatch.fnmatchcase(p, v) for p in present for v in values)
    raise AssertionError(f"the evaluator does not know {operator}: extend it before using it in a policy")


def _statement_allows(statement: Mapping[str, Any], request: Request) -> bool:
    if statement["Effect"] != "Allow":
        raise AssertionError("the evaluator knows Allow statements only")
    actions = as_list(statement["Action"])
    if not any(fnmatch.fnmatchcase(request.action, a) for a in actions):
        return False
    if not any(r == "*" or fnmatch.fnmatchcase(request.resource, r) for r in as_list(statement["Resource"])):
        return False
    keys = request.keys()
    return all(
        _condition_holds(operator, key, wanted, keys)
        for operator, body in statement.get("Condition", {}).items()
        for key, wanted in body.items()
    )


def _principal_match(principal: Any, request: Request) -> str | None:
    """ "direct" (named, or "*"), "root" (through its account's root) or None."""
    if principal == "*":
        return "direct"
    for name in as_list(principal.get("AWS", [])):  # service principals never match a role
        if name == "*" or name == request.principal_arn:
            return "direct"
        if name == f"arn:aws:iam::{request.account}:root":
            return "root"
    return None


def allowed(key_policy: Mapping[str, Any], identity: Sequence[Mapping[str, Any]], request: Request) -> bool:
    """KMS's decision for ``request`` (Allow statements only: no Deny in these policies)."""
    identity_allows = any(_statement_allows(s, request) for p in identity for s in p["Statement"])
    key_account = request.resource.split(":")[4]
    for statement in key_policy["Statement"]:
        how = _principal_match(statement["Principal"], request)
        if how is None or not _statement_allows(statement, request):
            continue
        if how == "direct" and request.account == key_account:
            return True
        if identity_allows:
            return True
    return False


# --- the synthesized policies ----------------------------------------------------------------------------
def key_of(synth: SynthesizedApp) -> tuple[str, dict[str, Any]]:
    """The hub key's ARN (as a test stands it in) and its policy as AWS receives it."""
    key = synth.resource("hub", "aws_kms_key")
    arn = f"arn:aws:kms:{HOME_REGION}:{SECURITY_ACCOUNT}:key/1234abcd-12ab-34cd-56ef-1234567890ab"
    return arn, json.loads(unescape_terraform(key["policy"]))


@pytest.fixture(scope="module")
def spokes(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, dict[str, Any]]]:
    """A spoke offering the unseal policy: with the exact key ARN, by the alias, and with a variable key."""
    from cdktf_cdktf_provider_aws.provider import AwsProvider

    from modules.cdk import App, TerraformStack, TerraformVariable
    from modules.spoke import Spoke, SpokeProps

    out = tmp_path_factory.mktemp("sealing-spokes")
    app = App(outdir=str(out))
    base: dict[str, Any] = {
        "account_id": MEMBER,
        "regions": [HOME_REGION],
        "security_account_id": SECURITY_ACCOUNT,
        "hub_lambda_role_arn": f"arn:aws:iam::{SECURITY_ACCOUNT}:role/domain-join-handler",
        "unseal_join_passwords": True,
    }
    exact = f"arn:aws:kms:{HOME_REGION}:{SECURITY_ACCOUNT}:key/1234abcd-12ab-34cd-56ef-1234567890ab"
    for name, more in (("exact", {"sealing_key_arn": exact}), ("alias", {"hub_region": HOME_REGION})):
        stack = TerraformStack(app, name)
        AwsProvider(stack, "aws", region=HOME_REGION)
        Spoke(stack, "spoke", SpokeProps(**base, **more))
    # a plain module's form: the key is a variable, so the policy is a jsonencode() expression
    stack = TerraformStack(app, "variable")
    AwsProvider(stack, "aws", region=HOME_REGION)
    key = TerraformVariable(stack, "sealing_key_arn", type="string").string_value
    Spoke(stack, "spoke", SpokeProps(**base, sealing_key_arn=key))
    app.synth()
    stacks = {p.parent.name: json.loads(p.read_text()) for p in (out / "stacks").glob("*/cdk.tf.json")}
    return out / "stacks", stacks


def unseal_policy(stacks: Mapping[str, dict[str, Any]], name: str) -> dict[str, Any]:
    (policy,) = stacks[name]["resource"]["aws_iam_policy"].values()
    return dict(json.loads(unescape_terraform(policy["policy"])))


def join_request(principal_instance: str | None, sealed_for: str, **more: Any) -> Request:
    account = (principal_instance or sealed_for).split(":")[4]
    return Request(
        principal_arn=f"arn:aws:iam::{account}:role/workload",
        action="kms:Decrypt",
        resource="",
        context=sealing.join_context(sealed_for),
        source_instance_arn=principal_instance,
        key_aliases=(naming.key_alias(),),
        **more,
    )


# --- the tests --------------------------------------------------------------------------------------------
def test_an_instance_opens_its_own_join_password_and_no_other(
    landing_zones: LandingZones, spokes: tuple[Path, dict[str, dict[str, Any]]]
) -> None:
    # GIVEN the organization's hub key policy and the spoke's unseal policy on the instances' role
    key_arn, key_policy = key_of(landing_zones.org)
    for variant in ("exact", "alias"):
        identity = [unseal_policy(spokes[1], variant)]

        def may(request: Request, identity: list[dict[str, Any]] = identity) -> bool:
            return allowed(key_policy, identity, Request(**{**request.__dict__, "resource": key_arn}))

        # WHEN instance A asks for its own password, THEN KMS lets it
        assert may(join_request(INSTANCE_A, INSTANCE_A)), variant
        # AND instance B's credentials cannot open A's, nor can a principal without an instance
        assert not may(join_request(INSTANCE_B, INSTANCE_A)), variant
        assert not may(join_request(None, INSTANCE_A)), variant
        # AND a principal outside the organization cannot, even for a context naming its own instance
        assert not may(join_request(OUTSIDE_INSTANCE, OUTSIDE_INSTANCE, org_id="o-otherorg999")), variant
        # AND the key's prestage lists stay closed to the instance
        prestage = join_request(INSTANCE_A, INSTANCE_A)
        assert not may(Request(**{**prestage.__dict__, "context": sealing.prestage_context("0" * 32)}))
    # AND without the spoke's policy on its role, even its own password stays closed (cross-account)
    assert not allowed(
        key_policy, [], Request(**{**join_request(INSTANCE_A, INSTANCE_A).__dict__, "resource": key_arn})
    )


def test_with_an_account_list_only_the_listed_accounts_instances_open_their_own(
    landing_zones: LandingZones, spokes: tuple[Path, dict[str, dict[str, Any]]]
) -> None:
    # GIVEN the account-list landing zone (MEMBER is its spoke), and the unseal policy in both accounts
    key_arn, key_policy = key_of(landing_zones.accounts)
    identity = [unseal_policy(spokes[1], "exact")]
    (statement,) = [s for s in key_policy["Statement"] if s["Sid"] == "InstancesOpenOwnJoinPassword"]
    assert f"arn:aws:iam::{MEMBER}:root" in statement["Principal"]["AWS"]
    mine = Request(**{**join_request(INSTANCE_A, INSTANCE_A).__dict__, "resource": key_arn, "org_id": ""})
    outsider = Request(
        **{**join_request(OUTSIDE_INSTANCE, OUTSIDE_INSTANCE).__dict__, "resource": key_arn, "org_id": ""}
    )
    # THEN the listed account's instance opens its own, another account's instance nothing
    assert allowed(key_policy, identity, mine)
    assert not allowed(key_policy, identity, outsider)


def test_only_the_tools_host_role_opens_prestage_lists_and_only_the_handler_seals(
    landing_zones: LandingZones,
) -> None:
    # GIVEN the hub key policy, the tools host's grant and the handler's own policy
    from modules.tools_host import sealed_prestage_policy

    key_arn, key_policy = key_of(landing_zones.org)
    tools_grant = sealed_prestage_policy(key_arn)
    handler_role = f"arn:aws:iam::{SECURITY_ACCOUNT}:role/{naming.DEFAULT_NAME}-handler"
    handler_policies = [
        parse_policy(body["policy"])
        for body in landing_zones.org.resources("hub", "aws_iam_role_policy").values()
        if body.get("name") == "domain-join-handler"
    ]
    assert len(handler_policies) == 1
    batch = sealing.new_batch_id()

    def request(principal: str, action: str, context: dict[str, str]) -> Request:
        return Request(principal_arn=principal, action=action, resource=key_arn, context=context)

    # THEN the tools host opens a prestage list (key policy + its grant), but not a join password
    assert allowed(
        key_policy, [tools_grant], request(TOOLS_HOST_ROLE, "kms:Decrypt", sealing.prestage_context(batch))
    )
    assert not allowed(
        key_policy, [tools_grant], request(TOOLS_HOST_ROLE, "kms:Decrypt", sealing.join_context(INSTANCE_A))
    )
    # AND another role of the security account, or of a member account, opens nothing (no grant of its own)
    other = f"arn:aws:iam::{SECURITY_ACCOUNT}:role/auditor"
    assert not allowed(key_policy, [], request(other, "kms:Decrypt", sealing.prestage_context(batch)))
    member = f"arn:aws:iam::{MEMBER}:role/{naming.DEFAULT_NAME}-tools-host"
    assert not allowed(
        key_policy, [tools_grant], request(member, "kms:Decrypt", sealing.prestage_context(batch))
    )
    # AND the handler seals under both purposes, and under no other
    for context in (sealing.prestage_context(batch), sealing.join_context(INSTANCE_A)):
        assert allowed(key_policy, handler_policies, request(handler_role, "kms:Encrypt", context))
    assert not allowed(
        key_policy,
        handler_policies,
        request(handler_role, "kms:Encrypt", {contract.SEAL_CONTEXT_PURPOSE: "x"}),
    )


def test_the_key_policy_compares_the_context_with_the_source_instance_variable(
    landing_zones: LandingZones,
) -> None:
    """Synth assertion: what AWS receives is the policy variable itself, and the org condition."""
    key = landing_zones.org.resource("hub", "aws_kms_key")
    assert '"$${ec2:SourceInstanceARN}"' in key["policy"], "Terraform must pass the variable through"
    _, policy = key_of(landing_zones.org)
    statement = statements_by_sid(policy)["InstancesOpenOwnJoinPassword"]
    assert statement["Principal"] == "*"
    assert statement["Condition"] == {
        "StringEquals": {
            f"kms:EncryptionContext:{contract.SEAL_CONTEXT_PURPOSE}": contract.SEAL_PURPOSE_JOIN,
            f"kms:EncryptionContext:{contract.SEAL_CONTEXT_INSTANCE}": "${ec2:SourceInstanceARN}",
            "aws:PrincipalOrgID": ORG_ID,
        },
        "Null": {"ec2:SourceInstanceARN": "false"},
    }
    # AND the handler is told to seal with this key
    env = landing_zones.org.resource("hub", "aws_lambda_function")["environment"]["variables"]
    assert re.fullmatch(r"\$\{aws_kms_key\.[A-Za-z0-9_]+\.arn\}", env[contract.ENV_SEALING_KEY_ARN])


def test_the_spoke_policy_names_exactly_the_key_and_passes_parliament_and_checkov(
    spokes: tuple[Path, dict[str, dict[str, Any]]],
) -> None:
    exact = unseal_policy(spokes[1], "exact")
    (statement,) = exact["Statement"]
    assert statement["Action"] == "kms:Decrypt"
    assert (
        statement["Resource"]
        == f"arn:aws:kms:{HOME_REGION}:{SECURITY_ACCOUNT}:key/1234abcd-12ab-34cd-56ef-1234567890ab"
    )
    alias = unseal_policy(spokes[1], "alias")
    assert alias["Statement"][0]["Condition"]["ForAnyValue:StringEquals"] == {
        "kms:ResourceAliases": naming.key_alias()
    }
    assert parliament.analyze_policy_string(json.dumps(exact)).findings == []
    # parliament's table predates KMS's alias ABAC; AWS documents kms:ResourceAliases for key operations
    alias_findings = parliament.analyze_policy_string(json.dumps(alias)).findings
    assert [(f.issue, f.detail) for f in alias_findings] == [
        ("UNKNOWN_CONDITION_FOR_ACTION", "Unknown condition kms:ResourceAliases for action kms:Decrypt")
    ]
    report = run_checkov(spokes[0])
    failed = [
        (c["check_id"], c["resource"])
        for c in report["results"]["failed_checks"]
        if "unseal" in c["resource"]
    ]
    assert failed == []


def test_the_policy_variable_reaches_aws_as_written_in_json_text_and_in_jsonencode(
    spokes: tuple[Path, dict[str, dict[str, Any]]],
) -> None:
    """Terraform reads `${` as interpolation: `$${` in both forms, never `$$${` (a literal `$` too)."""
    for name in ("exact", "variable"):
        (policy,) = spokes[1][name]["resource"]["aws_iam_policy"].values()
        text = policy["policy"]
        assert text.count("$${ec2:SourceInstanceARN}") == 1 and "$$${" not in text, name
    assert (
        spokes[1]["variable"]["resource"]["aws_iam_policy"].popitem()[1]["policy"].startswith("${jsonencode(")
    )


def test_seal_join_passwords_flows_from_the_landing_zone_to_the_item_the_handler_and_the_spoke(
    write_landing_zone: Any, tmp_path: Path
) -> None:
    # GIVEN a landing zone whose directory "corp" seals join passwords and whose "lab" does not
    from handlers.domain_join.model import AccountConfig
    from modules.landing_zone import load_landing_zone
    from modules.stacks import build_app

    directory = {
        "domain": "corp.example.com",
        "dns_ips": ["10.0.0.10"],
        "join_user": "svc-join",
        "join_password_parameter": "/domain-join/join-password",
    }
    data = {
        "organization_id": ORG_ID,
        "security_account_id": SECURITY_ACCOUNT,
        "home_region": HOME_REGION,
        "directories": {"corp": {**directory, "seal_join_passwords": True}, "lab": directory},
        "spokes": [
            {"account_id": MEMBER, "regions": [HOME_REGION], "directory": "corp"},
            {"account_id": "333333333333", "regions": [HOME_REGION], "directory": "lab"},
        ],
    }
    lz = load_landing_zone(write_landing_zone(data, "sealing.yaml"))
    # WHEN its items are written and the stacks synthesized
    items = lz.config_items()
    app = build_app(lz, tmp_path / "out", tmp_path / "artifact" / "domain_join.zip")
    app.synth()
    stacks = {
        p.parent.name: json.loads(p.read_text()) for p in (tmp_path / "out" / "stacks").glob("*/cdk.tf.json")
    }
    # THEN the sealing directory's item says so and the handler reads it; the other's does not
    assert items[MEMBER][contract.CONFIG_SEAL_JOIN_PASSWORDS] is True
    assert contract.CONFIG_SEAL_JOIN_PASSWORDS not in items["333333333333"]
    assert AccountConfig.from_item(MEMBER, items[MEMBER]).seal_join_passwords
    assert not AccountConfig.from_item("333333333333", items["333333333333"]).seal_join_passwords
    # AND only the sealing directory's spoke offers the unseal policy, as an output
    member = stacks[naming.spoke_stack_name(MEMBER)]
    (policy,) = member["resource"]["aws_iam_policy"].values()
    assert policy["name"] == f"{naming.DEFAULT_NAME}-unseal-join-password"
    assert "unseal_join_password_policy_arn" in member["output"]
    assert "aws_iam_policy" not in stacks[naming.spoke_stack_name("333333333333")].get("resource", {})
