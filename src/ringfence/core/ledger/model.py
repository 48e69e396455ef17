"""The domain's records: pools, clients, accounts, transfers and breaks.

Definitions are immutable values. A transfer as submitted (``Transfer``) is what the caller
asks for; a transfer as committed (``TransferRecord``) is what the ledger posted, with every
field resolved (the pending transfer's accounts and amount filled in, the asset and the
timestamp assigned). Records are never changed after commit; corrections are reversals.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from enum import IntEnum, IntFlag, StrEnum, unique
from typing import NamedTuple

from ringfence.core import limits
from ringfence.core.errors import InputError, Result
from ringfence.core.ledger.metadata import Metadata, no_metadata

_name_pattern = re.compile(r"[a-z0-9][a-z0-9_.:-]{0,31}\Z")
_id_digits_max = len(str(limits.id_max))


def check_name(name: object, what: str) -> str:
    """A client, pool, wallet or account-kind name: 1-32 of ``a-z 0-9 _ . : -``."""
    if not isinstance(name, str) or not _name_pattern.match(name):
        raise InputError(Result.name_invalid, f"{what} {name!r}")
    assert len(name) <= limits.name_length_max
    return name


def check_id(value: object, what: str = "id") -> int:
    """A caller-chosen u128 identifier: an int or a string of decimal digits, never zero."""
    # The common case first (a batch body holds three ids a transfer): a short string of ASCII
    # digits, read at once; anything else takes the checks below, which name what is wrong.
    if type(value) is str and len(value) <= _id_digits_max and value.isdigit() and value.isascii():
        number = int(value)
        if 0 < number <= limits.id_max:
            return number
    if isinstance(value, (bool, float)):
        raise InputError(Result.id_must_be_integer, f"{what} {value!r}")
    if isinstance(value, str):
        if not value.isascii() or not value.isdigit():
            raise InputError(Result.id_must_be_integer, f"{what} {value!r}")
        if len(value.lstrip("0")) > len(str(limits.id_max)):  # too large to be worth reading
            raise InputError(Result.id_must_be_below_2_128, f"{what} has {len(value)} digits")
        value = int(value)
    if type(value) is not int:
        raise InputError(Result.id_must_be_integer, f"{what} {type(value).__name__}")
    if value == 0:
        raise InputError(Result.id_must_not_be_zero, what)
    if value < 0:
        raise InputError(Result.id_must_not_be_negative, f"{what} {value}")
    if value > limits.id_max:
        raise InputError(Result.id_must_be_below_2_128, f"{what} {value}")
    return value


@unique
class PoolKind(StrEnum):
    individual = "individual"  # one client's assets in wallets of their own
    omnibus = "omnibus"  # many clients' assets in shared wallets held only for them


@unique
class Terms(StrEnum):
    custody = "custody"  # the client keeps title; the pool is segregated
    title_transfer = "title_transfer"  # earn or lending: the firm owns the assets


@unique
class Purpose(StrEnum):
    spot_custody = "spot_custody"
    margin_collateral = "margin_collateral"


@unique
class AccountClass(StrEnum):
    client = "client"  # owed to one client in one pool (credit-normal)
    custody = "custody"  # held in one wallet of a pool or of the house (debit-normal)
    house = "house"  # the firm's own (credit-normal)
    system = "system"  # clearing accounts that net to zero over a cycle


@unique
class Role(IntEnum):
    """An account's place in the segregation rules: its class, its kind, its pool or the house."""

    client_available = 1
    client_collateral = 2
    custody_pool = 3
    custody_house = 4
    house_revenue = 5
    house_capital = 6
    house_network_fees = 7
    house_insurance = 8
    house_loans = 9
    system_clearing = 10


# House kinds are a family name, optionally qualified (``insurance:btc-perp``).
house_roles = {
    "revenue": Role.house_revenue,
    "capital": Role.house_capital,
    "network_fees": Role.house_network_fees,
    "insurance": Role.house_insurance,
    "loans": Role.house_loans,
}
custody_tiers = ("hot", "warm", "cold")


@dataclass(frozen=True, slots=True)
class Client:
    name: str
    number: int  # u64 used in fixed-width journal records (authorisations)

    def __post_init__(self) -> None:
        check_name(self.name, "client")
        assert 0 < self.number < 2**64


@dataclass(frozen=True, slots=True)
class Pool:
    """The unit of segregation. An individual pool names its one client."""

    name: str
    kind: PoolKind
    terms: Terms
    purpose: Purpose = Purpose.spot_custody
    client: str = ""

    def __post_init__(self) -> None:
        check_name(self.name, "pool")
        if self.kind is PoolKind.individual:
            if not self.client:
                raise InputError(Result.individual_pool_has_one_client, self.name)
            check_name(self.client, "client")
        elif self.client:
            raise InputError(Result.individual_pool_has_one_client, "omnibus pools name none")


@dataclass(frozen=True, slots=True)
class AccountDefinition:
    """One account: one asset, one class, one owner, one pool or the house.

    ``owner`` is the client for client accounts, the wallet for custody accounts, the market
    for system accounts and ``house`` for house accounts. ``kind`` is ``available`` or
    ``collateral:<bucket>`` for clients, the wallet tier for custody, the family (optionally
    ``family:qualifier``) for house accounts and ``clearing:<market>`` for system accounts.
    """

    id: int
    asset: str
    account_class: AccountClass
    owner: str
    kind: str
    pool: str = ""  # empty: the house

    def __post_init__(self) -> None:
        check_id(self.id, "account id")
        check_name(self.owner, "owner")
        check_name(self.kind, "kind")
        if self.pool:
            check_name(self.pool, "pool")
        needs_pool = self.account_class is AccountClass.client
        forbids_pool = self.account_class in (AccountClass.house, AccountClass.system)
        if needs_pool and not self.pool:
            raise InputError(Result.account_class_requires_pool, self.account_class.value)
        if forbids_pool and self.pool:
            raise InputError(Result.account_class_forbids_pool, self.account_class.value)
        self.role  # noqa: B018 - validates the kind for the class

    @property
    def role(self) -> Role:
        family = self.kind.split(":", 1)[0]
        if self.account_class is AccountClass.client:
            if self.kind == "available":
                return Role.client_available
            if family == "collateral" and ":" in self.kind:
                return Role.client_collateral
        elif self.account_class is AccountClass.custody:
            if self.kind in custody_tiers:
                return Role.custody_pool if self.pool else Role.custody_house
        elif self.account_class is AccountClass.house:
            if family in house_roles:
                return house_roles[family]
        elif family == "clearing" and ":" in self.kind:
            return Role.system_clearing
        raise InputError(Result.account_kind_invalid, f"{self.account_class.value} {self.kind}")


@unique
class TransferCode(IntEnum):
    """Why value moved. The segregation rules (``segregation.py``) say which accounts each
    code may connect; the numbers are fixed forever because the journal stores them."""

    deposit = 1
    withdrawal = 2
    fee = 3
    internal_transfer = 4
    sweep = 5
    house_top_up = 6
    wallet_transfer = 7
    network_fee = 8
    house_funding = 9
    house_defunding = 10
    misdirected_deposit = 11
    break_cure = 12
    reversal = 13
    loan_out = 14
    loan_repayment = 15
    margin_post = 16
    margin_release = 17
    # Derivatives (core/risk): a settlement cycle's P&L and funding pass through the market's
    # clearing account, which nets to zero; rounding residue goes to that market's insurance.
    pnl_settlement = 18
    funding = 19
    clearing_residual = 20
    # Liquidation (core/liquidation/plan.py): every transfer stays inside one market. The
    # liquidated bucket settles with the market's clearing account and pays its fee to the
    # market's insurance fund; the fund (or, by policy, the global fund) covers a bankruptcy.
    liquidation_settlement = 21
    liquidation_fee = 22
    insurance_payout = 23
    global_insurance_payout = 24
    insurance_funding = 25  # the house capitalises a market's fund or the global fund


class TransferFlags(IntFlag):
    none = 0
    linked = 1  # commits or fails with the next event
    pending = 2  # reserves the amount until posted, voided or expired
    post_pending = 4
    void_pending = 8


transfer_flags_known = (
    TransferFlags.linked
    | TransferFlags.pending
    | TransferFlags.post_pending
    | TransferFlags.void_pending
)


@dataclass(frozen=True, slots=True)
class Transfer:
    """A transfer as a caller submits it.

    For ``post_pending`` and ``void_pending`` the accounts may be zero (taken from the pending
    transfer) and the amount ``None`` (the full pending amount). ``reference`` names the
    transfer a reversal corrects or the misdirected deposit a break cure makes good.
    ``authorised_by`` names the principal who authorised an internal transfer and
    ``authorisation`` is that principal's 64-byte Ed25519 signature over the canonical
    instruction (core/principals/authorisation.py): evidence, not a name. ``asset``, if given, must
    be the accounts' asset: a guard against sending an ETH amount to a BTC account.
    ``metadata`` is a small map of str to str (a deposit's chain txid, an external reference, a
    memo: core/ledger/metadata.py): part of the body, journaled and hashed with the record
    beside the fixed 128 bytes, and compared by a retry.
    """

    id: int
    debit_account: int
    credit_account: int
    amount: int | None
    code: TransferCode
    flags: TransferFlags = TransferFlags.none
    pending_id: int = 0
    timeout_s: int = 0
    reference: int = 0
    authorised_by: str = ""
    asset: str = ""
    authorisation: bytes = b""
    metadata: Metadata = no_metadata


class TransferRecord(NamedTuple):
    """A committed transfer with every field resolved; encoded as 128 bytes in the journal.

    A named tuple rather than a dataclass: the engine builds one per committed transfer on its
    hot path, and tuples are immutable, compare by value and cost a third of a frozen dataclass.
    """

    id: int
    debit_account: int
    credit_account: int
    amount: int
    pending_id: int
    reference: int
    timestamp: int
    authoriser: int  # the authorising principal's number, 0 when none
    timeout_s: int
    asset: int  # asset number
    code: int
    flags: int


class Authorisation(NamedTuple):
    """The evidence of one authorised transfer in a batch: the index of its record in the
    batch's committed records, the authorising principal's number and its signature."""

    record_index: int
    principal: int
    signature: bytes


@unique
class BreakState(StrEnum):
    open = "open"
    cured = "cured"


@dataclass(slots=True)
class Break:
    """A segregation break opened by a code that records an existing problem.

    A misdirected deposit leaves a client's asset in a house wallet: the pool is short by the
    amount until the house moves the same amount into the pool's wallets (``break_cure``) or the
    deposit is reversed.
    """

    id: int  # the id of the transfer that opened it
    pool: str
    asset: int
    amount: int
    cured: int
    opened_at: int

    @property
    def state(self) -> BreakState:
        return BreakState.cured if self.cured == self.amount else BreakState.open

    @property
    def outstanding(self) -> int:
        assert 0 <= self.cured <= self.amount
        return self.amount - self.cured
