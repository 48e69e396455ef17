"""The reconciliation service: gather, reconcile, journal.

Gathers the ledger's balances (now, or as of an earlier time from the journal's transfers), the
registry's wallets, addresses and encumbrances, observations (from a ``HoldingsSource`` or a
saved file), the ledger's misdirected-deposit breaks and, where asked, the transfer history;
runs ``core.recon.run.reconcile``; and journals each run (its summary, coverage lines and the
breaks it opened, aged or cured) and each operator's action on a break through the ledger
service, so breaks carry over between runs and every change to them is hash-chained with the
ledger itself. On open it replays those entries into a ``ReconHistory``.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Iterator, Sequence

from ringfence.core import limits
from ringfence.core.batch import ClientAccountRow, RowsCut, sorted_rows
from ringfence.core.custody.deposits import deposit_transfer_id
from ringfence.core.custody.holdings import Inflow, Observation
from ringfence.core.custody.registry import Chain
from ringfence.core.errors import InputError, Result, StorageError
from ringfence.core.ledger.journal import EntryKind, decode_transfers, recon_kinds
from ringfence.core.ledger.metadata import decode_metadata
from ringfence.core.ledger.model import AccountClass, AccountDefinition, TransferRecord
from ringfence.core.recon import breaks as lifecycle
from ringfence.core.recon.breaks import Cause, ReconBreak
from ringfence.core.recon.codec import (
    Action,
    ActionKind,
    ReconHistory,
    check_action_text,
    encode_action,
    encode_run,
    replay_recon_entry,
)
from ringfence.core.recon.commingling import Finding, MisdirectedBreak, unbooked_house_inflows
from ringfence.core.recon.history import (
    ClientStatement,
    RegisterRow,
    balances_at,
    client_statement,
    funded_by_others,
    register_of_positions,
    residual_causes,
    with_chain_transactions,
    with_metadata,
    with_values,
    with_where_held,
)
from ringfence.core.recon.run import Reconciliation, ReconInput, ReconSettings, reconcile, summarise
from ringfence.core.recon.segregation_statement import (
    ClientRow,
    CustodyRow,
    PoolAsset,
    Requirement,
    WalletFacts,
)
from ringfence.service.batch import gather_requirements, ledger_cut
from ringfence.service.custody import CustodyService
from ringfence.service.ledger import LedgerService
from ringfence.service.policy import books
from ringfence.service.ports import Executor, HoldingsSource, PriceSource
from ringfence.service.venue_statement import VenueFigures, venue_figures

_day_ns = 86_400 * 10**9


class ReconService:
    """Reconciliation over one custody service (and so one ledger and one journal). With an
    ``executor``, the segregation requirement is a batch run (``service/batch.py``): summed
    over ranges of clients read from one cut, in tasks on the executor; without, it is summed
    here from the engine's own balances. Both give the same statement."""

    def __init__(
        self, custody: CustodyService, executor: Executor | None = None,
        clients_per_range: int = limits.batch_range_clients_default,
    ) -> None:
        self.custody = custody
        self.ledger: LedgerService = custody.ledger
        self.executor = executor
        self.clients_per_range = clients_per_range
        self.history = ReconHistory()
        self._load()

    def _load(self) -> None:
        self.history = ReconHistory()
        for entry in self.ledger.store.entries(kinds=recon_kinds):
            replay_recon_entry(self.history, entry.body)

    # ------------------------------------------------------------------ gathering

    def records(self, until_ns: int | None = None) -> Iterator[TransferRecord]:
        """Every committed transfer in journal order (up to ``until_ns`` exclusive)."""
        for entry in self.ledger.store.entries(kinds=[EntryKind.transfers]):
            _, records, _ = decode_transfers(entry.body)
            for record in records:
                if until_ns is not None and record.timestamp >= until_ns:
                    return
                yield record

    def definitions(self) -> dict[int, AccountDefinition]:
        return {i: a.definition for i, a in self.ledger.ledger.accounts.items()}

    def _balances(self, as_of_ns: int) -> dict[int, int] | None:
        """Balances as of ``as_of_ns`` summed from the journal's transfers; None when it is
        not before the ledger's last entry (the engine's own balances are then the answer)."""
        if as_of_ns >= self.ledger.ledger.timestamp_last:
            return None
        return balances_at(self.records(), self.definitions(), as_of_ns + 1)

    def _rows(
        self, as_of_ns: int, clients_too: bool = True
    ) -> tuple[list[ClientRow], list[CustodyRow]]:
        """Client (unless not ``clients_too``) and custody balances as of ``as_of_ns``."""
        engine = self.ledger.ledger
        at = self._balances(as_of_ns)
        balances = {i: a.balance for i, a in engine.accounts.items()} if at is None else at
        clients: list[ClientRow] = []
        custody: list[CustodyRow] = []
        for account_id, account in engine.accounts.items():
            d = account.definition
            if d.account_class is AccountClass.client and clients_too:
                clients.append((d.pool, d.asset, d.owner, balances.get(account_id, 0)))
            elif d.account_class is AccountClass.custody:
                custody.append((d.owner, d.pool, d.asset, balances.get(account_id, 0)))
        return clients, custody

    def _requirements(self, executor: Executor, as_of_ns: int) -> dict[PoolAsset, Requirement]:
        """The segregation requirement as a batch run: at the head, over the store's cut;
        before it, over the balances summed from the journal, held here."""
        at = self._balances(as_of_ns)
        if at is None:
            with ledger_cut(self.ledger, self.ledger.seq) as cut:
                return gather_requirements(executor, cut, self.clients_per_range)
        engine = self.ledger.ledger
        rows = sorted_rows(
            ClientAccountRow(a.owner_number, a.definition.owner, a.definition.asset,
                             a.definition.pool, at.get(i, 0))
            for i, a in engine.accounts.items()
            if a.definition.account_class is AccountClass.client)
        return gather_requirements(executor, RowsCut(self.ledger.seq, rows),
                                   self.clients_per_range)

    def wallets(self, as_of_ns: int) -> list[WalletFacts]:
        """Registered wallets with their pool and tier at ``as_of_ns``, then the owners of
        custody accounts the registry does not know (no address of theirs is watched)."""
        facts = []
        for state in self.custody.registry.wallets.values():
            held = [(p, t) for at, p, t in state.history if at <= as_of_ns]
            pool, tier = held[-1] if held else (state.pool, state.tier)
            facts.append(WalletFacts(state.wallet.name, pool, tier))
        known = set(self.custody.registry.wallets)
        for account in self.ledger.ledger.accounts.values():
            d = account.definition
            if d.account_class is AccountClass.custody and d.owner not in known:
                known.add(d.owner)
                facts.append(WalletFacts(d.owner, d.pool, d.kind, registered=False))
        return facts

    def _misdirected(self) -> tuple[dict[PoolAsset, int], list[MisdirectedBreak]]:
        engine = self.ledger.ledger
        open_breaks = [b for b in engine.breaks.values() if b.outstanding]
        records = self.ledger.store.transfers([b.id for b in open_breaks]) if open_breaks else {}
        outstanding: dict[PoolAsset, int] = {}
        found = []
        for broken in open_breaks:
            asset = engine.assets_by_number[broken.asset].code
            key = (broken.pool, asset)
            outstanding[key] = outstanding.get(key, 0) + broken.outstanding
            record = records.get(broken.id)
            client = wallet = ""
            if record is not None:
                client = engine.accounts[record.credit_account].definition.owner
                wallet = engine.accounts[record.debit_account].definition.owner
            found.append(
                MisdirectedBreak(
                    broken.id,
                    broken.pool,
                    asset,
                    client,
                    wallet,
                    broken.outstanding,
                    broken.opened_at,
                )
            )
        return outstanding, found

    def gather(
        self,
        as_of_ns: int,
        observations: Sequence[Observation] | None,
        settings: ReconSettings,
        *,
        history: bool = True,
        deposits_not_arrived: Collection[int] = (),
        inflows: Sequence[Inflow] = (),
    ) -> ReconInput:
        registry = self.custody.registry
        executor = self.executor
        clients, custody = self._rows(as_of_ns, clients_too=executor is None)
        required = None if executor is None else self._requirements(executor, as_of_ns)
        outstanding, misdirected = self._misdirected()
        causes = fundings = None
        if history:
            definitions = self.definitions()
            pools = self.ledger.ledger.pools
            causes = residual_causes(self.records(as_of_ns + 1), definitions)
            if deposits_not_arrived:
                fundings = funded_by_others(
                    self.records(as_of_ns + 1), definitions, pools, deposits_not_arrived
                )
        # The venue's unsettled P&L is known now only: a statement of an earlier time has none.
        now = as_of_ns >= self.ledger.ledger.timestamp_last
        venue = venue_figures(self.ledger) if now else VenueFigures()
        return ReconInput(
            as_of_ns,
            self.ledger.ledger.pools,
            clients,
            custody,
            self.wallets(as_of_ns),
            {address: a.wallet for address, a in registry.addresses.items()},
            observations,
            registry.encumbrances.values(),
            registry.released_at,
            outstanding,
            misdirected,
            causes,
            fundings or [],
            self._house_inflow_findings(inflows),
            settings,
            required,
            venue.unsettled,
            venue.equities,
            venue.undermargined,
        )

    def _house_inflow_findings(self, inflows: Sequence[Inflow]) -> list[Finding]:
        if not inflows:
            return []
        registry = self.custody.registry
        house = {
            address: a.wallet
            for address, a in registry.addresses.items()
            if not registry.wallets[a.wallet].pool
        }
        senders = {address: c.client for address, c in registry.client_addresses.items()}
        ids = {i.reference: deposit_transfer_id(i) for i in inflows}
        stored = self.ledger.store.transfers(list(ids.values()))
        booked = {reference: transfer_id in stored for reference, transfer_id in ids.items()}
        return unbooked_house_inflows(inflows, house, senders, booked)

    # ------------------------------------------------------------------ runs

    def as_of(self, as_of_ns: int | None) -> int:
        """The run's as-of time: given, else the ledger's next timestamp (now, and never
        before the journal's last entry)."""
        return self.ledger.next_timestamp() if as_of_ns is None else as_of_ns

    def segregation_statement(
        self,
        as_of_ns: int | None,
        observations: Sequence[Observation] | None,
        settings: ReconSettings,
        *,
        history: bool = True,
    ) -> Reconciliation:
        """A reconciliation that journals nothing (``statement segregation``)."""
        facts = self.gather(self.as_of(as_of_ns), observations, settings, history=history)
        return reconcile(facts, self.history.book)

    def run(
        self,
        as_of_ns: int | None,
        observations: Sequence[Observation] | None,
        settings: ReconSettings,
        deposits_not_arrived: Collection[int] = (),
        inflows: Sequence[Inflow] = (),
    ) -> Reconciliation:
        """Reconcile and journal the run; its break snapshots then carry over."""
        as_of_ns = self.as_of(as_of_ns)
        facts = self.gather(
            as_of_ns,
            observations,
            settings,
            deposits_not_arrived=deposits_not_arrived,
            inflows=inflows,
        )
        recon = reconcile(facts, self.history.book)
        timestamp = self.ledger.next_timestamp()
        run_number = len(self.history.runs) + 1
        for snapshot in recon.snapshots:
            self.history.book.apply(snapshot)
        summary, coverage = summarise(recon, self.history.book, run_number)
        self.history.runs.append((summary, coverage))
        try:
            self.ledger.append_entry(
                EntryKind.reconciliations,
                timestamp,
                lambda seq: encode_run(seq, timestamp, summary, coverage, recon.snapshots),
            )
        except StorageError:
            self._load()  # memory must not run ahead of the store
            raise
        return recon

    def run_with_source(
        self,
        source: HoldingsSource,
        settings: ReconSettings,
        from_height: int = 0,
        chain: Chain | None = None,
    ) -> Reconciliation:
        """Reconcile now against what ``source`` says every registered address (on ``chain``,
        which a source of one chain needs) holds, and check its inflows from ``from_height``
        for client payments to house wallets that were never booked."""
        watched = self.custody.watched_addresses(chain)
        observations = source.holdings(watched)
        inflows, _ = source.inflows(watched, from_height)
        return self.run(None, observations, settings, inflows=inflows)

    # ------------------------------------------------------------------ break actions

    def _break(self, break_id: int) -> ReconBreak:
        broken = self.history.book.breaks.get(break_id)
        if broken is None:
            raise InputError(Result.break_not_found, f"break {break_id}")
        return broken

    def _pool_of(self, wallet: str) -> str:
        state = self.custody.registry.wallets.get(wallet)
        if state is not None:
            return state.pool
        for account in self.ledger.ledger.accounts.values():
            d = account.definition
            if d.account_class is AccountClass.custody and d.owner == wallet:
                return d.pool
        return ""

    def explain(
        self, break_id: int, cause: Cause, action: str, at_ns: int | None = None
    ) -> tuple[Result, ReconBreak]:
        """Record a break's cause and the action decided. ``at_ns``: when it was decided
        (default now); every action's journal entry is stamped now."""
        _check_text(action)
        result, after = lifecycle.explain(self._break(break_id), cause, action)
        return self._record(result, after, ActionKind.explain, at_ns, text=action)

    def correct(
        self, break_id: int, reference: str, at_ns: int | None = None
    ) -> tuple[Result, ReconBreak]:
        _check_text(reference)
        broken = self._break(break_id)
        at_ns = self.ledger.next_timestamp() if at_ns is None else at_ns
        owes = bool(self._pool_of(broken.wallet))
        result, after = lifecycle.correct(broken, reference, at_ns, owes)
        return self._record(result, after, ActionKind.correct, at_ns, text=reference)

    def make_good(
        self, break_id: int, transfer_id: int, at_ns: int | None = None
    ) -> tuple[Result, ReconBreak]:
        broken = self._break(break_id)
        at_ns = self.ledger.next_timestamp() if at_ns is None else at_ns
        transfer = self.ledger.store.transfers([transfer_id]).get(transfer_id)
        pool = self._pool_of(broken.wallet)
        used = {
            b.make_good_transfer
            for b in self.history.book.breaks.values()
            if b.id != break_id and b.make_good_transfer
        }
        result, after = lifecycle.make_good(
            broken, transfer, self.definitions(), pool, at_ns, used=used
        )
        return self._record(result, after, ActionKind.make_good, at_ns, transfer_id=transfer_id)

    def _record(
        self,
        result: Result,
        after: ReconBreak,
        kind: ActionKind,
        at_ns: int | None = None,
        *,
        text: str = "",
        transfer_id: int = 0,
    ) -> tuple[Result, ReconBreak]:
        """Journal the action if it changed the break (a correction recorded on a break not yet
        made good is a change, and its result says what is still missing)."""
        if after == self.history.book.breaks[after.id]:
            return result, after
        timestamp = self.ledger.next_timestamp()
        action = Action(after.id, kind, timestamp if at_ns is None else at_ns, transfer_id, text)
        try:
            self.ledger.append_entry(
                EntryKind.break_actions,
                timestamp,
                lambda seq: encode_action(seq, timestamp, action, after),
            )
        except StorageError:
            self._load()
            raise
        self.history.book.apply(after)
        self.history.actions.append(action)
        return result, after

    # ------------------------------------------------------------------ statements

    def client_statement(
        self, client: str, from_ns: int, to_ns: int, prices: PriceSource | None = None
    ) -> ClientStatement:
        """A client's statement of position over [from_ns, to_ns), valued at the latest
        prices the source has at the period's end."""
        engine = self.ledger.ledger
        if client not in engine.clients:
            raise InputError(Result.client_not_found, client)
        if not 0 <= from_ns <= to_ns:
            raise InputError(Result.statement_period_invalid, f"{from_ns} > {to_ns}")
        if to_ns - from_ns > limits.statement_period_days_max * _day_ns:
            raise InputError(
                Result.statement_period_invalid,
                f"longer than {limits.statement_period_days_max} days",
            )
        definitions = self.definitions()
        statement = client_statement(
            client, from_ns, to_ns, self.records(to_ns), definitions, pools=engine.pools
        )
        statement = with_chain_transactions(statement, self.chain_transaction_of())
        statement = with_metadata(statement, self._metadata_of)
        found = prices.prices(list(engine.assets), to_ns) if prices is not None else {}
        return with_values(with_where_held(statement, self.tiers()), found, engine.assets)

    def _metadata_of(self, transfer_ids: list[int]) -> dict[int, dict[str, str]]:
        found = self.ledger.store.transfer_metadata(transfer_ids) if transfer_ids else {}
        return {transfer_id: decode_metadata(encoded) for transfer_id, encoded in found.items()}

    def chain_transaction_of(self) -> Callable[[int], tuple[str, str] | None]:
        """(chain, txid) by transfer id: a detected deposit's, and a broadcast withdrawal's
        for its hold and the hold's post. Deposits are looked up one by one (there may be
        millions); withdrawals gathered, as the book holds them by withdrawal."""
        deposits = self.custody.deposit_sources()
        assets = self.ledger.ledger.assets
        paid: dict[int, tuple[str, str]] = {}
        for withdrawal in books(self.ledger).withdrawals.withdrawals.values():
            if withdrawal.txid:
                chain = assets[withdrawal.spec.asset].chain
                for transfer_id in (withdrawal.hold_id, withdrawal.post_id):
                    if transfer_id:
                        paid[transfer_id] = (chain, withdrawal.txid)

        def transaction_of(transfer_id: int) -> tuple[str, str] | None:
            source = deposits.get(transfer_id)
            if source is not None:
                return source.chain.value, source.txid
            return paid.get(transfer_id)

        return transaction_of

    def tiers(self) -> dict[PoolAsset, dict[str, int]]:
        """Each pool's custody book per wallet tier, now."""
        found: dict[PoolAsset, dict[str, int]] = {}
        for account in self.ledger.ledger.accounts.values():
            d = account.definition
            if d.account_class is AccountClass.custody and d.pool:
                tiers = found.setdefault((d.pool, d.asset), {})
                tiers[d.kind] = tiers.get(d.kind, 0) + account.balance
        return found

    def register(self) -> Iterator[RegisterRow]:
        return register_of_positions(self.records(), self.definitions())


def _check_text(text: str) -> None:
    if not check_action_text(text):
        raise InputError(Result.name_invalid, "at most 94 printable ASCII characters")
