"""Batch work by client range: the ranges a run is cut into, the rows each task reads, and a
cut held in memory.

A batch run (a proof-of-reserves round, a segregation statement) reads the ledger's client
accounts at one consistent cut of the store, in ranges of client numbers: a client's accounts
all fall in one range, so a task can sum what each of its clients is owed (over pools and
kinds) without seeing any other range. Each task returns a partial result; the coordinator
merges them in range order, so the merged result does not depend on how many ranges there
were, nor on which process read which (``core/por/liabilities.py``,
``core/recon/segregation_statement.py``).

Pure: the store's own cuts (an exported PostgreSQL snapshot, an SQLite file at its checkpoint)
are adapters; ``RowsCut`` is the cut of rows already in memory (the memory store, a ledger
replayed to a past entry), whose readers carry only their own range's rows.
"""

from __future__ import annotations

import bisect
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import NamedTuple

from ringfence.core import limits
from ringfence.core.ledger.engine import Ledger
from ringfence.core.ledger.model import AccountClass


class ClientAccountRow(NamedTuple):
    """One client account as a batch task reads it: whose (number and name), which asset and
    pool, and its posted balance on its normal side (credits less debits: a client account is
    credit-normal and never below zero)."""

    client: int
    name: str
    asset: str
    pool: str
    balance: int


@dataclass(frozen=True, slots=True)
class ClientRange:
    """Client numbers ``first`` to ``end - 1``."""

    first: int
    end: int

    def __post_init__(self) -> None:
        assert 0 <= self.first < self.end


def client_ranges(client_number_max: int, clients_per_range: int) -> list[ClientRange]:
    """Consecutive ranges covering client numbers 0 to ``client_number_max`` (one empty range
    for a ledger without clients, so a run always has a task to merge)."""
    assert 0 < clients_per_range <= limits.batch_range_clients_max
    assert client_number_max >= 0
    count = client_number_max // clients_per_range + 1
    return [ClientRange(n * clients_per_range, (n + 1) * clients_per_range) for n in range(count)]


def sorted_rows(rows: Iterable[ClientAccountRow]) -> list[ClientAccountRow]:
    """Rows in client number order (a client's own rows keep their order: only sums of them
    are ever taken)."""
    return sorted(rows, key=lambda row: row.client)


def engine_rows(ledger: Ledger) -> list[ClientAccountRow]:
    """The client accounts of an engine's state, as a store's cut would give them."""
    rows = []
    for account in ledger.accounts.values():
        definition = account.definition
        if definition.account_class is not AccountClass.client:
            continue
        balance = account.credits_posted - account.debits_posted
        assert balance >= 0  # guarantee 2: a client account never goes below zero
        rows.append(ClientAccountRow(account.owner_number, definition.owner, definition.asset,
                                     definition.pool, balance))
    return sorted_rows(rows)


@dataclass(frozen=True, slots=True)
class RowsReader:
    """One range of a ``RowsCut``: only its own rows travel with it to a task."""

    rows: tuple[ClientAccountRow, ...]

    def read(self) -> list[ClientAccountRow]:
        return list(self.rows)


@dataclass(frozen=True, slots=True)
class RowsCut:
    """A cut whose rows are in memory, sorted by client number."""

    seq: int
    rows: Sequence[ClientAccountRow]

    @property
    def client_number_max(self) -> int:
        return self.rows[-1].client if self.rows else 0

    def reader(self, clients: ClientRange) -> RowsReader:
        # A binary search on the rows themselves: a run over many ranges of a large cut (an
        # audit's replay) does not copy every client number once per range.
        low = bisect.bisect_left(self.rows, clients.first, key=_client_of)
        high = bisect.bisect_left(self.rows, clients.end, key=_client_of)
        return RowsReader(tuple(self.rows[low:high]))


def _client_of(row: ClientAccountRow) -> int:
    return row.client
