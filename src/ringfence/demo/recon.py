"""The demo's week of reconciliation: a run a day, a break opened and cured, a below-target alert.

After the demo's day, every custody account's owner is registered as a wallet with one address
(the registry journals it) and the firm reconciles once a day for seven days against a
simulated chain that, by default, says what the book says. The story, on the omnibus custody
pool and asset with the largest residual interest (never ``omni-1``'s BTC, which carries the
day's misdirected deposit):

- day 1: everything agrees; management's target for the pool is its residual interest;
- day 2: the chain shows the pool's hot wallet short by a consolidation's network fee that was
  never booked: the run opens a break and the pool's excess falls below its target;
- day 3: the break is explained and corrected (the fee is booked), yet stays open: the pool is
  still short of what it should hold, not made good;
- day 4: the house tops the pool up from its own wallet (on the book and on chain) and the make
  -good is recorded: the break is cured, the pool back at its target;
- days 5-7: quiet; the cured break keeps its history, the misdirected deposit stays flagged.

If the ledger's clock can be moved by hand the demo moves it a day before each run; otherwise
each run's as-of time is set a day apart. Everything is deterministic for a seed.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from typing import Any

from ringfence.core import limits
from ringfence.core.custody.addresses import eth_checksum_address, segwit_v0_address
from ringfence.core.custody.holdings import Observation
from ringfence.core.custody.registry import Chain, Scheme, Wallet
from ringfence.core.errors import Result
from ringfence.core.ledger.model import (
    AccountClass,
    AccountDefinition,
    PoolKind,
    Purpose,
    Transfer,
    TransferCode,
)
from ringfence.core.money import mul_div_floor
from ringfence.core.recon.breaks import Cause
from ringfence.core.recon.run import ReconSettings
from ringfence.core.recon.segregation_statement import Alert
from ringfence.service.custody import CustodyService
from ringfence.service.ledger import LedgerService
from ringfence.service.recon import ReconService
from ringfence.service.recon_documents import history_document, iso

Progress = Callable[[str, int, int], None]
days = 7
day_s = 86_400
blocks_per_day = 144


def demo_id(name: str) -> int:
    """A u128 id for the week's own transfers, apart from the demo's sequential ones."""
    digest = hashlib.sha256(f"ringfence.demo.recon\0{name}".encode()).digest()
    return int.from_bytes(digest[:16], "big") | 1 << 120


def demo_address(wallet: str, chain: Chain) -> str:
    """A valid address in its chain's canonical spelling, named by the wallet."""
    digest = hashlib.sha256(f"ringfence.demo.address\0{wallet}".encode()).digest()[:20]
    if chain is Chain.ethereum:
        return eth_checksum_address(digest)
    return segwit_v0_address("bc", digest)


def register_wallets(custody: CustodyService) -> dict[str, str]:
    """A wallet per custody-account owner, in the account's pool and tier, with one address;
    returns wallet -> address. The ledger's custody accounts already exist, so none is added."""
    engine = custody.ledger.ledger
    wallets: dict[str, Wallet] = {}
    known: dict[str, str] = {}  # wallets already registered (demo/custody.py)
    for assignment in sorted(custody.registry.addresses.values(), key=lambda a: -a.index):
        if not assignment.client:
            known[assignment.wallet] = assignment.address  # its pool address, index 0
    for account in engine.accounts.values():
        d = account.definition
        if d.account_class is not AccountClass.custody or d.owner in wallets:
            continue
        if d.owner in custody.registry.wallets:
            continue
        chain = Chain(engine.assets[d.asset].chain)
        address = demo_address(d.owner, chain)
        wallets[d.owner] = Wallet(d.owner, chain, Scheme.address, (address,), d.pool, d.kind)
    records = list(wallets.values())
    size = limits.demo_registry_changes_per_request_max
    for start in range(0, len(records), size):
        chunk = records[start : start + size]
        results = custody.change(chunk, custody_accounts=False)
        assert all(result is Result.ok for result in results), results
    return {**known, **{name: wallet.keys[0] for name, wallet in wallets.items()}}


class _Week:
    """The week's state: the services, the chain's view, and where the story happens."""

    def __init__(self, ledger: LedgerService) -> None:
        self.ledger = ledger
        self.custody = CustodyService(ledger)
        self.addresses = register_wallets(self.custody)
        self.recon = ReconService(self.custody)
        self.chain_delta: dict[tuple[str, str], int] = {}  # (wallet, asset) -> chain - book
        self.pool, self.asset, self.residual = self._story_pool()
        self.fee = max(mul_div_floor(self.residual, 1, 4), 1)
        self.settings = ReconSettings({(self.pool, self.asset): self.residual})
        self.days: list[dict[str, Any]] = []
        self.base_ns = ledger.next_timestamp()
        self.break_id = 0
        self.cured = 0
        self.as_of_ns: int | None = None  # the day's time when the clock cannot be moved

    def _story_pool(self) -> tuple[str, str, int]:
        best: tuple[int, str, str] = (0, "", "")
        for position in self.ledger.positions():
            pool = position.pool
            asset = self.ledger.ledger.assets_by_number[position.asset].code
            if not position.enforced or (pool.name, asset) == ("omni-1", "BTC"):
                continue
            # The day's spot pools, whose wallets the demo names pool-asset-tier (the venue's
            # margin pools are the venue's story).
            if pool.kind is PoolKind.omnibus and pool.purpose is Purpose.spot_custody:
                best = max(best, (position.residual_interest, pool.name, asset))
        residual, pool_name, asset = best
        assert residual >= 4, "the demo's day leaves every omnibus pool some residual interest"
        return pool_name, asset, residual

    def account(self, account_class: AccountClass, owner: str, kind: str, pool: str) -> int:
        for account in self.ledger.ledger.accounts.values():
            d: AccountDefinition = account.definition
            if (d.account_class, d.owner, d.kind, d.pool, d.asset) == (
                account_class, owner, kind, pool, self.asset,
            ):  # fmt: skip
                return account.id
        raise AssertionError(f"no {account_class.value} account {owner} {kind} {pool}")

    @property
    def hot(self) -> str:
        return f"{self.pool}-{self.asset.lower()}-hot"

    def observations(self, day: int, as_of_ns: int) -> list[Observation]:
        books: dict[tuple[str, str], int] = {}
        for account in self.ledger.ledger.accounts.values():
            d = account.definition
            if d.account_class is AccountClass.custody:
                key = (d.owner, d.asset)
                books[key] = books.get(key, 0) + account.balance
        found = []
        for (wallet, asset), book in sorted(books.items()):
            address = self.addresses[wallet]
            chain = Chain.ethereum if address.startswith("0x") else Chain.bitcoin
            amount = book + self.chain_delta.get((wallet, asset), 0)
            height = 870_000 + blocks_per_day * day
            found.append(Observation(chain, address, asset, amount, height, as_of_ns, "demo-chain"))
        return found

    def submit(self, *events: Transfer) -> None:
        results = self.ledger.submit(list(events))
        assert results == [Result.ok] * len(events), results


def run_recon_week(ledger: LedgerService, progress: Progress | None = None) -> dict[str, Any]:
    """Seven daily reconciliations over the demo's ledger; returns the report's section."""
    week = _Week(ledger)
    stories = (_day_agrees, _day_break, _day_correct, _day_made_good, _day_quiet, _day_quiet,
               _day_quiet)  # fmt: skip
    assert len(stories) == days
    recon = None
    for day, story in enumerate(stories, start=1):
        if progress is not None:
            progress("reconciliation", day - 1, days)
        week.as_of_ns = _next_day(week, day)
        text = story(week, day)
        # A hand clock: the day's work is done, the run is as of now, after it.
        as_of_ns = week.ledger.next_timestamp() if week.as_of_ns is None else week.as_of_ns
        observations = week.observations(day, as_of_ns)
        recon = week.recon.run(as_of_ns, observations, week.settings)
        if day == 2:
            (opened,) = [s for s in recon.snapshots if s.wallet == week.hot]
            week.break_id = opened.id
        if day == 3:
            reference = f"transfer {demo_id('network-fee')}"
            result, _ = week.recon.correct(week.break_id, reference, week.as_of_ns)
            assert result is Result.break_not_made_good, result
        week.days.append(_day_entry(week, day, recon, text))
    if progress is not None:
        progress("reconciliation", days, days)
    assert recon is not None
    _check_story(week)
    document = history_document(recon, week.recon.history, ledger.ledger.assets)
    document["days"] = week.days
    document["story"] = {"pool": week.pool, "asset": week.asset, "break": week.break_id}
    return document


def _next_day(week: _Week, day: int) -> int | None:
    """Move a hand clock a day (None: the day's times are the ledger's); else the day's time,
    a day after the last."""
    advance = getattr(week.ledger.clock, "advance", None)
    if advance is None:
        return week.base_ns + (day - 1) * day_s * 10**9
    if day > 1:
        advance(seconds=day_s)
    return None


def _day_agrees(week: _Week, day: int) -> str:
    del day
    return f"chain agrees with the book; target for {week.pool} {week.asset} set at its buffer"


def _day_break(week: _Week, day: int) -> str:
    del day
    week.chain_delta[(week.hot, week.asset)] = -week.fee
    return f"{week.hot} short on chain by an unbooked network fee: break opened, below target"


def _day_correct(week: _Week, day: int) -> str:
    del day
    result, _ = week.recon.explain(
        week.break_id,
        Cause.network_fee_not_booked,
        "book the consolidation fee; top the pool up",
        week.as_of_ns,
    )
    assert result is Result.ok
    network_fees = week.account(AccountClass.house, "house", "network_fees", "")
    hot = week.account(AccountClass.custody, week.hot, "hot", week.pool)
    fee = Transfer(demo_id("network-fee"), network_fees, hot, week.fee, TransferCode.network_fee)
    week.submit(fee)
    week.chain_delta.clear()
    return "explained and corrected (fee booked), still open: not made good"


def _day_made_good(week: _Week, day: int) -> str:
    del day
    hot = week.account(AccountClass.custody, week.hot, "hot", week.pool)
    house = week.account(AccountClass.custody, f"house-{week.asset.lower()}-hot", "hot", "")
    top_up_id = demo_id("top-up")
    week.submit(Transfer(top_up_id, hot, house, week.fee, TransferCode.house_top_up))
    result, _ = week.recon.make_good(week.break_id, top_up_id, week.as_of_ns)
    assert result is Result.ok, result
    return "the house tops the pool up: made good, break cured, back at target"


def _day_quiet(week: _Week, day: int) -> str:
    del week, day
    return "quiet: chain agrees with the book"


def _day_entry(week: _Week, day: int, recon: Any, text: str) -> dict[str, Any]:
    summary, _ = week.recon.history.runs[-1]
    breaks = week.recon.history.book.breaks.values()
    cured = sum(1 for broken in breaks if broken.state.value == "cured")
    cured_today, week.cured = cured - week.cured, cured
    return {
        "day": day,
        "as_of": iso(recon.as_of_ns),
        "story": text,
        "breaks_open": summary.breaks_open,
        "breaks_opened": summary.breaks_opened,
        "breaks_cured": cured_today,  # by an action or by the run
        "undersegregated": summary.undersegregated,
        "below_target": summary.below_target,
        "story_alert": next(
            line.alert.value
            for line in recon.segregation_lines
            if (line.pool, line.asset) == (week.pool, week.asset)
        ),
    }


def _check_story(week: _Week) -> None:
    """The week must show what it promises: a break opened and cured, a below-target day."""
    alerts = [entry["story_alert"] for entry in week.days]
    assert alerts[0] == Alert.none.value, alerts
    assert alerts[1] == Alert.below_target.value, alerts
    assert alerts[3] == Alert.none.value, alerts
    broken = week.recon.history.book.breaks[week.break_id]
    assert broken.state.value == "cured" and broken.corrected and broken.made_good
