"""The insolvency simulator (DESIGN.md §7, regulation.md §6-§8 R11): what each client would
get back if the firm failed at a petition date, as it is and as if it were commingled.

``scenario`` parses and holds a failure scenario (petition date, prices, hacks, losses,
commingling, breaches, loans, costs, payout mode, preference window); ``history`` finds moves
between products in the ledger's posted records; ``simulate`` runs the pipeline.
"""

from ringfence.core.insolvency.history import Move, moves_between_pools
from ringfence.core.insolvency.scenario import (
    Breach,
    Displayed,
    FirmNames,
    Hack,
    HouseLoss,
    Loan,
    Payout,
    Scenario,
    Valuation,
    parse_scenario,
)
from ringfence.core.insolvency.simulate import (
    Book,
    ClientLine,
    ClientOutcome,
    Comparison,
    Estate,
    Outcome,
    PoolOutcome,
    PreferenceFinding,
    Standing,
    compare,
    rate_band,
    simulate,
)

__all__ = [
    "Book",
    "Breach",
    "ClientLine",
    "ClientOutcome",
    "Comparison",
    "Displayed",
    "Estate",
    "FirmNames",
    "Hack",
    "HouseLoss",
    "Loan",
    "Move",
    "Outcome",
    "Payout",
    "PoolOutcome",
    "PreferenceFinding",
    "Scenario",
    "Standing",
    "Valuation",
    "compare",
    "moves_between_pools",
    "parse_scenario",
    "rate_band",
    "simulate",
]
