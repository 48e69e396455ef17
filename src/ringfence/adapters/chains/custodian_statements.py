"""Holdings from custodian statement files: a ``HoldingsSource``.

Assets held at a third-party custodian are observed through its statements (the format:
``core/custody/custodian_statements.py`` and docs/custody.md). This adapter reads the files; the
core checks them, all or nothing: one bad line in any file raises an ``InputError`` naming the file
and line, and the source is never built.

With several statements (several custodians, or successive days), each account's holding of an
asset is taken from the row with the latest as-of time. Two rows for one account and asset at
the same time with different amounts contradict each other and are refused. A statement has no
inflows: deposits at a custodian show up as a change in the held amount, which reconciliation
explains.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Mapping, Sequence
from pathlib import Path
from typing import Final

from ringfence.adapters.chains.utxo_snapshot import read_holdings_file
from ringfence.core.collector import collector_paused
from ringfence.core.custody.custodian_statements import Statement, parse_statement
from ringfence.core.custody.holdings import Inflow, Observation
from ringfence.core.errors import InputError, Result
from ringfence.core.money import Asset

source_name_default: Final = "statement"


def _parse_file(path: str | Path, assets: Mapping[str, Asset]) -> Statement:
    try:
        with collector_paused():
            return parse_statement(read_holdings_file(path), assets)
    except InputError as error:
        raise InputError(error.code, f"{Path(path).name}: {error.detail}") from None


class StatementSource:
    """Holdings of custodian accounts from one or more statement files, read and checked when
    the source is made. ``assets`` are the ledger's assets (a mapping by code, or a list)."""

    def __init__(
        self,
        paths: Sequence[str | Path],
        assets: Mapping[str, Asset] | Iterable[Asset],
        name: str = source_name_default,
    ) -> None:
        if not paths:
            raise InputError(Result.holdings_file_empty, "no statement files given")
        by_code = dict(assets) if isinstance(assets, Mapping) else {a.code: a for a in assets}
        self.name = name
        self.statements = tuple(_parse_file(path, by_code) for path in paths)
        self._latest: dict[tuple[str, str], Observation] = {}
        for statement in self.statements:
            for observation in statement.observations:
                self._keep_latest(observation)

    def _keep_latest(self, observation: Observation) -> None:
        key = (observation.address, observation.asset)
        kept = self._latest.get(key)
        if kept is None or kept.time_ns < observation.time_ns:
            self._latest[key] = observation
        elif kept.time_ns == observation.time_ns and kept.amount != observation.amount:
            raise InputError(
                Result.statement_row_duplicate,
                f"{key[0]} {key[1]} at one time: {kept.amount} in {kept.source}, "
                f"{observation.amount} in {observation.source}",
            )

    def holdings(self, addresses: Collection[str]) -> list[Observation]:
        """The latest statement row for each account among ``addresses``, per asset."""
        wanted = frozenset(addresses)
        return [o for (account, _), o in self._latest.items() if account in wanted]

    def inflows(self, addresses: Collection[str], from_height: int) -> tuple[list[Inflow], int]:
        """Statements name balances, not credits: no inflows, and no heights."""
        del addresses, from_height
        return [], 0
