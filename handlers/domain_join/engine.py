"""The join/leave orchestrator for one batch: reads through the ``AwsPort``, decides, claims, sends.

What to do with each change is decided by pure functions (``decisions``, ``resend``); this module only
sequences the calls, so that a batch of N events costs a handful of calls, not N times a handful: one
ledger read for the batch, per (account, Region) one DescribeInstances and one readiness query, one
prestage command per domain, one join command per 50 instances sharing parameters, two ledger writes.
A directory with a Directory Service id (AWS Managed Microsoft AD) is prestaged from the hub instead, one
``ds:CreateComputer`` per computer and no tools-host command (``prestage.py`` decides the path).

The first ledger write is a claim (one ``TransactWriteItems`` per 100 records): with at-least-once
delivery two containers may hold the same event, and only the one whose claim lands may prestage and
join; the other leaves it alone.

Each step returns what it settled as ``(change, Outcome)`` pairs (``decisions.Settled``); ``process``
merges them, in order, into the batch's outcomes.

Example::

    engine = Engine(gateway, clock=time.time, spoke_role_name="ec2-domain-join-execution")
    outcomes = engine.process(changes, lease_seconds=240)  # {(instance id, state): Outcome}
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Final

from aws_lambda_powertools import Logger, Metrics
from aws_lambda_powertools.metrics import MetricUnit

from . import sealing, settings
from .arns import DEFAULT_PARTITION
from .contract import (
    DEFAULT_SPOKE_ROLE_NAME,
    ENV_SEALING_KEY_ARN,
    JOIN_DOCUMENT,
    PRESTAGE_DOCUMENT,
    REMOVE_DOCUMENT,
    TOOLS_PARAM_COMPUTERS,
)
from .decisions import (
    COMPUTER_NAME_TAG_FALLBACK,
    JOIN_REQUESTED,
    MAX_INSTANCES_PER_COMMAND,
    NOT_ONLINE,
    OU_TAG_FALLBACK,
    REMOVE_REQUESTED,
    AccountConfigs,
    ChangeKey,
    JoinPlan,
    Outcome,
    Removal,
    Settled,
    as_command_status_outcome,
    chunks,
    combined,
    decide_command_status,
    decide_configs,
    decide_instance,
    decide_join_record,
    decide_join_refusal,
    decide_leave,
    decide_removal_refusal,
    group_by,
    join_parameters,
    join_sent,
    key_of,
    plan_join,
    plan_removal,
    prestage_parameters,
    prestages_to_check,
    released,
    remove_command_record,
    remove_parameters,
    remove_sent,
)
from .errors import ConfigInvalidError, DomainJoinError, LedgerClaimRefusedError
from .events import RUNNING, TERMINATED, CommandStatusChange, InstanceStateChange, StateChange
from .model import JOIN_FAILED, AccountConfig, AwsPort, CommandRecord, InstanceFacts, LedgerEntry, Spoke
from .naming import one_time_password
from .prestage import (
    DIRECTORY_SERVICE,
    FALL_BACK_TO_TOOLS_HOST,
    TOOLS_HOST,
    decide_directory_failure,
    decide_prestage_path,
    directory_computer,
    directory_prestage_id,
)
from .resend import Resend, ResendDecision, decide_failed_joins, decide_failed_removes, stale

MAX_CLAIMS_PER_TRANSACTION: Final = 100  # TransactWriteItems' limit
CLAIM_ATTEMPTS: Final = 2  # the claim, then once more without the records that failed their condition
DEFAULT_MAX_COMMAND_ATTEMPTS: Final = int(settings.MAX_COMMAND_ATTEMPTS.default or 1)

logger = Logger(child=True)
metrics = Metrics()  # shared with the app's (Powertools), which publishes them


@dataclass(frozen=True, slots=True)
class ClaimResult:
    """The instance ids whose claim landed, those refused (with the status found) and those failed."""

    claimed: frozenset[str]
    refused: Mapping[str, str]
    failed: Mapping[str, DomainJoinError]


class Engine:
    """Turns a batch of state changes into prestaged joins and stamped removals.

    Parameters:
        port: the AWS operations (``adapter.AwsGateway`` in Lambda, a fake in unit tests).
        clock: seconds since the epoch.
        spoke_role_name: the execution role assumed when a config item names no ``assumeRoleARN``.
        max_command_attempts: how many failed joins (removes) are sent before giving up.
        otp: the one-time password generator (injected so tests can fix it).
        partition: the hub's partition; default spoke role ARNs are built in it.
        batch_id: names a sealed prestage batch in its encryption context (injected so tests can fix it).

    Example::

        outcomes = Engine(gateway).process(changes, lease_seconds=240)
    """

    def __init__(
        self,
        port: AwsPort,
        clock: Callable[[], float] = time.time,
        spoke_role_name: str = DEFAULT_SPOKE_ROLE_NAME,
        max_command_attempts: int = DEFAULT_MAX_COMMAND_ATTEMPTS,
        otp: Callable[[], str] = one_time_password,
        partition: str = DEFAULT_PARTITION,
        batch_id: Callable[[], str] = sealing.new_batch_id,
    ) -> None:
        self._batch_id = batch_id
        self._port = port
        self._clock = clock
        self._spoke_role_name = spoke_role_name
        self._max_attempts = max(1, max_command_attempts)
        self._otp = otp
        self._partition = partition

    def process(self, changes: Iterable[StateChange], lease_seconds: int) -> dict[ChangeKey, Outcome]:
        """Outcome of every distinct change of the batch; duplicates share one.

        ``lease_seconds``: how long this invocation's claims shut out other containers; longer than the
        invocation may still run.
        """
        unique: dict[ChangeKey, StateChange] = {}
        for change in changes:
            unique.setdefault(key_of(change), change)
        if not unique:
            return {}
        now = int(self._clock())
        settled: list[Settled] = []
        states: list[InstanceStateChange] = []
        failed_joins: list[CommandStatusChange] = []
        failed_removes: list[CommandStatusChange] = []
        for change in unique.values():
            if isinstance(change, InstanceStateChange):
                states.append(change)
            elif (ignored := decide_command_status(change)) is not None:
                settled.append((change, ignored))
            elif change.document_name == JOIN_DOCUMENT:
                failed_joins.append(change)
            else:
                failed_removes.append(change)
        instances: list[StateChange] = [*states, *failed_joins]
        try:
            accounts = self._configs({c.account for c in instances})
            read, commands = self._port.read_ledger(
                sorted({c.instance_id for c in instances}),
                sorted({c.command_id for c in failed_removes}),
            )
        except DomainJoinError as exc:
            logger.warning("batch failed before any command", extra={"reason": exc.reason})
            early = _merged(settled)
            return {key: early.get(key) or Outcome.failed(exc) for key in unique}
        ledger: Mapping[str, LedgerEntry] = read

        rejoins = decide_failed_joins(failed_joins, ledger, self._max_attempts, now)
        settled += rejoins.settled
        joins = [c for c in states if c.state == RUNNING] + list(rejoins.to_send)
        plans, planned = self._plan(joins, accounts, ledger, now, lease_seconds, rejoins.resends)
        settled += planned
        settled += self._join(plans, now)
        removes, removes_settled, ledger = self._failed_removes(failed_removes, commands, ledger, now)
        settled += removes_settled
        leaves = [c for c in states if c.state == TERMINATED] + list(removes.to_send)
        settled += self._leave(leaves, accounts.configs, ledger, now, lease_seconds, removes.resends)
        settled += self._give_up([*rejoins.given_up, *removes.given_up])

        outcomes = _merged(settled)
        for event_key, piece_keys in removes.parts.items():
            pieces = [outcomes.pop(k) for k in piece_keys if k in outcomes]
            outcomes.setdefault(event_key, combined(pieces))
        for key, change in unique.items():
            if isinstance(change, CommandStatusChange) and key in outcomes:
                outcomes[key] = as_command_status_outcome(outcomes[key])
        return outcomes

    # --- reading ------------------------------------------------------------
    def _configs(self, accounts: set[str]) -> AccountConfigs:
        items = self._port.load_configs(sorted(accounts))
        return decide_configs(accounts, items, self._spoke_role_name, self._partition)

    def _failed_removes(
        self,
        failures: Sequence[CommandStatusChange],
        commands: Mapping[str, CommandRecord],
        ledger: Mapping[str, LedgerEntry],
        now: int,
    ) -> tuple[ResendDecision, list[Settled], Mapping[str, LedgerEntry]]:
        """What failed removes call for, after reading the records of their computers not read yet."""
        settled: list[Settled] = []
        known: list[tuple[CommandStatusChange, CommandRecord]] = []
        for failure in failures:
            record = commands.get(failure.command_id)
            if record is None:
                settled.append((failure, stale(failure, None)))
            else:
                known.append((failure, record))
        missing = sorted({i for _, r in known for i in r.instance_ids} - set(ledger))
        if missing:
            try:
                more, _ = self._port.read_ledger(missing)
            except DomainJoinError as exc:
                return ResendDecision(), settled + [(f, Outcome.failed(exc)) for f, _ in known], ledger
            ledger = {**ledger, **more}
        decision = decide_failed_removes(known, ledger, self._max_attempts, now)
        return decision, settled + list(decision.settled), ledger

    # --- claiming -----------------------------------------------------------
    def _claim(self, entries: Sequence[LedgerEntry], now: int, resends: Mapping[str, str]) -> ClaimResult:
        """Claim ``entries``; ``resends``: instance id -> the failed command the claim sends again."""
        claimed: set[str] = set()
        refused: dict[str, str] = {}
        failed: dict[str, DomainJoinError] = {}
        for chunk in chunks(entries, MAX_CLAIMS_PER_TRANSACTION):
            pending = list(chunk)
            error: DomainJoinError | None = None
            for _ in range(CLAIM_ATTEMPTS):
                try:
                    self._port.claim_ledger(pending, now, resends)
                except LedgerClaimRefusedError as exc:
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
        return ClaimResult(frozenset(claimed), refused, failed)

    # --- joining ------------------------------------------------------------
    def _plan(
        self,
        joins: Sequence[InstanceStateChange],
        accounts: AccountConfigs,
        ledger: Mapping[str, LedgerEntry],
        now: int,
        lease_seconds: int,
        resends: Mapping[str, Resend],
    ) -> tuple[list[JoinPlan], list[Settled]]:
        plans: list[JoinPlan] = []
        settled: list[Settled] = []
        for (account, region), group in group_by(joins, lambda c: (c.account, c.region)).items():
            error = accounts.errors.get(account)
            if error is not None:
                settled += [(change, Outcome.failed(error)) for change in group]
                continue
            more, done = self._plan_group(
                accounts.configs[account], region, group, ledger, now, lease_seconds, resends
            )
            plans += more
            settled += done
        return plans, settled

    def _plan_group(
        self,
        config: AccountConfig,
        region: str,
        group: Sequence[InstanceStateChange],
        ledger: Mapping[str, LedgerEntry],
        now: int,
        lease_seconds: int,
        resends: Mapping[str, Resend],
    ) -> tuple[list[JoinPlan], list[Settled]]:
        settled: list[Settled] = []
        pending: list[InstanceStateChange] = []
        for change in group:
            entry = ledger.get(change.instance_id)
            skip = decide_join_record(change, entry, change.instance_id in resends, now)
            if skip is None:
                pending.append(change)
            else:
                settled.append((change, skip))
        if not pending:
            return [], settled
        spoke = Spoke(config.account_id, region, config.role_arn)
        candidates: list[tuple[InstanceStateChange, InstanceFacts]] = []
        try:
            facts = self._port.describe_instances(spoke, [c.instance_id for c in pending])
            for change in pending:
                fact = facts.get(change.instance_id)
                skip = decide_instance(fact)
                if skip is not None:
                    settled.append((change, skip))
                elif fact is not None:
                    candidates.append((change, fact))
            if not candidates:
                return [], settled
            online = self._port.online_instances(spoke, [c.instance_id for c, _ in candidates])
        except DomainJoinError as exc:
            done = {key_of(c) for c, _ in settled}
            return [], settled + [(c, Outcome.failed(exc)) for c in pending if key_of(c) not in done]

        plans: list[JoinPlan] = []
        ready = [(c, f) for c, f in candidates if c.instance_id in online]
        refused = self._refused_names([ledger.get(c.instance_id) for c, _ in ready], config)
        for change, fact in candidates:
            if change.instance_id not in online:
                settled.append((change, NOT_ONLINE))
                continue
            resend = resends.get(change.instance_id)
            plan = plan_join(
                change,
                config,
                spoke,
                fact,
                ledger.get(change.instance_id),
                now,
                lease_seconds,
                self._otp(),
                resend_of=resend.command_id if resend else "",
                attempts=resend.attempts if resend else 1,
                refused_names=refused,
            )
            _report_tag_fallbacks(plan)
            plans.append(plan)
        return plans, settled

    def _refused_names(self, previous: Sequence[LedgerEntry | None], config: AccountConfig) -> frozenset[str]:
        """Names the tools host refused in the earlier prestages of tag-named computers planned again (one
        read per such prestage, on the retry path only); a read that fails refuses nothing (logged)."""
        refused: set[str] = set()
        for command_id in sorted(prestages_to_check(previous, config.computer_name_prefix)):
            try:
                refused |= self._port.prestage_refusals(command_id)
            except DomainJoinError as exc:
                extra = {"command_id": command_id, "reason": exc.reason}
                logger.warning("prestage results unreadable", extra=extra)
        return frozenset(refused)

    def _join(self, plans: Sequence[JoinPlan], now: int) -> list[Settled]:
        if not plans:
            return []
        host = ""
        unavailable: list[Settled] = []
        if any(decide_prestage_path(p.config) == TOOLS_HOST for p in plans):
            try:
                host = self._port.tools_host()
            except DomainJoinError as exc:
                # Only the tools-host path needs it: Directory Service computers go on without it.
                by_path = group_by(plans, lambda p: decide_prestage_path(p.config))
                unavailable = [(plan.change, Outcome.failed(exc)) for plan in by_path.get(TOOLS_HOST, [])]
                plans = by_path.get(DIRECTORY_SERVICE, [])
                if not plans:
                    return unavailable
        # Claimed before anything is sent: only one container prestages and joins an instance.
        by_id = {p.entry.instance_id: p for p in plans}
        claim = self._claim(
            [p.entry for p in plans], now, {i: p.resend_of for i, p in by_id.items() if p.resend_of}
        )
        settled: list[Settled] = unavailable
        settled += [(by_id[i].change, decide_join_refusal(s)) for i, s in claim.refused.items()]
        settled += [(by_id[i].change, Outcome.failed(e)) for i, e in claim.failed.items()]
        plans = [plan for plan in plans if plan.entry.instance_id in claim.claimed]

        # The Directory Service path (prestage.py) first: what is left goes to the tools host.
        plans, prestaged, failed, host = self._prestage_in_directories(plans, host)
        for prestage_key, group in group_by(plans, lambda p: p.prestage_key).items():
            for to_stage in chunks(group, MAX_INSTANCES_PER_COMMAND):
                parameters = prestage_parameters(prestage_key, to_stage)
                try:
                    parameters = self._seal_prestage(parameters)
                    command_id = self._port.send_tools_command(PRESTAGE_DOCUMENT, host, parameters)
                except DomainJoinError as exc:
                    failed += [(p, exc) for p in to_stage]
                    continue
                prestaged += [(p, command_id) for p in to_stage]

        sent: list[tuple[JoinPlan, LedgerEntry]] = []
        for join_key, pairs in group_by(prestaged, lambda pair: pair[0].join_key).items():
            for chunk in chunks(pairs, MAX_INSTANCES_PER_COMMAND):
                instance_ids = [p.entry.instance_id for p, _ in chunk]
                parameters = join_parameters(join_key, [p for p, _ in chunk])
                try:
                    parameters = self._seal_join(join_key[0], chunk[0][0].config, parameters)
                    command_id = self._port.send_spoke_command(
                        join_key[0], JOIN_DOCUMENT, instance_ids, parameters
                    )
                except DomainJoinError as exc:
                    failed += [(p, exc) for p, _ in chunk]
                    continue
                sent += [(p, join_sent(p, prestage_id, command_id, now)) for p, prestage_id in chunk]
        settled += [(plan.change, Outcome.failed(error)) for plan, error in failed]
        if not sent and not failed:
            return settled
        try:
            # One write: the joins sent, and the claims given back for the ones that failed.
            self._port.write_ledger([e for _, e in sent] + [released(p.entry, now) for p, _ in failed])
        except DomainJoinError as exc:
            # The failed ones stay claimed, by this message: its retry takes the claim over.
            return settled + [(plan.change, Outcome.failed(exc)) for plan, _ in sent]
        for plan, entry in sent:
            settled.append((plan.change, Outcome(JOIN_REQUESTED)))
            logger.info(
                "join requested", extra=_fields(entry, "platform", "prestage_command_id", "join_command_id")
            )
        return settled

    def _prestage_in_directories(
        self, plans: Sequence[JoinPlan], host: str
    ) -> tuple[list[JoinPlan], list[tuple[JoinPlan, str]], list[tuple[JoinPlan, DomainJoinError]], str]:
        """``ds:CreateComputer`` for the plans of accounts whose directory has a Directory Service id.

        Returns the plans left for the tools host (its own path's, and the computers whose name exists:
        only the tools host can read their stamp), the prestaged ones with their ledger prestage id, the
        failed ones, and the tools host (looked up here when only a fallback needs it).
        """
        to_host: list[JoinPlan] = []
        fallback: list[JoinPlan] = []
        prestaged: list[tuple[JoinPlan, str]] = []
        failed: list[tuple[JoinPlan, DomainJoinError]] = []
        for plan in plans:
            if decide_prestage_path(plan.config) == TOOLS_HOST:
                to_host.append(plan)
                continue
            try:
                self._port.create_directory_computer(directory_computer(plan))
            except DomainJoinError as exc:
                if decide_directory_failure(exc) == FALL_BACK_TO_TOOLS_HOST:
                    logger.info(
                        "computer exists in the directory: the tools host checks its stamp",
                        extra={**_fields(plan.entry), "directory_id": plan.config.directory_id},
                    )
                    fallback.append(plan)
                else:
                    failed.append((plan, exc))
                continue
            prestaged.append((plan, directory_prestage_id(plan.config.directory_id)))
        if fallback and not host:
            try:
                host = self._port.tools_host()
            except DomainJoinError as exc:
                return to_host, prestaged, failed + [(plan, exc) for plan in fallback], host
        return to_host + fallback, prestaged, failed, host

    # --- sealing (sealing.py) ---------------------------------------------------
    def _seal_prestage(self, parameters: dict[str, str]) -> dict[str, str]:
        """The prestage value sealed for the tools host; plain only when the handler has no sealing key."""
        key = self._port.sealing_key()
        if not key:
            return sealing.unsealed_prestage_parameters(parameters)
        batch = self._batch_id()
        requests = sealing.prestage_requests(parameters[TOOLS_PARAM_COMPUTERS], batch)
        return sealing.sealed_prestage_parameters(parameters, key, batch, self._port.seal(requests))

    def _seal_join(self, spoke: Spoke, config: AccountConfig, parameters: dict[str, str]) -> dict[str, str]:
        """Each OTP sealed for its instance when the account's directory asks for it (sealJoinPasswords)."""
        if not config.seal_join_passwords:
            return sealing.unsealed_join_parameters(parameters)
        key = self._port.sealing_key()
        if not key:
            raise ConfigInvalidError(
                f"config of account {config.account_id} asks for sealed join passwords, but the handler has "
                f"no sealing key ({ENV_SEALING_KEY_ARN})"
            )
        requests = sealing.join_requests(parameters, self._partition, spoke.region, spoke.account)
        return sealing.sealed_join_parameters(parameters, key, self._port.seal(requests))

    # --- leaving ------------------------------------------------------------
    def _leave(
        self,
        leaves: Sequence[InstanceStateChange],
        configs: Mapping[str, AccountConfig],
        ledger: Mapping[str, LedgerEntry],
        now: int,
        lease_seconds: int,
        resends: Mapping[str, Resend],
    ) -> list[Settled]:
        settled: list[Settled] = []
        removals: list[Removal] = []
        for change in leaves:
            entry = ledger.get(change.instance_id)
            resend = resends.get(change.instance_id)
            skip = decide_leave(change, entry, resend is not None, now)
            if skip is not None:
                settled.append((change, skip))
            elif entry is not None:
                removals.append(
                    plan_removal(
                        change,
                        entry,
                        configs.get(change.account),
                        now,
                        lease_seconds,
                        resend_of=resend.command_id if resend else "",
                        attempts=resend.attempts if resend else 1,
                    )
                )
        if not removals:
            return settled
        try:
            host = self._port.tools_host()
        except DomainJoinError as exc:
            return settled + [(r.change, Outcome.failed(exc)) for r in removals]
        # Claimed before the command: one remove per computer, and never while a join holds its claim.
        by_id = {r.claim.instance_id: r for r in removals}
        claim = self._claim(
            [r.claim for r in removals], now, {i: r.resend_of for i, r in by_id.items() if r.resend_of}
        )
        settled += [(by_id[i].change, decide_removal_refusal(s)) for i, s in claim.refused.items()]
        settled += [(by_id[i].change, Outcome.failed(e)) for i, e in claim.failed.items()]
        removals = [r for r in removals if r.claim.instance_id in claim.claimed]

        done: list[tuple[Removal, LedgerEntry]] = []
        records: list[CommandRecord] = []
        failed: list[tuple[Removal, DomainJoinError]] = []
        for command_key, group in group_by(removals, lambda r: r.command_key).items():
            for chunk in chunks(group, MAX_INSTANCES_PER_COMMAND):
                parameters = remove_parameters(command_key, chunk)
                try:
                    command_id = self._port.send_tools_command(REMOVE_DOCUMENT, host, parameters)
                except DomainJoinError as exc:
                    failed += [(r, exc) for r in chunk]
                    continue
                records.append(remove_command_record(command_id, chunk, now))
                done += [(r, remove_sent(r, command_id, now)) for r in chunk]
        settled += [(r.change, Outcome.failed(error)) for r, error in failed]
        if not done and not failed:
            return settled
        try:
            # One write: the removes sent, their command items (for a failure event), claims given back.
            entries = [e for _, e in done] + [released(r.claim, now) for r, _ in failed]
            self._port.write_ledger(entries, records)
        except DomainJoinError as exc:
            return settled + [(r.change, Outcome.failed(exc)) for r, _ in done]
        for removal, entry in done:
            settled.append((removal.change, Outcome(REMOVE_REQUESTED)))
            logger.info("remove requested", extra=_fields(entry, "remove_command_id"))
        return settled

    # --- giving up --------------------------------------------------------------
    def _give_up(self, given_up: Sequence[tuple[StateChange, LedgerEntry]]) -> list[Settled]:
        if not given_up:
            return []
        try:
            self._port.write_ledger([entry for _, entry in given_up])
        except DomainJoinError as exc:
            return [(change, Outcome.failed(exc)) for change, _ in given_up]
        for _, entry in given_up:
            message = "join failed" if entry.status == JOIN_FAILED else "remove failed"
            logger.error(message, extra=_fields(entry, "attempts", "join_command_id", "remove_command_id"))
        return []


def _report_tag_fallbacks(plan: JoinPlan) -> None:
    """A log line and a metric when a tag could not pick the OU or the computer name (decisions.decide_*)."""
    fields = _fields(plan.entry)
    if plan.ou_fallback:
        metrics.add_metric(name=OU_TAG_FALLBACK, unit=MetricUnit.Count, value=1)
        logger.info("OU tag fallback", extra={**fields, "ou_path": plan.ou_path, "reason": plan.ou_fallback})
    if plan.name_fallback:
        metrics.add_metric(name=COMPUTER_NAME_TAG_FALLBACK, unit=MetricUnit.Count, value=1)
        logger.info("computer name tag fallback", extra={**fields, "reason": plan.name_fallback})


def _fields(entry: LedgerEntry, *more: str) -> dict[str, object]:
    """A ledger entry's log fields: where it is, its computer, and ``more`` of its attributes."""
    names = ("account", "region", "instance_id", "computer_name", *more)
    return {name: getattr(entry, name) for name in names}


def _merged(settled: Iterable[Settled]) -> dict[ChangeKey, Outcome]:
    """The outcomes by key (a later one wins), each logged once (requests are logged where sent)."""
    outcomes: dict[ChangeKey, Outcome] = {}
    for change, outcome in settled:
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
    return outcomes
