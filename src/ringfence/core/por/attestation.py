"""Reserves for a proof-of-reserves round: what client-designated wallets hold, proven.

A round's liabilities side says what the firm owes each client; this side says what backs it.
Per asset, from the holdings observed at the snapshot:

- ``gross``: everything observed in wallets designated to a pool (house wallets never count,
  whatever they hold: they are the firm's, not the clients');
- ``encumbered``: what of it is pledged or locked at the snapshot (never counts as reserves);
- ``unproven``: what sits at addresses with no valid proof of control for this round (a
  signature over the round's challenge: right round, recent block, right key);
- ``net`` = gross - encumbered - unproven, floored per wallet at zero: the reserves the round
  attests, converted to proof units rounding down so reserves are never overstated.

Gross and net coverage are reported against the round's liabilities in basis points, rounded
down (``round.reserves_entry``). The reserves document is canonical JSON; its SHA-256 goes
into the signed round record, so a published round pins exactly which addresses, amounts and
signatures it counted.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from itertools import pairwise
from typing import Any

from ringfence.core import limits
from ringfence.core.custody.control import Challenge, ControlProof, verify_control
from ringfence.core.custody.holdings import Observation
from ringfence.core.custody.registry import Chain, Registry
from ringfence.core.errors import InputError, Result
from ringfence.core.ledger.model import Pool
from ringfence.core.ledger.wire import check_json_depth
from ringfence.core.money import Asset, mul_div_floor


@dataclass(slots=True)
class AssetReserves:
    asset: str
    gross: int = 0
    encumbered: int = 0
    unproven: int = 0
    net: int = 0
    house_excluded: int = 0  # held by house wallets: shown, never counted
    pools: dict[str, int] = field(default_factory=dict)  # net, by the pool of the wallet


@dataclass(slots=True)
class Reserves:
    round_id: str
    snapshot_ns: int
    assets: dict[str, AssetReserves] = field(default_factory=dict)
    lines: list[dict[str, Any]] = field(default_factory=list)

    def document(self) -> dict[str, Any]:
        return {
            "round_id": self.round_id,
            "snapshot_ns": self.snapshot_ns,
            "assets": [
                {
                    "asset": a.asset,
                    "gross": str(a.gross),
                    "encumbered": str(a.encumbered),
                    "unproven": str(a.unproven),
                    "net": str(a.net),
                    "house_excluded": str(a.house_excluded),
                    "pools": {pool: str(net) for pool, net in sorted(a.pools.items())},
                }
                for a in sorted(self.assets.values(), key=lambda a: a.asset)
            ],
            "lines": self.lines,
        }

    def canonical(self) -> bytes:
        return json.dumps(self.document(), sort_keys=True, separators=(",", ":")).encode()

    def file_hash(self) -> bytes:
        return hashlib.sha256(self.canonical()).digest()


def attest_reserves(
    round_id: str,
    snapshot_ns: int,
    *,
    observations: Iterable[Observation],
    proofs: Iterable[ControlProof],
    block_hashes: Mapping[Chain, str],
    registry: Registry,
    pools: Mapping[str, Pool],
    asset_chains: Mapping[str, str],
) -> Reserves:
    """The reserves of one round. Each address counts only with a proof of control verified
    against ``round_id`` and the block the firm named for its chain when it issued the
    challenges (``block_hashes``, never taken from the signers' file); each wallet's count is
    net of its encumbrances at ``snapshot_ns``."""
    verdicts: dict[str, Result] = {}
    for proof in proofs:
        block = block_hashes.get(proof.chain)
        result = verify_control(proof, round_id, [block] if block else [])
        if verdicts.get(proof.address) is not Result.ok:
            verdicts[proof.address] = result
    reserves = Reserves(round_id, snapshot_ns)
    proven_by_wallet: dict[tuple[str, str, str], int] = {}
    ordered = sorted(observations, key=lambda o: (o.asset, o.address))
    _check_observations(ordered, asset_chains)
    for observation in ordered:
        entry = reserves.assets.setdefault(observation.asset, AssetReserves(observation.asset))
        owner = registry.owner_of(observation.address, dict(pools))
        pool = owner[0].pool if owner is not None else ""
        verdict = verdicts.get(observation.address, Result.control_signature_invalid)
        line = {
            "address": observation.address,
            "asset": observation.asset,
            "amount": str(observation.amount),
            "height": observation.height,
            "source": observation.source,
            "wallet": owner[0].wallet.name if owner is not None else "",
            "pool": pool,
            "control": verdict.value if owner is not None and pool else "not_counted",
        }
        reserves.lines.append(line)
        if owner is None or owner[0].wallet.chain is not observation.chain:
            continue  # an address the firm does not know (on that chain) backs nothing
        if not pool:
            entry.house_excluded += observation.amount
            continue
        entry.gross += observation.amount
        if verdict is not Result.ok:
            entry.unproven += observation.amount
            continue
        key = (owner[0].wallet.name, observation.asset, pool)
        proven_by_wallet[key] = proven_by_wallet.get(key, 0) + observation.amount
    for (wallet, asset, pool), proven in sorted(proven_by_wallet.items()):
        encumbered = min(registry.encumbered(wallet, asset, snapshot_ns), proven)
        entry = reserves.assets[asset]
        entry.encumbered += encumbered
        entry.net += proven - encumbered
        # Each pool's own reserves: what its own wallets hold, proven and unencumbered.
        entry.pools[pool] = entry.pools.get(pool, 0) + proven - encumbered
    return reserves


def _check_observations(ordered: list[Observation], asset_chains: Mapping[str, str]) -> None:
    """One holding per address and asset, of an asset on the observation's chain: a line
    given twice, or BTC at an Ethereum address, would add reserves that do not exist."""
    for before, after in pairwise(ordered):
        if (before.asset, before.address) == (after.asset, after.address):
            raise InputError(
                Result.observation_duplicate, f"{after.asset} at {after.address} twice"
            )
    for observation in ordered:
        if asset_chains.get(observation.asset) != observation.chain.value:
            raise InputError(
                Result.asset_wrong_chain, f"{observation.asset} on {observation.chain.value}"
            )


def totals_in_proof_units(
    reserves: Reserves, assets: Mapping[str, Asset], unit_exponent: Mapping[str, int]
) -> tuple[dict[int, int], dict[int, int]]:
    """Net and gross reserves per asset number in the round's proof units, rounded down
    (every asset given; zero where nothing was observed)."""
    net = {asset.number: 0 for asset in assets.values()}
    gross = dict(net)
    for code, entry in reserves.assets.items():
        if code in assets:
            unit = 10 ** unit_exponent[code]
            net[assets[code].number] = mul_div_floor(entry.net, 1, unit)
            gross[assets[code].number] = mul_div_floor(entry.gross, 1, unit)
    return net, gross


def pool_reserves_in_proof_units(
    reserves: Reserves, assets: Mapping[str, Asset], unit_exponent: Mapping[str, int]
) -> dict[int, dict[str, int]]:
    """Each pool's net reserves per asset number, in proof units rounded down."""
    found: dict[int, dict[str, int]] = {}
    for code, entry in reserves.assets.items():
        if code in assets:
            unit = 10 ** unit_exponent[code]
            found[assets[code].number] = {
                pool: mul_div_floor(net, 1, unit) for pool, net in entry.pools.items()
            }
    return found


def parse_control_file(text: bytes) -> list[ControlProof]:
    """A control file: the signed proofs the signers return::

        {"proofs": [{"chain": "ethereum", "address": "0x...", "message": "...",
                     "signature": "0x..."}, ...]}

    Proofs are untrusted: each is judged by ``verify_control`` against the round and the
    blocks the firm chose; the file's shape is checked here (named errors, nothing counted
    from a malformed file)."""
    if len(text) > limits.control_file_bytes_max:
        raise InputError(Result.holdings_file_too_large, f"{len(text)} bytes")
    check_json_depth(text)
    try:
        document = json.loads(text)
    except (json.JSONDecodeError, UnicodeDecodeError) as error:
        raise InputError(Result.line_malformed, f"control file: {error}") from None
    if not isinstance(document, dict) or set(document) != {"proofs"}:
        raise InputError(Result.field_unknown, "control file: an object with proofs only")
    proofs = document["proofs"]
    if not isinstance(proofs, list):
        raise InputError(Result.field_unknown, "proofs must be a list")
    parsed = []
    for number, item in enumerate(proofs, start=1):
        fields = {"chain", "address", "message", "signature"}
        if not isinstance(item, dict) or set(item) != fields:
            raise InputError(Result.field_unknown, f"proof {number}: {sorted(fields)}")
        if item["chain"] not in {c.value for c in Chain} or not all(
            isinstance(item[f], str) for f in fields
        ):
            raise InputError(Result.control_challenge_invalid, f"proof {number}")
        parsed.append(
            ControlProof(Chain(item["chain"]), item["address"], item["message"], item["signature"])
        )
    return parsed


def challenges_for(
    registry: Registry, round_id: str, block_hashes: Mapping[Chain, str]
) -> list[tuple[str, Challenge]]:
    """(wallet, challenge) for every address of every pool-designated wallet on a chain with
    a block hash given: what the firm asks its signers to sign for the round (a 2-of-3
    vault's addresses too: BIP-322 full, core/custody/control_bip322.py)."""
    found = []
    for address in sorted(registry.addresses):
        state = registry.wallets[registry.addresses[address].wallet]
        block = block_hashes.get(state.wallet.chain)
        if state.pool and block is not None:
            found.append(
                (state.wallet.name, Challenge(round_id, state.wallet.chain, address, block))
            )
    return found
