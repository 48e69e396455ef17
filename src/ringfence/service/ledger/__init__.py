"""The ledger service: the one writer that turns requests into durable journal entries.

Gather, decide, apply: it gathers what a batch refers to from the store, lets the core engine
decide every event, and appends the committed records to the store as one hash-chained journal
entry before it returns any result. Nothing is acknowledged before it is durable. If anything
fails while the engine holds changes the store has not made durable (the store refuses or
fails, the engine or an encoder raises, the caller abandons a stream), the engine's in-memory
state is thrown away and rebuilt from the store, so memory never runs ahead of what was
written; if even that fails, the service rebuilds itself before its next use.

Every entry it writes is signed with the journal key (the ``Signer`` port) over its place and
hash (core/ledger/authenticity.py). A new journal's first entry declares the key; a writer whose
key is not the one the journal declares is refused before it writes anything.

Principals (core/principals/records.py) are journaled by the same writer, and replayed in journal
order with the transfers, so each transfer is checked against the keys as they stood when it was
made. Opening a store replays its tail with every rule checked but does not verify again the
signatures it holds (they were verified when committed; the audit verifies every one).

One concept a module: ``writer.py`` (the journal writer: key, appends, checkpoints),
``transfers.py`` (the pipelined submit path), ``service.py`` (``LedgerService``: definitions,
principals, reading), ``replay.py`` (loading and replaying a journal), ``lines.py`` (the
workflows of JSONL files: transfers submitted, accounts imported) and ``documents.py`` (what
the CLI and the API render: balances, positions, the journal's head).
"""

from ringfence.core.collector import collector_paused
from ringfence.service.ledger.replay import (
    apply_definitions,
    build_checkpoint,
    load_journal_keys,
    load_ledger,
    replay_principals,
    replay_transfers,
)
from ringfence.service.ledger.service import Balance, LedgerService

__all__ = [
    "Balance",
    "LedgerService",
    "apply_definitions",
    "build_checkpoint",
    "collector_paused",
    "load_journal_keys",
    "load_ledger",
    "replay_principals",
    "replay_transfers",
]
