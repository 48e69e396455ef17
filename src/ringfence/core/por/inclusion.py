"""A client's inclusion proof: their pieces in one asset's tree and the siblings that lead
them to the root (format in docs/proof-of-reserves.md; checked by ``verifier.py``)."""

from __future__ import annotations

import base64
from collections.abc import Iterable, Iterator
from typing import Any

import numpy as np

from ringfence.core.por.hashes import encode_names, proof_format_of, sibling_bytes
from ringfence.core.por.tree import AssetTree, leaf_level, leaf_secrets, level_up


def _block_siblings(tree: AssetTree, block: int) -> dict[tuple[int, int], bytes]:
    """Rebuild one block from its stored leaves up to the block height: the sibling record
    (u64 sum and hash) of every child below the block height, by (height, index)."""
    context, placement = tree.context, tree.placement
    shift = np.uint64(context.block_levels)
    low, high = np.searchsorted(
        placement.index, np.array([block, block + 1], dtype=np.uint64) << shift).tolist()
    owners, local = np.unique(placement.client[low:high], return_inverse=True)
    names = encode_names([tree.clients[owner] for owner in owners.tolist()])
    keys, identities = leaf_secrets(context, tree.master_secret, *names)
    level = leaf_level(context, keys[local], placement.piece[low:high],
                       placement.index[low:high], placement.value[low:high],
                       identities=None if identities is None else identities[local])
    records = {}
    while level.height < context.block_levels:
        level, _, rows = level_up(context, level)
        for parent, row in zip(level.index.tolist(), rows, strict=True):
            for side in (0, 1):
                start = 22 + side * sibling_bytes
                records[level.height - 1, 2 * parent + side] = row[
                    start : start + sibling_bytes].tobytes()
    return records


def multiproof_order(indexes: Iterable[int], height: int) -> Iterator[tuple[int, int]]:
    """The (height, index) of every sibling a proof carries, in the order it carries them:
    level by level from the leaves up, at each level by ascending index of the nodes already
    known, skipping siblings that are themselves known (so shared paths are sent once)."""
    known = sorted(set(indexes))
    for level in range(height):
        present = set(known)
        for index in known:
            if index ^ 1 not in present:
                yield level, index ^ 1
        known = sorted({index >> 1 for index in known})


def inclusion_proof(tree: AssetTree, client: str, round_hash_hex: str) -> dict[str, Any] | None:
    """The client's pieces in this asset with the siblings that lead them to the root."""
    rows = tree.pieces_of(client)
    if not len(rows):
        return None
    rows = rows[np.argsort(tree.placement.piece[rows])]
    indexes = tree.placement.index[rows].tolist()
    blocks = {index >> tree.context.block_levels for index in indexes}
    assert len(blocks) == 1  # a client's pieces share one block
    below = _block_siblings(tree, blocks.pop())
    siblings = []
    for height, index in multiproof_order(indexes, tree.height):
        if height < tree.context.block_levels:
            siblings.append(below[height, index])
        else:
            total, digest = tree.node(height, index)
            siblings.append(total.to_bytes(8, "big") + digest)
    return {
        "v": proof_format_of(tree.context.version),
        "round_hash": round_hash_hex,
        "asset": tree.asset.code,
        "asset_number": tree.asset.number,
        "pieces": [{"index": index, "value": str(int(value))}
                   for index, value in zip(indexes, tree.placement.value[rows].tolist(),
                                           strict=True)],
        "siblings": base64.b64encode(b"".join(siblings)).decode("ascii"),
    }


