"""Properties of the synthesized stacks, read from the parsed Terraform JSON."""

from __future__ import annotations

from typing import Any

from modules_testlib import (
    EXTRA_REGIONS,
    HOME_REGION,
    ORG_ID,
    SECURITY_ACCOUNT,
    SECURITY_SPOKE_EXTRA_REGION,
    SPOKE_SMALL,
    SPOKE_WIDE,
    LandingZones,
    SynthesizedApp,
    as_list,
    parse_policy,
    statements_by_sid,
)

from handlers.domain_join import contract, settings

HUB_ROLE_ARN = f"arn:aws:iam::{SECURITY_ACCOUNT}:role/domain-join-handler"
QUEUE_ARN = f"arn:aws:sqs:{HOME_REGION}:{SECURITY_ACCOUNT}:domain-join-queue"


def test_one_stack_per_unit_and_account(synth: SynthesizedApp) -> None:
    assert set(synth.stacks) == {
        "hub",
        *(f"forwarder-{r}" for r in EXTRA_REGIONS),
        f"spoke-{SPOKE_SMALL}",
        f"spoke-{SPOKE_WIDE}",
        f"spoke-{SECURITY_ACCOUNT}",
    }


def test_each_stack_assumes_a_role_in_its_own_account(synth: SynthesizedApp) -> None:
    expected = {
        "hub": (SECURITY_ACCOUNT, "OrganizationAccountAccessRole", HOME_REGION),
        "forwarder-us-east-1": (SECURITY_ACCOUNT, "OrganizationAccountAccessRole", "us-east-1"),
        f"spoke-{SPOKE_SMALL}": (SPOKE_SMALL, "OrganizationAccountAccessRole", HOME_REGION),
        f"spoke-{SPOKE_WIDE}": (SPOKE_WIDE, "AWSControlTowerExecution", HOME_REGION),
        f"spoke-{SECURITY_ACCOUNT}": (SECURITY_ACCOUNT, "OrganizationAccountAccessRole", HOME_REGION),
    }
    for stack, (account, role, region) in expected.items():
        [provider] = synth.stack(stack)["provider"]["aws"]
        assert provider["assume_role"][0]["role_arn"] == f"arn:aws:iam::{account}:role/{role}"
        assert provider["allowed_account_ids"] == [account]
        assert provider["region"] == region
        assert provider["default_tags"][0]["tags"]["Project"] == "ec2-domain-join-tests"


def test_backend_is_local_by_default_and_s3_with_locking_when_configured(landing_zones: LandingZones) -> None:
    # GIVEN a landing zone without a backend, WHEN synthesized, THEN each stack's local state lies in
    # terraform-state/ beside the landing-zone file: outside the output folder that cdktf and `make clean`
    # delete
    for stack in landing_zones.org.stacks:
        path = landing_zones.org.stack(stack)["terraform"]["backend"]["local"]["path"]
        state = (landing_zones.org.outdir / "stacks" / stack / path).resolve()
        assert state == (landing_zones.org_config.parent / "terraform-state" / f"{stack}.tfstate").resolve()
        assert landing_zones.org.outdir.resolve() not in state.parents
    s3 = landing_zones.accounts.stack(f"spoke-{SPOKE_SMALL}")["terraform"]["backend"]["s3"]
    assert s3["bucket"] == "state-bucket" and s3["key"] == f"edj/spoke-{SPOKE_SMALL}.tfstate"
    assert s3["encrypt"] is True and s3["use_lockfile"] is True


# --- hub ----------------------------------------------------------------------------------------


def test_bus_policy_is_scoped_to_the_organization(synth: SynthesizedApp) -> None:
    policy = parse_policy(synth.resource("hub", "aws_cloudwatch_event_bus_policy")["policy"])
    [allow] = policy["Statement"]
    assert allow["Action"] == "events:PutEvents"
    assert allow["Resource"] == f"arn:aws:events:{HOME_REGION}:{SECURITY_ACCOUNT}:event-bus/domain-join"
    assert allow["Condition"] == {"StringEquals": {"aws:PrincipalOrgID": ORG_ID}}


def test_bus_policy_lists_accounts_when_there_is_no_organization(landing_zones: LandingZones) -> None:
    policy = parse_policy(landing_zones.accounts.resource("hub", "aws_cloudwatch_event_bus_policy")["policy"])
    [allow] = policy["Statement"]
    assert sorted(allow["Principal"]["AWS"]) == [
        f"arn:aws:iam::{SECURITY_ACCOUNT}:root",
        f"arn:aws:iam::{SPOKE_SMALL}:root",
    ]
    assert "Condition" not in allow


def test_rules_on_the_bus_and_the_default_bus_feed_the_join_queue(synth: SynthesizedApp) -> None:
    rules = synth.resources("hub", "aws_cloudwatch_event_rule")
    names = {rule["name"]: rule["event_bus_name"] for rule in rules.values()}
    assert sorted(names) == [
        "domain-join-command-failed-bus",
        "domain-join-command-failed-default",
        "domain-join-ec2-state-bus",
        "domain-join-ec2-state-default",
    ]
    for name, bus in names.items():
        if name.endswith("-default"):
            assert bus == "default"
        else:
            assert bus.startswith("${aws_cloudwatch_event_bus.")
    targets = synth.resources("hub", "aws_cloudwatch_event_target")
    assert len(targets) == 4
    for target in targets.values():
        assert target["arn"].startswith("${aws_sqs_queue.") and "join-queue" in target["arn"]
        assert "dead-letter-queue" in target["dead_letter_config"]["arn"]
        assert target["retry_policy"]["maximum_retry_attempts"] > 0


def _queue(synth: SynthesizedApp, name: str) -> dict[str, Any]:
    return next(q for q in synth.resources("hub", "aws_sqs_queue").values() if q["name"] == name)


def test_join_queue_delays_encrypts_and_redrives(synth: SynthesizedApp) -> None:
    queue = _queue(synth, "domain-join-queue")
    function = synth.resource("hub", "aws_lambda_function")
    assert queue["delay_seconds"] == 240  # the landing zone's join_delay_seconds
    assert queue["kms_master_key_id"].startswith("${aws_kms_key.")
    assert queue["visibility_timeout_seconds"] >= 6 * function["timeout"]
    redrive = parse_policy(queue["redrive_policy"])
    assert redrive["deadLetterTargetArn"] == f"arn:aws:sqs:{HOME_REGION}:{SECURITY_ACCOUNT}:domain-join-dlq"
    assert redrive["maxReceiveCount"] == 10  # ceil(3600 / 900) + 6 is less than the floor of 10
    dlq = _queue(synth, "domain-join-dlq")
    assert dlq["kms_master_key_id"].startswith("${aws_kms_key.")
    assert dlq["message_retention_seconds"] == 14 * 24 * 3600


def test_landing_zone_deadline_and_attempts_reach_the_handler_and_the_redrive(
    landing_zones: LandingZones,
) -> None:
    synth = landing_zones.accounts  # readiness_deadline_seconds 86400, max_command_attempts 5
    env = synth.resource("hub", "aws_lambda_function")["environment"]["variables"]
    assert env[contract.ENV_READINESS_DEADLINE_SECONDS] == "86400"
    assert env[contract.ENV_MAX_COMMAND_ATTEMPTS] == "5"
    redrive = parse_policy(_queue(synth, "domain-join-queue")["redrive_policy"])
    assert redrive["maxReceiveCount"] == 86400 // 900 + 6


def test_default_join_delay_is_300_seconds(landing_zones: LandingZones) -> None:
    assert _queue(landing_zones.accounts, "domain-join-queue")["delay_seconds"] == 300


def test_queue_policy_is_tls_only_and_scoped_to_our_rules_and_forwarder_topics(synth: SynthesizedApp) -> None:
    policies = synth.resources("hub", "aws_sqs_queue_policy")
    join = parse_policy(next(p for n, p in policies.items() if "join-queue" in n)["policy"])
    sids = statements_by_sid(join)
    deny = sids["DenyInsecureTransport"]
    assert deny["Effect"] == "Deny" and deny["Condition"] == {"Bool": {"aws:SecureTransport": "false"}}
    rules = sids["EventBridgeRulesSend"]
    assert rules["Principal"] == {"Service": "events.amazonaws.com"} and rules["Resource"] == QUEUE_ARN
    our_rules = [
        f"arn:aws:events:{HOME_REGION}:{SECURITY_ACCOUNT}:rule/domain-join-command-failed-default",
        f"arn:aws:events:{HOME_REGION}:{SECURITY_ACCOUNT}:rule/domain-join-ec2-state-default",
        f"arn:aws:events:{HOME_REGION}:{SECURITY_ACCOUNT}:rule/domain-join/domain-join-command-failed-bus",
        f"arn:aws:events:{HOME_REGION}:{SECURITY_ACCOUNT}:rule/domain-join/domain-join-ec2-state-bus",
    ]
    assert sorted(rules["Condition"]["ArnEquals"]["aws:SourceArn"]) == our_rules
    dlq_policy = next(p for n, p in policies.items() if "dead-letter" in n)["policy"]
    dead_letters = statements_by_sid(parse_policy(dlq_policy))["EventBridgeRulesDeadLetter"]
    assert sorted(dead_letters["Condition"]["ArnEquals"]["aws:SourceArn"]) == our_rules
    topics = sids["ForwarderTopicsSend"]
    assert topics["Principal"] == {"Service": "sns.amazonaws.com"}
    assert sorted(topics["Condition"]["ArnEquals"]["aws:SourceArn"]) == [
        f"arn:aws:sns:{r}:{SECURITY_ACCOUNT}:domain-join-forwarder" for r in sorted(EXTRA_REGIONS)
    ]
    assert all(s["Effect"] == "Deny" or "Condition" in s for s in join["Statement"])


def test_lambda_runtime_tracing_concurrency_layer_and_environment(synth: SynthesizedApp) -> None:
    function = synth.resource("hub", "aws_lambda_function")
    assert function["handler"] == "domain_join.app.lambda_handler"
    assert function["runtime"] == "python3.13"
    assert function["tracing_config"] == {"mode": "Active"}
    assert function["reserved_concurrent_executions"] >= 2
    assert function["kms_key_arn"].startswith("${aws_kms_key.")
    [layer] = function["layers"]
    assert layer.startswith(
        f"arn:aws:lambda:{HOME_REGION}:017000801446:layer:AWSLambdaPowertoolsPythonV3-python313"
    )
    env = function["environment"]["variables"]
    assert env[contract.ENV_CONFIG_TABLE] == "domain-join-config"
    assert env[contract.ENV_LEDGER_TABLE] == "domain-join-ledger"
    assert (
        env[contract.ENV_DEAD_LETTER_QUEUE_URL].startswith("${aws_sqs_queue.")
        and "dead-letter" in env[contract.ENV_DEAD_LETTER_QUEUE_URL]
    )
    assert (env[contract.ENV_TOOLS_HOST_TAG_KEY], env[contract.ENV_TOOLS_HOST_TAG_VALUE]) == (
        "ADToolsHost",
        "true",
    )
    assert env[contract.ENV_READINESS_DEADLINE_SECONDS] == "3600"
    assert env[contract.ENV_CONFIG_CACHE_TTL_SECONDS] == "300"
    assert env[contract.ENV_SPOKE_ROLE_NAME] == contract.DEFAULT_SPOKE_ROLE_NAME
    assert env[contract.ENV_MAX_COMMAND_ATTEMPTS] == "3"
    queue = _queue(synth, "domain-join-queue")
    assert (
        function["timeout"]
        <= int(env[contract.ENV_LEDGER_LEASE_SECONDS])
        < queue["visibility_timeout_seconds"]
    )
    assert {"POWERTOOLS_SERVICE_NAME", "POWERTOOLS_METRICS_NAMESPACE"} <= set(env)
    assert contract.ENV_SPOKE_ROLE_EXTERNAL_ID not in env


def test_external_id_and_role_name_reach_the_handler_and_the_spoke(landing_zones: LandingZones) -> None:
    synth = landing_zones.accounts
    env = synth.resource("hub", "aws_lambda_function")["environment"]["variables"]
    assert env[contract.ENV_SPOKE_ROLE_EXTERNAL_ID] == "landing-zone-7"
    assert env[contract.ENV_SPOKE_ROLE_NAME] == "domain-join-exec"  # the landing zone's spoke_role.name
    role = synth.resource(f"spoke-{SPOKE_SMALL}", "aws_iam_role", "execution-role")
    [trust] = parse_policy(role["assume_role_policy"])["Statement"]
    assert trust["Condition"] == {"StringEquals": {"sts:ExternalId": "landing-zone-7"}}
    assert role["name"] == "domain-join-exec"


def test_log_group_has_retention_and_kms(synth: SynthesizedApp) -> None:
    group = synth.resource("hub", "aws_cloudwatch_log_group")
    assert group["name"] == "/aws/lambda/domain-join"
    assert group["retention_in_days"] >= 365 and group["kms_key_id"].startswith("${aws_kms_key.")
    function = synth.resource("hub", "aws_lambda_function")
    assert function["logging_config"]["log_group"].startswith("${aws_cloudwatch_log_group.")


def test_event_source_mapping_reports_batch_item_failures(synth: SynthesizedApp) -> None:
    mapping = synth.resource("hub", "aws_lambda_event_source_mapping")
    assert mapping["function_response_types"] == ["ReportBatchItemFailures"]
    assert mapping["batch_size"] == 10
    assert mapping["maximum_batching_window_in_seconds"] > 0
    assert "join-queue" in mapping["event_source_arn"]
    function = synth.resource("hub", "aws_lambda_function")
    assert mapping["scaling_config"]["maximum_concurrency"] <= function["reserved_concurrent_executions"]


def test_tables_have_keys_pitr_kms_and_ttl(synth: SynthesizedApp) -> None:
    tables = {t["name"]: t for t in synth.resources("hub", "aws_dynamodb_table").values()}
    config, ledger = tables["domain-join-config"], tables["domain-join-ledger"]
    assert config["hash_key"] == contract.CONFIG_TABLE_KEY and config["billing_mode"] == "PAY_PER_REQUEST"
    assert ledger["hash_key"] == contract.LEDGER_TABLE_KEY
    assert ledger["ttl"] == {"attribute_name": contract.LEDGER_TTL_ATTRIBUTE, "enabled": True}
    for table in (config, ledger):
        assert table["point_in_time_recovery"] == {"enabled": True}
        assert table["server_side_encryption"]["enabled"] is True
        assert table["server_side_encryption"]["kms_key_arn"].startswith("${aws_kms_key.")


def test_provisioned_config_table_autoscales(landing_zones: LandingZones) -> None:
    synth = landing_zones.accounts
    config = next(
        t for t in synth.resources("hub", "aws_dynamodb_table").values() if t["name"] == "existing-config"
    )
    assert (config["billing_mode"], config["read_capacity"], config["write_capacity"]) == (
        "PROVISIONED",
        5,
        5,
    )
    targets = synth.resources("hub", "aws_appautoscaling_target").values()
    assert sorted(t["scalable_dimension"] for t in targets) == [
        "dynamodb:table:ReadCapacityUnits",
        "dynamodb:table:WriteCapacityUnits",
    ]
    for target in targets:
        assert target["min_capacity"] == 5
        assert target["resource_id"].startswith("table/${aws_dynamodb_table.")
    assert len(synth.resources("hub", "aws_appautoscaling_policy")) == 2


def test_existing_config_table_is_used_not_created(tmp_path, write_landing_zone) -> None:  # type: ignore[no-untyped-def]
    """Cheap to build in-process: the provider bindings are already imported by the session fixture."""
    from modules_testlib import load_stacks, organization_landing_zone

    from modules.landing_zone import load_landing_zone
    from modules.stacks import build_app

    data = organization_landing_zone() | {"config_table": {"name": "seed-config", "create": False}}
    data["spokes"] = []
    data["organization_id"] = ORG_ID
    build_app(
        load_landing_zone(write_landing_zone(data, "existing.yaml")), tmp_path / "out", tmp_path / "a.zip"
    ).synth()
    hub = load_stacks(tmp_path / "out")["hub"]
    names = [t["name"] for t in hub["resource"]["aws_dynamodb_table"].values()]
    assert names == ["domain-join-ledger"]
    env = next(iter(hub["resource"]["aws_lambda_function"].values()))["environment"]["variables"]
    assert env[contract.ENV_CONFIG_TABLE] == "seed-config"
    policy = parse_policy(next(iter(hub["resource"]["aws_iam_role_policy"].values()))["policy"])
    tables = statements_by_sid(policy)["ReadTables"]["Resource"]
    assert f"arn:aws:dynamodb:{HOME_REGION}:{SECURITY_ACCOUNT}:table/seed-config" in tables


def test_dlq_alarm_notifies_the_alarm_topic(synth: SynthesizedApp) -> None:
    alarm = synth.resource("hub", "aws_cloudwatch_metric_alarm", "dlq-alarm")
    assert alarm["namespace"] == "AWS/SQS" and alarm["metric_name"] == "ApproximateNumberOfMessagesVisible"
    assert "dead-letter-queue" in alarm["dimensions"]["QueueName"]
    assert alarm["threshold"] == 0 and alarm["comparison_operator"] == "GreaterThanThreshold"
    assert alarm["alarm_actions"] == [f"arn:aws:sns:{HOME_REGION}:{SECURITY_ACCOUNT}:ops-alerts"]


def test_key_policy_lets_producers_and_handler_use_the_key(synth: SynthesizedApp) -> None:
    key = synth.resource("hub", "aws_kms_key")
    assert key["enable_key_rotation"] is True
    sids = statements_by_sid(parse_policy(key["policy"]))
    assert sids["HandlerUsesKey"]["Principal"] == {"AWS": HUB_ROLE_ARN}
    producers = sids["ProducersEncryptQueueMessages"]
    assert sorted(producers["Principal"]["Service"]) == ["events.amazonaws.com", "sns.amazonaws.com"]
    assert producers["Condition"] == {"StringEquals": {"aws:SourceAccount": SECURITY_ACCOUNT}}
    assert "kms:EncryptionContext:aws:logs:arn" in sids["LogsEncryptHandlerLogs"]["Condition"]["ArnEquals"]
    [dependency] = key["depends_on"]
    assert dependency.startswith("aws_iam_role."), "the key policy names the role: it must exist first"


def test_handler_role_is_least_privilege(synth: SynthesizedApp) -> None:
    role = synth.resource("hub", "aws_iam_role")
    assert role["name"] == "domain-join-handler"
    [trust] = parse_policy(role["assume_role_policy"])["Statement"]
    assert trust["Principal"] == {"Service": "lambda.amazonaws.com"}
    sids = statements_by_sid(parse_policy(synth.resource("hub", "aws_iam_role_policy")["policy"]))
    assume = sids["AssumeSpokeExecutionRole"]
    assert assume["Resource"] == f"arn:aws:iam::*:role/{contract.DEFAULT_SPOKE_ROLE_NAME}"
    assert assume["Condition"] == {"StringEquals": {"aws:ResourceOrgID": ORG_ID}}
    assert sorted(sids["SendToolsHostDocuments"]["Resource"]) == [
        f"arn:aws:ssm:{HOME_REGION}:{SECURITY_ACCOUNT}:document/{contract.PRESTAGE_DOCUMENT}",
        f"arn:aws:ssm:{HOME_REGION}:{SECURITY_ACCOUNT}:document/{contract.REMOVE_DOCUMENT}",
    ]
    tools = sids["SendCommandToToolsHostOnly"]
    assert tools["Resource"] == f"arn:aws:ec2:{HOME_REGION}:{SECURITY_ACCOUNT}:instance/*"
    assert tools["Condition"] == {"StringEquals": {"ssm:resourceTag/ADToolsHost": "true"}}
    assert sids["ConsumeJoinQueue"]["Resource"] == QUEUE_ARN
    # "*" only where the service has no resource-level permissions
    star = {sid for sid, s in sids.items() if "*" in as_list(s["Resource"])}
    # (ReadPrestageResults: ssm:GetCommandInvocation, a prestage's result lines, has none either)
    assert star == {"WriteTraces", "FindToolsHost", "ReadPrestageResults"}
    for sid in star:
        assert all(
            a.split(":")[1].startswith(("Describe", "Put")) or a == "ssm:GetCommandInvocation"
            for a in as_list(sids[sid]["Action"])
        )


def test_handler_role_allows_exactly_the_table_and_queue_calls_the_handler_makes(
    synth: SynthesizedApp,
) -> None:
    """Batch reads of both tables; ledger claims (PutItem only inside a transaction) and batch writes."""
    sids = statements_by_sid(parse_policy(synth.resource("hub", "aws_iam_role_policy")["policy"]))
    config = f"arn:aws:dynamodb:{HOME_REGION}:{SECURITY_ACCOUNT}:table/domain-join-config"
    ledger = f"arn:aws:dynamodb:{HOME_REGION}:{SECURITY_ACCOUNT}:table/domain-join-ledger"
    dynamodb = {
        sid: (sorted(as_list(s["Action"])), sorted(as_list(s["Resource"])), s.get("Condition"))
        for sid, s in sids.items()
        if any(a.startswith("dynamodb:") for a in as_list(s["Action"]))
    }
    assert dynamodb == {
        "ReadTables": (["dynamodb:BatchGetItem"], [config, ledger], None),
        "ClaimLedgerRecordsInTransactions": (
            ["dynamodb:PutItem"],
            [ledger],
            {"StringEquals": {"dynamodb:EnclosingOperation": "TransactWriteItems"}},
        ),
        "WriteLedgerRecords": (["dynamodb:BatchWriteItem"], [ledger], None),
    }
    sqs = {
        sid: (sorted(as_list(s["Action"])), as_list(s["Resource"]))
        for sid, s in sids.items()
        if any(a.startswith("sqs:") for a in as_list(s["Action"]))
    }
    assert sqs == {
        # the event source mapping polls with the function's role; the handler changes visibility
        "ConsumeJoinQueue": (
            [
                "sqs:ChangeMessageVisibility",
                "sqs:DeleteMessage",
                "sqs:GetQueueAttributes",
                "sqs:ReceiveMessage",
            ],
            [QUEUE_ARN],
        ),
        "SendToDeadLetterQueue": (
            ["sqs:SendMessage"],
            [f"arn:aws:sqs:{HOME_REGION}:{SECURITY_ACCOUNT}:domain-join-dlq"],
        ),
    }


def test_handler_assumes_only_listed_accounts_without_organization(landing_zones: LandingZones) -> None:
    policy = parse_policy(landing_zones.accounts.resource("hub", "aws_iam_role_policy")["policy"])
    assume = statements_by_sid(policy)["AssumeSpokeExecutionRole"]
    assert sorted(assume["Resource"]) == [
        f"arn:aws:iam::{SECURITY_ACCOUNT}:role/domain-join-exec",
        f"arn:aws:iam::{SPOKE_SMALL}:role/domain-join-exec",
    ]


# --- forwarder ----------------------------------------------------------------------------------


def test_forwarder_relays_its_bus_to_the_home_queue_through_an_encrypted_topic(synth: SynthesizedApp) -> None:
    stack = "forwarder-us-east-1"
    topic = synth.resource(stack, "aws_sns_topic")
    assert topic["name"] == "domain-join-forwarder" and topic["kms_master_key_id"].startswith(
        "${aws_kms_key."
    )
    subscription = synth.resource(stack, "aws_sns_topic_subscription")
    assert (subscription["protocol"], subscription["endpoint"]) == ("sqs", QUEUE_ARN)
    assert subscription["raw_message_delivery"] is True
    assert "forwarder-dlq" in parse_policy(subscription["redrive_policy"])["deadLetterTargetArn"]
    bus_policy = parse_policy(synth.resource(stack, "aws_cloudwatch_event_bus_policy")["policy"])
    assert bus_policy["Statement"][0]["Condition"] == {"StringEquals": {"aws:PrincipalOrgID": ORG_ID}}
    topic_policy = statements_by_sid(parse_policy(synth.resource(stack, "aws_sns_topic_policy")["policy"]))
    publish = topic_policy["EventBridgeRulesPublish"]
    assert publish["Principal"] == {"Service": "events.amazonaws.com"}
    rule_names = sorted(r["name"] for r in synth.resources(stack, "aws_cloudwatch_event_rule").values())
    assert sorted(publish["Condition"]["ArnEquals"]["aws:SourceArn"]) == sorted(
        f"arn:aws:events:us-east-1:{SECURITY_ACCOUNT}:rule/"
        + ("" if n.endswith("-default") else "domain-join/")
        + n
        for n in rule_names
    )
    assert rule_names == [
        "domain-join-command-failed-bus",
        "domain-join-command-failed-default",
        "domain-join-ec2-state-bus",
        "domain-join-ec2-state-default",
    ]
    targets = synth.resources(stack, "aws_cloudwatch_event_target").values()
    assert len(targets) == 4 and all("aws_sns_topic." in t["arn"] for t in targets)
    assert all("aws_sqs_queue." in t["dead_letter_config"]["arn"] for t in targets)
    key = synth.resource(stack, "aws_kms_key")
    publish_key = statements_by_sid(parse_policy(key["policy"]))["EventBridgePublishesToTopic"]
    assert publish_key["Principal"] == {"Service": "events.amazonaws.com"}
    assert publish_key["Condition"] == {"StringEquals": {"aws:SourceAccount": SECURITY_ACCOUNT}}
    assert key["enable_key_rotation"] is True
    dlq = synth.resource(stack, "aws_sqs_queue")
    assert dlq["sqs_managed_sse_enabled"] is True
    dlq_policy = statements_by_sid(parse_policy(synth.resource(stack, "aws_sqs_queue_policy")["policy"]))
    sources = dlq_policy["FailedDeliveriesLandHere"]["Condition"]["ArnEquals"]["aws:SourceArn"]
    assert f"arn:aws:sns:us-east-1:{SECURITY_ACCOUNT}:domain-join-forwarder" in sources


# --- spoke --------------------------------------------------------------------------------------


def test_spoke_resources_are_per_region_through_for_each(synth: SynthesizedApp) -> None:
    stack = f"spoke-{SPOKE_WIDE}"
    expected_set = '${toset(["eu-central-1", "eu-west-1", "us-east-1"])}'
    for resource_type in (
        "aws_cloudwatch_event_rule",
        "aws_cloudwatch_event_target",
        "aws_sqs_queue",
        "aws_ssm_document",
        "aws_sqs_queue_policy",
    ):
        bodies = synth.resources(stack, resource_type).values()
        assert bodies, resource_type
        for body in bodies:
            assert body["for_each"] == expected_set, resource_type
            assert body["region"] == "${each.value}", resource_type


def test_spoke_stack_size_does_not_grow_with_regions(synth: SynthesizedApp) -> None:
    def count(stack: str) -> int:
        return sum(len(v) for v in synth.stack(stack)["resource"].values())

    assert count(f"spoke-{SPOKE_SMALL}") == count(f"spoke-{SPOKE_WIDE}")


def test_spoke_forwards_to_the_security_bus_of_each_region_with_retries_and_dlq(
    synth: SynthesizedApp,
) -> None:
    stack = f"spoke-{SPOKE_WIDE}"
    targets = synth.resources(stack, "aws_cloudwatch_event_target")
    assert sorted(t["rule"] for t in targets.values()) == [
        "${aws_cloudwatch_event_rule.command_failure_rule[each.value].name}",
        "${aws_cloudwatch_event_rule.forwarding_rule[each.value].name}",
    ]
    for target in targets.values():
        assert target["arn"] == f"arn:aws:events:${{each.value}}:{SECURITY_ACCOUNT}:event-bus/domain-join"
        assert target["dead_letter_config"]["arn"] == "${aws_sqs_queue.target_dlq[each.value].arn}"
        assert target["retry_policy"]["maximum_retry_attempts"] == 185
        assert target["role_arn"].startswith("${aws_iam_role.")
    dlq = synth.resource(stack, "aws_sqs_queue")
    assert dlq["sqs_managed_sse_enabled"] is True
    dlq_policy = statements_by_sid(parse_policy(synth.resource(stack, "aws_sqs_queue_policy")["policy"]))
    assert dlq_policy["ForwardingRuleDeadLetters"]["Condition"]["ArnEquals"]["aws:SourceArn"] == [
        f"arn:aws:events:${{each.value}}:{SPOKE_WIDE}:rule/domain-join-ec2-state-default",
        f"arn:aws:events:${{each.value}}:{SPOKE_WIDE}:rule/domain-join-command-failed-default",
    ]
    events_policy = parse_policy(synth.resource(stack, "aws_iam_role_policy", "events-policy")["policy"])
    [put] = events_policy["Statement"]
    assert put["Action"] == "events:PutEvents"
    assert put["Resource"] == [
        f"arn:aws:events:{region}:{SECURITY_ACCOUNT}:event-bus/domain-join"
        for region in ["eu-central-1", "eu-west-1", "us-east-1"]
    ]


def test_spoke_execution_role_trusts_only_the_hub_role_and_allows_exactly_the_join(
    synth: SynthesizedApp,
) -> None:
    stack = f"spoke-{SPOKE_WIDE}"
    role = synth.resource(stack, "aws_iam_role", "execution-role")
    assert role["name"] == contract.DEFAULT_SPOKE_ROLE_NAME
    [trust] = parse_policy(role["assume_role_policy"])["Statement"]
    assert trust["Principal"] == {"AWS": HUB_ROLE_ARN} and trust["Action"] == "sts:AssumeRole"
    assert "Condition" not in trust
    policy = parse_policy(synth.resource(stack, "aws_iam_role_policy", "execution-policy")["policy"])
    actions = sorted(a for s in policy["Statement"] for a in as_list(s["Action"]))
    assert actions == ["ec2:DescribeInstances", "ssm:DescribeInstanceInformation", "ssm:SendCommand"]
    send = statements_by_sid(policy)["SendJoinDocument"]
    assert sorted(send["Resource"]) == [
        f"arn:aws:ec2:*:{SPOKE_WIDE}:instance/*",
        f"arn:aws:ssm:*:{SPOKE_WIDE}:document/{contract.JOIN_DOCUMENT}",
    ]
    for statement in policy["Statement"]:
        assert statement["Condition"] == {
            "StringEquals": {"aws:RequestedRegion": ["eu-central-1", "eu-west-1", "us-east-1"]}
        }


def test_security_account_spoke_has_join_documents_and_execution_role_but_no_forwarding(
    synth: SynthesizedApp,
) -> None:
    """Its instances are joined through its own execution role; the hub's rules already see its events."""
    stack = f"spoke-{SECURITY_ACCOUNT}"
    regions = sorted([HOME_REGION, SECURITY_SPOKE_EXTRA_REGION])
    resources = synth.stack(stack)["resource"]
    assert set(resources) == {"aws_ssm_document", "aws_iam_role", "aws_iam_role_policy"}
    [document] = resources["aws_ssm_document"].values()
    assert document["name"] == contract.JOIN_DOCUMENT
    assert document["for_each"] == "${toset(" + str(regions).replace("'", '"') + ")}"
    [role] = resources["aws_iam_role"].values()
    assert role["name"] == contract.DEFAULT_SPOKE_ROLE_NAME
    [trust] = parse_policy(role["assume_role_policy"])["Statement"]
    assert trust["Principal"] == {"AWS": HUB_ROLE_ARN}
    [policy] = resources["aws_iam_role_policy"].values()
    send = statements_by_sid(parse_policy(policy["policy"]))["SendJoinDocument"]
    assert sorted(send["Resource"]) == [
        f"arn:aws:ec2:*:{SECURITY_ACCOUNT}:instance/*",
        f"arn:aws:ssm:*:{SECURITY_ACCOUNT}:document/{contract.JOIN_DOCUMENT}",
    ]
    assert send["Condition"] == {"StringEquals": {"aws:RequestedRegion": regions}}
    # AND the hub role may assume it: organization-scoped AssumeRole on that role name
    hub_policy = parse_policy(synth.resource("hub", "aws_iam_role_policy")["policy"])
    assume = statements_by_sid(hub_policy)["AssumeSpokeExecutionRole"]
    assert assume["Resource"] == f"arn:aws:iam::*:role/{role['name']}"


def test_no_unrendered_or_undefined_values_in_any_stack(landing_zones: LandingZones) -> None:
    for synth in landing_zones.all_apps():
        for path in (synth.outdir / "stacks").glob("*/cdk.tf.json"):
            text = path.read_text()
            assert "undefined" not in text and "TfToken" not in text, path


def test_every_setting_with_an_environment_variable_reaches_the_handler_valid(
    landing_zones: LandingZones,
) -> None:
    # GIVEN the account-list landing zone (it sets the optional external id), WHEN synthesized, THEN the
    # handler gets every setting of the table that has an environment variable, in a form its parser accepts
    env = landing_zones.accounts.resource("hub", "aws_lambda_function")["environment"]["variables"]
    # (the tools-host pins exist only with a tools_host section: tests/modules/test_tools_host.py)
    pins = {settings.TOOLS_HOST_INSTANCE_PROFILE_ARN.name, settings.TOOLS_HOST_INSTANCE_ID.name}
    with_env = [s for s in settings.SETTINGS.values() if s.env is not None and s.name not in pins]
    assert with_env
    for setting in with_env:
        assert setting.env in env, setting.name
        assert settings.parse(setting, env[setting.env]) is not None
