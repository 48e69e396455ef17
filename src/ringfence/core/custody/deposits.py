"""Deposit detection: inflows seen on chain become ledger transfers, exactly once.

Each inflow is classified by the address it arrived at (the registry says which wallet, pool
and client):

- an address assigned to a client (a deposit address, in an individual or an omnibus pool)
  → ``deposit`` from the wallet's custody account to the client's available account there;
- an address of a house wallet, paid from an address the registry knows as a client's own →
  ``misdirected_deposit``: the client is credited in their pool and a break opens until the
  house makes the pool whole;
- anything else is reported with the reason it cannot be attributed, never guessed: an address
  the firm does not know, an asset it does not hold, a pool's own address (the destination of
  the firm's sweeps and rebalancing, no client's deposit address), a change output or a payment
  from one of the firm's own addresses (its own moves, booked as custody-to-custody transfers,
  never as deposits), a house wallet paid by an unknown sender, a client with no single pool
  for the asset.

The transfer id is a hash of the chain, the chain reference and the receiving address, so
scanning the same blocks twice, or after a restart, submits the same ids and the ledger answers
``exists`` instead of posting again. The transfer carries its place on chain as metadata
(``deposit_metadata``: the chain, the txid and the output or log index), hashed and journaled
with it, so that a list of transfers finds it by txid and the client's statement shows it.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from enum import StrEnum, unique

from ringfence.core.custody.holdings import Inflow
from ringfence.core.custody.registry import Chain, Registry
from ringfence.core.ledger.model import Pool, Terms


@unique
class Unattributed(StrEnum):
    """Why an inflow did not become a transfer."""

    address_unknown = "address_unknown"
    asset_unknown = "asset_unknown"
    asset_wrong_chain = "asset_wrong_chain"
    pool_address_has_no_client = "pool_address_has_no_client"
    own_wallet_move = "own_wallet_move"
    change_output = "change_output"
    house_inflow_from_unknown_sender = "house_inflow_from_unknown_sender"
    client_pool_ambiguous = "client_pool_ambiguous"


@dataclass(frozen=True, slots=True)
class PlannedDeposit:
    """Post ``inflow`` from ``wallet``'s custody account (in ``wallet_pool``, "" for the house)
    to ``client``'s available account in ``pool``; ``misdirected`` when the wallet is the
    house's."""

    transfer_id: int
    inflow: Inflow
    wallet: str
    wallet_pool: str
    client: str
    pool: str
    misdirected: bool


@dataclass(slots=True)
class DepositPlan:
    deposits: list[PlannedDeposit] = field(default_factory=list)
    unattributed: list[tuple[Inflow, Unattributed]] = field(default_factory=list)


def deposit_metadata(inflow: Inflow) -> dict[str, str]:
    """The metadata a credited deposit carries (core/ledger/metadata.py): ``chain`` and
    ``txid``, and where the reference names one, the output (Bitcoin's ``txid:vout``: ``vout``)
    or the log (an Ethereum token transfer's ``hash:log_index``: ``log_index``)."""
    txid, _, index = inflow.reference.partition(":")
    metadata = {"chain": inflow.chain.value, "txid": txid}
    if index:
        metadata["vout" if inflow.chain is Chain.bitcoin else "log_index"] = index
    return metadata


def deposit_transfer_id(inflow: Inflow) -> int:
    """A u128 id named by the inflow's place on chain: the same inflow, the same id."""
    key = f"ringfence.deposit\0{inflow.chain}\0{inflow.reference}\0{inflow.address}".encode()
    value = int.from_bytes(hashlib.sha256(key).digest()[:16], "big")
    return value or 1


def plan_deposits(
    inflows: list[Inflow],
    registry: Registry,
    pools: dict[str, Pool],
    asset_chains: dict[str, str],
    client_pools: dict[tuple[str, str], list[str]],
) -> DepositPlan:
    """Classify ``inflows``. ``asset_chains`` maps each defined asset code to its chain;
    ``client_pools`` maps (client, asset) to the custody pools where the client has an
    account for the asset (used to place a misdirected deposit)."""
    plan = DepositPlan()
    for inflow in inflows:
        reason = _refusal(inflow, registry, asset_chains)
        if reason is not None:
            plan.unattributed.append((inflow, reason))
            continue
        assignment = registry.addresses[inflow.address]
        state = registry.wallets[assignment.wallet]
        if state.pool:
            if not assignment.client:
                plan.unattributed.append((inflow, Unattributed.pool_address_has_no_client))
                continue
            plan.deposits.append(
                PlannedDeposit(
                    deposit_transfer_id(inflow), inflow, assignment.wallet, state.pool,
                    assignment.client, state.pool, misdirected=False,
                )
            )  # fmt: skip
            continue
        sender = registry.client_addresses.get(inflow.sender) if inflow.sender else None
        if sender is None:
            plan.unattributed.append((inflow, Unattributed.house_inflow_from_unknown_sender))
            continue
        candidates = [
            p
            for p in client_pools.get((sender.client, inflow.asset), [])
            if pools[p].terms is Terms.custody
        ]
        if len(candidates) != 1:
            plan.unattributed.append((inflow, Unattributed.client_pool_ambiguous))
            continue
        plan.deposits.append(
            PlannedDeposit(
                deposit_transfer_id(inflow), inflow, assignment.wallet, "", sender.client,
                candidates[0], misdirected=True,
            )
        )  # fmt: skip
    return plan


def _refusal(
    inflow: Inflow, registry: Registry, asset_chains: dict[str, str]
) -> Unattributed | None:
    """Why ``inflow`` is no client's deposit, before looking at whose address it reached."""
    chain = asset_chains.get(inflow.asset)
    if chain is None:
        return Unattributed.asset_unknown
    if chain != inflow.chain:
        return Unattributed.asset_wrong_chain
    assignment = registry.addresses.get(inflow.address)
    if assignment is None:
        return Unattributed.address_unknown
    if registry.wallets[assignment.wallet].wallet.chain != inflow.chain:
        return Unattributed.asset_wrong_chain
    if inflow.sender and inflow.sender in registry.addresses:
        return Unattributed.own_wallet_move
    if assignment.change:
        return Unattributed.change_output
    return None
