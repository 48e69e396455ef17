"""What the reconciliation commands share: times, files and the opened services.

Times (``--as-of``, ``--from``, ``--to``) are nanoseconds since the epoch, an ISO-8601 UTC time
(``2026-11-20T17:00:00Z``) or a date. A date as ``--as-of`` or ``--to`` means the end of that
day (close of business, UTC: the statement covers the whole day); as ``--from``, its start.
"""

from __future__ import annotations

import csv
import sys
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import typer

from ringfence.adapters.prices import PriceTable
from ringfence.core import limits
from ringfence.core.custody.holdings import Observation
from ringfence.core.errors import InputError, Result
from ringfence.core.recon.files import parse_observations, parse_prices, parse_settings
from ringfence.core.recon.run import ReconSettings
from ringfence.entrypoints.cli.output import opened
from ringfence.service.custody import CustodyService
from ringfence.service.ledger import LedgerService
from ringfence.service.recon import ReconService


def parse_time(text: str | None, what: str, end_of_day: bool = False) -> int | None:
    """Nanoseconds for a time option; None when not given."""
    if text is None:
        return None
    if text.isdigit():
        value = int(text)
    else:
        try:
            if len(text) == 10:
                day = date.fromisoformat(text)
                moment = datetime(day.year, day.month, day.day, tzinfo=UTC)
                if end_of_day:
                    moment += timedelta(days=1)
                value = int(moment.timestamp()) * 10**9 - (1 if end_of_day else 0)
            else:
                moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
                if moment.tzinfo is None:
                    raise ValueError("no time zone")
                seconds = int(moment.timestamp())
                value = seconds * 10**9 + moment.microsecond * 1_000
        except ValueError:
            raise InputError(Result.timestamp_invalid, f"{what} {text!r}") from None
    if not 0 <= value <= limits.timestamp_ns_max:
        raise InputError(Result.timestamp_invalid, f"{what} {text!r}")
    return value


def read_file(path: Path) -> bytes:
    try:
        with path.open("rb") as handle:
            data = handle.read(limits.recon_file_bytes_max + 1)
    except OSError as error:
        raise InputError(Result.field_required, f"{path}: {error.strerror}") from None
    return data


def observations_of(path: Path | None, ledger: LedgerService) -> list[Observation] | None:
    if path is None:
        return None
    return parse_observations(read_file(path), ledger.ledger.assets)


def settings_of(path: Path | None, ledger: LedgerService) -> ReconSettings:
    if path is None:
        return ReconSettings()
    return parse_settings(read_file(path), ledger.ledger.assets, ledger.ledger.pools)


def prices_of(path: Path | None) -> PriceTable | None:
    """The prices of a file as a price source (the statement takes the latest at its end)."""
    return None if path is None else PriceTable(parse_prices(read_file(path)).values())


@contextmanager
def opened_recon(context: typer.Context) -> Iterator[ReconService]:
    """The reconciliation service over the ledger in ``--db`` (closed, and so checkpointed)."""
    with opened(context) as ledger:
        yield ReconService(CustodyService(ledger))


def write_csv(header: Sequence[str], rows: Iterable[Sequence[str]]) -> None:
    writer = csv.writer(sys.stdout, lineterminator="\n")
    writer.writerow(header)
    writer.writerows(rows)


def one_format(**chosen: bool) -> None:
    """At most one output format may be asked for."""
    picked = [name for name, on in chosen.items() if on]
    if len(picked) > 1:
        raise typer.BadParameter(f"choose one of {', '.join('--' + n for n in picked)}")
