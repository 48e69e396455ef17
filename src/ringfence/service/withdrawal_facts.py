"""What a withdrawal request says and what the ledger and the journal say about it: the body
read strictly, the wallets and addresses resolved, and the facts the policy decides on.

A request body (the REST API's, the CLI's options) is one object:

    {"id": "1001", "kind": "client_withdrawal", "client": "alice", "pool": "main",
     "wallet": "main-hot", "asset": "ETH", "amount": "1.5", "destination": "0x..."}

``kind`` defaults to ``client_withdrawal``; ``wallet`` (the source) to the pool's hot wallet
of the asset; a client principal's ``client`` is its own. A sweep (``residual_sweep``) or a
rebalance names ``destination_wallet`` instead of ``destination``: a house wallet for a sweep,
another wallet of the same pool for a rebalance; its address is the wallet's own (the
registry's address of the wallet not assigned to any client). A client's withdrawal may not
pay an address of any of the firm's wallets: that would move a client's assets into the
firm's hands. The network fee's bound comes from the policy in force (``fee_max`` of the
chain's native asset).

Facts: the client's available balance (posted, less pending debits), the pool's residual
interest now (what its wallets hold beyond what it owes, pending movements taken off), at the
prior day's close (replayed from the transfers before 00:00 UTC) and the day's sweeps so far
(held or posted, and those awaiting approval or approved and not yet held), and the velocity
windows over the journal's earlier withdrawals (not blocked, not voided).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from decimal import Decimal
from typing import Any, Final

from ringfence.core.access.roles import Actor
from ringfence.core.custody.snapshots import canonical_address_problem
from ringfence.core.errors import InputError, Result
from ringfence.core.ledger.engine import Ledger
from ringfence.core.ledger.model import AccountClass, TransferRecord, check_id, check_name
from ringfence.core.money import Asset, parse_amount
from ringfence.core.policy.decide import CompiledPolicy, Decision
from ringfence.core.policy.movement import Facts, MovementKind, MovementRequest
from ringfence.core.withdrawals.history import (
    PoolPositions,
    VelocityBook,
    day_start_ns,
    swept_since,
    whose,
)
from ringfence.core.withdrawals.lifecycle import Status, WithdrawalSpec, awaiting_expired
from ringfence.service.custody import CustodyService
from ringfence.service.ledger import LedgerService
from ringfence.service.policy import MovementBooks, transfer_records

_fields: Final = frozenset(
    {"id", "kind", "client", "pool", "wallet", "asset", "amount", "destination",
     "destination_wallet"}
)  # fmt: skip
# Not counted in the velocity windows: what moved nothing, and a withdrawal not yet decided
# (only ever the one being decided, as the audit replays its decision).
_not_counted: Final = frozenset({Status.requested, Status.blocked, Status.voided})


def parse_request(
    ledger: LedgerService, actor: Actor, document: object, policy: CompiledPolicy | None
) -> WithdrawalSpec:
    """The request in ``document`` as a spec, every account and address resolved; named
    refusals (nothing is changed)."""
    if not isinstance(document, dict):
        raise InputError(Result.request_body_malformed, "a JSON object")
    unknown = sorted(set(document) - _fields)
    if unknown:
        raise InputError(Result.field_unknown, unknown[0])
    kind = _kind(document.get("kind", MovementKind.client_withdrawal.value), actor)
    withdrawal_id = check_id(_required(document, "id"), "id")
    engine = ledger.ledger
    pool = check_name(_required(document, "pool"), "pool")
    asset = engine.assets.get(_required(document, "asset"))
    if asset is None:
        raise InputError(Result.asset_not_found, repr(document["asset"]))
    given = _required(document, "amount")
    if isinstance(given, Decimal):  # a JSON number with a fraction (service/access.py)
        raise InputError(Result.amount_must_not_be_float, f"amount {given}: a decimal string")
    amount = parse_amount(given, asset)
    if amount == 0:
        raise InputError(Result.amount_must_not_be_zero, "amount")
    client = _client(ledger, actor, document, kind, pool=pool, asset=asset.code)
    if kind is not MovementKind.client_withdrawal and pool not in engine.pools:
        raise InputError(Result.pool_not_found, pool)
    wallet, tier = _source(ledger, document.get("wallet"), pool, asset.code)
    custody = CustodyService(ledger)
    if kind is MovementKind.client_withdrawal:
        destination_wallet = ""
        destination = _external(custody, _required(document, "destination"), asset, wallet)
    else:
        destination_wallet, destination = _internal(
            ledger, custody, document, kind, pool=pool, asset=asset
        )
    return WithdrawalSpec(
        withdrawal_id, kind, actor.name, actor.role, pool, wallet, tier, asset.code, amount,
        destination, _fee_max(ledger, policy, asset), client, destination_wallet,
    )  # fmt: skip


def _required(document: Mapping[str, Any], name: str) -> Any:
    if name not in document:
        raise InputError(Result.field_required, name)
    return document[name]


def _kind(value: object, actor: Actor) -> MovementKind:
    if not isinstance(value, str) or value not in MovementKind.__members__:
        raise InputError(Result.movement_kind_unknown, repr(value))
    kind = MovementKind(value)
    if actor.is_client and kind is not MovementKind.client_withdrawal:
        raise InputError(Result.role_forbidden, "a client requests only its own withdrawals")
    return kind


def _client(
    ledger: LedgerService,
    actor: Actor,
    document: Mapping[str, Any],
    kind: MovementKind,
    *,
    pool: str,
    asset: str,
) -> str:
    if kind is not MovementKind.client_withdrawal:
        if document.get("client"):
            raise InputError(Result.field_unknown, "client: a house movement names none")
        return ""
    given = document.get("client", actor.client if actor.is_client else None)
    if given is None:
        raise InputError(Result.field_required, "client")
    client = check_name(given, "client")
    if actor.is_client and client != actor.client:
        raise InputError(Result.account_not_found, f"{client} in {pool}")
    if client not in ledger.ledger.clients:
        raise InputError(Result.client_not_found, client)
    if client_account(ledger, client, pool, asset) is None:
        raise InputError(Result.account_not_found, f"{client}'s {asset} in {pool}")
    return client


def client_account(ledger: LedgerService, client: str, pool: str, asset: str) -> int | None:
    return _client_account_of(ledger.ledger, client, pool, asset)


def _client_account_of(engine: Ledger, client: str, pool: str, asset: str) -> int | None:
    for state in engine.accounts.values():
        d = state.definition
        if (
            d.account_class is AccountClass.client
            and d.kind == "available"
            and ((d.owner, d.pool, d.asset) == (client, pool, asset))
        ):
            return d.id
    return None


def custody_account(ledger: LedgerService, wallet: str, pool: str, asset: str) -> int:
    """The custody account of ``wallet`` in ``pool`` ("" for the house) for ``asset``."""
    for state in ledger.ledger.accounts.values():
        d = state.definition
        if d.account_class is AccountClass.custody and (d.owner, d.pool, d.asset) == (
            wallet, pool, asset,
        ):  # fmt: skip
            return d.id
    where = f"pool {pool}" if pool else "the house"
    raise InputError(Result.withdrawal_wallet_invalid, f"no {asset} wallet {wallet} of {where}")


def _source(ledger: LedgerService, given: object, pool: str, asset: str) -> tuple[str, str]:
    """The source wallet (given, else the pool's hot wallet of the asset) and its tier."""
    candidates = sorted(
        (state.definition for state in ledger.ledger.accounts.values()),
        key=lambda d: d.id,
    )
    for d in candidates:
        if d.account_class is not AccountClass.custody or (d.pool, d.asset) != (pool, asset):
            continue
        if d.owner == given or (given is None and d.kind == "hot"):
            return d.owner, d.kind
    what = f"wallet {given}" if given is not None else "a hot wallet"
    raise InputError(Result.withdrawal_wallet_invalid, f"{what} of pool {pool} holding {asset}")


def _external(custody: CustodyService, value: object, asset: Asset, wallet: str) -> str:
    if not isinstance(value, str) or len(value) > 90 or not value.isascii():
        raise InputError(Result.withdrawal_destination_invalid, "an address of its chain")
    source = custody.registry.wallets.get(wallet)
    network = source.wallet.network if source is not None and asset.chain == "bitcoin" else ""
    problem = canonical_address_problem(value, asset.chain, network)
    if problem:
        raise InputError(Result.withdrawal_destination_invalid, problem)
    owned = custody.registry.addresses.get(value)
    if owned is not None:
        raise InputError(
            Result.withdrawal_destination_invalid,
            f"{value} is an address of the firm's wallet {owned.wallet}",
        )
    return value


def _internal(
    ledger: LedgerService,
    custody: CustodyService,
    document: Mapping[str, Any],
    kind: MovementKind,
    *,
    pool: str,
    asset: Asset,
) -> tuple[str, str]:
    if "destination" in document:
        raise InputError(Result.field_unknown, "destination: name destination_wallet")
    wallet = check_name(_required(document, "destination_wallet"), "destination_wallet")
    target_pool = "" if kind is MovementKind.residual_sweep else pool
    custody_account(ledger, wallet, target_pool, asset.code)  # the ledger must hold it there
    registered = custody.registry.wallets.get(wallet)
    if registered is None or registered.pool != target_pool:
        raise InputError(Result.withdrawal_destination_invalid, f"{wallet} is not registered")
    own = sorted(
        (a.index, a.address)
        for a in custody.registry.addresses.values()
        if a.wallet == wallet and not a.client and not a.change
    )
    if not own:
        raise InputError(Result.withdrawal_destination_invalid, f"{wallet} has no address")
    return wallet, own[0][1]


def native_asset(ledger: LedgerService, asset: Asset) -> Asset:
    """The asset a movement of ``asset`` pays its network fee in: its chain's own (the one of
    that chain with no token contract), else itself."""
    return next(
        (a for a in ledger.ledger.assets.values() if a.chain == asset.chain and not a.contract),
        asset,
    )


def _fee_max(ledger: LedgerService, policy: CompiledPolicy | None, asset: Asset) -> int:
    """The bound on the network fee in the chain's native asset (0 with no policy in force:
    the decision then blocks, and nothing is paid)."""
    if policy is None:
        return 0
    native = native_asset(ledger, asset)
    bound = policy.document.fee_max.get(native.code)
    if bound is None:
        raise InputError(
            Result.withdrawal_fee_max_missing, f"the policy bounds no {native.code} fee"
        )
    return bound


# ---------------------------------------------------------------------- the decision's inputs


def movement_request(spec: WithdrawalSpec, at_ns: int) -> MovementRequest:
    return MovementRequest(
        spec.kind, spec.initiator, spec.initiator_role, spec.pool, spec.wallet, spec.tier,
        spec.asset, spec.amount, spec.destination, at_ns, spec.client, spec.destination_wallet,
    )  # fmt: skip


def facts_for(ledger: LedgerService, found: MovementBooks, request: MovementRequest) -> Facts:
    return facts_at(ledger.ledger, found, request, lambda: transfer_records(ledger.store))


def facts_at(
    engine: Ledger,
    found: MovementBooks,
    request: MovementRequest,
    transfers: Callable[[], Iterable[TransferRecord]],
) -> Facts:
    """The facts of ``request`` from ``engine`` and ``found`` as they stand (the request not
    yet in them), ``transfers`` read only for a sweep: the service calls this as it decides,
    the audit as it replays the decision (service/withdrawal_decisions.py)."""
    asset = engine.assets[request.asset]
    available = 0
    if request.kind is MovementKind.client_withdrawal:
        account_id = _client_account_of(engine, request.client, request.pool, request.asset)
        assert account_id is not None
        state = engine.accounts[account_id]
        available = state.credits_posted - state.debits_posted - state.debits_pending
    position = engine.positions.get((request.pool, asset.number))
    residual = 0 if position is None else position.excess_worst
    prior, swept = 0, 0
    if request.kind is MovementKind.residual_sweep:
        prior, swept = _residual_history(engine, transfers(), request)
        swept += _sweeps_not_yet_held(found, request)
    return Facts(available, residual, prior, swept, _windows(found, request))


def _sweeps_not_yet_held(found: MovementBooks, request: MovementRequest) -> int:
    """The pool's sweeps of the asset that may still be held: awaiting approval (and not
    expired) or approved and not held yet. The ledger's transfers do not show them, and a
    sweep split in parts asked before any is approved would otherwise pass R2 part by part."""
    total = 0
    for withdrawal in found.withdrawals.withdrawals.values():
        spec, decided = withdrawal.spec, withdrawal.decided
        if spec.kind is not MovementKind.residual_sweep:
            continue
        if (spec.pool, spec.asset) != (request.pool, request.asset):
            continue
        if withdrawal.status is Status.approved or (
            withdrawal.status is Status.awaiting_approval
            and decided is not None
            and not awaiting_expired(withdrawal, request.at_ns)
        ):
            total += spec.amount
    return total


def _residual_history(
    engine: Ledger, records: Iterable[TransferRecord], request: MovementRequest
) -> tuple[int, int]:
    """The pool's residual interest at the close of the day before the request and its sweeps
    since the day began, up to the request: one pass over the transfers (fine for the ledgers
    of today; an index by pool and day is the first thing to add for ledgers of millions)."""
    accounts = {state.id: state.definition for state in engine.accounts.values()}
    positions = PoolPositions(accounts)
    today = day_start_ns(request.at_ns)
    since_today = []
    for record in records:
        if record.timestamp >= request.at_ns:
            break  # the journal is in time order: what follows came after the request
        if record.timestamp < today:
            positions.apply(record)
        else:
            since_today.append(record)
    swept = swept_since(since_today, accounts, request.pool, request.asset, today)
    return positions.residual.get((request.pool, request.asset), 0), swept


def _windows(found: MovementBooks, request: MovementRequest) -> dict[tuple[int, Any], int]:
    """Sums over the journal's earlier withdrawals of each velocity window the policy in
    force reads. Only those of the request's asset and kind requested within the longest
    window count: the book keeps withdrawals in request order, so it is read from the newest
    back to the window's start (the audit decides every journaled request again, and a walk
    over all the earlier ones would make it quadratic)."""
    version = found.policies.in_force(request.at_ns)
    if version is None or version.compiled is None or not version.compiled.windows:
        return {}
    longest_s = max(window_s for window_s, _ in version.compiled.windows)
    since_ns = request.at_ns - longest_s * 10**9
    recent = []
    for withdrawal in reversed(found.withdrawals.withdrawals.values()):
        if withdrawal.requested_at_ns <= since_ns:
            break
        recent.append(withdrawal)
    book = VelocityBook()
    for withdrawal in reversed(recent):
        spec = withdrawal.spec
        if withdrawal.status in _not_counted or (spec.asset, spec.kind) != (
            request.asset, request.kind,
        ):  # fmt: skip
            continue
        grouped = whose(spec.client, spec.initiator, spec.pool)
        book.add(withdrawal.requested_at_ns, spec.kind, spec.asset, spec.amount, grouped)
    grouped = whose(request.client, request.initiator, request.pool)
    return book.window_sums(
        version.compiled.windows, request.at_ns, request.kind, request.asset, grouped
    )


def eligible_approvers(
    policy: CompiledPolicy | None, decision: Decision
) -> tuple[frozenset[str], frozenset[str]]:
    """The members of the decision's groups, and of its senior group, in the policy version
    that decided (a later change of the groups does not change who approves this one)."""
    if policy is None:
        return frozenset(), frozenset()
    groups = policy.document.groups
    ordinary = frozenset(member for group in decision.groups for member in groups[group])
    seniors = frozenset(groups.get(decision.senior_group, ())) if decision.senior_group else (
        frozenset()
    )  # fmt: skip
    return ordinary, seniors
