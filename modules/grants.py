"""Least-privilege IAM statements, one helper per capability the handler needs.

Call sites ask for a capability ("consume this queue") instead of writing
actions and resources by hand, so every policy in the project reads the same
way and each grant is tested once.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from . import arns
from .cdk import Fn, Op, Token, is_token
from .iam import Statement, statement


def organization_given(organization_id: Any, account_ids: Any) -> Any:
    """None when the choice between organization and account list is made here, in Python (today's
    stacks, and a plain module with only `organization_id`); else the Terraform condition "the organization
    id is given" that chooses at plan (the plain hub: `organization_id` and `principal_account_ids` are
    both variables, exactly one given)."""
    if not is_token(account_ids) or organization_id is None:
        return None
    return Op.neq(organization_id, Token.null_value())


def either_statement(condition: Any, when_true: Statement, when_false: Statement) -> Statement:
    """One of two statements, chosen by Terraform at plan: `jsondecode(cond ? jsonencode(a) :
    jsonencode(b))`.  Terraform refuses a conditional between objects of different attributes (a `Principal`
    that is "*" in one, a map in the other; a `Condition` in one only), so each is encoded as text and the
    chosen text decoded back into the document's `jsonencode`."""
    chosen = Fn.conditional(condition, Fn.jsonencode(when_true), Fn.jsonencode(when_false))
    expression: Statement = Fn.jsondecode(Token.as_string(chosen))
    return expression


def account_roots(partition: str, account_ids: Any) -> Any:
    """The accounts' root principals, of a Terraform list (`formatlist`)."""
    return Token.as_list(Fn.formatlist(f"arn:{partition}:iam::%s:root", [account_ids]))


def grant_logs_write(partition: str, account_id: str, region: str, log_group_name: str) -> list[Statement]:
    return [
        statement(
            "WriteOwnLogs",
            ["logs:CreateLogStream", "logs:PutLogEvents"],
            arns.arn(partition, "logs", region, account_id, f"log-group:{log_group_name}:log-stream:*"),
        )
    ]


def grant_xray_write() -> list[Statement]:
    # X-Ray has no resource-level permissions: "*" is the only valid resource.
    return [statement("WriteTraces", ["xray:PutTraceSegments", "xray:PutTelemetryRecords"], "*")]


def grant_directory_create_computer(directory_arns: Sequence[str]) -> list[Statement]:
    """Prestage through Directory Service (AWS Managed Microsoft AD) on exactly these directories; nothing
    when there are none."""
    if not directory_arns:
        return []
    return [statement("PrestageInManagedDirectories", ["ds:CreateComputer"], list(directory_arns))]


def grant_queue_consume(queue_arn: str) -> list[Statement]:
    """Receive/Delete/GetQueueAttributes are the event source mapping's (it polls with the function's role);
    ChangeMessageVisibility is the handler's (its Batch API is authorized as this action)."""
    return [
        statement(
            "ConsumeJoinQueue",
            [
                "sqs:ReceiveMessage",
                "sqs:DeleteMessage",
                "sqs:GetQueueAttributes",
                "sqs:ChangeMessageVisibility",
            ],
            queue_arn,
        )
    ]


def grant_queue_send(queue_arns: Sequence[str]) -> list[Statement]:
    """SendMessageBatch is authorized as sqs:SendMessage."""
    return [statement("SendToDeadLetterQueue", ["sqs:SendMessage"], list(queue_arns))]


def grant_dynamodb_read(table_arns: Sequence[str]) -> list[Statement]:
    """The handler reads both tables only in batches (config items, ledger records)."""
    return [statement("ReadTables", ["dynamodb:BatchGetItem"], list(table_arns))]


def grant_ledger_write(ledger_table_arn: str) -> list[Statement]:
    """Claims are conditional `Put`s inside TransactWriteItems, which IAM authorizes per item as PutItem:
    the `EnclosingOperation` condition keeps a plain, unconditional PutItem out.  The final records go
    through BatchWriteItem, its own action, which that condition does not touch."""
    return [
        statement(
            "ClaimLedgerRecordsInTransactions",
            ["dynamodb:PutItem"],
            ledger_table_arn,
            conditions={"StringEquals": {"dynamodb:EnclosingOperation": "TransactWriteItems"}},
        ),
        statement("WriteLedgerRecords", ["dynamodb:BatchWriteItem"], ledger_table_arn),
    ]


def grant_tools_host_discovery() -> list[Statement]:
    # Neither action supports resource-level permissions.
    return [statement("FindToolsHost", ["ec2:DescribeInstances", "ssm:DescribeInstanceInformation"], "*")]


def grant_send_command_to_tools_host(
    partition: str, document_arns: Sequence[str], account_id: str, region: str, tag_key: str, tag_value: str
) -> list[Statement]:
    """SendCommand needs both the document and the instance; the instance must carry the tools-host tag."""
    tag_condition: Any = {f"ssm:resourceTag/{tag_key}": tag_value}
    if is_token(tag_key):  # plain module: cdktf cannot resolve a variable inside a map key
        tag_condition = Fn.zipmap([Fn.format("ssm:resourceTag/%s", [tag_key])], [tag_value])
    return [
        statement("SendToolsHostDocuments", ["ssm:SendCommand"], list(document_arns)),
        statement(
            "SendCommandToToolsHostOnly",
            ["ssm:SendCommand"],
            arns.arn(partition, "ec2", region, account_id, "instance/*"),
            conditions={"StringEquals": tag_condition},
        ),
    ]


def grant_assume_spoke_role(
    partition: str,
    role_name: str,
    organization_id: str | None,
    account_ids: Sequence[str],
    *,
    sid: str = "AssumeSpokeExecutionRole",
) -> list[Statement]:
    """AssumeRole only on the spoke execution role (or the role `role_name` names, under `sid`), only inside
    the organization (or the listed accounts).

    A plain hub given both as variables (`organization_given`) gets both statements, Terraform choosing."""
    given = organization_given(organization_id, account_ids)
    if given is not None:
        [in_organization] = grant_assume_spoke_role(partition, role_name, organization_id, (), sid=sid)
        listed = statement(
            sid,
            ["sts:AssumeRole"],
            Token.as_list(Fn.formatlist(arns.role_arn(partition, "%s", role_name), [account_ids])),
        )
        return [either_statement(given, in_organization, listed)]
    if organization_id:
        return [
            statement(
                sid,
                ["sts:AssumeRole"],
                arns.role_arn(partition, "*", role_name),
                conditions={"StringEquals": {"aws:ResourceOrgID": organization_id}},
            )
        ]
    if is_token(account_ids):
        raise ValueError("account_ids must be a Python list when no organization id is given")
    return [
        statement(
            sid,
            ["sts:AssumeRole"],
            [arns.role_arn(partition, account, role_name) for account in account_ids],
        )
    ]


def grant_spoke_instance_operations(
    partition: str, account_id: str, regions: Sequence[str], document_name: str
) -> list[Statement]:
    """What the hub handler does inside a spoke account, limited to that account's Regions."""
    in_regions = {"StringEquals": {"aws:RequestedRegion": regions if is_token(regions) else list(regions)}}
    return [
        statement(
            "DescribeInstances",
            ["ec2:DescribeInstances", "ssm:DescribeInstanceInformation"],
            "*",
            conditions=in_regions,
        ),
        statement(
            "SendJoinDocument",
            ["ssm:SendCommand"],
            [
                arns.arn(partition, "ssm", "*", account_id, f"document/{document_name}"),
                arns.arn(partition, "ec2", "*", account_id, "instance/*"),
            ],
            conditions=in_regions,
        ),
    ]


def grant_put_events(bus_arns: Sequence[str]) -> list[Statement]:
    return [statement("PutEventsOnDomainJoinBus", ["events:PutEvents"], list(bus_arns))]
