"""Replaying the ledger's past movements against a policy: what it would have decided.

``simulate`` walks every committed transfer in journal order, replaying posted balances
(core/withdrawals/history.py) so that each movement is judged on the facts of its own time:
the client's available balance and the pool's residual interest just before it, the prior
day's closing residual interest, the day's sweeps and the velocity windows. Movements from
``from_ns`` on are judged; earlier ones only build up the balances and windows.

A movement the lifecycle made is known in full (its initiator, role, destination and the
decision it actually got, by its hold's transfer id). One committed straight to the ledger
(a CLI transfer file, an import) is judged as an operator's with an unknown destination
(never whitelisted), and as having gone through unchecked: any decision other than allow is
a change. Whitelist entries are taken as past their cool-down.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

from ringfence.core import limits
from ringfence.core.ledger.model import AccountDefinition, TransferRecord
from ringfence.core.policy.decide import CompiledPolicy, Decision, decide
from ringfence.core.policy.document import Action
from ringfence.core.policy.movement import Facts, MovementKind, MovementRequest
from ringfence.core.principals.records import PrincipalRole
from ringfence.core.withdrawals.history import (
    PastMovement,
    PoolPositions,
    VelocityBook,
    day_start_ns,
    movement_of,
    whose,
)


@dataclass(frozen=True, slots=True)
class KnownMovement:
    """What the journal's withdrawals say of a movement made through the lifecycle."""

    initiator: str
    initiator_role: PrincipalRole
    destination: str
    action: Action  # the decision it got
    rule_id: str


@dataclass(frozen=True, slots=True)
class Change:
    movement: PastMovement
    before: tuple[Action, str]  # what happened: the action and rule ("" when unchecked)
    after: Decision


@dataclass(slots=True)
class SimulationReport:
    movements: int = 0
    by_kind: Counter[str] = field(default_factory=Counter)
    by_rule: Counter[str] = field(default_factory=Counter)  # "" for no rule
    by_action: Counter[str] = field(default_factory=Counter)
    by_reason: Counter[str] = field(default_factory=Counter)
    changed: int = 0
    changes: list[Change] = field(default_factory=list)  # the first ``changes_max``
    changes_max: int = limits.rejections_shown_max


@dataclass(slots=True)
class _Replay:
    positions: PoolPositions
    velocity: VelocityBook = field(default_factory=VelocityBook)
    day: int = -1
    prior_day: dict[tuple[str, str], int] = field(default_factory=dict)
    swept_today: Counter[tuple[str, str]] = field(default_factory=Counter)


def simulate(
    policy: CompiledPolicy,
    records: Iterable[TransferRecord],
    accounts: Mapping[int, AccountDefinition],
    *,
    from_ns: int,
    known: Mapping[int, KnownMovement],
    changes_max: int = limits.rejections_shown_max,
) -> SimulationReport:
    """The policy's decision on every movement from ``from_ns`` (see the module docstring)."""
    replay = _Replay(PoolPositions(accounts))
    report = SimulationReport(changes_max=changes_max)
    for record in records:
        day = day_start_ns(record.timestamp)
        if day != replay.day:
            replay.day = day
            replay.prior_day = dict(replay.positions.residual)
            replay.swept_today.clear()
        movement = movement_of(record, accounts)
        if movement is not None:
            found = known.get(record.id)
            if movement.at_ns >= from_ns:
                _judge(
                    policy, replay, report, movement,
                    debit_account=record.debit_account, found=found,
                )  # fmt: skip
            _remember(replay, movement, found)
        replay.positions.apply(record)
    return report


def _judge(
    policy: CompiledPolicy,
    replay: _Replay,
    report: SimulationReport,
    movement: PastMovement,
    *,
    debit_account: int,
    found: KnownMovement | None,
) -> None:
    key = (movement.pool, movement.asset)
    grouped = whose(movement.client, found.initiator if found else "", movement.pool)
    facts = Facts(
        available=replay.positions.available.get(debit_account, 0),
        residual_interest=replay.positions.residual.get(key, 0),
        residual_prior_day=replay.prior_day.get(key, 0),
        swept_today=replay.swept_today[key],
        windows=replay.velocity.window_sums(
            policy.windows, movement.at_ns - 1, movement.kind, movement.asset, grouped
        ),
    )
    decision = decide(policy, _request(movement, found), facts)
    report.movements += 1
    report.by_kind[movement.kind.value] += 1
    report.by_rule[decision.rule_id] += 1
    report.by_action[decision.action.value] += 1
    if decision.reason is not None:
        report.by_reason[decision.reason.value] += 1
    before = (found.action, found.rule_id) if found is not None else (Action.allow, "")
    if (decision.action, decision.rule_id if found is not None else "") != before:
        report.changed += 1
        if len(report.changes) < report.changes_max:
            report.changes.append(Change(movement, before, decision))


def _remember(replay: _Replay, movement: PastMovement, found: KnownMovement | None) -> None:
    """Count the movement in the velocity windows and the day's sweeps of what follows."""
    grouped = whose(movement.client, found.initiator if found else "", movement.pool)
    replay.velocity.add(movement.at_ns, movement.kind, movement.asset, movement.amount, grouped)
    if movement.kind is MovementKind.residual_sweep:
        replay.swept_today[(movement.pool, movement.asset)] += movement.amount


def _request(movement: PastMovement, found: KnownMovement | None) -> MovementRequest:
    internal = movement.kind is not MovementKind.client_withdrawal
    return MovementRequest(
        movement.kind,
        found.initiator if found is not None else "",
        found.initiator_role if found is not None else PrincipalRole.operator,
        movement.pool,
        movement.wallet,
        movement.tier,
        movement.asset,
        movement.amount,
        found.destination if found is not None else "",
        movement.at_ns,
        client=movement.client,
        destination_wallet=movement.destination_wallet if internal else "",
    )
