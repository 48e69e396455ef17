"""One reconciliation run, from gathered facts to the statement, the breaks and the findings.

``reconcile`` is the pipeline: client net equities → requirements; observations → holdings per
wallet → funds per pool; the segregation statement (R1); the internal reconciliation (R5); the
external reconciliation (R6) and the run's break snapshots; the commingling findings. It
changes nothing: the shell journals the summary and the snapshots (``summarise``) and applies
the snapshots to its ``BreakBook``.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field

from ringfence.core import limits
from ringfence.core.custody.holdings import Observation
from ringfence.core.custody.registry import Encumbrance
from ringfence.core.ledger.model import Pool
from ringfence.core.recon.breaks import (
    BreakBook,
    BreakState,
    ExternalLine,
    ReconBreak,
    external_reconciliation,
    run_breaks,
)
from ringfence.core.recon.codec import Coverage, RunSummary, carry_texts
from ringfence.core.recon.commingling import (
    Finding,
    MisdirectedBreak,
    funding_findings,
    house_excess_findings,
    misdirected_findings,
)
from ringfence.core.recon.history import Funding
from ringfence.core.recon.segregation_statement import (
    Alert,
    ClientRow,
    CustodyRow,
    FundsBasis,
    InternalLine,
    ObservedHolding,
    PoolAsset,
    Requirement,
    StatementLine,
    WalletFacts,
    custody_books,
    encumbered_amounts,
    internal_reconciliation,
    net_equities,
    observed_holdings,
    pool_funds,
    requirements,
    segregation_statement,
    with_unsettled,
)

excess_tolerance_bps_default = 100


@dataclass(frozen=True, slots=True)
class ReconSettings:
    """Management's targets for residual interest per pool and asset (minor units), and how far
    above its target a pool's residual interest may go before it counts as commingling."""

    targets: Mapping[PoolAsset, int] = field(default_factory=dict)
    excess_tolerance_bps: int = excess_tolerance_bps_default


@dataclass(frozen=True, slots=True)
class ReconInput:
    """Everything a run needs, gathered by the shell. ``observations`` None: nothing was
    observed, so funds come from the book and no external reconciliation is made."""

    as_of_ns: int
    pools: Mapping[str, Pool]
    client_rows: Iterable[ClientRow]
    custody_rows: Iterable[CustodyRow]
    wallets: Sequence[WalletFacts]
    wallet_of_address: Mapping[str, str]
    observations: Sequence[Observation] | None
    encumbrances: Iterable[Encumbrance] = ()
    released_at: Mapping[int, int] = field(default_factory=dict)
    breaks_outstanding: Mapping[PoolAsset, int] = field(default_factory=dict)
    misdirected: Sequence[MisdirectedBreak] = ()
    causes: Mapping[PoolAsset, Mapping[str, int]] | None = None
    fundings: Sequence[Funding] = ()
    extra_findings: Sequence[Finding] = ()
    settings: ReconSettings = field(default_factory=ReconSettings)
    # Requirements already summed over every client (a batch run's ranges, merged); None:
    # computed here from ``client_rows``.
    requirements: Mapping[PoolAsset, Requirement] | None = None
    # A venue's unsettled P&L per (pool, asset, client), those clients' net equities on the
    # ledger (balances), and Σ undermargined per pool and asset (segregation_statement.py).
    unsettled: Mapping[tuple[str, str, str], int] = field(default_factory=dict)
    venue_equities: Mapping[tuple[str, str, str], int] = field(default_factory=dict)
    undermargined: Mapping[PoolAsset, int] = field(default_factory=dict)


@dataclass(slots=True)
class Reconciliation:
    as_of_ns: int
    basis: FundsBasis
    segregation_lines: list[StatementLine]
    internal: list[InternalLine]
    external: list[ExternalLine]
    snapshots: list[ReconBreak]  # breaks this run opened or changed
    findings: list[Finding]
    strays: list[Observation]  # observations at addresses of no wallet
    observations: int
    opened: int  # of the snapshots, breaks new in this run

    @property
    def alerts(self) -> list[StatementLine]:
        return [line for line in self.segregation_lines if line.alert is not Alert.none]


def reconcile(facts: ReconInput, book: BreakBook[ReconBreak]) -> Reconciliation:
    required = (dict(facts.requirements) if facts.requirements is not None
                else requirements(net_equities(facts.client_rows)))
    # The book's liabilities are the net balances: deficits netted, as the ledger keeps them.
    liabilities = {key: need.net_balance for key, need in required.items()}
    required = with_unsettled(required, facts.venue_equities, facts.unsettled)
    unsettled: dict[PoolAsset, int] = {}
    for (pool, asset, _), pnl in facts.unsettled.items():
        unsettled[(pool, asset)] = unsettled.get((pool, asset), 0) + pnl
    by_wallet, by_pool = custody_books(facts.custody_rows)
    encumbered = encumbered_amounts(facts.encumbrances, facts.released_at, facts.as_of_ns)
    if facts.observations is None:
        basis = FundsBasis.book
        observed: dict[tuple[str, str], ObservedHolding] = {}
        strays: list[Observation] = []
        held: Mapping[tuple[str, str], int] = by_wallet
    else:
        basis = FundsBasis.observed
        observed, strays = observed_holdings(facts.observations, facts.wallet_of_address)
        held = {key: holding.amount for key, holding in observed.items()}
    funds = pool_funds(facts.wallets, held, observed, encumbered)
    targets = facts.settings.targets
    statement = segregation_statement(
        facts.pools, required, funds, by_pool, liabilities, targets=targets,
        unsettled=unsettled, undermargined=facts.undermargined,
    )
    internal = internal_reconciliation(
        facts.pools, liabilities, by_pool, facts.breaks_outstanding, facts.causes
    )
    external: list[ExternalLine] = []
    snapshots: list[ReconBreak] = []
    if facts.observations is not None:
        external = external_reconciliation(facts.wallets, by_wallet, observed)
        snapshots = [carry_texts(book, s) for s in run_breaks(book, external, facts.as_of_ns)]
    findings = [
        *misdirected_findings(facts.misdirected),
        *facts.extra_findings,
        *house_excess_findings(statement, facts.settings.excess_tolerance_bps),
        *funding_findings(facts.fundings),
    ]
    return Reconciliation(
        facts.as_of_ns,
        basis,
        statement,
        internal,
        external,
        snapshots,
        findings,
        strays,
        len(facts.observations or ()),
        sum(1 for snapshot in snapshots if snapshot.id not in book.breaks),
    )


def summarise(
    recon: Reconciliation, book: BreakBook[ReconBreak], run: int
) -> tuple[RunSummary, list[Coverage]]:
    """The run's record for the journal, taken after its snapshots were applied to ``book``.

    Coverage lines are kept for every pool when there are at most
    ``recon_coverage_lines_journaled_max``; beyond that, only lines with an alert (and the
    summary says the set is partial), so a run over a million individual pools stays small.
    """
    cured = sum(1 for s in recon.snapshots if s.state is BreakState.cured)
    lines = recon.segregation_lines
    complete = len(lines) <= limits.recon_coverage_lines_journaled_max
    if not complete:
        lines = [line for line in lines if line.alert is not Alert.none]
        lines = lines[: limits.recon_coverage_lines_journaled_max]
    coverage = [
        Coverage(
            line.pool,
            line.asset,
            line.requirement,
            line.funds,
            line.encumbered,
            line.target,
            line.segregated,
            line.alert,
        )
        for line in lines
    ]
    summary = RunSummary(
        run,
        recon.as_of_ns,
        recon.basis,
        complete,
        recon.observations,
        len(book.active),
        recon.opened,
        cured,
        sum(1 for line in recon.segregation_lines if line.alert is Alert.undersegregated),
        sum(1 for line in recon.segregation_lines if line.alert is Alert.below_target),
        len(recon.findings),
    )
    return summary, coverage
