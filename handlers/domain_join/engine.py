"""The join/leave logic for one batch, with AWS behind the ``AwsPort``.

Work is grouped so that a batch of N events costs a handful of calls, not N
times a handful: one ledger read for the batch, per (account, Region) one
DescribeInstances and one readiness query, one prestage command per domain,
one join command per 50 instances sharing parameters, two ledger writes.

The first ledger write is a claim (one ``TransactWriteItems`` per 100 records):
with at-least-once delivery two containers may hold the same event, and only
the one whose claim lands may prestage and join; the other leaves it alone.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Final, TypeVar

from aws_lambda_powertools import Logger

from . import settings, wire
from .contract import (
    COMMAND_FAILED_STATUSES,
    DEFAULT_SPOKE_ROLE_NAME,
    JOIN_DOCUMENT,
    JOIN_PARAM_COMPUTERS,
    JOIN_PARAM_DNS_IPS,
    JOIN_PARAM_DOMAIN,
    JOIN_PARAM_INSTALL_RDS,
    JOIN_PARAM_LOGIN_GROUP,
    JOIN_PARAM_SUDO_GROUP,
    PRESTAGE_DOCUMENT,
    REMOVE_DOCUMENT,
    TAG_LOGIN_GROUP,
    TAG_OPT_OUT,
    TOOLS_PARAM_COMPUTERS,
    TOOLS_PARAM_DOMAIN,
    TOOLS_PARAM_JOIN_USER,
    TOOLS_PARAM_OU,
    TOOLS_PARAM_PASSWORD_PARAMETER,
)
from .errors import ConfigInvalidError, ConfigMissingError, DomainJoinError, LedgerClaimRefused
from .events import RUNNING, TERMINATED, CommandStatusChange, InstanceStateChange, StateChange
from .model import (
    GROUP_RE,
    JOIN_FAILED,
    JOIN_SENT,
    JOINING,
    REMOVE_FAILED,
    REMOVE_SENT,
    REMOVING,
    AccountConfig,
    AwsPort,
    CommandRecord,
    InstanceFacts,
    LedgerEntry,
    Spoke,
)
from .naming import computer_name, one_time_password, ownership_stamp

MAX_INSTANCES_PER_COMMAND: Final = 50  # SendCommand's InstanceIds limit
MAX_CLAIMS_PER_TRANSACTION: Final = 100  # TransactWriteItems' limit
CLAIM_ATTEMPTS: Final = 2  # the claim, then once more without the records that failed their condition
DEFAULT_LEASE_SECONDS: Final = settings.ledger_lease_seconds(
    int(settings.FUNCTION_TIMEOUT_SECONDS.default or 0)
)
DEFAULT_MAX_COMMAND_ATTEMPTS: Final = int(settings.MAX_COMMAND_ATTEMPTS.default or 0)
REMOVED_RECORD_RETENTION_SECONDS: Final = 30 * 24 * 3600
_LIVE_STATES: Final = frozenset({"pending", "running"})

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
_JOINED_STATES: Final = frozenset({JOIN_SENT, REMOVING, REMOVE_SENT, REMOVE_FAILED})

logger = Logger(child=True)
_T = TypeVar("_T")
_K = TypeVar("_K")

ChangeKey = tuple[str, str]  # (instance id, state); a command status event's "state" names its command


@dataclass(frozen=True, slots=True)
class Outcome:
    """``retry``: fail the record and back off; ``dead_letter``: DLQ it now (retrying cannot help)."""

    code: str
    retry: bool = False
    detail: str = ""
    dead_letter: bool = False

    @property
    def reason(self) -> str:
        return f"{self.code}: {self.detail}" if self.detail else self.code

    @classmethod
    def failed(cls, error: DomainJoinError) -> Outcome:
        return cls(code=error.code, retry=True, detail=str(error))


@dataclass(frozen=True, slots=True)
class _JoinPlan:
    change: InstanceStateChange
    resend_of: str  # the failed join command this plan sends again ("" for a first join)
    config: AccountConfig
    spoke: Spoke
    login_group: str
    otp: str
    entry: LedgerEntry

    @property
    def prestage_key(self) -> tuple[str, str, str, str]:
        return (
            self.config.domain,
            self.config.ou_path,
            self.config.join_user,
            self.config.password_parameter,
        )

    @property
    def join_key(self) -> tuple[Spoke, str, str, str, str, bool]:
        config = self.config
        dns = ",".join(config.dns_ips)
        return (self.spoke, config.domain, dns, self.login_group, config.sudo_group, config.install_rds_role)


def key_of(change: StateChange) -> ChangeKey:
    return (change.instance_id, change.state)


class Engine:
    def __init__(
        self,
        port: AwsPort,
        clock: Callable[[], float] = time.time,
        spoke_role_name: str = DEFAULT_SPOKE_ROLE_NAME,
        max_command_attempts: int = DEFAULT_MAX_COMMAND_ATTEMPTS,
    ) -> None:
        self._port = port
        self._clock = clock
        self._spoke_role_name = spoke_role_name
        self._max_attempts = max(1, max_command_attempts)

    def process(
        self, changes: Iterable[StateChange], lease_seconds: int = DEFAULT_LEASE_SECONDS
    ) -> dict[ChangeKey, Outcome]:
        """Outcome of every distinct change of the batch; duplicates share one.

        ``lease_seconds``: how long this invocation's claims shut out other containers; at least
        as long as the invocation may still run.
        """
        unique: dict[ChangeKey, StateChange] = {}
        for change in changes:
            unique.setdefault(key_of(change), change)
        outcomes: dict[ChangeKey, Outcome] = {}
        if not unique:
            return outcomes
        now = int(self._clock())
        states = [c for c in unique.values() if isinstance(c, InstanceStateChange)]
        failures: dict[str, list[CommandStatusChange]] = {}
        for change in unique.values():
            if not isinstance(change, CommandStatusChange):
                continue
            if change.status not in COMMAND_FAILED_STATUSES or change.document_name == PRESTAGE_DOCUMENT:
                # A failed prestage needs nothing of its own: its joins fail (account missing) and are redone.
                detail = f"{change.document_name} {change.command_id} {change.status} on {change.instance_id}"
                self._settle(outcomes, [change], Outcome(COMMAND_STATUS_IGNORED, detail=detail))
                continue
            failures.setdefault(change.document_name, []).append(change)
        failed_joins = failures.get(JOIN_DOCUMENT, [])
        failed_removes = failures.get(REMOVE_DOCUMENT, [])
        try:
            instances: list[StateChange] = [*states, *failed_joins]
            configs, config_errors = self._configs({c.account for c in instances})
            ledger, commands = self._port.read_ledger(
                sorted({c.instance_id for c in instances}),
                sorted({c.command_id for c in failed_removes}),
            )
        except DomainJoinError as exc:
            logger.warning("batch failed before any command", extra={"reason": exc.reason})
            return {key: outcomes.get(key) or Outcome.failed(exc) for key in unique}

        given_up: list[tuple[ChangeKey, LedgerEntry]] = []
        rejoins, join_resends = self._failed_joins(failed_joins, ledger, outcomes, given_up, now)
        joins = [c for c in states if c.state == RUNNING] + rejoins
        plans: list[_JoinPlan] = []
        for (account, region), group in _group_by(joins, lambda c: (c.account, c.region)).items():
            if account in config_errors:
                self._settle(outcomes, group, Outcome.failed(config_errors[account]))
                continue
            plans += self._plan_group(
                configs[account], region, group, ledger, outcomes, now, lease_seconds, join_resends
            )
        self._join(plans, outcomes, now)
        leaves = [c for c in states if c.state == TERMINATED]
        removals, remove_resends, parts = self._failed_removes(
            failed_removes, commands, ledger, outcomes, given_up, now
        )
        self._leave(leaves + removals, configs, ledger, outcomes, now, lease_seconds, remove_resends)
        self._give_up(given_up, outcomes)
        for event_key, piece_keys in parts.items():
            pieces = [outcomes.pop(k) for k in piece_keys if k in outcomes]
            outcomes.setdefault(event_key, _combined(pieces))
        for key, change in unique.items():
            outcome = outcomes.get(key)
            if isinstance(change, CommandStatusChange) and outcome is not None:
                renamed = {JOIN_REQUESTED: JOIN_RETRIED, REMOVE_REQUESTED: REMOVE_RETRIED}.get(outcome.code)
                if renamed:
                    outcomes[key] = replace(outcome, code=renamed)
        return outcomes

    # --- failed commands ------------------------------------------------------
    def _failed_joins(
        self,
        failures: list[CommandStatusChange],
        ledger: Mapping[str, LedgerEntry],
        outcomes: dict[ChangeKey, Outcome],
        given_up: list[tuple[ChangeKey, LedgerEntry]],
        now: int,
    ) -> tuple[list[InstanceStateChange], dict[str, _Resend]]:
        """Joins to send again (as running events keyed like their failure events); gives up the rest."""
        rejoins: list[InstanceStateChange] = []
        resends: dict[str, _Resend] = {}
        for failure in failures:
            entry = ledger.get(failure.instance_id)
            resend = _resend(failure, entry, JOIN_SENT, JOINING)
            if entry is None or resend is None or failure.instance_id in resends:  # one claim per record
                self._settle(outcomes, [failure], _stale(failure, entry))
            elif resend.attempts > self._max_attempts:
                given_up.append((key_of(failure), entry.settled(JOIN_FAILED, now)))
                self._settle(outcomes, [failure], _given_up(JOIN_FAILED_OUTCOME, failure, entry))
            else:
                rejoins.append(_piece(failure, failure.instance_id, entry))
                resends[failure.instance_id] = resend
        return rejoins, resends

    def _failed_removes(
        self,
        failures: list[CommandStatusChange],
        commands: Mapping[str, CommandRecord],
        ledger: dict[str, LedgerEntry],
        outcomes: dict[ChangeKey, Outcome],
        given_up: list[tuple[ChangeKey, LedgerEntry]],
        now: int,
    ) -> tuple[list[InstanceStateChange], dict[str, _Resend], dict[ChangeKey, list[ChangeKey]]]:
        """Removals to send again, one piece per computer of a failed command (its event names the host)."""
        removals: list[InstanceStateChange] = []
        resends: dict[str, _Resend] = {}
        parts: dict[ChangeKey, list[ChangeKey]] = {}
        known: list[tuple[CommandStatusChange, CommandRecord]] = []
        for failure in failures:
            record = commands.get(failure.command_id)
            if record is None:
                self._settle(outcomes, [failure], _stale(failure, None))
            else:
                known.append((failure, record))
        missing = sorted({i for _, r in known for i in r.instance_ids} - set(ledger))
        if missing:
            try:
                more, _ = self._port.read_ledger(missing)
            except DomainJoinError as exc:
                self._settle(outcomes, [f for f, _ in known], Outcome.failed(exc))
                return removals, resends, parts
            ledger.update(more)
        for failure, record in known:
            pieces: list[ChangeKey] = []
            for instance_id in record.instance_ids:
                entry = ledger.get(instance_id)
                piece = _piece(failure, instance_id, entry)
                pieces.append(key_of(piece))
                resend = _resend(failure, entry, REMOVE_SENT, REMOVING)
                if entry is None or resend is None or instance_id in resends:  # one claim per record
                    self._settle(outcomes, [piece], _stale(failure, entry))
                elif resend.attempts > self._max_attempts:
                    given_up.append((key_of(piece), entry.settled(REMOVE_FAILED, now)))
                    self._settle(outcomes, [piece], _given_up(REMOVE_FAILED_OUTCOME, failure, entry))
                else:
                    removals.append(piece)
                    resends[instance_id] = resend
            parts[key_of(failure)] = pieces
        return removals, resends, parts

    def _give_up(
        self, given_up: list[tuple[ChangeKey, LedgerEntry]], outcomes: dict[ChangeKey, Outcome]
    ) -> None:
        if not given_up:
            return
        try:
            self._port.write_ledger([entry for _, entry in given_up])
        except DomainJoinError as exc:
            for key, _ in given_up:
                outcomes[key] = Outcome.failed(exc)
            return
        for _, entry in given_up:
            logger.error(
                "join failed" if entry.status == JOIN_FAILED else "remove failed",
                extra={
                    "account": entry.account,
                    "region": entry.region,
                    "instance_id": entry.instance_id,
                    "computer_name": entry.computer_name,
                    "attempts": entry.attempts,
                    "join_command_id": entry.join_command_id,
                    "remove_command_id": entry.remove_command_id,
                },
            )

    # --- reading ------------------------------------------------------------
    def _configs(self, accounts: set[str]) -> tuple[dict[str, AccountConfig], dict[str, DomainJoinError]]:
        items = self._port.load_configs(sorted(accounts))
        configs: dict[str, AccountConfig] = {}
        errors: dict[str, DomainJoinError] = {}
        for account in accounts:
            item = items.get(account)
            if item is None:
                errors[account] = ConfigMissingError(f"no item for account {account} in the config table")
                continue
            try:
                configs[account] = AccountConfig.from_item(account, item, self._spoke_role_name)
            except ConfigInvalidError as exc:
                errors[account] = exc
        return configs, errors

    def _plan_group(
        self,
        config: AccountConfig,
        region: str,
        group: list[InstanceStateChange],
        ledger: Mapping[str, LedgerEntry],
        outcomes: dict[ChangeKey, Outcome],
        now: int,
        lease_seconds: int,
        resends: Mapping[str, _Resend],
    ) -> list[_JoinPlan]:
        pending: list[InstanceStateChange] = []
        for change in group:
            entry = ledger.get(change.instance_id)
            if change.instance_id in resends:  # checked against the ledger already; the claim checks again
                pending.append(change)
            elif entry is not None and entry.status in _JOINED_STATES:
                self._settle(outcomes, [change], Outcome(ALREADY_JOINED, detail=entry.status))
            elif entry is not None and entry.held_against(change.message_id, change.receive_count, now):
                self._settle(outcomes, [change], _claimed_elsewhere(entry.status, entry.lease_expires_at))
            else:
                pending.append(change)
        if not pending:
            return []
        spoke = Spoke(config.account_id, region, config.role_arn)
        try:
            facts = self._port.describe_instances(spoke, [c.instance_id for c in pending])
            candidates: list[tuple[InstanceStateChange, InstanceFacts]] = []
            for change in pending:
                fact = facts.get(change.instance_id)
                if fact is None or fact.state not in _LIVE_STATES:
                    state = fact.state if fact else "gone"
                    self._settle(outcomes, [change], Outcome(NOT_RUNNING, detail=state))
                elif _opted_out(fact.tags):
                    self._settle(outcomes, [change], Outcome(OPTED_OUT))
                elif not _valid_login_group(fact.tags):
                    # Joining without the intended login restriction would open the instance to the domain.
                    detail = f"tag {TAG_LOGIN_GROUP} has characters not allowed in an AD group name"
                    self._settle(outcomes, [change], Outcome(INVALID_TAG, detail=detail, dead_letter=True))
                else:
                    candidates.append((change, fact))
            if not candidates:
                return []
            online = self._port.online_instances(spoke, [c.instance_id for c, _ in candidates])
        except DomainJoinError as exc:
            self._settle(outcomes, [c for c in pending if key_of(c) not in outcomes], Outcome.failed(exc))
            return []

        plans: list[_JoinPlan] = []
        for change, fact in candidates:
            if change.instance_id not in online:
                self._settle(
                    outcomes, [change], Outcome(NOT_READY, retry=True, detail="SSM agent not Online")
                )
                continue
            previous = ledger.get(change.instance_id)
            resend = resends.get(change.instance_id)
            entry = LedgerEntry(
                instance_id=change.instance_id,
                account=change.account,
                region=change.region,
                computer_name=computer_name(change.instance_id, config.computer_name_prefix),
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
                attempts=resend.attempts if resend else 1,
            )
            plans.append(
                _JoinPlan(
                    change=change,
                    resend_of=resend.command_id if resend else "",
                    config=config,
                    spoke=spoke,
                    login_group=fact.tags.get(TAG_LOGIN_GROUP, "").strip(),
                    otp=one_time_password(),
                    entry=entry,
                )
            )
        return plans

    # --- claiming -----------------------------------------------------------
    def _claim(
        self, entries: Sequence[LedgerEntry], now: int, resends: Mapping[str, str]
    ) -> tuple[set[str], dict[str, str], dict[str, DomainJoinError]]:
        """Claim ``entries``: the ids claimed, those refused (with the status found), those failed.

        ``resends``: instance id -> the failed command the claim sends again.
        """
        claimed: set[str] = set()
        refused: dict[str, str] = {}
        failed: dict[str, DomainJoinError] = {}
        for chunk in _chunks(entries, MAX_CLAIMS_PER_TRANSACTION):
            pending = list(chunk)
            error: DomainJoinError | None = None
            for _ in range(CLAIM_ATTEMPTS):
                try:
                    self._port.claim_ledger(pending, now, resends)
                except LedgerClaimRefused as exc:
                    refused.update(exc.refused)
                    pending = [e for e in pending if e.instance_id not in exc.refused]
                    error = exc
                    if not pending:
                        break
                    continue
                except DomainJoinError as exc:
                    error = exc
                    break
                claimed.update(e.instance_id for e in pending)
                pending = []
                break
            if error is not None:
                failed.update({e.instance_id: error for e in pending})
        return claimed, refused, failed

    @staticmethod
    def _released(entry: LedgerEntry, now: int) -> LedgerEntry:
        """The claim given back after a failure, so that the retry may claim it again at once."""
        return entry.settled(entry.status, now)

    # --- joining ------------------------------------------------------------
    def _join(self, plans: list[_JoinPlan], outcomes: dict[ChangeKey, Outcome], now: int) -> None:
        if not plans:
            return
        try:
            host = self._port.tools_host()
        except DomainJoinError as exc:
            self._settle(outcomes, [plan.change for plan in plans], Outcome.failed(exc))
            return
        # Claimed before anything is sent: only one container prestages and joins an instance.
        changes = {p.entry.instance_id: p.change for p in plans}
        resends = {p.entry.instance_id: p.resend_of for p in plans if p.resend_of}
        claimed, refused, failed = self._claim([plan.entry for plan in plans], now, resends)
        for instance_id, status in refused.items():
            if status in _JOINED_STATES:
                outcome = Outcome(ALREADY_JOINED, detail=f"{status} (found when claiming)")
            else:
                outcome = _claimed_elsewhere(status)
            self._settle(outcomes, [changes[instance_id]], outcome)
        for instance_id, error in failed.items():
            self._settle(outcomes, [changes[instance_id]], Outcome.failed(error))
        plans = [plan for plan in plans if plan.entry.instance_id in claimed]

        released: list[tuple[_JoinPlan, DomainJoinError]] = []
        prestaged: list[tuple[_JoinPlan, str]] = []
        prestage_groups = _group_by(plans, lambda p: p.prestage_key).items()
        for (domain, ou_path, user, parameter), group in prestage_groups:
            for to_stage in _chunks(group, MAX_INSTANCES_PER_COMMAND):
                parameters = {
                    TOOLS_PARAM_DOMAIN: domain,
                    TOOLS_PARAM_OU: ou_path,
                    TOOLS_PARAM_JOIN_USER: user,
                    TOOLS_PARAM_PASSWORD_PARAMETER: parameter,
                    TOOLS_PARAM_COMPUTERS: wire.encode_prestage(
                        wire.PrestageEntry(p.entry.computer_name, p.otp, _stamp(p.entry)) for p in to_stage
                    ),
                }
                try:
                    command_id = self._port.send_tools_command(PRESTAGE_DOCUMENT, host, parameters)
                except DomainJoinError as exc:
                    released += [(p, exc) for p in to_stage]
                    continue
                prestaged += [(p, command_id) for p in to_stage]

        sent: list[LedgerEntry] = []
        for key, group_with_ids in _group_by(prestaged, lambda pair: pair[0].join_key).items():
            spoke, domain, dns, login_group, sudo_group, install_rds = key
            for chunk in _chunks(group_with_ids, MAX_INSTANCES_PER_COMMAND):
                parameters = {
                    JOIN_PARAM_DOMAIN: domain,
                    JOIN_PARAM_DNS_IPS: dns,
                    JOIN_PARAM_LOGIN_GROUP: login_group,
                    JOIN_PARAM_SUDO_GROUP: sudo_group,
                    JOIN_PARAM_INSTALL_RDS: "true" if install_rds else "false",
                    JOIN_PARAM_COMPUTERS: wire.encode_join(
                        wire.JoinEntry(p.entry.instance_id, p.entry.computer_name, p.otp) for p, _ in chunk
                    ),
                }
                instance_ids = [p.entry.instance_id for p, _ in chunk]
                try:
                    command_id = self._port.send_spoke_command(spoke, JOIN_DOCUMENT, instance_ids, parameters)
                except DomainJoinError as exc:
                    released += [(p, exc) for p, _ in chunk]
                    continue
                sent += [
                    p.entry.settled(
                        JOIN_SENT,
                        now,
                        prestage_command_id=prestage_id,
                        join_command_id=command_id,
                    )
                    for p, prestage_id in chunk
                ]
        for plan, error in released:
            self._settle(outcomes, [plan.change], Outcome.failed(error))
        if not sent and not released:
            return
        try:
            # One write: the joins sent, and the claims given back for the ones that failed.
            self._port.write_ledger(sent + [self._released(p.entry, now) for p, _ in released])
        except DomainJoinError as exc:
            self._settle(outcomes, [changes[e.instance_id] for e in sent], Outcome.failed(exc))
            for plan, error in released:  # still claimed, by this message: its retry takes the claim over
                self._settle(outcomes, [plan.change], Outcome.failed(error))
            return
        for entry in sent:
            self._settle(outcomes, [changes[entry.instance_id]], Outcome(JOIN_REQUESTED))
            logger.info(
                "join requested",
                extra={
                    "account": entry.account,
                    "region": entry.region,
                    "instance_id": entry.instance_id,
                    "computer_name": entry.computer_name,
                    "platform": entry.platform,
                    "prestage_command_id": entry.prestage_command_id,
                    "join_command_id": entry.join_command_id,
                },
            )

    # --- leaving ------------------------------------------------------------
    def _leave(
        self,
        leaves: list[InstanceStateChange],
        configs: Mapping[str, AccountConfig],
        ledger: Mapping[str, LedgerEntry],
        outcomes: dict[ChangeKey, Outcome],
        now: int,
        lease_seconds: int,
        resends: Mapping[str, _Resend],
    ) -> None:
        removals: list[tuple[InstanceStateChange, LedgerEntry, str, str]] = []
        for change in leaves:
            entry = ledger.get(change.instance_id)
            resend = resends.get(change.instance_id)
            if entry is None or entry.account != change.account:
                self._settle(outcomes, [change], Outcome(NEVER_JOINED))
            elif resend is None and entry.status in (REMOVE_SENT, REMOVE_FAILED):
                self._settle(outcomes, [change], Outcome(ALREADY_REMOVED, detail=entry.status))
            elif resend is None and entry.held_against(change.message_id, change.receive_count, now):
                self._settle(outcomes, [change], _removal_refused(entry.status))
            else:
                # The current config's credentials win; the ledger's copy covers an offboarded account.
                config = configs.get(change.account)
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
                    attempts=resend.attempts if resend else 1,
                )
                removals.append((change, claim, user, parameter))
        if not removals:
            return
        try:
            host = self._port.tools_host()
        except DomainJoinError as exc:
            self._settle(outcomes, [r[0] for r in removals], Outcome.failed(exc))
            return
        # Claimed before the command: one remove per computer, and never while a join holds its claim.
        changes = {r[1].instance_id: r[0] for r in removals}
        claim_resends = {i: r.command_id for i, r in resends.items()}
        claimed, refused, failed = self._claim([r[1] for r in removals], now, claim_resends)
        for instance_id, status in refused.items():
            self._settle(outcomes, [changes[instance_id]], _removal_refused(status))
        for instance_id, error in failed.items():
            self._settle(outcomes, [changes[instance_id]], Outcome.failed(error))
        removals = [r for r in removals if r[1].instance_id in claimed]

        done: list[tuple[InstanceStateChange, LedgerEntry]] = []
        sent_commands: list[CommandRecord] = []
        released: list[tuple[InstanceStateChange, LedgerEntry, DomainJoinError]] = []
        grouped = _group_by(removals, lambda r: (r[1].domain, r[2], r[3]))
        for (domain, user, parameter), group in grouped.items():
            for chunk in _chunks(group, MAX_INSTANCES_PER_COMMAND):
                computers = wire.encode_remove(
                    wire.RemoveEntry(e.computer_name, _stamp(e)) for _, e, _, _ in chunk
                )
                parameters = {
                    TOOLS_PARAM_DOMAIN: domain,
                    TOOLS_PARAM_JOIN_USER: user,
                    TOOLS_PARAM_PASSWORD_PARAMETER: parameter,
                    TOOLS_PARAM_COMPUTERS: computers,
                }
                try:
                    command_id = self._port.send_tools_command(REMOVE_DOCUMENT, host, parameters)
                except DomainJoinError as exc:
                    released += [(change, entry, exc) for change, entry, _, _ in chunk]
                    continue
                retention = now + REMOVED_RECORD_RETENTION_SECONDS
                instance_ids = tuple(e.instance_id for _, e, _, _ in chunk)
                sent_commands.append(CommandRecord(command_id, REMOVE_DOCUMENT, instance_ids, now, retention))
                done += [
                    (
                        change,
                        entry.settled(
                            REMOVE_SENT,
                            now,
                            remove_command_id=command_id,
                            expires_at=now + REMOVED_RECORD_RETENTION_SECONDS,
                        ),
                    )
                    for change, entry, _, _ in chunk
                ]
        for change, _, error in released:
            self._settle(outcomes, [change], Outcome.failed(error))
        if not done and not released:
            return
        try:
            # One write: the removes sent, their command items (for a failure event), claims given back.
            entries = [e for _, e in done] + [self._released(e, now) for _, e, _ in released]
            self._port.write_ledger(entries, sent_commands)
        except DomainJoinError as exc:
            self._settle(outcomes, [c for c, _ in done], Outcome.failed(exc))
            for change, _, error in released:
                self._settle(outcomes, [change], Outcome.failed(error))
            return
        for change, entry in done:
            self._settle(outcomes, [change], Outcome(REMOVE_REQUESTED))
            logger.info(
                "remove requested",
                extra={
                    "account": entry.account,
                    "region": entry.region,
                    "instance_id": entry.instance_id,
                    "computer_name": entry.computer_name,
                    "remove_command_id": entry.remove_command_id,
                },
            )

    @staticmethod
    def _settle(outcomes: dict[ChangeKey, Outcome], changes: Iterable[StateChange], outcome: Outcome) -> None:
        for change in changes:
            outcomes[key_of(change)] = outcome
            if outcome.code not in (JOIN_REQUESTED, REMOVE_REQUESTED):
                logger.info(
                    "instance outcome",
                    extra={
                        "account": change.account,
                        "region": change.region,
                        "instance_id": change.instance_id,
                        "state": change.state,
                        "outcome": outcome.code,
                        "retry": outcome.retry,
                        "detail": outcome.detail,
                    },
                )


@dataclass(frozen=True, slots=True)
class _Resend:
    command_id: str  # the failed command
    attempts: int  # the number the resend would be


def _resend(failure: CommandStatusChange, entry: LedgerEntry | None, sent: str, claim: str) -> _Resend | None:
    """The resend a failure calls for, or None when the ledger has moved past the failed command.

    A join's failure comes from the instance's own account; a remove's from the hub (the tools host).
    A claim of this message's earlier receive is a resend under way whose final write failed: carry on.
    """
    if entry is None or (claim == JOINING and entry.account != failure.account):
        return None
    if entry.status == claim and entry.claimed_by_earlier_receive(failure.message_id, failure.receive_count):
        return _Resend(failure.command_id, entry.attempts)
    current = entry.join_command_id if claim == JOINING else entry.remove_command_id
    if entry.status == sent and current == failure.command_id:
        return _Resend(failure.command_id, max(entry.attempts, 1) + 1)
    return None


def _piece(failure: CommandStatusChange, instance_id: str, entry: LedgerEntry | None) -> InstanceStateChange:
    """The failure as a change of one instance, keyed (instance id, the failure's "state")."""
    return InstanceStateChange(
        account=entry.account if entry else failure.account,
        region=entry.region if entry else failure.region,
        instance_id=instance_id,
        state=failure.state,
        event_time=failure.event_time,
        event_id=failure.event_id,
        message_id=failure.message_id,
        receive_count=failure.receive_count,
    )


def _stale(failure: CommandStatusChange, entry: LedgerEntry | None) -> Outcome:
    if entry is None:
        return Outcome(STALE_COMMAND_STATUS, detail=f"nothing recorded for command {failure.command_id}")
    current = entry.join_command_id if failure.document_name == JOIN_DOCUMENT else entry.remove_command_id
    return Outcome(STALE_COMMAND_STATUS, detail=f"ledger is {entry.status}, command {current or '-'}")


def _given_up(code: str, failure: CommandStatusChange, entry: LedgerEntry) -> Outcome:
    detail = f"{failure.document_name} {failure.status} after {max(entry.attempts, 1)} attempts"
    return Outcome(code, detail=detail)


def _combined(pieces: list[Outcome]) -> Outcome:
    """One outcome for a failure event from those of its computers: a retry if any needs one."""
    for wanted in (lambda o: o.retry, lambda o: o.code == REMOVE_REQUESTED, lambda o: True):
        for outcome in pieces:
            if wanted(outcome):
                return outcome
    return Outcome(STALE_COMMAND_STATUS, detail="no computer of the command is left")


def _claimed_elsewhere(status: str, lease_expires_at: int = 0) -> Outcome:
    detail = f"{status or 'record'} claimed by another invocation"
    if lease_expires_at:
        detail += f" until {lease_expires_at}"
    return Outcome(CLAIMED_ELSEWHERE, detail=detail)


def _removal_refused(status: str) -> Outcome:
    """What a terminated event does when the record it would claim is not (or no longer) removable."""
    if status == REMOVE_SENT:
        return Outcome(ALREADY_REMOVED)
    if status == REMOVING:
        return _claimed_elsewhere(status)
    if status == JOINING:  # the join's claim is fresh: remove once it has been sent
        return Outcome(JOIN_IN_PROGRESS, retry=True, detail="a join holds the ledger claim")
    return Outcome(NEVER_JOINED, detail=status or "record gone")


def _stamp(entry: LedgerEntry) -> str:
    return ownership_stamp(entry.account, entry.region, entry.instance_id)


def _opted_out(tags: Mapping[str, str]) -> bool:
    return any(k.lower() == TAG_OPT_OUT and v.strip().lower() == "false" for k, v in tags.items())


def _valid_login_group(tags: Mapping[str, str]) -> bool:
    group = tags.get(TAG_LOGIN_GROUP, "").strip()
    return not group or bool(GROUP_RE.match(group))


def _group_by(items: Iterable[_T], key: Callable[[_T], _K]) -> dict[_K, list[_T]]:
    groups: dict[_K, list[_T]] = {}
    for item in items:
        groups.setdefault(key(item), []).append(item)
    return groups


def _chunks(items: Sequence[_T], size: int) -> Iterable[Sequence[_T]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]
