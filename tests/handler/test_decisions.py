"""The pure decisions (decisions.py, resend.py, claims.py): values in, values out; no moto, no clock."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import pytest

from handlers.domain_join import claims, decisions, resend, wire
from handlers.domain_join.contract import (
    JOIN_DOCUMENT,
    JOIN_PARAM_COMPUTERS,
    PRESTAGE_DOCUMENT,
    REMOVE_DOCUMENT,
    TOOLS_PARAM_COMPUTERS,
)
from handlers.domain_join.errors import ConfigInvalidError, ConfigMissingError
from handlers.domain_join.events import CommandStatusChange, InstanceStateChange
from handlers.domain_join.model import (
    JOIN_FAILED,
    JOIN_SENT,
    JOINING,
    REMOVE_FAILED,
    REMOVE_SENT,
    REMOVING,
    AccountConfig,
    CommandRecord,
    InstanceFacts,
    LedgerEntry,
    Spoke,
)

NOW = 1_800_000_000
SPOKE_A, SPOKE_B = "111111111111", "222222222222"
REGION = "eu-west-1"
INSTANCE = "i-0123456789abcdef0"
COMMAND = "5d1e7c2a-0000-4000-8000-000000000001"
OTP = "Ab1" * 10


def change(
    state: str = "running", instance_id: str = INSTANCE, message: str = "m-1", receive: int = 1
) -> Any:
    return InstanceStateChange(SPOKE_A, REGION, instance_id, state, "t", "e", message, receive)


def failure(
    document: str = JOIN_DOCUMENT, status: str = "Failed", instance_id: str = INSTANCE, account: str = SPOKE_A
) -> CommandStatusChange:
    return CommandStatusChange(account, REGION, COMMAND, document, instance_id, status, "t", "e", "m-2", 1)


def ledger_entry(status: str, **changes: Any) -> LedgerEntry:
    base = LedgerEntry(INSTANCE, SPOKE_A, REGION, "EC2NAME", "corp.example.com", status, NOW - 600, NOW - 60)
    return replace(base, **changes)


def config(**changes: Any) -> AccountConfig:
    base = AccountConfig(
        SPOKE_A,
        "corp.example.com",
        "svc-join",
        "/domain-join/password",
        f"arn:aws:iam::{SPOKE_A}:role/ec2-domain-join-execution",
        ("10.0.0.10",),
    )
    return replace(base, **changes)


def facts(state: str = "running", **tags: str) -> InstanceFacts:
    return InstanceFacts(INSTANCE, state, "linux", tags)


# --- configs and status events ------------------------------------------------------------------------
def test_decide_configs_separates_valid_missing_and_invalid_accounts() -> None:
    items = {
        SPOKE_A: {"dnsName": "corp.example.com", "adJoinUserName": "svc", "adJoinUserPwParam": "/p"},
        SPOKE_B: {"dnsName": "not a domain", "adJoinUserName": "svc", "adJoinUserPwParam": "/p"},
    }
    accounts = decisions.decide_configs([SPOKE_A, SPOKE_B, "333333333333"], items, "exec-role", "aws-cn")
    assert set(accounts.configs) == {SPOKE_A}
    assert accounts.configs[SPOKE_A].role_arn == f"arn:aws-cn:iam::{SPOKE_A}:role/exec-role"
    assert isinstance(accounts.errors[SPOKE_B], ConfigInvalidError)
    assert isinstance(accounts.errors["333333333333"], ConfigMissingError)


@pytest.mark.parametrize(
    ("document", "status", "acted_on"),
    [
        (JOIN_DOCUMENT, "Failed", True),
        (JOIN_DOCUMENT, "TimedOut", True),
        (REMOVE_DOCUMENT, "Cancelled", True),
        (JOIN_DOCUMENT, "Success", False),
        (PRESTAGE_DOCUMENT, "Failed", False),  # its joins fail too, and are redone
    ],
)
def test_only_failures_of_joins_and_removes_are_acted_on(document: str, status: str, acted_on: bool) -> None:
    outcome = decisions.decide_command_status(failure(document, status))
    assert (outcome is None) == acted_on
    if outcome is not None:
        assert outcome.code == decisions.COMMAND_STATUS_IGNORED and not outcome.retry


def test_a_resend_is_counted_as_a_retry_of_its_failure_event() -> None:
    requested = decisions.Outcome(decisions.JOIN_REQUESTED)
    assert decisions.as_command_status_outcome(requested).code == decisions.JOIN_RETRIED
    removed = decisions.Outcome(decisions.REMOVE_REQUESTED)
    assert decisions.as_command_status_outcome(removed).code == decisions.REMOVE_RETRIED
    other = decisions.Outcome(decisions.NOT_READY, retry=True)
    assert decisions.as_command_status_outcome(other) == other


def test_combined_outcome_of_a_remove_failure_prefers_a_retry_then_a_request() -> None:
    stale = decisions.Outcome(decisions.STALE_COMMAND_STATUS)
    requested = decisions.Outcome(decisions.REMOVE_REQUESTED)
    retry = decisions.Outcome("TransientAwsError", retry=True)
    assert decisions.combined([stale, requested, retry]) == retry
    assert decisions.combined([stale, requested]) == requested
    assert decisions.combined([stale]) == stale
    assert decisions.combined([]).code == decisions.STALE_COMMAND_STATUS


# --- joining ----------------------------------------------------------------------------------------------
@pytest.mark.parametrize("status", sorted(decisions.JOINED_STATES))
def test_a_joined_record_is_not_joined_again(status: str) -> None:
    outcome = decisions.decide_join_record(change(), ledger_entry(status), False, NOW)
    assert outcome == decisions.Outcome(decisions.ALREADY_JOINED, detail=status)


def test_a_fresh_claim_of_another_message_shuts_a_join_out_until_its_lease_ends() -> None:
    held = ledger_entry(JOINING, lease_expires_at=NOW + 60, claimed_by="other", claim_receive_count=1)
    outcome = decisions.decide_join_record(change(), held, False, NOW)
    assert outcome is not None and outcome.code == decisions.CLAIMED_ELSEWHERE
    assert decisions.decide_join_record(change(), replace(held, lease_expires_at=NOW), False, NOW) is None
    # an earlier receive of the same message (its invocation is over) does not shut its retry out
    mine = replace(held, claimed_by="m-1", claim_receive_count=1)
    assert decisions.decide_join_record(change(receive=2), mine, False, NOW) is None


def test_no_record_a_given_up_join_and_a_resend_go_on_to_the_instance() -> None:
    assert decisions.decide_join_record(change(), None, False, NOW) is None
    assert decisions.decide_join_record(change(), ledger_entry(JOIN_FAILED), False, NOW) is None
    assert decisions.decide_join_record(change(), ledger_entry(JOIN_SENT), True, NOW) is None


@pytest.mark.parametrize(
    ("fact", "code", "dead_letter"),
    [
        (None, decisions.NOT_RUNNING, False),
        (facts("stopped"), decisions.NOT_RUNNING, False),
        (facts(autoadjoin=" FALSE "), decisions.OPTED_OUT, False),
        (facts(AutoADJoin="false"), decisions.OPTED_OUT, False),
        (facts(adGroupName="-rm"), decisions.INVALID_TAG, True),
    ],
)
def test_instance_facts_that_stop_a_join(fact: InstanceFacts | None, code: str, dead_letter: bool) -> None:
    outcome = decisions.decide_instance(fact)
    assert outcome is not None and outcome.code == code and outcome.dead_letter is dead_letter


def test_a_running_instance_with_a_valid_group_is_joined() -> None:
    assert decisions.decide_instance(facts("pending", adGroupName="Linux Admins", autoadjoin="true")) is None


def test_plan_join_claims_the_record_with_a_lease_and_keeps_its_creation_time() -> None:
    previous = ledger_entry(JOIN_FAILED, created_at=NOW - 9999)
    spoke = Spoke(SPOKE_A, REGION, config().role_arn)
    plan = decisions.plan_join(
        change(message="m-9", receive=3),
        config(),
        spoke,
        facts(adGroupName=" Linux Admins "),
        previous,
        NOW,
        240,
        OTP,
        resend_of=COMMAND,
        attempts=2,
    )
    claim = plan.entry
    assert (claim.status, claim.created_at, claim.updated_at) == (JOINING, NOW - 9999, NOW)
    assert (claim.lease_expires_at, claim.claimed_by, claim.claim_receive_count) == (NOW + 240, "m-9", 3)
    assert (claim.attempts, plan.resend_of, plan.login_group) == (2, COMMAND, "Linux Admins")
    assert OTP not in repr(claim)  # the one-time password never reaches the ledger


def test_join_plans_share_commands_by_their_keys_and_encode_the_wire_formats() -> None:
    spoke = Spoke(SPOKE_A, REGION, config().role_arn)
    plans = [
        decisions.plan_join(change(instance_id=i), config(), spoke, facts(), None, NOW, 240, OTP)
        for i in ("i-0123456789abcdef0", "i-0fedcba9876543210")
    ]
    assert plans[0].prestage_key == plans[1].prestage_key and plans[0].join_key == plans[1].join_key
    prestage = decisions.prestage_parameters(plans[0].prestage_key, plans)
    assert [e.computer_name for e in wire.decode_prestage(prestage[TOOLS_PARAM_COMPUTERS])] == [
        p.entry.computer_name for p in plans
    ]
    join = decisions.join_parameters(plans[0].join_key, plans)
    assert [e.instance_id for e in wire.decode_join(join[JOIN_PARAM_COMPUTERS])] == [
        p.entry.instance_id for p in plans
    ]
    other_group = replace(plans[1], login_group="Other")
    assert other_group.join_key != plans[0].join_key  # a different login group needs its own command


def test_plans_whose_tags_pick_different_ous_get_their_own_prestage_and_carry_the_reasons() -> None:
    # GIVEN a config whose Environment tag picks the OU, and instances tagged prod, staging and prod
    tagged = config(
        ou_path="OU=Default",
        ou_tag_key="Environment",
        ou_by_tag_value=(("prod", "OU=Prod"),),
        computer_name_tag="Name",
    )
    spoke = Spoke(SPOKE_A, REGION, tagged.role_arn)
    plans = [
        decisions.plan_join(change(instance_id=i), tagged, spoke, facts(**tags), None, NOW, 240, OTP)
        for i, tags in (
            ("i-0123456789abcdef0", {"Environment": "prod", "Name": "web-1"}),
            ("i-0fedcba9876543210", {"Environment": "staging", "Name": "12345"}),
            ("i-0aaaaaaaaaaaaaaaa", {"Environment": "prod"}),
        )
    ]
    # THEN the prestage commands split by OU, each plan says why a tag was not used, and the ledger entry
    # carries the name chosen
    assert decisions.group_by(plans, lambda p: p.prestage_key[1]).keys() == {"OU=Prod", "OU=Default"}
    assert [bool(p.ou_fallback) for p in plans] == [False, True, False]
    assert plans[0].entry.computer_name == "WEB-1"
    assert [bool(p.name_fallback) for p in plans] == [False, True, True]
    assert OTP not in repr(plans[0])  # the one-time password stays out of any repr


@pytest.mark.parametrize(
    ("status", "code"),
    [(JOIN_SENT, decisions.ALREADY_JOINED), (JOINING, decisions.CLAIMED_ELSEWHERE)],
)
def test_a_refused_join_claim(status: str, code: str) -> None:
    assert decisions.decide_join_refusal(status).code == code


def test_sent_and_released_entries_give_the_claim_up() -> None:
    spoke = Spoke(SPOKE_A, REGION, config().role_arn)
    plan = decisions.plan_join(change(), config(), spoke, facts(), None, NOW, 240, OTP)
    sent = decisions.join_sent(plan, "p-1", "j-1", NOW + 5)
    assert (sent.status, sent.prestage_command_id, sent.join_command_id) == (JOIN_SENT, "p-1", "j-1")
    assert (sent.lease_expires_at, sent.claimed_by, sent.updated_at) == (0, "", NOW + 5)
    back = decisions.released(plan.entry, NOW + 5)
    assert (back.status, back.lease_expires_at, back.claimed_by) == (JOINING, 0, "")


# --- leaving ----------------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("entry", "code"),
    [
        (None, decisions.NEVER_JOINED),
        (ledger_entry(JOIN_SENT, account=SPOKE_B), decisions.NEVER_JOINED),
        (ledger_entry(REMOVE_SENT), decisions.ALREADY_REMOVED),
        (ledger_entry(JOINING, lease_expires_at=NOW + 60, claimed_by="x"), decisions.JOIN_IN_PROGRESS),
        (ledger_entry(REMOVING, lease_expires_at=NOW + 60, claimed_by="x"), decisions.CLAIMED_ELSEWHERE),
    ],
)
def test_terminated_events_that_remove_nothing(entry: LedgerEntry | None, code: str) -> None:
    outcome = decisions.decide_leave(change("terminated"), entry, False, NOW)
    assert outcome is not None and outcome.code == code


def test_a_removal_given_up_is_removed_again_by_a_terminated_event() -> None:
    # GIVEN a record whose removal failed for good, re-queued (`ec2-domain-join retry`, the reconciler)
    given_up = ledger_entry(REMOVE_FAILED)
    # WHEN its terminated event arrives, THEN it is removed (decide_leave: no outcome), and the REMOVING
    # claim may replace it
    assert decisions.decide_leave(change("terminated"), given_up, False, NOW) is None
    claim = given_up.moved_to(REMOVING, NOW, lease_expires_at=NOW + 60, claimed_by="m", attempts=1)
    assert claims.allows(claims.rule_for(claim, ""), claim, given_up, NOW)


def test_a_joined_record_is_removed_with_the_current_credentials_of_the_same_domain() -> None:
    entry = ledger_entry(JOIN_SENT, join_user="old-user", password_parameter="/old")
    assert decisions.decide_leave(change("terminated"), entry, False, NOW) is None
    same = decisions.plan_removal(change("terminated"), entry, config(domain="CORP.example.com"), NOW, 240)
    assert (same.join_user, same.password_parameter) == ("svc-join", "/domain-join/password")
    moved = decisions.plan_removal(change("terminated"), entry, config(domain="other.example.com"), NOW, 240)
    assert (moved.join_user, moved.password_parameter) == ("old-user", "/old")
    offboarded = decisions.plan_removal(change("terminated"), entry, None, NOW, 240)
    assert offboarded.join_user == "old-user"
    assert (same.claim.status, same.claim.lease_expires_at) == (REMOVING, NOW + 240)


def test_a_remove_sent_is_kept_for_a_month_with_its_command_item() -> None:
    removal = decisions.plan_removal(change("terminated"), ledger_entry(JOIN_SENT), None, NOW, 240)
    sent = decisions.remove_sent(removal, COMMAND, NOW)
    assert (sent.status, sent.remove_command_id) == (REMOVE_SENT, COMMAND)
    assert sent.expires_at == NOW + decisions.REMOVED_RECORD_RETENTION_SECONDS
    record = decisions.remove_command_record(COMMAND, [removal], NOW)
    assert record == CommandRecord(COMMAND, REMOVE_DOCUMENT, (INSTANCE,), NOW, sent.expires_at)
    parameters = decisions.remove_parameters(removal.command_key, [removal])
    (decoded,) = wire.decode_remove(parameters[TOOLS_PARAM_COMPUTERS])
    assert decoded.stamp == f"ec2-domain-join:{SPOKE_A}/{REGION}/{INSTANCE}"


# --- failed commands (resend.py) ------------------------------------------------------------------------
def test_a_failed_join_that_the_ledger_still_holds_is_sent_again_as_the_next_attempt() -> None:
    sent = ledger_entry(JOIN_SENT, join_command_id=COMMAND, attempts=1)
    decision = resend.decide_failed_joins([failure()], {INSTANCE: sent}, 3, NOW)
    (piece,) = decision.to_send
    assert (piece.instance_id, piece.state) == (INSTANCE, failure().state)
    assert decision.resends[INSTANCE] == resend.Resend(COMMAND, 2)
    assert decision.settled == () and decision.given_up == ()


def test_a_failed_join_past_its_attempts_is_given_up() -> None:
    sent = ledger_entry(JOIN_SENT, join_command_id=COMMAND, attempts=3)
    decision = resend.decide_failed_joins([failure()], {INSTANCE: sent}, 3, NOW)
    assert decision.to_send == ()
    ((_, given_up),) = decision.given_up
    assert given_up.status == JOIN_FAILED
    ((_, outcome),) = decision.settled
    assert outcome.code == decisions.JOIN_FAILED_OUTCOME and "after 3 attempts" in outcome.detail


@pytest.mark.parametrize(
    "entry",
    [
        None,
        ledger_entry(JOIN_SENT, join_command_id="a-newer-command"),
        ledger_entry(REMOVE_SENT, join_command_id=COMMAND),
        ledger_entry(JOIN_SENT, join_command_id=COMMAND, account=SPOKE_B),
    ],
)
def test_a_failed_join_the_ledger_moved_past_is_stale(entry: LedgerEntry | None) -> None:
    ledger = {INSTANCE: entry} if entry else {}
    decision = resend.decide_failed_joins([failure()], ledger, 3, NOW)
    ((_, outcome),) = decision.settled
    assert outcome.code == decisions.STALE_COMMAND_STATUS and decision.to_send == ()


def test_a_failed_remove_is_split_into_one_piece_per_computer() -> None:
    other = "i-0fedcba9876543210"
    record = CommandRecord(COMMAND, REMOVE_DOCUMENT, (INSTANCE, other), NOW, NOW + 9)
    ledger = {
        INSTANCE: ledger_entry(REMOVE_SENT, remove_command_id=COMMAND, attempts=1),
        other: replace(ledger_entry(REMOVE_SENT, remove_command_id=COMMAND, attempts=3), instance_id=other),
    }
    event = failure(REMOVE_DOCUMENT, instance_id="i-0000000000000000a", account="123456789012")
    decision = resend.decide_failed_removes([(event, record)], ledger, 3, NOW)
    assert [p.instance_id for p in decision.to_send] == [INSTANCE]
    assert decision.to_send[0].account == SPOKE_A  # the piece is the computer's, not the tools host's
    assert [e.status for _, e in decision.given_up] == [REMOVE_FAILED]
    assert decision.parts[decisions.key_of(event)] == ((INSTANCE, event.state), (other, event.state))


def test_a_resend_under_way_of_an_earlier_receive_carries_on_with_its_attempt() -> None:
    claimed = ledger_entry(JOINING, claimed_by="m-2", claim_receive_count=0, attempts=2)
    assert resend.resend_for(failure(), claimed, JOIN_SENT, JOINING) == resend.Resend(COMMAND, 2)


# --- the claim table (claims.py) --------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("kind", "current", "allowed"),
    [
        ((JOINING, False), None, True),
        ((JOINING, False), ledger_entry(JOIN_FAILED), True),
        ((JOINING, False), ledger_entry(JOIN_SENT), False),
        ((JOINING, False), ledger_entry(JOINING, lease_expires_at=NOW + 1, claimed_by="x"), False),
        ((JOINING, False), ledger_entry(JOINING, lease_expires_at=NOW, claimed_by="x"), True),
        ((REMOVING, False), None, False),
        ((REMOVING, False), ledger_entry(JOIN_SENT), True),
        ((REMOVING, False), ledger_entry(JOIN_SENT, account=SPOKE_B), False),
        ((REMOVING, False), ledger_entry(REMOVE_SENT), False),
        ((JOINING, True), ledger_entry(JOIN_SENT, join_command_id=COMMAND), True),
        ((JOINING, True), ledger_entry(JOIN_SENT, join_command_id="newer"), False),
        ((REMOVING, True), ledger_entry(REMOVE_SENT, remove_command_id=COMMAND), True),
    ],
)
def test_claim_table(kind: tuple[str, bool], current: LedgerEntry | None, allowed: bool) -> None:
    status, is_resend = kind
    claim = ledger_entry(status, claimed_by="m-1", claim_receive_count=1, lease_expires_at=NOW + 240)
    resend_of = COMMAND if is_resend else ""
    rule = claims.rule_for(claim, resend_of)
    assert rule is claims.TRANSITIONS[kind]
    assert claims.allows(rule, claim, current, NOW, resend_of) is allowed


def test_only_claims_have_a_rule() -> None:
    with pytest.raises(ValueError, match="not a claim"):
        claims.rule_for(ledger_entry(JOIN_SENT), "")


# --- records of a batch -----------------------------------------------------------------------------------
def test_a_record_to_retry_comes_back_after_its_backoff_step() -> None:
    outcome = decisions.Outcome(decisions.NOT_READY, retry=True, detail="SSM agent not Online")
    verdict = decisions.decide_record(
        outcome, sent_at=NOW - 100, receive_count=3, now=NOW, deadline_seconds=3600
    )
    assert verdict == decisions.RecordVerdict(decisions.RETRY, reason=outcome.reason, delay=240)


def test_a_record_still_failing_at_its_deadline_is_dead_lettered_with_the_last_reason() -> None:
    outcome = decisions.Outcome(decisions.NOT_READY, retry=True, detail="SSM agent not Online")
    verdict = decisions.decide_record(
        outcome, sent_at=NOW - 3600, receive_count=8, now=NOW, deadline_seconds=3600
    )
    assert (verdict.action, verdict.code) == (decisions.DEAD_LETTER, decisions.DEADLINE_EXCEEDED)
    assert verdict.reason == "deadline of 3600s passed; last: NotReady: SSM agent not Online"
    # just before the deadline it is retried, and comes back right when the deadline is over
    early = decisions.decide_record(
        outcome, sent_at=NOW - 3590, receive_count=8, now=NOW, deadline_seconds=3600
    )
    assert (early.action, early.delay) == (decisions.RETRY, 11)


def test_records_done_or_refused_for_good_are_not_retried() -> None:
    done = decisions.decide_record(decisions.Outcome(decisions.JOIN_REQUESTED), NOW, 1, NOW, 3600)
    assert done.action == decisions.DONE
    invalid = decisions.Outcome(decisions.INVALID_TAG, detail="bad tag", dead_letter=True)
    verdict = decisions.decide_record(invalid, NOW, 1, NOW, 3600)
    assert (verdict.action, verdict.code, verdict.reason) == (
        decisions.DEAD_LETTER,
        "InvalidTag",
        invalid.reason,
    )
