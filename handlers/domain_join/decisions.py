"""Pure decisions of the join/leave logic: values in, values out, no AWS and no clock.

The orchestrator (``engine.Engine``) reads the ledger, the config table and the instances through the
``model.AwsPort``, and asks these functions what to do; they answer with frozen dataclasses
(``Outcome``, ``JoinPlan``, ``Removal``) and ledger entries to write.  Everything here is unit-tested
without moto (tests/handler/test_decisions.py).

Public API (stable names)::

    ChangeKey, key_of(change)           the (instance id, state) key of one change of a batch
    Settled                             (change, Outcome): what each step of the orchestrator returns
    Outcome                             what became of one change (metric code, retry, dead-letter)
    RecordVerdict, decide_record(...)   what the batch layer does with a record: done, DLQ or retry (delay)
    outcome codes                       JOIN_REQUESTED, ALREADY_JOINED, ... (each is also a metric name)
    AccountConfigs, decide_configs      config items -> validated configs and per-account errors
    decide_command_status(change)       ignore a status event, or None to act on the failure
    decide_join_record(...)             skip a running event from the ledger alone, or None
    decide_instance(fact)               skip an instance from its facts (state, tags), or None
    JoinPlan, plan_join(...)            a join to claim and send, with its one-time password
    decide_join_refusal(status)         the outcome of a join whose claim failed its condition
    Removal, decide_leave(...), plan_removal(...), decide_removal_refusal(status)
    join_sent / remove_sent / released  ledger entries after a command was (not) sent
    prestage_parameters / join_parameters / remove_parameters   the documents' parameters
    as_command_status_outcome(outcome)  JoinRequested -> JoinRetried for a failure event's resend
    combined(pieces)                    one outcome for a remove failure from its computers' outcomes
    ToolsHostPin, ToolsHostCandidate, ToolsHostChoice, decide_tools_host(...)
                                        which tagged instance may receive tools-host commands, or why none

Example::

    >>> decide_removal_refusal("JOINING")
    Outcome(code='JoinInProgress', retry=True, detail='a join holds the ledger claim', dead_letter=False)
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Final, TypeVar

from . import backoff, wire
from .contract import (
    COMMAND_FAILED_STATUSES,
    ENV_TOOLS_HOST_INSTANCE_ID,
    ENV_TOOLS_HOST_INSTANCE_PROFILE_ARN,
    JOIN_PARAM_COMPUTERS,
    JOIN_PARAM_DNS_IPS,
    JOIN_PARAM_DOMAIN,
    JOIN_PARAM_INSTALL_PACKAGES,
    JOIN_PARAM_INSTALL_RDS,
    JOIN_PARAM_LOGIN_GROUP,
    JOIN_PARAM_SUDO_GROUP,
    METRIC_TOOLS_HOST_AMBIGUOUS,
    PRESTAGE_DOCUMENT,
    REMOVE_ACTION_DELETE,
    REMOVE_ACTIONS,
    REMOVE_DOCUMENT,
    TAG_LOGIN_GROUP,
    TAG_OPT_OUT,
    TOOLS_PARAM_ACTION,
    TOOLS_PARAM_COMPUTERS,
    TOOLS_PARAM_DOMAIN,
    TOOLS_PARAM_JOIN_USER,
    TOOLS_PARAM_OU,
    TOOLS_PARAM_PASSWORD_PARAMETER,
)
from .errors import ConfigInvalidError, ConfigMissingError, DomainJoinError
from .events import CommandStatusChange, InstanceStateChange, StateChange
from .model import (
    GROUP_RE,
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
from .naming import computer_name, ownership_stamp
from .patterns import COMMAND_ID, COMPUTER_NAME_TAG, INSTANCE_ID, INSTANCE_PROFILE_ARN

MAX_INSTANCES_PER_COMMAND: Final = wire.MAX_ENTRIES  # SendCommand's InstanceIds limit
REMOVED_RECORD_RETENTION_SECONDS: Final = 30 * 24 * 3600
LIVE_STATES: Final = frozenset({"pending", "running"})
JOINED_STATES: Final = frozenset({JOIN_SENT, REMOVING, REMOVE_SENT, REMOVE_FAILED})

# Outcome codes; each is also the name of the metric counting it.
JOIN_REQUESTED: Final = "JoinRequested"
ALREADY_JOINED: Final = "AlreadyJoined"
OPTED_OUT: Final = "OptedOut"
NOT_RUNNING: Final = "NotRunning"
NOT_READY: Final = "NotReady"
REMOVE_REQUESTED: Final = "RemoveRequested"
ALREADY_REMOVED: Final = "AlreadyRemoved"
NEVER_JOINED: Final = "NeverJoined"
INVALID_TAG: Final = "InvalidTag"
CLAIMED_ELSEWHERE: Final = "ClaimedElsewhere"  # another container holds a fresh claim on the record
JOIN_IN_PROGRESS: Final = "JoinInProgress"  # terminated while a join holds its claim: remove afterwards
# Run Command failures (SSM status events)
JOIN_RETRIED: Final = "JoinRetried"  # a failed join sent again (new OTP, prestage and join)
JOIN_FAILED_OUTCOME: Final = "JoinFailed"  # failed MAX_COMMAND_ATTEMPTS times: given up, ledger JOIN_FAILED
REMOVE_RETRIED: Final = "RemoveRetried"
REMOVE_FAILED_OUTCOME: Final = "RemoveFailed"
STALE_COMMAND_STATUS: Final = "StaleCommandStatus"  # about a command the ledger has moved past
COMMAND_STATUS_IGNORED: Final = "CommandStatusIgnored"  # not a failure, or a prestage's (its join fails too)

ChangeKey = tuple[str, str]  # (instance id, state); a command status event's "state" names its command
_T = TypeVar("_T")
_K = TypeVar("_K")


@dataclass(frozen=True, slots=True)
class Outcome:
    """What became of one change.

    Parameters:
        code: the short stable name (a metric, and the DLQ's ``reasonCode``).
        retry: fail the record so that it comes back after its backoff.
        detail: a human-readable addition to ``code``.
        dead_letter: send the record to the DLQ now (retrying cannot help).

    Example::

        Outcome(NOT_READY, retry=True, detail="SSM agent not Online").reason
        # 'NotReady: SSM agent not Online'
    """

    code: str
    retry: bool = False
    detail: str = ""
    dead_letter: bool = False

    @property
    def reason(self) -> str:
        return f"{self.code}: {self.detail}" if self.detail else self.code

    @classmethod
    def failed(cls, error: DomainJoinError) -> Outcome:
        """A failure worth retrying, named by the error's code."""
        return cls(code=error.code, retry=True, detail=str(error))


def key_of(change: StateChange) -> ChangeKey:
    return (change.instance_id, change.state)


Settled = tuple[StateChange, Outcome]
"""A change (or a piece of a failure event) with what became of it."""


# --- records of a batch ----------------------------------------------------------------------------------
DONE: Final = "done"
DEAD_LETTER: Final = "dead-letter"
RETRY: Final = "retry"
DEADLINE_EXCEEDED: Final = "DeadlineExceeded"


@dataclass(frozen=True, slots=True)
class RecordVerdict:
    """What the batch layer does with one SQS record.

    Parameters:
        action: ``DONE`` (delete it), ``DEAD_LETTER`` (to the DLQ with ``code`` and ``reason``, then delete)
            or ``RETRY`` (report it failed, hidden for ``delay`` seconds).
        code: the DLQ's ``reasonCode`` (dead letters only).
        reason: why.
        delay: the visibility timeout of a retry.
    """

    action: str
    code: str = ""
    reason: str = ""
    delay: int = 0


def decide_record(
    outcome: Outcome, sent_at: float, receive_count: int, now: float, deadline_seconds: int
) -> RecordVerdict:
    """A record's fate from its change's outcome: a retry past the readiness deadline is dead-lettered, and
    one before it comes back after its backoff step, never later than the deadline."""
    if outcome.dead_letter:
        return RecordVerdict(DEAD_LETTER, outcome.code, outcome.reason)
    if not outcome.retry:
        return RecordVerdict(DONE, reason=outcome.reason)
    left = sent_at + deadline_seconds - now
    if left <= 0:
        reason = f"deadline of {deadline_seconds}s passed; last: {outcome.reason}"
        return RecordVerdict(DEAD_LETTER, DEADLINE_EXCEEDED, reason)
    return RecordVerdict(RETRY, reason=outcome.reason, delay=backoff.retry_delay(receive_count, left))


# --- configs --------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class AccountConfigs:
    """The batch's accounts: a validated config, or the error that keeps the account from joining."""

    configs: Mapping[str, AccountConfig]
    errors: Mapping[str, DomainJoinError]


def decide_configs(
    accounts: Collection[str],
    items: Mapping[str, Mapping[str, object]],
    spoke_role_name: str,
    partition: str,
) -> AccountConfigs:
    """Validate each account's config item; ``partition`` is the hub's (see ``AccountConfig.from_item``)."""
    configs: dict[str, AccountConfig] = {}
    errors: dict[str, DomainJoinError] = {}
    for account in accounts:
        item = items.get(account)
        if item is None:
            errors[account] = ConfigMissingError(f"no item for account {account} in the config table")
            continue
        try:
            configs[account] = AccountConfig.from_item(account, item, spoke_role_name, partition)
        except ConfigInvalidError as exc:
            errors[account] = exc
    return AccountConfigs(configs, errors)


# --- command status events ----------------------------------------------------
def decide_command_status(change: CommandStatusChange) -> Outcome | None:
    """``COMMAND_STATUS_IGNORED`` for what needs no action, or None for a failure to send again.

    A failed prestage needs nothing of its own: its joins fail (account missing) and are redone.
    """
    if change.status in COMMAND_FAILED_STATUSES and change.document_name != PRESTAGE_DOCUMENT:
        return None
    detail = f"{change.document_name} {change.command_id} {change.status} on {change.instance_id}"
    return Outcome(COMMAND_STATUS_IGNORED, detail=detail)


def as_command_status_outcome(outcome: Outcome) -> Outcome:
    """A failure event's outcome: its join (remove) sent again is counted as a retry, not a request."""
    renamed = {JOIN_REQUESTED: JOIN_RETRIED, REMOVE_REQUESTED: REMOVE_RETRIED}.get(outcome.code)
    if renamed is None:
        return outcome
    return Outcome(renamed, outcome.retry, outcome.detail, outcome.dead_letter)


def combined(pieces: Sequence[Outcome]) -> Outcome:
    """One outcome for a failure event from those of its computers: a retry if any needs one."""
    wanted: tuple[Callable[[Outcome], bool], ...] = (
        lambda o: o.retry,
        lambda o: o.code == REMOVE_REQUESTED,
        lambda o: True,
    )
    for accept in wanted:
        for outcome in pieces:
            if accept(outcome):
                return outcome
    return Outcome(STALE_COMMAND_STATUS, detail="no computer of the command is left")


# --- joining ------------------------------------------------------------------------
def claimed_elsewhere(status: str, lease_expires_at: int = 0) -> Outcome:
    detail = f"{status or 'record'} claimed by another invocation"
    if lease_expires_at:
        detail += f" until {lease_expires_at}"
    return Outcome(CLAIMED_ELSEWHERE, detail=detail)


def decide_join_record(
    change: InstanceStateChange, entry: LedgerEntry | None, resending: bool, now: int
) -> Outcome | None:
    """What the ledger alone says about a running event: already joined, claimed elsewhere, or None (go on).

    ``resending``: the event stands for a failed join sent again, already checked against the ledger
    (the claim's condition checks again).
    """
    if resending or entry is None:
        return None
    if entry.status in JOINED_STATES:
        return Outcome(ALREADY_JOINED, detail=entry.status)
    if entry.held_against(change.message_id, change.receive_count, now):
        return claimed_elsewhere(entry.status, entry.lease_expires_at)
    return None


def opted_out(tags: Mapping[str, str]) -> bool:
    return any(k.lower() == TAG_OPT_OUT and v.strip().lower() == "false" for k, v in tags.items())


def login_group(tags: Mapping[str, str]) -> str:
    return tags.get(TAG_LOGIN_GROUP, "").strip()


def decide_instance(fact: InstanceFacts | None) -> Outcome | None:
    """What the instance's facts say: not running, opted out, an invalid tag, or None (join it)."""
    if fact is None or fact.state not in LIVE_STATES:
        return Outcome(NOT_RUNNING, detail=fact.state if fact else "gone")
    if opted_out(fact.tags):
        return Outcome(OPTED_OUT)
    group = login_group(fact.tags)
    if group and not GROUP_RE.match(group):
        # Joining without the intended login restriction would open the instance to the domain.
        detail = f"tag {TAG_LOGIN_GROUP} has characters not allowed in an AD group name"
        return Outcome(INVALID_TAG, detail=detail, dead_letter=True)
    return None


NOT_ONLINE: Final = Outcome(NOT_READY, retry=True, detail="SSM agent not Online")


# (spoke, domain, DNS IPs, login group, sudo group, install RDS role, install packages): one join command each
JoinKey = tuple[Spoke, str, str, str, str, bool, bool]


@dataclass(frozen=True, slots=True)
class JoinPlan:
    """One instance to prestage and join.

    Parameters:
        change: the running event (or the piece of a failure event) it answers.
        resend_of: the failed join command this plan sends again ("" for a first join).
        config: the account's validated config.
        spoke: where the instance lives, and the role that reaches it.
        login_group: the instance's ``adGroupName`` tag ("" when none).
        otp: the computer account's one-time password (never written to the ledger or logs).
        entry: the JOINING claim to write before anything is sent.
        ou_path: the OU to prestage in (``decide_ou``: the tag's allow-listed OU, or the config's).
        ou_fallback: why the OU-by-tag allow-list gave the default OU ("" when it did not).
        name_fallback: why the computer name is not the tag's ("" when it is, or no tag is configured).
    """

    change: InstanceStateChange
    resend_of: str
    config: AccountConfig
    spoke: Spoke
    login_group: str
    otp: str = field(repr=False)
    entry: LedgerEntry
    ou_path: str = ""
    ou_fallback: str = ""
    name_fallback: str = ""

    @property
    def prestage_key(self) -> tuple[str, str, str, str]:
        """Plans with the same key share one prestage command."""
        config = self.config
        return (config.domain, self.ou_path, config.join_user, config.password_parameter)

    @property
    def join_key(self) -> JoinKey:
        """Plans with the same key share one join command."""
        config = self.config
        dns = ",".join(config.dns_ips)
        return (
            self.spoke,
            config.domain,
            dns,
            self.login_group,
            config.sudo_group,
            config.install_rds_role,
            config.install_packages,
        )


def plan_join(
    change: InstanceStateChange,
    config: AccountConfig,
    spoke: Spoke,
    fact: InstanceFacts,
    previous: LedgerEntry | None,
    now: int,
    lease_seconds: int,
    otp: str,
    resend_of: str = "",
    attempts: int = 1,
    refused_names: Collection[str] = (),
) -> JoinPlan:
    """The JOINING claim of an instance that is ready, and what its commands need.

    ``refused_names``: names the tools host refused for an earlier attempt (an object of that name exists
    that is not ours; see ``naming.refused_names``)."""
    name = decide_computer_name(
        change.instance_id,
        config.computer_name_prefix,
        config.computer_name_tag,
        fact.tags,
        previous.computer_name if previous else "",
        refused_names,
    )
    ou = decide_ou(config, fact.tags)
    entry = LedgerEntry(
        instance_id=change.instance_id,
        account=change.account,
        region=change.region,
        computer_name=name.name,
        domain=config.domain,
        status=JOINING,
        created_at=previous.created_at if previous else now,
        updated_at=now,
        join_user=config.join_user,
        password_parameter=config.password_parameter,
        platform=fact.platform,
        lease_expires_at=now + lease_seconds,
        claimed_by=change.message_id,
        claim_receive_count=change.receive_count,
        attempts=attempts,
    )
    return JoinPlan(
        change,
        resend_of,
        config,
        spoke,
        login_group(fact.tags),
        otp,
        entry,
        ou_path=ou.ou_path,
        ou_fallback=ou.fallback,
        name_fallback=name.fallback,
    )


# --- OU and computer name from tags -----------------------------------------------------
OU_TAG_FALLBACK: Final = "OuTagFallback"  # metric: the OU-by-tag allow-list gave the default OU
COMPUTER_NAME_TAG_FALLBACK: Final = "ComputerNameTagFallback"  # metric: the hash name instead of the tag


@dataclass(frozen=True, slots=True)
class OuChoice:
    """The OU to prestage in, and why it is the default one despite an OU-by-tag allow-list ("" if not)."""

    ou_path: str
    fallback: str = ""


def decide_ou(config: AccountConfig, tags: Mapping[str, str]) -> OuChoice:
    """The OU of an instance: its ``ou_tag_key`` tag's value looked up in the allow-list, else the default.

    The tag's value is only ever a key of the allow-list: it never becomes an OU itself.

    Example::

        >>> config = AccountConfig("111111111111", "corp.example.com", "u", "/p", "r", ou_path="OU=Servers",
        ...     ou_tag_key="Environment", ou_by_tag_value=(("prod", "OU=Prod"),))
        >>> decide_ou(config, {"Environment": "prod"}), decide_ou(config, {"Environment": "OU=Evil"}).ou_path
        (OuChoice(ou_path='OU=Prod', fallback=''), 'OU=Servers')
    """
    if not config.ou_tag_key:
        return OuChoice(config.ou_path)
    value = tags.get(config.ou_tag_key)
    if value is None or not value.strip():
        return OuChoice(config.ou_path, f"tag {config.ou_tag_key} missing: default OU")
    chosen = dict(config.ou_by_tag_value).get(value.strip())
    if chosen is None:
        shown = value.strip()[:64]
        return OuChoice(
            config.ou_path, f"tag {config.ou_tag_key}={shown!r} not in the allow-list: default OU"
        )
    return OuChoice(chosen)


@dataclass(frozen=True, slots=True)
class NameChoice:
    """The computer name of an instance, and why it is not its tag's ("" when it is, or none is asked)."""

    name: str
    fallback: str = ""


def decide_computer_name(
    instance_id: str,
    prefix: str,
    tag_key: str,
    tags: Mapping[str, str],
    previous_name: str = "",
    refused_names: Collection[str] = (),
) -> NameChoice:
    """The computer name: the ledger's (a name once chosen never changes), else the tag's when it is a valid
    NetBIOS name (``patterns.COMPUTER_NAME_TAG``, upper-cased), else the hash of the instance id.

    ``previous_name``: the name of the instance's ledger record ("" when none); ``refused_names``: names the
    tools host refused for it (an object of that name exists that is not ours): then the hash name.

    Example::

        >>> decide_computer_name("i-0123456789abcdef0", "EC2", "Name", {"Name": "web-01"})
        NameChoice(name='WEB-01', fallback='')
        >>> decide_computer_name("i-0123456789abcdef0", "EC2", "Name", {"Name": "web_01"}).fallback[:25]
        "tag Name='web_01' is not "
    """
    hashed = computer_name(instance_id, prefix)
    if previous_name and previous_name in refused_names:
        return NameChoice(hashed, f"{previous_name} refused: an object of that name exists that is not ours")
    if previous_name:
        return NameChoice(previous_name)
    if not tag_key:
        return NameChoice(hashed)
    value = tags.get(tag_key, "").strip()
    if not value:
        return NameChoice(hashed, f"tag {tag_key} missing")
    if not COMPUTER_NAME_TAG.match(value):
        return NameChoice(
            hashed,
            f"tag {tag_key}={value[:64]!r} is not a NetBIOS name (1-15 letters, digits and inner '-', "
            "starting with a letter)",
        )
    if value.upper() in refused_names:
        return NameChoice(hashed, f"{value.upper()} refused: an object of that name exists that is not ours")
    return NameChoice(value.upper())


def prestages_to_check(entries: Iterable[LedgerEntry | None], prefix: str) -> set[str]:
    """The prestage commands whose results say whether a tag-named computer was refused (an object of that
    name that is not ours), for the earlier attempts of instances planned again: only names that are not
    the hash of their instance id, and only Run Command ids (a Directory Service prestage has none)."""
    return {
        entry.prestage_command_id
        for entry in entries
        if entry is not None
        and entry.prestage_command_id
        and COMMAND_ID.match(entry.prestage_command_id)
        and entry.computer_name != computer_name(entry.instance_id, prefix)
    }


def decide_join_refusal(status: str) -> Outcome:
    """A join whose claim failed its condition: someone joined it meanwhile, or holds the claim."""
    if status in JOINED_STATES:
        return Outcome(ALREADY_JOINED, detail=f"{status} (found when claiming)")
    return claimed_elsewhere(status)


def stamp_of(entry: LedgerEntry) -> str:
    return ownership_stamp(entry.account, entry.region, entry.instance_id)


def prestage_parameters(key: tuple[str, str, str, str], plans: Iterable[JoinPlan]) -> dict[str, str]:
    domain, ou_path, user, parameter = key
    return {
        TOOLS_PARAM_DOMAIN: domain,
        TOOLS_PARAM_OU: ou_path,
        TOOLS_PARAM_JOIN_USER: user,
        TOOLS_PARAM_PASSWORD_PARAMETER: parameter,
        TOOLS_PARAM_COMPUTERS: wire.encode_prestage(
            wire.PrestageEntry(p.entry.computer_name, p.otp, stamp_of(p.entry)) for p in plans
        ),
    }


def join_parameters(key: JoinKey, plans: Iterable[JoinPlan]) -> dict[str, str]:
    _, domain, dns, group, sudo_group, install_rds, install_packages = key
    return {
        JOIN_PARAM_DOMAIN: domain,
        JOIN_PARAM_DNS_IPS: dns,
        JOIN_PARAM_LOGIN_GROUP: group,
        JOIN_PARAM_SUDO_GROUP: sudo_group,
        JOIN_PARAM_INSTALL_RDS: "true" if install_rds else "false",
        JOIN_PARAM_INSTALL_PACKAGES: "true" if install_packages else "false",
        JOIN_PARAM_COMPUTERS: wire.encode_join(
            wire.JoinEntry(p.entry.instance_id, p.entry.computer_name, p.otp) for p in plans
        ),
    }


def join_sent(plan: JoinPlan, prestage_command_id: str, join_command_id: str, now: int) -> LedgerEntry:
    return plan.entry.settled(
        JOIN_SENT, now, prestage_command_id=prestage_command_id, join_command_id=join_command_id
    )


def released(entry: LedgerEntry, now: int) -> LedgerEntry:
    """The claim given back after a failure, so that the retry may claim it again at once."""
    return entry.settled(entry.status, now)


# --- leaving ------------------------------------------------------------------------
def decide_removal_refusal(status: str) -> Outcome:
    """What a terminated event does when the record it would claim is not (or no longer) removable."""
    if status == REMOVE_SENT:
        return Outcome(ALREADY_REMOVED)
    if status == REMOVING:
        return claimed_elsewhere(status)
    if status == JOINING:  # the join's claim is fresh: remove once it has been sent
        return Outcome(JOIN_IN_PROGRESS, retry=True, detail="a join holds the ledger claim")
    return Outcome(NEVER_JOINED, detail=status or "record gone")


def decide_leave(
    change: InstanceStateChange, entry: LedgerEntry | None, resending: bool, now: int
) -> Outcome | None:
    """What the ledger says about a terminated event (or a remove sent again): skip it, or None (remove)."""
    if entry is None or entry.account != change.account:
        return Outcome(NEVER_JOINED)
    if resending:
        return None
    if entry.status == REMOVE_SENT:
        return Outcome(ALREADY_REMOVED, detail=entry.status)
    # REMOVE_FAILED (given up) is removed again: a terminated event for it is an operator's retry
    # (`ec2-domain-join retry`) or the reconciler's; the removal is stamp-checked, so a repeat is harmless.
    if entry.held_against(change.message_id, change.receive_count, now):
        return decide_removal_refusal(entry.status)
    return None


@dataclass(frozen=True, slots=True)
class Removal:
    """One computer to remove.

    Parameters:
        change: the terminated event (or the piece of a failure event) it answers.
        claim: the REMOVING claim to write before the command is sent.
        join_user, password_parameter: the credentials the tools host removes it with.
        resend_of: the failed remove command this sends again ("" for a first removal).
    """

    change: InstanceStateChange
    claim: LedgerEntry
    join_user: str
    password_parameter: str
    resend_of: str = ""

    @property
    def command_key(self) -> tuple[str, str, str]:
        """Removals with the same key share one remove command."""
        return (self.claim.domain, self.join_user, self.password_parameter)


def plan_removal(
    change: InstanceStateChange,
    entry: LedgerEntry,
    config: AccountConfig | None,
    now: int,
    lease_seconds: int,
    resend_of: str = "",
    attempts: int = 1,
) -> Removal:
    """The REMOVING claim; the current config's credentials win, the ledger's copy covers an offboarded
    account (or one whose domain changed)."""
    if config is not None and config.domain.lower() == entry.domain.lower():
        user, parameter = config.join_user, config.password_parameter
    else:
        user, parameter = entry.join_user, entry.password_parameter
    claim = entry.moved_to(
        REMOVING,
        now,
        lease_expires_at=now + lease_seconds,
        claimed_by=change.message_id,
        claim_receive_count=change.receive_count,
        attempts=attempts,
    )
    return Removal(change, claim, user, parameter, resend_of)


def remove_parameters(
    key: tuple[str, str, str], removals: Iterable[Removal], action: str = REMOVE_ACTION_DELETE
) -> dict[str, str]:
    """``DomainJoin-Remove``'s parameters for the event path's removals (``delete``)."""
    entries = (wire.RemoveEntry(r.claim.computer_name, stamp_of(r.claim)) for r in removals)
    return remove_command_parameters(key, entries, action)


def remove_command_parameters(
    key: tuple[str, str, str], entries: Iterable[wire.RemoveEntry], action: str = REMOVE_ACTION_DELETE
) -> dict[str, str]:
    """Every parameter of ``DomainJoin-Remove``, ``Action`` included (``delete``, or the reconciler's
    quarantine ``disable``): nothing is left to the document's default."""
    if action not in REMOVE_ACTIONS:
        raise ValueError(f"remove action {action!r} is not one of {', '.join(REMOVE_ACTIONS)}")
    domain, user, parameter = key
    return {
        TOOLS_PARAM_DOMAIN: domain,
        TOOLS_PARAM_JOIN_USER: user,
        TOOLS_PARAM_PASSWORD_PARAMETER: parameter,
        TOOLS_PARAM_COMPUTERS: wire.encode_remove(entries),
        TOOLS_PARAM_ACTION: action,
    }


def remove_sent(removal: Removal, command_id: str, now: int) -> LedgerEntry:
    return removal.claim.settled(
        REMOVE_SENT, now, remove_command_id=command_id, expires_at=now + REMOVED_RECORD_RETENTION_SECONDS
    )


def remove_command_record(command_id: str, removals: Sequence[Removal], now: int) -> CommandRecord:
    """The ``command#<id>`` item that lets a failure event of the command find its computers."""
    instance_ids = tuple(r.claim.instance_id for r in removals)
    return CommandRecord(
        command_id, REMOVE_DOCUMENT, instance_ids, now, now + REMOVED_RECORD_RETENTION_SECONDS
    )


# --- the tools host -------------------------------------------------------------------
TOOLS_HOST_AMBIGUOUS: Final = METRIC_TOOLS_HOST_AMBIGUOUS  # more than one instance qualifies


@dataclass(frozen=True, slots=True)
class ToolsHostPin:
    """What makes a tagged instance the tools host: its instance profile, or its very id ("" = not set)."""

    instance_profile_arn: str = ""
    instance_id: str = ""


@dataclass(frozen=True, slots=True)
class ToolsHostCandidate:
    """A running instance of the hub carrying the tools-host tag, as DescribeInstances and SSM see it.

    ``instance_profile_arn``: ``IamInstanceProfile.Arn`` ("" when the instance has no profile).
    """

    instance_id: str
    instance_profile_arn: str
    online: bool


@dataclass(frozen=True, slots=True)
class ToolsHostChoice:
    """The tools host chosen (``instance_id``), or "" and ``reason`` why none may receive a command.

    ``qualified_online``: every Online instance that qualified (more than one: ambiguous, say so);
    ``refused``: tagged instances that do not qualify (neither the profile nor the id): never commanded.
    """

    instance_id: str
    reason: str = ""
    qualified_online: tuple[str, ...] = ()
    refused: tuple[str, ...] = ()

    @property
    def ambiguous(self) -> bool:
        return len(self.qualified_online) > 1


def decide_tools_host(candidates: Iterable[ToolsHostCandidate], pin: ToolsHostPin) -> ToolsHostChoice:
    """Which tagged instance is the tools host: only one with the pinned instance profile or the pinned id.

    The tag alone proves nothing (whoever may tag an instance could otherwise receive every one-time
    password of a prestage).  With no pin at all, none qualifies.  When several qualify and are Online, the
    pinned id wins if it is among them, else the lowest id; the choice reports them all (``ambiguous``).

    Example::

        >>> decide_tools_host([ToolsHostCandidate("i-0aaaaaaaa", "", True)], ToolsHostPin()).reason[:29]
        'no tools host pinned: set TOO'
    """
    ordered = sorted(candidates, key=lambda c: c.instance_id)
    if not pin.instance_profile_arn and not pin.instance_id:
        return ToolsHostChoice(
            "",
            f"no tools host pinned: set {ENV_TOOLS_HOST_INSTANCE_PROFILE_ARN} or "
            f"{ENV_TOOLS_HOST_INSTANCE_ID} (the hub sets the profile ARN when the landing zone has a "
            "tools_host section)",
            refused=tuple(c.instance_id for c in ordered),
        )
    if pin.instance_profile_arn and not INSTANCE_PROFILE_ARN.match(pin.instance_profile_arn):
        return ToolsHostChoice("", f"{ENV_TOOLS_HOST_INSTANCE_PROFILE_ARN} is not an instance profile ARN")
    if pin.instance_id and not INSTANCE_ID.match(pin.instance_id):
        return ToolsHostChoice("", f"{ENV_TOOLS_HOST_INSTANCE_ID} is not an instance id")

    def qualifies(candidate: ToolsHostCandidate) -> bool:
        if pin.instance_id and candidate.instance_id == pin.instance_id:
            return True
        return bool(pin.instance_profile_arn) and candidate.instance_profile_arn == pin.instance_profile_arn

    qualified = [c for c in ordered if qualifies(c)]
    refused = tuple(c.instance_id for c in ordered if not qualifies(c))
    if not qualified:
        wanted = " or ".join(
            part
            for part in (
                f"instance profile {pin.instance_profile_arn}" if pin.instance_profile_arn else "",
                f"id {pin.instance_id}" if pin.instance_id else "",
            )
            if part
        )
        found = f"; refused (tagged, not pinned): {', '.join(refused)}" if refused else ""
        return ToolsHostChoice("", f"no running tagged instance with {wanted}{found}", refused=refused)
    online = tuple(c.instance_id for c in qualified if c.online)
    if not online:
        names = ", ".join(c.instance_id for c in qualified)
        return ToolsHostChoice("", f"tools host {names} not Online in SSM", refused=refused)
    chosen = pin.instance_id if pin.instance_id in online else online[0]
    reason = ""
    if len(online) > 1:
        reason = f"{len(online)} instances qualify as the tools host ({', '.join(online)}); chose {chosen}"
    return ToolsHostChoice(chosen, reason, online, refused)


# --- grouping -----------------------------------------------------------------------
def group_by(items: Iterable[_T], key: Callable[[_T], _K]) -> dict[_K, list[_T]]:
    groups: dict[_K, list[_T]] = {}
    for item in items:
        groups.setdefault(key(item), []).append(item)
    return groups


def chunks(items: Sequence[_T], size: int) -> Iterable[Sequence[_T]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]
