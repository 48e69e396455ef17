"""External reconciliation (R6) and the lifecycle of its breaks.

Each wallet's custody account (the book) is compared with what its addresses hold (the chain
or a custodian's statement), per asset. A difference opens a *break*; the break carries over
from run to run, and ages, until it is cured. Its lifecycle:

    open ──explain──> explained ──(corrected and made good, difference zero)──> cured

- ``explain`` records the cause (a closed set, ``Cause``) and the action decided;
- ``correct`` records the correction (the ledger entry or chain transfer that removes the
  difference); the break stays open;
- ``make_good`` records the firm's own transfer into the pool that restores what clients were
  short (``house_top_up`` or ``break_cure`` into the wallet's pool, at least the largest
  shortfall the break ever showed). A break that never showed a shortfall (the chain held
  more than the book) or that sits in a house wallet owes clients nothing to make good;
- the break is *cured* only when it is corrected, made good (where owed) and the latest run
  found no difference (CASS 6.6.48G: resolved only when corrected and made good).

A cured break is never reopened: a later difference on the same wallet opens a new break.
Everything here is a value; the service journals each changed break (core/recon/codec.py).

The book of breaks (``BreakBook``) and the age (``age_s``) are not the reconciliation's alone:
any break that is carried from run to run by a key, keeps its first-seen time and is never
reopened once closed is kept by the same book (the possession breaks of
core/regulatory/possession_breaks.py).
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Mapping
from dataclasses import dataclass, field, replace
from enum import StrEnum, unique
from typing import Generic, Protocol, TypeVar

from ringfence.core.errors import Result
from ringfence.core.ledger.model import (
    AccountDefinition,
    Role,
    TransferCode,
    TransferFlags,
    TransferRecord,
)
from ringfence.core.recon.segregation_statement import ObservedHolding, WalletAsset, WalletFacts

_seconds_ns = 10**9
_make_good_codes = frozenset({int(TransferCode.house_top_up), int(TransferCode.break_cure)})
_not_posted = int(TransferFlags.pending | TransferFlags.void_pending)


@unique
class BreakState(StrEnum):
    open = "open"
    explained = "explained"
    cured = "cured"


@unique
class Cause(StrEnum):
    """Why a wallet's book and its holdings differ. The first four are suggested by the run;
    the rest are what an operator finds."""

    unrecorded_outflow = "unrecorded_outflow"  # the chain holds less than the book
    unrecorded_inflow = "unrecorded_inflow"  # the chain holds more than the book
    wallet_not_observed = "wallet_not_observed"  # no source answered for the wallet
    wallet_not_registered = "wallet_not_registered"  # a custody account with no wallet
    network_fee_not_booked = "network_fee_not_booked"
    deposit_not_booked = "deposit_not_booked"
    withdrawal_not_booked = "withdrawal_not_booked"
    transfer_in_flight = "transfer_in_flight"  # timing: sent, not yet confirmed
    misdirected_deposit = "misdirected_deposit"
    loss = "loss"  # theft, lost keys, a failed sub-custodian
    source_error = "source_error"  # the chain or statement was wrong


@dataclass(frozen=True, slots=True)
class ReconBreak:
    """One break: the latest figures for its wallet and asset, and where it stands."""

    id: int
    wallet: str
    asset: str
    book: int
    observed: int
    first_seen_ns: int
    last_seen_ns: int
    shortfall_max: int  # the largest book - observed the break has shown (0 if never short)
    state: BreakState = BreakState.open
    cause: Cause = Cause.unrecorded_outflow
    corrected: bool = False
    made_good: bool = False
    resolved_at_ns: int = 0
    action: str = ""  # what was decided (explain)
    correction: str = ""  # the reference of the correction
    make_good_transfer: int = 0  # the ledger transfer that made the pool good

    @property
    def difference(self) -> int:
        return self.observed - self.book

    @property
    def key(self) -> WalletAsset:
        return (self.wallet, self.asset)

    @property
    def closed(self) -> bool:
        return self.state is BreakState.cured

    def age_s(self, as_of_ns: int) -> int:
        """Whole seconds from first seen to ``as_of_ns`` (or to the cure), never negative."""
        return age_s(self.first_seen_ns, self.resolved_at_ns, as_of_ns)


def age_s(first_seen_ns: int, closed_at_ns: int, as_of_ns: int) -> int:
    """A break's age: whole seconds from first seen to ``as_of_ns``, or to its close (cure)
    when it is closed (``closed_at_ns`` 0: still open); never negative."""
    end = closed_at_ns or as_of_ns
    return max(end - first_seen_ns, 0) // _seconds_ns


@dataclass(frozen=True, slots=True)
class ExternalLine:
    """One wallet and asset: its book against what its addresses hold."""

    wallet: str
    pool: str
    tier: str
    asset: str
    book: int
    observed: int
    addresses: int  # observations summed (0: nothing was observed for the wallet and asset)
    registered: bool
    sources: tuple[str, ...]
    height_max: int

    @property
    def difference(self) -> int:
        return self.observed - self.book


def external_reconciliation(
    wallets: Iterable[WalletFacts],
    books: Mapping[WalletAsset, int],
    observed: Mapping[WalletAsset, ObservedHolding],
) -> list[ExternalLine]:
    """Every wallet and asset with a book or an observation, book against holdings."""
    facts = {wallet.name: wallet for wallet in wallets}
    lines = []
    for key in sorted({*books, *observed}):
        wallet_name, asset = key
        wallet = facts.get(wallet_name) or WalletFacts(wallet_name, "", "hot", False)
        seen = observed.get(key)
        lines.append(
            ExternalLine(
                wallet_name,
                wallet.pool,
                wallet.tier,
                asset,
                books.get(key, 0),
                seen.amount if seen else 0,
                seen.addresses if seen else 0,
                wallet.registered,
                tuple(sorted(seen.sources)) if seen else (),
                seen.height_max if seen else 0,
            )
        )
    return lines


def suggested_cause(line: ExternalLine) -> Cause:
    if not line.registered:
        return Cause.wallet_not_registered
    if line.addresses == 0:
        return Cause.wallet_not_observed
    return Cause.unrecorded_inflow if line.difference > 0 else Cause.unrecorded_outflow


# ---------------------------------------------------------------------- the book of breaks


class CarriedBreak(Protocol):
    """What the book needs of a break: its id, the key it is carried by from run to run (a
    wallet and asset, a pool and asset), when it was first seen, and whether it is closed."""

    @property
    def id(self) -> int: ...
    @property
    def key(self) -> tuple[str, str]: ...
    @property
    def first_seen_ns(self) -> int: ...
    @property
    def closed(self) -> bool: ...


B = TypeVar("B", bound=CarriedBreak)


@dataclass(slots=True)
class BreakBook(Generic[B]):
    """Every break ever opened, by id, as the journal's snapshots leave them."""

    breaks: dict[int, B] = field(default_factory=dict)
    active: dict[tuple[str, str], int] = field(default_factory=dict)  # key -> break id

    @property
    def id_next(self) -> int:
        return len(self.breaks) + 1

    def apply(self, snapshot: B) -> None:
        """Take a break's new snapshot. Raises ``ValueError`` for one that breaks the rules
        (a new id out of sequence, a cured break changed, an identity altered): the journal
        is then not what this code wrote."""
        before = self.breaks.get(snapshot.id)
        if before is None:
            if snapshot.id != self.id_next:
                raise ValueError(f"break {snapshot.id} opened out of sequence")
            if snapshot.key in self.active:
                raise ValueError(f"break {snapshot.id} opened beside an active one")
        else:
            if before.closed:
                raise ValueError(f"break {snapshot.id} changed after its cure")
            if (before.key, before.first_seen_ns) != (snapshot.key, snapshot.first_seen_ns):
                raise ValueError(f"break {snapshot.id} changed its wallet, asset or first seen")
        self.breaks[snapshot.id] = snapshot
        if snapshot.closed:
            self.active.pop(snapshot.key, None)
        else:
            self.active[snapshot.key] = snapshot.id

    def open_breaks(self) -> list[B]:
        return [self.breaks[i] for i in sorted(self.active.values())]


def run_breaks(
    book: BreakBook[ReconBreak], lines: Iterable[ExternalLine], as_of_ns: int
) -> list[ReconBreak]:
    """The snapshots a run leaves: every active break updated with its wallet's latest
    figures (aged, possibly cured now that the difference is gone), and a new break for every
    difference on a wallet with none active. ``book`` is not changed; apply the result."""
    by_key = {(line.wallet, line.asset): line for line in lines}
    changed: list[ReconBreak] = []
    for key, break_id in sorted(book.active.items(), key=lambda item: item[1]):
        before = book.breaks[break_id]
        line = by_key.get(key)
        book_units, observed = (line.book, line.observed) if line else (0, 0)
        updated = replace(
            before,
            book=book_units,
            observed=observed,
            last_seen_ns=max(as_of_ns, before.last_seen_ns),
            shortfall_max=max(before.shortfall_max, book_units - observed),
        )
        if line is not None and before.state is BreakState.open:
            updated = _reclassified(updated, line, as_of_ns)
        owes_clients = bool(line.pool) if line else True
        changed.append(_cured_if_due(updated, as_of_ns, owes_clients))
    next_id = book.id_next
    for key, line in by_key.items():
        if line.difference == 0 or key in book.active:
            continue
        changed.append(
            ReconBreak(
                next_id,
                line.wallet,
                line.asset,
                line.book,
                line.observed,
                as_of_ns,
                as_of_ns,
                max(line.book - line.observed, 0),
                cause=suggested_cause(line),
            )
        )
        next_id += 1
    return changed


_suggested_causes = frozenset(
    {Cause.unrecorded_outflow, Cause.unrecorded_inflow, Cause.wallet_not_observed,
     Cause.wallet_not_registered}
)  # fmt: skip


def _reclassified(broken: ReconBreak, line: ExternalLine, at_ns: int) -> ReconBreak:
    """An open break's suggested cause follows the latest run's facts (an operator's own
    explanation is never replaced).

    A break opened because its wallet was not registered measured nothing: an unregistered
    wallet cannot be observed, so its "holdings" of zero and its shortfall were artefacts. Once
    the wallet is registered and observed, the break is cured if book and holdings agree (the
    registration was the correction, and no shortfall was ever shown); otherwise it takes the
    cause and the shortfall the run now measures."""
    if broken.cause not in _suggested_causes:
        return broken
    if broken.cause is Cause.wallet_not_registered and line.registered:
        if line.difference == 0 and line.addresses > 0:
            return replace(broken, corrected=True, shortfall_max=0, state=BreakState.cured,
                           resolved_at_ns=at_ns)  # fmt: skip
        broken = replace(broken, shortfall_max=max(line.book - line.observed, 0))
    if line.difference == 0:
        return broken
    return replace(broken, cause=suggested_cause(line))


def _cured_if_due(broken: ReconBreak, at_ns: int, owes_clients: bool = True) -> ReconBreak:
    made_good = broken.made_good or broken.shortfall_max == 0 or not owes_clients
    if broken.corrected and made_good and broken.difference == 0:
        return replace(broken, state=BreakState.cured, resolved_at_ns=at_ns)
    return broken


# ---------------------------------------------------------------------- operators' actions


def explain(broken: ReconBreak, cause: Cause, action: str) -> tuple[Result, ReconBreak]:
    """Record why the break happened and what will be done; an explained break is still
    open for every purpose but its label."""
    if broken.state is BreakState.cured:
        return Result.break_already_cured, broken
    return Result.ok, replace(broken, state=BreakState.explained, cause=cause, action=action)


def correct(
    broken: ReconBreak, reference: str, at_ns: int, owes_clients: bool
) -> tuple[Result, ReconBreak]:
    """Record the correction. The break is cured only if it is also made good (where owed) and
    the latest run found no difference; otherwise it stays open and the result says why."""
    if broken.state is BreakState.cured:
        return Result.break_already_cured, broken
    corrected = _cured_if_due(replace(broken, corrected=True, correction=reference), at_ns,
                              owes_clients)  # fmt: skip
    return _cure_result(corrected, owes_clients), corrected


def make_good(
    broken: ReconBreak,
    transfer: TransferRecord | None,
    accounts: Mapping[int, AccountDefinition],
    wallet_pool: str,
    at_ns: int,
    *,
    used: Collection[int] = (),
) -> tuple[Result, ReconBreak]:
    """Record the firm's transfer that made the wallet's pool good. It must be a posted
    ``house_top_up`` or ``break_cure`` into a custody account of the wallet's pool, in the
    break's asset, of at least the largest shortfall the break showed, and not already the
    make-good of another break (``used``): one top-up cannot cure two shortfalls. (Runs are
    dated by their as-of time, which an operator may set apart from the ledger's clock, so a
    transfer's timestamp is not compared with the break's.)"""
    if broken.state is BreakState.cured:
        return Result.break_already_cured, broken
    if transfer is None:
        return Result.make_good_transfer_not_found, broken
    if transfer.id in used:
        return Result.make_good_transfer_used, broken
    debit = accounts.get(transfer.debit_account)
    valid = (
        transfer.code in _make_good_codes
        and not transfer.flags & _not_posted
        and debit is not None
        and debit.role is Role.custody_pool
        and debit.pool == wallet_pool != ""
        and debit.asset == broken.asset
        and transfer.amount >= broken.shortfall_max
    )
    if not valid:
        return Result.make_good_transfer_invalid, broken
    done = replace(broken, made_good=True, make_good_transfer=transfer.id)
    done = _cured_if_due(done, at_ns)
    return _cure_result(done, True), done


def _cure_result(broken: ReconBreak, owes_clients: bool) -> Result:
    if broken.state is BreakState.cured:
        return Result.ok
    if broken.difference != 0:
        return Result.break_difference_remains
    if not broken.corrected:
        return Result.break_not_corrected
    if owes_clients and broken.shortfall_max and not broken.made_good:
        return Result.break_not_made_good
    return Result.ok
