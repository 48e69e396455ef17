"""What the transfer history says: balances at a time, the causes of a pool's residual
interest, client statements of position (R7), the register of positions (R8), and withdrawals
that other clients' assets paid for.

Every function reads committed ``TransferRecord``s in journal (timestamp) order with the
account definitions they name. Only posted amounts count: a pending transfer moves no posted
balance and a void moves nothing; a ``post_pending`` record carries the amount it posted.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Iterable, Iterator, Mapping
from dataclasses import dataclass, field, replace

from ringfence.core.ledger.model import (
    AccountClass,
    AccountDefinition,
    Pool,
    PoolKind,
    TransferCode,
    TransferFlags,
    TransferRecord,
)
from ringfence.core.money import Asset, mul_div_floor
from ringfence.core.recon.segregation_statement import PoolAsset

_not_posted = int(TransferFlags.pending | TransferFlags.void_pending)
_withdrawal = int(TransferCode.withdrawal)
_deposit = int(TransferCode.deposit)
_code_names = {int(code): code.name for code in TransferCode}
# The codes the deposit scan books (core/custody/deposits.py), with the chain and txid it saw
# as metadata: the only movements whose metadata names their chain transaction.
chain_booked_codes: frozenset[str] = frozenset(
    {TransferCode.deposit.name, TransferCode.misdirected_deposit.name}
)


def posted(record: TransferRecord) -> bool:
    return not record.flags & _not_posted


def code_name(code: int) -> str:
    return _code_names.get(code, f"code_{code}")


def _debit_sign(definition: AccountDefinition) -> int:
    """+1 when a debit raises the account's normal-side balance (custody, loans), else -1."""
    return 1 if definition.account_class is AccountClass.custody else -1


def balances_at(
    records: Iterable[TransferRecord], accounts: Mapping[int, AccountDefinition], until_ns: int
) -> dict[int, int]:
    """Posted normal-side balances of every account touched by records before ``until_ns``
    (client and house accounts credit-normal, custody accounts debit-normal)."""
    balances: dict[int, int] = {}
    for record in records:
        if record.timestamp >= until_ns:
            break
        if not posted(record):
            continue
        debit = record.debit_account
        credit = record.credit_account
        sign = _debit_sign(accounts[debit])
        balances[debit] = balances.get(debit, 0) + sign * record.amount
        sign = _debit_sign(accounts[credit])
        balances[credit] = balances.get(credit, 0) - sign * record.amount
    return balances


def residual_causes(
    records: Iterable[TransferRecord], accounts: Mapping[int, AccountDefinition]
) -> dict[PoolAsset, dict[str, int]]:
    """Each pool's book residual interest (custody - client liabilities) split by the
    transfer codes that made it: a fee adds (until swept), a sweep takes out, a misdirected
    deposit takes out (the client is owed, the house wallet holds it), a cure puts back.
    Transfers inside one pool (a deposit, a withdrawal) change both sides and add nothing."""
    causes: dict[PoolAsset, dict[str, int]] = {}
    for record in records:
        if not posted(record):
            continue
        debit = accounts[record.debit_account]
        credit = accounts[record.credit_account]
        effects: dict[str, int] = {}
        if debit.pool and debit.account_class in (AccountClass.custody, AccountClass.client):
            effects[debit.pool] = effects.get(debit.pool, 0) + record.amount
        if credit.pool and credit.account_class in (AccountClass.custody, AccountClass.client):
            effects[credit.pool] = effects.get(credit.pool, 0) - record.amount
        for pool, effect in effects.items():
            if effect:
                named = causes.setdefault((pool, debit.asset), {})
                name = code_name(record.code)
                named[name] = named.get(name, 0) + effect
    return causes


# ---------------------------------------------------------------------- statements of position


@dataclass(frozen=True, slots=True)
class Price:
    """One unit of ``asset`` (its major unit) is worth ``units`` / 10^``scale`` of ``quote``,
    according to ``source`` at ``time_ns``."""

    asset: str
    quote: str
    units: int
    scale: int
    source: str
    time_ns: int

    def value(self, amount: int, asset: Asset) -> int:
        """The value of ``amount`` minor units in quote units of 10^-scale, rounded down (a
        statement never shows more than the asset is worth)."""
        assert asset.code == self.asset
        return mul_div_floor(amount, self.units, 10**asset.scale)


@dataclass(frozen=True, slots=True)
class Movement:
    transfer_id: int
    timestamp_ns: int
    asset: str
    pool: str
    account: int
    account_kind: str
    code: str
    amount: int  # signed: + credited to the client, - debited
    reference: int  # the transfer a reversal or cure refers to, else 0
    counterparty: str  # the other account's class and kind, e.g. custody:hot, house:revenue
    chain: str = ""  # the chain and transaction behind it, where the firm knows them: a
    txid: str = ""  # deposit detected on chain, a withdrawal broadcast
    # The transfer's own metadata (core/ledger/metadata.py): a deposit's txid and output, an
    # external reference, a memo; part of its journaled body.
    metadata: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class WhereHeld:
    pool: str
    pool_kind: str
    terms: str
    closing: int
    tiers: dict[str, int]  # the pool's custody book per wallet tier, at the statement's end


@dataclass(slots=True)
class AssetStatement:
    asset: str
    opening: int = 0
    closing: int = 0
    credits: int = 0
    debits: int = 0
    movements: list[Movement] = field(default_factory=list)
    held: list[WhereHeld] = field(default_factory=list)
    price: Price | None = None
    value: int | None = None  # closing x price, in the price's quote units

    @property
    def reconciles(self) -> bool:
        return self.opening + self.credits - self.debits == self.closing


@dataclass(frozen=True, slots=True)
class ClientStatement:
    client: str
    from_ns: int
    to_ns: int
    assets: list[AssetStatement]


def client_statement(
    client: str,
    from_ns: int,
    to_ns: int,
    records: Iterable[TransferRecord],
    accounts: Mapping[int, AccountDefinition],
    *,
    pools: Mapping[str, Pool],
) -> ClientStatement:
    """Per asset: the opening balance at ``from_ns``, every posted movement in
    [``from_ns``, ``to_ns``) with its reference, and the closing balance at ``to_ns``."""
    assert from_ns <= to_ns
    own = {
        account_id
        for account_id, definition in accounts.items()
        if definition.account_class is AccountClass.client and definition.owner == client
    }
    by_asset: dict[str, AssetStatement] = {}
    closing_by_pool: dict[PoolAsset, int] = {}
    for record in records:
        if record.timestamp >= to_ns:
            break
        if not posted(record):
            continue
        for account_id, sign, other in (
            (record.credit_account, 1, record.debit_account),
            (record.debit_account, -1, record.credit_account),
        ):
            if account_id not in own:
                continue
            definition = accounts[account_id]
            entry = by_asset.setdefault(definition.asset, AssetStatement(definition.asset))
            amount = sign * record.amount
            key = (definition.pool, definition.asset)
            closing_by_pool[key] = closing_by_pool.get(key, 0) + amount
            entry.closing += amount
            if record.timestamp < from_ns:
                entry.opening += amount
                continue
            if sign > 0:
                entry.credits += record.amount
            else:
                entry.debits += record.amount
            counterparty = accounts[other]
            entry.movements.append(
                Movement(
                    record.id,
                    record.timestamp,
                    definition.asset,
                    definition.pool,
                    account_id,
                    definition.kind,
                    code_name(record.code),
                    amount,
                    record.reference,
                    f"{counterparty.account_class.value}:{counterparty.kind}",
                )
            )
    for (pool_name, asset), closing in sorted(closing_by_pool.items()):
        pool = pools[pool_name]
        held = WhereHeld(pool_name, pool.kind.value, pool.terms.value, closing, {})
        by_asset[asset].held.append(held)
    return ClientStatement(client, from_ns, to_ns, [by_asset[a] for a in sorted(by_asset)])


def with_where_held(
    statement: ClientStatement, tiers: Mapping[PoolAsset, Mapping[str, int]]
) -> ClientStatement:
    """The statement with each pool's custody book per tier filled in."""
    for entry in statement.assets:
        entry.held = [
            WhereHeld(
                h.pool, h.pool_kind, h.terms, h.closing, dict(tiers.get((h.pool, entry.asset), {}))
            )
            for h in entry.held
        ]
    return statement


def with_chain_transactions(
    statement: ClientStatement, transaction_of: Callable[[int], tuple[str, str] | None]
) -> ClientStatement:
    """The statement with each movement's (chain, txid), by its transfer id, where known."""
    for entry in statement.assets:
        entry.movements = [
            replace(m, chain=found[0], txid=found[1])
            if (found := transaction_of(m.transfer_id)) is not None
            else m
            for m in entry.movements
        ]
    return statement


def with_metadata(
    statement: ClientStatement,
    metadata_of: Callable[[list[int]], Mapping[int, Mapping[str, str]]],
) -> ClientStatement:
    """The statement with each movement's metadata (looked up at once, by transfer id). A
    movement whose chain transaction is not otherwise known takes it from its metadata's
    ``txid`` (and ``chain``), which a deposit credited by the scan carries, but only when the
    firm's custody books it (``chain_booked_codes``): anyone who submits a transfer may write
    any metadata, and a client's internal transfer carrying ``txid`` is a memo, not a
    transaction the firm saw on chain. Its pairs still show, as metadata."""
    found = metadata_of([m.transfer_id for entry in statement.assets for m in entry.movements])
    for entry in statement.assets:
        movements = []
        for m in entry.movements:
            pairs = dict(found.get(m.transfer_id, {}))
            if not pairs:
                movements.append(m)
                continue
            booked_on_chain = m.code in chain_booked_codes
            txid = m.txid or (pairs.get("txid", "") if booked_on_chain else "")
            chain = m.chain or (pairs.get("chain", "") if txid and booked_on_chain else "")
            movements.append(replace(m, metadata=pairs, chain=chain, txid=txid))
        entry.movements = movements
    return statement


def with_values(
    statement: ClientStatement, prices: Mapping[str, Price], assets: Mapping[str, Asset]
) -> ClientStatement:
    for entry in statement.assets:
        price = prices.get(entry.asset)
        if price is not None and entry.closing >= 0:
            entry.price = price
            entry.value = price.value(entry.closing, assets[entry.asset])
    return statement


@dataclass(frozen=True, slots=True)
class RegisterRow:
    client: str
    pool: str
    asset: str
    account: int
    transfer_id: int
    timestamp_ns: int
    code: str
    amount: int  # signed
    balance: int  # the account's posted balance after the movement


def register_of_positions(
    records: Iterable[TransferRecord], accounts: Mapping[int, AccountDefinition]
) -> Iterator[RegisterRow]:
    """Every posted movement of every client account, in journal order, with the balance it
    left (MiCA Art. 75(2): one registered transaction per movement)."""
    balances: dict[int, int] = {}
    for record in records:
        if not posted(record):
            continue
        for account_id, sign in ((record.debit_account, -1), (record.credit_account, 1)):
            definition = accounts[account_id]
            if definition.account_class is not AccountClass.client:
                continue
            balance = balances.get(account_id, 0) + sign * record.amount
            balances[account_id] = balance
            yield RegisterRow(
                definition.owner, definition.pool, definition.asset, account_id, record.id,
                record.timestamp, code_name(record.code), sign * record.amount, balance,
            )  # fmt: skip


# ---------------------------------------------------------------------- cross-client funding


@dataclass(slots=True)
class Funding:
    """Withdrawals from one client account in an omnibus pool that the client's own arrived
    assets did not cover: other clients' assets in the shared wallet paid for them."""

    account: int
    client: str
    pool: str
    asset: str
    amount: int = 0
    withdrawals: list[int] = field(default_factory=list)
    deposits_not_arrived: list[int] = field(default_factory=list)


def funded_by_others(
    records: Iterable[TransferRecord],
    accounts: Mapping[int, AccountDefinition],
    pools: Mapping[str, Pool],
    deposits_not_arrived: Collection[int],
) -> list[Funding]:
    """Walk each omnibus client account's history counting only credits that arrived: a
    deposit in ``deposits_not_arrived`` (booked, never seen on chain) does not count. A
    withdrawal that takes this own balance below zero was paid with others' assets."""
    own: dict[int, int] = {}
    found: dict[int, Funding] = {}
    for record in records:
        if not posted(record):
            continue
        credit = accounts[record.credit_account]
        debit = accounts[record.debit_account]
        if _omnibus_client(credit, pools):
            if record.code == _deposit and record.id in deposits_not_arrived:
                entry = _funding(found, record.credit_account, credit)
                entry.deposits_not_arrived.append(record.id)
            else:
                own[record.credit_account] = own.get(record.credit_account, 0) + record.amount
        if _omnibus_client(debit, pools):
            before = own.get(record.debit_account, 0)
            after = before - record.amount
            own[record.debit_account] = after
            uncovered = max(-after, 0) - max(-before, 0)
            if record.code == _withdrawal and uncovered > 0:
                entry = _funding(found, record.debit_account, debit)
                entry.amount += uncovered
                entry.withdrawals.append(record.id)
    return [entry for _, entry in sorted(found.items()) if entry.amount > 0]


def _omnibus_client(definition: AccountDefinition, pools: Mapping[str, Pool]) -> bool:
    if definition.account_class is not AccountClass.client:
        return False
    return pools[definition.pool].kind is PoolKind.omnibus


def _funding(found: dict[int, Funding], account: int, definition: AccountDefinition) -> Funding:
    entry = found.get(account)
    if entry is None:
        entry = found[account] = Funding(
            account, definition.owner, definition.pool, definition.asset
        )
    return entry
