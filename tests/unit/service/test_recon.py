"""service/recon.py: hand-computed segregation statements, breaks that carry over, age and are
cured only when corrected and made good, commingling findings, and runs that survive a reopen
and an audit.

The custodian is tests/support.py's: pool ``main`` (omnibus, custody) with wallets ``main-hot``
and ``main-cold``, the house's ``house-hot``; the registry knows each wallet by one address.
"""

from __future__ import annotations

from collections.abc import Collection, Iterator
from pathlib import Path

import pytest
from tests.support import MAIN, Custodian, btc_address, build_custodian, journal_signer

from ringfence.adapters.clock import ManualClock
from ringfence.adapters.prices import PriceTable
from ringfence.adapters.storage.memory import MemoryStore
from ringfence.adapters.storage.sqlite import SqliteStore
from ringfence.bootstrap import open_store
from ringfence.core.custody.holdings import Inflow, Observation
from ringfence.core.custody.registry import (
    Chain,
    ClientAddress,
    Encumbrance,
    EncumbranceKind,
    Scheme,
    Wallet,
)
from ringfence.core.errors import InputError, Result
from ringfence.core.ledger.model import Transfer, TransferCode
from ringfence.core.recon.breaks import BreakState, Cause
from ringfence.core.recon.commingling import FindingKind, Severity
from ringfence.core.recon.run import ReconSettings
from ringfence.core.recon.segregation_statement import Alert, FundsBasis, StatementLine
from ringfence.service.audit import verify_store
from ringfence.service.custody import CustodyService
from ringfence.service.ledger import LedgerService
from ringfence.service.ports import LedgerStore
from ringfence.service.recon import ReconService

DAY_NS = 86_400 * 10**9
ADDRESSES = {
    "main-hot": btc_address("mainhot"),
    "main-cold": btc_address("maincold"),
    "house-hot": btc_address("househot"),
}
WALLETS = [
    Wallet("main-hot", Chain.bitcoin, Scheme.address, (btc_address("mainhot"),), MAIN, "hot"),
    Wallet("main-cold", Chain.bitcoin, Scheme.address, (btc_address("maincold"),), MAIN, "cold"),
    Wallet("house-hot", Chain.bitcoin, Scheme.address, (btc_address("househot"),), "", "hot"),
]


class Firm:
    """The custodian, its registry and the reconciliation service over one store."""

    def __init__(self, store: LedgerStore, clock: ManualClock) -> None:
        self.store = store
        self.clock = clock
        self.ledger = LedgerService(store, clock, journal_signer())
        self.custodian: Custodian = build_custodian(self.ledger)
        self.custody = CustodyService(self.ledger)
        assert self.custody.change(WALLETS) == [Result.ok] * 3
        self.recon = ReconService(self.custody)
        self.next_id = 1

    def submit(self, *events: Transfer) -> None:
        assert self.ledger.submit(list(events)) == [Result.ok] * len(events)

    def transfer_id(self) -> int:
        self.next_id += 1
        return self.next_id

    def deposit(self, client: str, amount: int) -> None:
        self.submit(self.custodian.deposit(self.transfer_id(), client, amount))


def held(**amounts: int) -> list[Observation]:
    """The chain: what each named wallet's address holds of BTC."""
    return [
        Observation(Chain.bitcoin, ADDRESSES[wallet], "BTC", amount, 900, 0, "listed")
        for wallet, amount in amounts.items()
    ]


def line(recon_lines: list[StatementLine], pool: str = MAIN) -> StatementLine:
    (found,) = [x for x in recon_lines if (x.pool, x.asset) == (pool, "BTC")]
    return found


@pytest.fixture(params=["memory", "sqlite", "postgres"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[LedgerStore]:
    """Runs and break actions are journal entries of kinds 10 and 11: every store takes them
    (PostgreSQL once migration 0004 widened its kind check)."""
    opened: LedgerStore
    if request.param == "memory":
        opened = MemoryStore()
    elif request.param == "sqlite":
        opened = SqliteStore(str(tmp_path / "ledger.db"))
    else:
        opened = open_store(request.getfixturevalue("postgres_url"))
    yield opened
    opened.close()


@pytest.fixture
def firm(store: LedgerStore) -> Firm:
    return Firm(store, ManualClock(10**18))


def test_an_omnibus_pool_holding_90_against_100_owed_is_undersegregated_by_10(firm: Firm) -> None:
    firm.deposit("alice", 60)
    firm.deposit("bob", 40)
    recon = firm.recon.segregation_statement(None, held(**{"main-hot": 90}), ReconSettings())
    main = line(recon.segregation_lines)
    assert (main.requirement, main.funds, main.excess) == (100, 90, -10)
    assert main.alert is Alert.undersegregated
    assert recon.basis is FundsBasis.observed
    assert main.sources == ("listed",)
    assert main.height_max == 900


def test_an_encumbered_wallet_counts_only_what_is_free(firm: Firm) -> None:
    firm.deposit("alice", 100)
    pledge = Encumbrance(1, "main-cold", "BTC", 30, EncumbranceKind.pledge, "lender", 0)
    assert firm.custody.change([pledge]) == [Result.ok]
    chain = held(**{"main-hot": 60, "main-cold": 40})
    main = line(firm.recon.segregation_statement(None, chain, ReconSettings()).segregation_lines)
    assert (main.observed, main.encumbered, main.funds) == (100, 30, 70)
    assert main.excess == -30
    assert main.tiers == {"cold": 10, "hot": 60}


def test_a_fee_not_yet_swept_is_residual_interest_with_its_cause(firm: Firm) -> None:
    firm.deposit("alice", 100)
    firm.submit(firm.custodian.fee(firm.transfer_id(), "alice", 1))
    settings = ReconSettings({(MAIN, "BTC"): 5})
    recon = firm.recon.segregation_statement(None, held(**{"main-hot": 100}), settings)
    main = line(recon.segregation_lines)
    assert (main.requirement, main.funds, main.residual_interest) == (99, 100, 1)
    assert main.residual_interest_book == 1
    assert main.alert is Alert.below_target
    (internal,) = [x for x in recon.internal if x.pool == MAIN and x.asset == "BTC"]
    assert (internal.liabilities, internal.custody, internal.difference) == (99, 100, 1)
    assert internal.causes == {"fee": 1}


def test_a_misdirected_deposit_is_a_client_asset_in_a_house_wallet(firm: Firm) -> None:
    firm.submit(firm.custodian.house_funding(firm.transfer_id(), 1_000))
    broken = firm.transfer_id()
    firm.submit(firm.custodian.misdirected(broken, "carol", 25))
    recon = firm.recon.segregation_statement(None, None, ReconSettings())
    (finding,) = [f for f in recon.findings if f.kind is FindingKind.client_assets_in_house_wallet]
    assert finding.severity is Severity.critical
    assert (finding.pool, finding.client, finding.wallet, finding.amount) == (
        MAIN, "carol", "house-hot", 25,
    )  # fmt: skip
    assert finding.evidence["ledger_break"] == str(broken)
    (internal,) = [x for x in recon.internal if x.pool == MAIN and x.asset == "BTC"]
    assert (internal.difference, internal.breaks_outstanding) == (-25, 25)
    assert internal.causes == {"misdirected_deposit": -25}
    assert recon.basis is FundsBasis.book


def test_house_assets_beyond_the_target_are_flagged(firm: Firm) -> None:
    firm.deposit("alice", 1_000)
    settings = ReconSettings({(MAIN, "BTC"): 10}, excess_tolerance_bps=100)
    recon = firm.recon.segregation_statement(None, held(**{"main-hot": 1_050}), settings)
    (finding,) = [f for f in recon.findings if f.kind is FindingKind.house_assets_beyond_target]
    assert finding.amount == 1_050 - 1_000 - 10 - 10  # excess - target - 1% of the requirement
    assert finding.severity is Severity.warning


def test_a_withdrawal_paid_with_other_clients_assets_is_flagged(firm: Firm) -> None:
    firm.deposit("alice", 100)
    never_arrived = firm.transfer_id()
    firm.submit(firm.custodian.deposit(never_arrived, "bob", 50))
    withdrawal = firm.transfer_id()
    firm.submit(firm.custodian.withdrawal(withdrawal, "bob", 50))
    recon = firm.recon.run(
        None, held(**{"main-hot": 50}), ReconSettings(), deposits_not_arrived={never_arrived}
    )
    (finding,) = [f for f in recon.findings if f.kind is FindingKind.client_funded_another]
    assert (finding.client, finding.amount, finding.severity) == ("bob", 50, Severity.critical)
    assert finding.evidence["withdrawals"] == str(withdrawal)
    assert finding.evidence["deposits_not_arrived"] == str(never_arrived)


class ListedSource:
    """A holdings source answering from lists (the chains' adapters have their own tests)."""

    name = "listed"

    def __init__(self, holdings: list[Observation], inflows: list[Inflow]) -> None:
        self._holdings, self._inflows = holdings, inflows

    def holdings(self, addresses: Collection[str]) -> list[Observation]:
        return [o for o in self._holdings if o.address in addresses]

    def inflows(self, addresses: Collection[str], from_height: int) -> tuple[list[Inflow], int]:
        found = [i for i in self._inflows if i.address in addresses and i.height >= from_height]
        return found, max((i.height for i in found), default=0)


def test_an_unbooked_inflow_from_a_client_to_a_house_wallet_is_flagged(firm: Firm) -> None:
    assert firm.custody.change([ClientAddress(btc_address("carol-own"), "carol")]) == [Result.ok]
    inflow = Inflow(
        Chain.bitcoin,
        btc_address("househot"),
        "BTC",
        7,
        "ab" * 32 + ":0",
        btc_address("carol-own"),
        9,
        0,
        "listed",
    )
    source = ListedSource(held(**{"house-hot": 7}), [inflow])
    recon = firm.recon.run_with_source(source, ReconSettings())
    (finding,) = recon.findings
    assert (finding.kind, finding.client, finding.wallet) == (
        FindingKind.client_assets_in_house_wallet, "carol", "house-hot",
    )  # fmt: skip
    assert finding.evidence["recorded"] == "no"


# ---------------------------------------------------------------------- breaks


def unbooked_network_fee(firm: Firm) -> int:
    """Alice deposits 100 and pays a fee of 1; the chain shows a network fee of 1 paid from
    main-hot that the book does not have. Returns the break's id after the first run."""
    firm.deposit("alice", 100)
    firm.submit(firm.custodian.fee(firm.transfer_id(), "alice", 1))
    firm.submit(firm.custodian.house_funding(firm.transfer_id(), 1_000))
    recon = firm.recon.run(None, held(**{"main-hot": 99, "house-hot": 1_000}), ReconSettings())
    (opened,) = recon.snapshots
    assert (opened.wallet, opened.book, opened.observed, opened.shortfall_max) == (
        "main-hot", 100, 99, 1,
    )  # fmt: skip
    assert opened.cause is Cause.unrecorded_outflow
    return opened.id


def test_a_break_carries_over_and_ages(firm: Firm) -> None:
    break_id = unbooked_network_fee(firm)
    first_seen = firm.recon.history.book.breaks[break_id].first_seen_ns
    firm.clock.advance(seconds=86_400)
    recon = firm.recon.run(None, held(**{"main-hot": 99, "house-hot": 1_000}), ReconSettings())
    (again,) = recon.snapshots
    assert again.id == break_id
    assert again.first_seen_ns == first_seen
    assert again.age_s(recon.as_of_ns) == 86_399  # a day less the few ns it was first seen late
    assert [b.id for b in firm.recon.history.book.open_breaks()] == [break_id]


def test_a_break_corrected_but_not_made_good_stays_open(firm: Firm) -> None:
    break_id = unbooked_network_fee(firm)
    result, explained = firm.recon.explain(break_id, Cause.network_fee_not_booked, "book it")
    assert (result, explained.state) == (Result.ok, BreakState.explained)
    correction = firm.transfer_id()
    network_fee = Transfer(
        correction, firm.custodian.house("network_fees"), firm.custodian.wallet(MAIN), 1,
        TransferCode.network_fee,
    )  # fmt: skip
    firm.submit(network_fee)
    chain = held(**{"main-hot": 99, "house-hot": 1_000})
    firm.recon.run(None, chain, ReconSettings())
    result, corrected = firm.recon.correct(break_id, f"transfer {correction}")
    assert result is Result.break_not_made_good
    assert corrected.corrected and corrected.difference == 0
    assert corrected.state is BreakState.explained
    result, _ = firm.recon.make_good(break_id, correction)  # a network fee is no make-good
    assert result is Result.make_good_transfer_invalid
    top_up = firm.transfer_id()
    firm.submit(firm.custodian.top_up(top_up, 1))
    result, cured = firm.recon.make_good(break_id, top_up)
    assert (result, cured.state, cured.make_good_transfer) == (Result.ok, BreakState.cured, top_up)
    assert cured.resolved_at_ns > 0
    recon = firm.recon.run(None, held(**{"main-hot": 100, "house-hot": 999}), ReconSettings())
    assert recon.snapshots == []  # the top-up moved book and chain alike: nothing new opens
    assert firm.recon.history.book.open_breaks() == []
    with pytest.raises(InputError):
        firm.recon.explain(999, Cause.loss, "no such break")
    assert firm.recon.explain(break_id, Cause.loss, "too late")[0] is Result.break_already_cured


def test_runs_and_actions_survive_a_reopen_and_the_audit(firm: Firm) -> None:
    break_id = unbooked_network_fee(firm)
    firm.recon.explain(break_id, Cause.network_fee_not_booked, "book the fee of tx ab12")
    before = firm.recon.history.book.breaks[break_id]
    firm.ledger.checkpoint()
    reopened = ReconService(CustodyService(LedgerService(firm.store, firm.clock, journal_signer())))
    assert reopened.history.book.breaks[break_id] == before
    assert before.action == "book the fee of tx ab12"
    assert len(reopened.history.runs) == 1
    summary, coverage = reopened.history.runs[0]
    assert summary.breaks_opened == 1
    assert any(c.pool == MAIN for c in coverage)
    report = verify_store(firm.store)
    assert report.ok, report.problems


def test_a_statement_as_of_an_earlier_time_uses_the_balances_then(firm: Firm) -> None:
    firm.deposit("alice", 100)
    earlier = firm.ledger.ledger.timestamp_last
    firm.clock.advance(seconds=10)
    firm.deposit("bob", 50)
    then = line(firm.recon.segregation_statement(earlier, None, ReconSettings()).segregation_lines)
    now = line(firm.recon.segregation_statement(None, None, ReconSettings()).segregation_lines)
    assert (then.requirement, now.requirement) == (100, 150)


def test_client_statement_reconciles_and_is_valued(firm: Firm) -> None:
    from ringfence.core.recon.history import Price

    firm.deposit("alice", 100)
    start = firm.ledger.next_timestamp()
    firm.clock.advance(seconds=5)
    firm.submit(firm.custodian.fee(firm.transfer_id(), "alice", 3))
    firm.submit(firm.custodian.internal(firm.transfer_id(), "alice", "bob", 7))
    end = firm.ledger.next_timestamp() + 1
    price = Price("BTC", "USD", 6_500_000, 2, "close", start)
    statement = firm.recon.client_statement("alice", start, end, PriceTable([price]))
    (btc,) = statement.assets
    assert (btc.opening, btc.debits, btc.closing) == (100, 10, 90)
    assert btc.reconciles
    assert [m.code for m in btc.movements] == ["fee", "internal_transfer"]
    assert btc.value == 90 * 6_500_000 // 10**8
    (where,) = btc.held
    assert (where.pool, where.pool_kind, where.terms) == (MAIN, "omnibus", "custody")
    rows = list(firm.recon.register())
    assert [r.balance for r in rows if r.client == "alice"] == [100, 97, 90]


def test_the_audit_refuses_a_chained_entry_that_breaks_the_lifecycle(firm: Firm) -> None:
    """An entry with a valid hash chain but a break out of sequence (what a writer that forged
    and re-hashed the journal could leave) fails the replay."""
    from ringfence.core.ledger.journal import EntryKind
    from ringfence.core.recon.breaks import ReconBreak
    from ringfence.core.recon.codec import RunSummary, encode_run

    forged = ReconBreak(5, "main-hot", "BTC", 1, 0, 1, 1, 1)
    summary = RunSummary(1, 1, FundsBasis.book, True, 0, 1, 1, 0, 0, 0, 0)
    timestamp = firm.ledger.next_timestamp()
    firm.ledger.append_entry(
        EntryKind.reconciliations,
        timestamp,
        lambda seq: encode_run(seq, timestamp, summary, [], [forged]),
    )
    report = verify_store(firm.store)
    assert not report.ok
    (problem,) = report.problems
    assert problem.kind == "replay_failed"
    assert "out of sequence" in problem.detail


def test_a_price_table_gives_the_latest_price_at_the_time_asked() -> None:
    from ringfence.core.recon.history import Price

    old, new = Price("BTC", "USD", 1, 0, "a", 10), Price("BTC", "USD", 2, 0, "b", 20)
    table = PriceTable([new, old, Price("ETH", "USD", 3, 0, "c", 0)])
    assert table.prices(["BTC", "ETH", "USDC"], 15) == {
        "BTC": old,
        "ETH": table.prices(["ETH"], 0)["ETH"],
    }
    assert table.prices(["BTC"], 25)["BTC"] is new
    assert table.prices(["BTC"], 5) == {}
