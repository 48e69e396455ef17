"""The venue's events: what its journal entries say happened on a bucket or an insurance fund.

Read, as every event is, from one committed entry (core/events/catalogue.py):

- a fills entry (kind 19): ``venue.fill.recorded`` per fill;
- a transfers entry holding a settlement cycle's P&L transfers (code ``pnl_settlement``):
  ``venue.settlement.completed`` per bucket settled, with its transfers' ids and its net P&L;
- a liquidation round's positions entry (kind 20 with the round): ``venue.liquidation.executed``
  per bucket liquidated, partial or whole, with the settlement of what was closed, the fees it
  paid and what the funds paid for it. The round's transfers are found by their ids, which
  derive from the round, the bucket and the market (core/liquidation/records.py ``RoundIds``):
  the caller looks them up (``round_transfer_ids``), as it does an expiry's accounts;
- a transfers entry holding a fund's payout or an ``insurance_funding``:
  ``venue.insurance_fund.drawn`` or ``venue.insurance_fund.funded`` per transfer.

A bucket is its collateral account (``collateral:<bucket>``, a client account of the bucket's
client), so a bucket's events are about that account and a client sees them exactly when it
sees the account: per-client isolation is the ledger's own. A fund's events are about house
accounts: staff only. A settlement cycle touches many clients' buckets, so it is one event per
bucket (all of one cycle share the entry's ``seq``), never one listing every bucket's transfers.

A bucket of the round with no transfer of its own (the taker that took the close orders, a
counterparty deleveraged at the bankruptcy price) was not liquidated: it raises no event here.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from typing import TYPE_CHECKING, Any, Final

from ringfence.core.ledger.model import AccountDefinition, TransferCode, TransferRecord
from ringfence.core.liquidation.records import LiquidationCode, RoundIds
from ringfence.core.money import Asset, format_amount, format_signed_amount
from ringfence.core.venue.codec import PositionChanges

if TYPE_CHECKING:  # numpy comes with core/risk: small commands must not load it
    from ringfence.core.risk.settlement import Fill

__all__ = [
    "VenueAdd", "fill_events", "liquidation_events", "round_transfer_ids",
    "venue_transfer_events",
]  # fmt: skip

collateral_prefix: Final = "collateral:"
_payout_codes: Final = frozenset(
    {TransferCode.insurance_payout, TransferCode.global_insurance_payout}
)

# (kind name, data, accounts, clients), as the catalogue's adder takes them.
VenueAdd = Callable[[str, dict[str, Any], frozenset[int], frozenset[str]], None]


def fill_events(
    fills: list[Fill],
    accounts: Mapping[int, AccountDefinition],
    assets: Mapping[str, Asset],
    collateral_of: Callable[[str], int] | None,
    add: VenueAdd,
) -> None:
    """``venue.fill.recorded`` per fill, about its bucket's collateral account."""
    for fill in fills:
        data: dict[str, Any] = {
            "fill": str(fill.id), "bucket": fill.bucket, "symbol": fill.symbol,
            "lots": str(fill.quantity_lots), "price_units": str(fill.price_units),
        }  # fmt: skip
        account_id = collateral_of(fill.bucket) if collateral_of is not None else None
        account = accounts.get(account_id) if account_id is not None else None
        if account is None:  # a bucket the ledger does not know: staff only
            data.update(client=None, fee_units=str(fill.fee_units))
            add("venue.fill.recorded", data, frozenset(), frozenset())
            continue
        asset = assets[account.asset]
        data.update(client=account.owner, fee=format_amount(fill.fee_units, asset),
                    asset=asset.code)  # fmt: skip
        add("venue.fill.recorded", data, frozenset({account.id}), frozenset())


def _bucket_side(
    record: TransferRecord, accounts: Mapping[int, AccountDefinition]
) -> tuple[AccountDefinition | None, AccountDefinition | None]:
    """The transfer's bucket (collateral) account, and its other account."""
    debit = accounts.get(record.debit_account)
    credit = accounts.get(record.credit_account)
    for mine, other in ((debit, credit), (credit, debit)):
        if mine is not None and mine.kind.startswith(collateral_prefix):
            return mine, other
    return None, debit if credit is None else credit


def _market_of(account: AccountDefinition | None) -> str:
    """The market a clearing or insurance account belongs to (``clearing:<market>``)."""
    if account is None:
        return ""
    return account.kind.partition(":")[2]


class _BucketFlows:
    """One bucket's money in one entry: signed settlement, fees, markets, transfers."""

    def __init__(self, account: AccountDefinition) -> None:
        self.account = account
        self.asset = 0  # the asset's number, from the first transfer
        self.settled = 0
        self.fees = 0
        self.paid = 0  # by the market's fund and the global fund
        self.markets: list[str] = []
        self.transfers: list[str] = []

    def take(self, record: TransferRecord, other: AccountDefinition | None) -> None:
        incoming = record.credit_account == self.account.id
        self.asset = record.asset
        if record.code == TransferCode.liquidation_fee:
            self.fees += record.amount
        elif record.code in _payout_codes:
            self.paid += record.amount
        else:
            self.settled += record.amount if incoming else -record.amount
        market = _market_of(other)
        if market and market not in self.markets:
            self.markets.append(market)
        self.transfers.append(str(record.id))

    def data(self, asset: Asset) -> dict[str, Any]:
        return {
            "bucket": self.account.kind[len(collateral_prefix) :],
            "client": self.account.owner,
            "markets": self.markets,
            "asset": asset.code,
            "transfers": self.transfers,
        }


def venue_transfer_events(
    records: list[TransferRecord],
    accounts: Mapping[int, AccountDefinition],
    assets_by_number: Mapping[int, Asset],
    add: VenueAdd,
) -> None:
    """The venue's events of one transfers entry: settlements per bucket, in the order their
    buckets first appear, then the funds' draws and fundings in entry order."""
    settled: dict[int, _BucketFlows] = {}
    funds: list[tuple[str, dict[str, Any], frozenset[int]]] = []
    for record in records:
        code = record.code
        if code == TransferCode.pnl_settlement:
            mine, other = _bucket_side(record, accounts)
            if mine is not None:
                settled.setdefault(mine.id, _BucketFlows(mine)).take(record, other)
        elif code in _payout_codes or code == TransferCode.insurance_funding:
            funds.append(_fund_event(record, accounts, assets_by_number))
    for flows in settled.values():
        asset = assets_by_number[flows.asset]
        data = flows.data(asset)
        data["pnl"] = format_signed_amount(flows.settled, asset)
        add("venue.settlement.completed", data, frozenset({flows.account.id}), frozenset())
    for kind, data, sides in funds:
        add(kind, data, sides, frozenset())


def _fund_event(
    record: TransferRecord,
    accounts: Mapping[int, AccountDefinition],
    assets_by_number: Mapping[int, Asset],
) -> tuple[str, dict[str, Any], frozenset[int]]:
    """A fund funded (``insurance_funding``: capital to the fund) or drawn (a payout: the fund
    to a market's clearing account)."""
    asset = assets_by_number[record.asset]
    funded = record.code == TransferCode.insurance_funding
    fund = accounts.get(record.credit_account if funded else record.debit_account)
    data: dict[str, Any] = {
        "fund": "" if fund is None else fund.kind,
        "amount": format_amount(record.amount, asset),
        "asset": asset.code,
        "transfer": str(record.id),
    }
    # The market whose fund it is (``global`` for the settlement asset's global fund), or,
    # for a draw, the market whose clearing account it paid.
    data["market"] = _market_of(fund if funded else accounts.get(record.credit_account))
    kind = "venue.insurance_fund.funded" if funded else "venue.insurance_fund.drawn"
    return kind, data, frozenset((record.debit_account, record.credit_account))


def _round_ids(changes: PositionChanges) -> Iterator[tuple[int, str, str, int]]:
    """(round, bucket, market, transfer id) of every transfer a liquidation round may have
    made for a bucket whose position it changed: the close's settlement and fee, and the
    payouts of the market's fund and the global fund (``RoundIds``, as the plan derives them)."""
    held = sorted({(p.bucket, p.symbol) for p in changes.positions})
    for round_id in changes.rounds:
        ids = RoundIds(round_id)
        for bucket, symbol in held:
            for transfer_id in ids.close(bucket, symbol):
                yield round_id, bucket, symbol, transfer_id
            for code in (LiquidationCode.insurance_payout, LiquidationCode.global_insurance_payout):
                yield round_id, bucket, symbol, ids(code.value, bucket, symbol)


def round_transfer_ids(changes: PositionChanges) -> list[int]:
    """The transfer ids to look up for a positions entry's liquidation events (none when it
    records no round)."""
    return [transfer_id for *_, transfer_id in _round_ids(changes)]


def liquidation_events(
    changes: PositionChanges,
    transfers: Mapping[int, TransferRecord],
    add: VenueAdd,
    *,
    accounts: Mapping[int, AccountDefinition],
    collateral_of: Callable[[str], int] | None,
    assets_by_number: Mapping[int, Asset],
) -> None:
    """``venue.liquidation.executed`` per bucket the round liquidated, in bucket order:
    ``whole`` when every position of the bucket the round changed is closed, else
    ``partial``; its settlement (signed: what its collateral received), fees and the funds'
    payout for it, and the transfers' ids."""
    if collateral_of is None:
        return
    flows: dict[tuple[int, str], _BucketFlows] = {}
    for round_id, bucket, _symbol, transfer_id in _round_ids(changes):
        record = transfers.get(transfer_id)
        account = accounts.get(collateral_of(bucket))
        if record is None or account is None:
            continue
        key = (round_id, bucket)
        if key not in flows:
            flows[key] = _BucketFlows(account)
        flows[key].take(record, accounts.get(_market_side(record, account.id)))
    for (round_id, bucket), bucket_flows in flows.items():
        asset = assets_by_number[bucket_flows.asset]
        open_after = any(p.quantity_lots for p in changes.positions if p.bucket == bucket)
        data = bucket_flows.data(asset)
        data.update(
            round=str(round_id), extent="partial" if open_after else "whole",
            settlement=format_signed_amount(bucket_flows.settled, asset),
            fees=format_amount(bucket_flows.fees, asset),
            fund_payout=format_amount(bucket_flows.paid, asset),
        )  # fmt: skip
        add("venue.liquidation.executed", data, frozenset({bucket_flows.account.id}), frozenset())


def _market_side(record: TransferRecord, bucket_account: int) -> int:
    """The account of a round's transfer that names its market (clearing or insurance)."""
    if record.code in _payout_codes:
        return record.credit_account  # the market's clearing account
    return record.credit_account if record.debit_account == bucket_account else record.debit_account
