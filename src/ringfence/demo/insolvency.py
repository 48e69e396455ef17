"""The demo's last scene: the firm fails at the end of its day, and the report shows who gets
what back, segregated as it is and as if it had been commingled.

Before the failure, two earn clients move BTC from earn into custody (each a linked
withdrawal-deposit pair): one for more than the $7,500 de minimis, which the preference screen
holds back, one for less, which it lets through. Then the scenario (built from the ledger's own
balances, so any seed and size works): a hacker takes most of omni-1's hot BTC wallet; the firm
loses nearly all of its own holdings; a traced breach takes a tenth of omni-1's USDC into the firm's
wallets; one client of omni-2 withdrew coins whose deposits never arrived on chain, which
reconciliation finds as cross-client funding, so omni-2 fails the tracing test; an app showed
a withdrawal the ledger never posted; administration costs come first; the estate pays cash
at petition-date prices. ``failure_section`` returns the report's section: figures, the
table of the largest clients and a chart of recovery rates (pixel sizes in integers).
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Mapping
from typing import Any

from ringfence.core.errors import Result
from ringfence.core.ledger.model import (
    AccountClass,
    AccountDefinition,
    Transfer,
    TransferCode,
    TransferFlags,
)
from ringfence.core.money import format_amount, formatted_units, mul_div_floor
from ringfence.demo.in_kind import in_kind_section
from ringfence.service.custody import derived_account_id
from ringfence.service.insolvency import simulate_ledger
from ringfence.service.ledger import LedgerService

Progress = Callable[[str, int, int], None]
PRICES = {"BTC": "64000.00", "ETH": "3000.00", "USDC": "1.00"}
DE_MINIMIS = "7500.00"
small_move_units = 5_000_000  # 0.05 BTC: $3,200, under the de minimis
clients_shown = 12
house_loss_percent = 97  # of the firm's own holdings in each asset
chart_width = 760
chart_plot_height = 180
chart_top = 28
chart_left = 44
chart_band_width = 62
chart_bar_width = 24


def failure_section(ledger: LedgerService, progress: Progress | None = None) -> dict[str, Any]:
    """Stage the moves before the failure, simulate it, and return the report's section."""
    if progress is not None:
        progress("insolvency", 0, 2)
    moves = _move_from_earn(ledger)
    scenario = _scenario(ledger)
    document = simulate_ledger(ledger, scenario)
    if progress is not None:
        progress("insolvency", 1, 2)
    section = _section(document, scenario)
    section["moves_staged"] = moves
    section["scenario"] = scenario  # as `insolvency simulate` and `resolution-pack` read it
    # The regulatory section's in-kind return schedule is read off this very simulation.
    section["in_kind"] = in_kind_section(document, ledger.ledger.assets)
    if progress is not None:
        progress("insolvency", 2, 2)
    return section


# ---------------------------------------------------------------------- staging


def _balances(ledger: LedgerService) -> dict[tuple[str, str, str, str], tuple[int, int]]:
    """(class, owner, pool, asset) -> (account id, posted balance), largest balance kept."""
    found: dict[tuple[str, str, str, str], tuple[int, int]] = {}
    for account in ledger.ledger.accounts.values():
        d = account.definition
        key = (d.account_class.value, d.owner, d.pool, d.asset)
        if key not in found or account.balance > found[key][1]:
            found[key] = (account.id, account.balance)
    return found


def _move_from_earn(ledger: LedgerService) -> list[dict[str, str]]:
    """Two earn clients move BTC into omni-1: the largest earn balance, all of it, and the
    next one a little. Returns what moved."""
    balances = _balances(ledger)
    holders = sorted(
        ((balance, owner, account) for (cls, owner, pool, asset), (account, balance)
         in balances.items() if cls == "client" and pool == "earn" and asset == "BTC"
         and balance > 0),
        reverse=True,
    )
    wallets = sorted(
        ((balance, account) for (cls, _, pool, asset), (account, balance) in balances.items()
         if cls == "custody" and pool == "earn" and asset == "BTC"),
        reverse=True,
    )
    target = max(
        (balance, account) for (cls, _, pool, asset), (account, balance) in balances.items()
        if cls == "custody" and pool == "omni-1" and asset == "BTC"
    )[1]
    if not wallets:
        return []
    wallet_free = wallets[0][0]
    # The small move is sized first so that the large one cannot leave nothing for it.
    small = min(holders[1][0], small_move_units, wallet_free) if len(holders) > 1 else 0
    large = min(holders[0][0], wallet_free - small) if holders else 0
    events: list[Transfer] = []
    moved: list[dict[str, str]] = []
    next_id = _transfer_id(ledger, "move-from-earn")
    for (_, client, account), units in zip(holders, (large, small), strict=False):
        if units <= 0:
            continue
        custody_account = _custody_account(ledger, client, balances)
        events += [
            Transfer(next_id, account, wallets[0][1], units, TransferCode.withdrawal,
                     TransferFlags.linked),
            Transfer(next_id + 1, target, custody_account, units, TransferCode.deposit),
        ]
        moved.append({"client": client, "asset": "BTC", "from_pool": "earn",
                      "to_pool": "omni-1",
                      "amount": format_amount(units, ledger.ledger.assets["BTC"])})
        next_id += 2
    results = ledger.submit(events)
    assert all(result is Result.ok for result in results), results
    return moved


def _transfer_id(ledger: LedgerService, purpose: str) -> int:
    """An id no other scene of the demo uses (the venue's ids are hashes as well), named by
    the journal's head so that it is new in this ledger."""
    seed = f"ringfence.demo.failure\0{purpose}\0{ledger.hash.hex()}".encode()
    return int.from_bytes(hashlib.sha256(seed).digest()[:15], "big") + 1


def _custody_account(
    ledger: LedgerService, client: str, balances: Mapping[tuple[str, str, str, str], Any]
) -> int:
    existing = balances.get(("client", client, "omni-1", "BTC"))
    if existing is not None:
        return int(existing[0])
    definition = AccountDefinition(
        derived_account_id(AccountClass.client, client, "available", "omni-1", "BTC"),
        "BTC", AccountClass.client, client, "available", "omni-1",
    )
    assert ledger.define_accounts([definition]) == [Result.ok]
    return definition.id


def _scenario(ledger: LedgerService) -> dict[str, Any]:
    balances = _balances(ledger)
    assets = ledger.ledger.assets

    def custody(pool: str, asset: str, tier: str) -> tuple[str, int]:
        owner = f"{pool}-{asset.lower()}-{tier}" if pool else f"house-{asset.lower()}-{tier}"
        return owner, balances.get(("custody", owner, pool, asset), (0, 0))[1]

    events: dict[str, Any] = {"hacks": [], "house_losses": [], "breaches": []}
    wallet, held = custody("omni-1", "BTC", "hot")
    if held:
        amount = format_amount(mul_div_floor(held, 4, 5) or held, assets["BTC"])
        events["hacks"].append({"wallet": wallet, "asset": "BTC", "amount": amount})
    for code, asset in sorted(assets.items()):
        # The firm's own bets went wrong: that is why it fails.
        _, house = custody("", code, "hot")
        lost = mul_div_floor(house, house_loss_percent, 100)
        if lost:
            amount = format_amount(lost, asset)
            events["house_losses"].append({"asset": code, "amount": amount})
    usdc = sum(b for (cls, _, pool, asset), (_, b) in balances.items()
               if cls == "custody" and pool == "omni-1" and asset == "USDC")
    breached = mul_div_floor(usdc, 1, 10)
    if breached:
        amount = format_amount(breached, assets["USDC"])
        events["breaches"].append({"pool": "omni-1", "asset": "USDC", "amount": amount})
    return {
        "description": "the demo's custodian fails at the end of its day",
        "prices": {code: PRICES.get(code, "1.00") for code in assets},
        **events,
        "deposits_not_arrived": _deposits_never_arrived(ledger, "omni-2"),
        "admin_costs": "2500000.00",
        "payout": "cash",
        "preference": {"window_days": 90, "de_minimis": DE_MINIMIS},
        "displayed_transfers": [{
            "id": str(_transfer_id(ledger, "displayed-only")), "client": "c000001",
            "asset": "BTC",
            "amount": "0.5", "description": "withdrawal shown as sent in the app, never posted",
        }],
    }


def _deposits_never_arrived(ledger: LedgerService, pool: str) -> list[str]:
    """The deposits of the first client of ``pool`` who withdrew: say they never arrived."""
    accounts = ledger.ledger.accounts
    deposits: dict[int, list[str]] = {}
    for record in ledger.store.projected_transfers():
        credit = accounts[record.credit_account].definition
        if record.code == TransferCode.deposit and credit.pool == pool:
            deposits.setdefault(record.credit_account, []).append(str(record.id))
        debit = accounts[record.debit_account].definition
        plain = record.flags & (TransferFlags.pending | TransferFlags.void_pending) == 0
        withdrawal = record.code == TransferCode.withdrawal and debit.pool == pool and plain
        if withdrawal and record.debit_account in deposits:
            return deposits[record.debit_account]
    return []


# ---------------------------------------------------------------------- the section


def _nonzero(amount: str) -> bool:
    return formatted_units(amount) != 0


def _section(document: Mapping[str, Any], scenario: Mapping[str, Any]) -> dict[str, Any]:
    seg, com = document["segregated"], document["commingled"]
    largest = sorted(document["clients"], key=lambda row: -formatted_units(row["claims_value"]))
    return {
        "petition_date": document["petition_date"],
        "payout": document["payout"],
        "quote": document["quote"],
        "prices": document["prices"],
        "de_minimis": document["de_minimis"],
        "events": {key: scenario[key] for key in ("hacks", "house_losses", "breaches")},
        "structures": [
            {"structure": name, "claims": o["claims_value"], "recovered": o["recovered_value"],
             "rate": o["recovery_rate"], "clients": o["clients"],
             "made_whole": o["rate_distribution"][-1], "estate": o["estate"]}
            for name, o in (("segregated", seg), ("commingled", com))
        ],
        "rate_bands": document["rate_bands"],
        "distribution": {"segregated": seg["rate_distribution"],
                         "commingled": com["rate_distribution"]},
        "chart": _chart(document["rate_bands"], seg["rate_distribution"],
                        com["rate_distribution"]),
        "pools": [p for p in seg["pools"]
                  if (p["standing"].startswith("estate") or _nonzero(p["shortfall"]))
                  and (_nonzero(p["claims"]) or _nonzero(p["holdings"]))],
        "preferences": document["preferences"],
        "displayed_transfers": document["displayed_transfers"],
        "clients": [
            {"client": row["client"], "claims": row["claims_value"],
             "segregated": row["segregated"]["recovery_rate"],
             "segregated_paid": row["segregated"]["recovered_value"],
             "commingled": row["commingled"]["recovery_rate"],
             "commingled_paid": row["commingled"]["recovered_value"]}
            for row in largest[:clients_shown]
        ],
    }


def _chart(labels: list[str], segregated: list[int], commingled: list[int]) -> dict[str, Any]:
    """Grouped bars: clients per recovery-rate band, segregated beside commingled."""
    tallest = max([*segregated, *commingled, 1])
    bars = []
    for index, label in enumerate(labels):
        x = chart_left + index * chart_band_width
        pair = []
        for offset, count, tone in ((4, segregated[index], "seg"),
                                    (4 + chart_bar_width, commingled[index], "com")):
            height = count * chart_plot_height // tallest
            pair.append({"x": x + offset, "y": chart_top + chart_plot_height - height,
                         "height": height, "count": count, "tone": tone})
        bars.append({"label": label, "label_x": x + chart_band_width // 2, "bars": pair})
    return {
        "width": chart_width, "height": chart_top + chart_plot_height + 40,
        "top": chart_top, "baseline": chart_top + chart_plot_height, "left": chart_left,
        "right": chart_left + len(labels) * chart_band_width, "tallest": tallest,
        "label_y": chart_top + chart_plot_height + 16, "bands": bars,
        "bar_width": chart_bar_width,
    }
