"""The wallet registry: which wallet belongs to which pool, which address to which client.

A wallet is designated to exactly one pool or to the house, sits in a tier (hot, warm, cold)
and is described by its keys: one account-level extended public key (BIP84 single-sig, or an
Ethereum BIP44 account), three for a 2-of-3 multisig vault, or a fixed address (a custodian's
omnibus account, a legacy address). Addresses are derived from those keys and assigned: to one
client (a deposit address) or to the pool itself. An address is assigned once; the same
address under another wallet or client is refused, so no address can ever serve two pools.

Every change is a value the shell journals (designations and tiers included, so nothing moves
silently) and replays through the same methods on load. Encumbrances (an amount pledged or
locked, to whom, from when until when) lower what a wallet may count as segregated funds.

Like the ledger engine, the registry decides and returns a ``Result``; it never raises for bad
input it can name, and a refused change leaves it untouched.
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass, field
from enum import StrEnum, unique
from typing import Final

from ringfence.core import limits
from ringfence.core.errors import InputError, Result
from ringfence.core.ledger.model import Pool, PoolKind, check_id, check_name, custody_tiers
from ringfence.core.money import check_transfer_units

_ok: Final = Result.ok
_exists: Final = Result.exists


@unique
class Chain(StrEnum):
    bitcoin = "bitcoin"
    ethereum = "ethereum"


@unique
class Scheme(StrEnum):
    """How a wallet's addresses come about."""

    address = "address"  # one fixed address, given as is
    bip84 = "bip84"  # P2WPKH from an account xpub: m/84'/coin'/account'
    multisig = "multisig"  # 2-of-3 P2WSH, BIP67-sorted keys, from three account xpubs
    eth = "eth"  # Ethereum BIP44 from an account xpub: m/44'/60'/account'


# Bitcoin's networks; an Ethereum wallet's network says only which extended keys it accepts.
networks: Final = ("mainnet", "testnet", "regtest")

scheme_chain: Final = {
    Scheme.bip84: Chain.bitcoin,
    Scheme.multisig: Chain.bitcoin,
    Scheme.eth: Chain.ethereum,
}
scheme_key_count: Final = {Scheme.address: 1, Scheme.bip84: 1, Scheme.multisig: 3, Scheme.eth: 1}


@unique
class EncumbranceKind(StrEnum):
    pledge = "pledge"  # promised to a creditor (a lender, a venue as collateral)
    lock = "lock"  # cannot move (staking, a court order, an exchange's settlement lock)


def check_text(text: object, what: str, length_max: int) -> str:
    """Printable ASCII without spaces, 1 to ``length_max`` characters (keys, addresses)."""
    if (
        not isinstance(text, str)
        or not 0 < len(text) <= length_max
        or not text.isascii()
        or not text.isprintable()
        or " " in text
    ):
        raise InputError(Result.wallet_keys_invalid, f"{what} {text!r}")
    return text


@dataclass(frozen=True, slots=True)
class Wallet:
    """A wallet as defined. ``pool`` and ``tier`` are as first designated; the registry's
    ``designation`` gives the current ones."""

    name: str
    chain: Chain
    scheme: Scheme
    keys: tuple[str, ...]
    pool: str = ""  # empty: the house
    tier: str = "hot"
    network: str = "mainnet"

    def __post_init__(self) -> None:
        check_name(self.name, "wallet")
        if self.pool:
            check_name(self.pool, "pool")
        if self.network not in networks:
            raise InputError(Result.network_unknown, repr(self.network))
        if self.tier not in custody_tiers:
            raise InputError(Result.wallet_tier_invalid, self.tier)
        if self.scheme in scheme_chain and scheme_chain[self.scheme] is not self.chain:
            raise InputError(Result.wallet_scheme_wrong_chain, f"{self.scheme} on {self.chain}")
        if len(self.keys) != scheme_key_count[self.scheme]:
            raise InputError(
                Result.wallet_keys_invalid,
                f"{self.scheme} takes {scheme_key_count[self.scheme]} keys, not {len(self.keys)}",
            )
        for key in self.keys:
            check_text(key, "key", limits.wallet_key_length_max)
        if len(set(self.keys)) != len(self.keys):
            raise InputError(Result.wallet_keys_invalid, "a key is given twice")


@dataclass(frozen=True, slots=True)
class Designation:
    """A wallet's pool (empty: the house) and tier from the journal entry that set them."""

    wallet: str
    pool: str
    tier: str

    def __post_init__(self) -> None:
        check_name(self.wallet, "wallet")
        if self.pool:
            check_name(self.pool, "pool")
        if self.tier not in custody_tiers:
            raise InputError(Result.wallet_tier_invalid, self.tier)


@dataclass(frozen=True, slots=True)
class AddressAssignment:
    """One address of a wallet: derived at ``index`` (on the change chain if ``change``), and
    assigned to ``client`` (a deposit address) or, with no client, to the wallet's pool."""

    address: str
    wallet: str
    index: int = 0
    change: bool = False
    client: str = ""

    def __post_init__(self) -> None:
        check_text(self.address, "address", limits.address_length_max)
        check_name(self.wallet, "wallet")
        if self.client:
            check_name(self.client, "client")
        if type(self.index) is not int or not 0 <= self.index <= limits.derivation_index_max:
            raise InputError(Result.derivation_index_invalid, repr(self.index))


@dataclass(frozen=True, slots=True)
class ClientAddress:
    """An address outside the firm that belongs to a client (where they send from and may
    withdraw to). An inflow from it into a house wallet is that client's misdirected deposit."""

    address: str
    client: str

    def __post_init__(self) -> None:
        check_text(self.address, "address", limits.address_length_max)
        check_name(self.client, "client")


@dataclass(frozen=True, slots=True)
class Encumbrance:
    """``amount`` of ``asset`` in ``wallet`` pledged or locked to ``beneficiary`` over
    [start_ns, until_ns). ``until_ns`` 0: until released."""

    id: int
    wallet: str
    asset: str
    amount: int
    kind: EncumbranceKind
    beneficiary: str
    start_ns: int
    until_ns: int = 0

    def __post_init__(self) -> None:
        check_id(self.id, "encumbrance id")
        check_name(self.wallet, "wallet")
        check_name(self.beneficiary, "beneficiary")
        check_transfer_units(self.amount)
        for value in (self.start_ns, self.until_ns):
            if type(value) is not int or not 0 <= value <= limits.timestamp_ns_max:
                raise InputError(Result.encumbrance_period_invalid, repr(value))
        if self.until_ns and self.until_ns <= self.start_ns:
            raise InputError(Result.encumbrance_period_invalid, "ends before it starts")

    def active(self, at_ns: int, released_at_ns: int = 0) -> bool:
        ends = min(t for t in (self.until_ns, released_at_ns, limits.timestamp_ns_max) if t)
        return self.start_ns <= at_ns < ends


@dataclass(frozen=True, slots=True)
class Release:
    """An encumbrance ended early (the loan repaid, the lock lifted)."""

    id: int


@dataclass(frozen=True, slots=True)
class DepositSource:
    """Where the deposit posted as ``transfer_id`` came from on ``chain``: its ``reference``,
    ``txid:vout`` on Bitcoin, the transaction hash (``hash:log_index`` for a token) on
    Ethereum. The transfer id is a one-way hash of it, so it is recorded beside it."""

    transfer_id: int
    chain: Chain
    reference: str

    def __post_init__(self) -> None:
        check_id(self.transfer_id, "deposit transfer id")
        check_text(self.reference, "chain reference", limits.chain_reference_length_max)

    @property
    def txid(self) -> str:
        return self.reference.split(":", 1)[0]


RegistryRecord = (
    Wallet | Designation | AddressAssignment | ClientAddress | Encumbrance | Release | DepositSource
)


@dataclass(slots=True)
class WalletState:
    wallet: Wallet
    number: int  # u32 in fixed-width journal records
    pool: str
    tier: str
    history: list[tuple[int, str, str]] = field(default_factory=list)  # (timestamp, pool, tier)
    client_addresses: int = 0


class Registry:
    """Wallets, their designations, assigned addresses and encumbrances.

    The ledger's pools and clients are passed in (``pools``, ``clients``) because a wallet's
    pool and an address's client must exist; the registry holds nothing of the ledger's own.
    """

    def __init__(self) -> None:
        self.wallets: dict[str, WalletState] = {}
        self.wallets_by_number: dict[int, WalletState] = {}
        self.addresses: dict[str, AddressAssignment] = {}
        self.client_addresses: dict[str, ClientAddress] = {}
        self.encumbrances: dict[int, Encumbrance] = {}
        self.released_at: dict[int, int] = {}  # encumbrance id -> timestamp released
        self.deposit_sources: dict[int, DepositSource] = {}  # by the deposit's transfer id

    # ------------------------------------------------------------------ wallets

    def define_wallet(
        self, wallet: Wallet, pools: dict[str, Pool], timestamp: int
    ) -> tuple[Result, WalletState | None]:
        existing = self.wallets.get(wallet.name)
        if existing is not None:
            same = existing.wallet == wallet
            return (_exists, existing) if same else (Result.wallet_exists_with_different_body, None)
        if wallet.pool and wallet.pool not in pools:
            return Result.pool_not_found, None
        if len(self.wallets) >= limits.wallets_max:
            return Result.wallets_exceeded, None
        if wallet.scheme is Scheme.address and self._taken(wallet.keys[0]):
            return Result.address_designated_twice, None
        state = WalletState(wallet, len(self.wallets) + 1, wallet.pool, wallet.tier)
        state.history.append((timestamp, wallet.pool, wallet.tier))
        self.wallets[wallet.name] = state
        self.wallets_by_number[state.number] = state
        if wallet.scheme is Scheme.address:
            self.addresses[wallet.keys[0]] = AddressAssignment(wallet.keys[0], wallet.name)
        return _ok, state

    def designate(
        self, designation: Designation, pools: dict[str, Pool], custody_held: int, timestamp: int
    ) -> Result:
        """Move a wallet to another pool (or the house) or tier. ``custody_held`` is what the
        ledger's custody accounts for the wallet hold in its current pool: a wallet moves
        between pools only when empty, so no client's asset changes pool by a relabelling."""
        state = self.wallets.get(designation.wallet)
        if state is None:
            return Result.wallet_not_found
        if designation.pool and designation.pool not in pools:
            return Result.pool_not_found
        if (state.pool, state.tier) == (designation.pool, designation.tier):
            return _exists
        if designation.pool != state.pool:
            if custody_held:
                return Result.wallet_not_empty
            if state.client_addresses:
                return Result.wallet_has_client_addresses
        state.pool, state.tier = designation.pool, designation.tier
        state.history.append((timestamp, designation.pool, designation.tier))
        return _ok

    # ------------------------------------------------------------------ addresses

    def _taken(self, address: str) -> bool:
        return address in self.addresses or address in self.client_addresses

    def assign(
        self, assignment: AddressAssignment, pools: dict[str, Pool], clients: Collection[str]
    ) -> Result:
        existing = self.addresses.get(assignment.address)
        if existing is not None:
            return _exists if existing == assignment else Result.address_designated_twice
        if assignment.address in self.client_addresses:
            return Result.address_designated_twice
        state = self.wallets.get(assignment.wallet)
        if state is None:
            return Result.wallet_not_found
        if state.wallet.scheme is Scheme.address:
            return Result.wallet_keys_invalid  # its one address was assigned at definition
        if len(self.addresses) >= limits.addresses_max:
            return Result.addresses_exceeded
        if assignment.client:
            if assignment.client not in clients:
                return Result.client_not_found
            if not state.pool:
                return Result.house_wallet_has_no_client_addresses
            pool = pools[state.pool]
            if pool.kind is PoolKind.individual and pool.client != assignment.client:
                return Result.client_not_in_pool
            state.client_addresses += 1
        self.addresses[assignment.address] = assignment
        return _ok

    def register_client_address(self, record: ClientAddress, clients: Collection[str]) -> Result:
        """Note a client's own outside address; never one of the firm's, never two clients'."""
        existing = self.client_addresses.get(record.address)
        if existing is not None:
            return _exists if existing == record else Result.address_designated_twice
        if record.address in self.addresses:
            return Result.address_designated_twice
        if record.client not in clients:
            return Result.client_not_found
        if len(self.client_addresses) >= limits.addresses_max:
            return Result.addresses_exceeded
        self.client_addresses[record.address] = record
        return _ok

    def owner_of(self, address: str, pools: dict[str, Pool]) -> tuple[WalletState, str] | None:
        """The wallet holding ``address`` and the client it is assigned to ("" for an omnibus
        pool's or the house's own address); ``None`` for an address the firm does not know.
        Every address of an individual pool's wallet is that pool's one client's."""
        assignment = self.addresses.get(address)
        if assignment is None:
            return None
        state = self.wallets[assignment.wallet]
        if assignment.client or not state.pool:
            return state, assignment.client
        pool = pools[state.pool]
        return state, pool.client if pool.kind is PoolKind.individual else ""

    # ------------------------------------------------------------------ encumbrances

    def encumber(self, encumbrance: Encumbrance, assets: Collection[str]) -> Result:
        existing = self.encumbrances.get(encumbrance.id)
        if existing is not None:
            same = existing == encumbrance
            return _exists if same else Result.encumbrance_exists_with_different_body
        if encumbrance.wallet not in self.wallets:
            return Result.wallet_not_found
        if encumbrance.asset not in assets:
            return Result.asset_not_found
        self.encumbrances[encumbrance.id] = encumbrance
        return _ok

    def release(self, release: Release, timestamp: int) -> Result:
        if release.id not in self.encumbrances:
            return Result.encumbrance_not_found
        if release.id in self.released_at:
            return _exists
        self.released_at[release.id] = timestamp
        return _ok

    def record_deposit_source(self, source: DepositSource) -> Result:
        found = self.deposit_sources.get(source.transfer_id)
        if found is not None:
            return _exists if found == source else Result.exists_with_different_reference
        self.deposit_sources[source.transfer_id] = source
        return _ok

    def encumbered(self, wallet: str, asset: str, at_ns: int) -> int:
        """What of ``asset`` in ``wallet`` is pledged or locked at ``at_ns``."""
        return sum(
            e.amount
            for e in self.encumbrances.values()
            if e.wallet == wallet
            and e.asset == asset
            and e.active(at_ns, self.released_at.get(e.id, 0))
        )

    def pool_of(self, wallet: str) -> str:
        return self.wallets[wallet].pool

    # ------------------------------------------------------------------ one entry point

    def apply(
        self,
        record: RegistryRecord,
        ledger_view: LedgerView,
        timestamp: int,
        custody_held: int = 0,
    ) -> Result:
        """Decide one change of any kind; the shell journals the ones that return ``ok``, and
        replays the journal through here on load."""
        if isinstance(record, Wallet):
            return self.define_wallet(record, ledger_view.pools, timestamp)[0]
        if isinstance(record, Designation):
            return self.designate(record, ledger_view.pools, custody_held, timestamp)
        if isinstance(record, AddressAssignment):
            return self.assign(record, ledger_view.pools, ledger_view.clients)
        if isinstance(record, ClientAddress):
            return self.register_client_address(record, ledger_view.clients)
        if isinstance(record, Encumbrance):
            return self.encumber(record, ledger_view.assets)
        if isinstance(record, DepositSource):
            return self.record_deposit_source(record)
        return self.release(record, timestamp)


@dataclass(frozen=True, slots=True)
class LedgerView:
    """What the registry checks against: the ledger's pools, clients and asset codes."""

    pools: dict[str, Pool]
    clients: Collection[str]
    assets: Collection[str]
