"""Custodian statement files: what a third-party custodian says it holds for the firm.

Assets held at another custodian (a qualified custodian's omnibus account, an exchange's
sub-account) cannot be observed on chain; the custodian's statement is the observation. The
format, version 1 (docs/custody.md, "Holdings files")::

    # ringfence custodian statement v1
    # custodian: prime-trust-2
    account,asset,amount,as_of
    omnibus-btc-1,BTC,12.50000000,2026-11-21T00:00:00Z
    omnibus-usdc,USDC,1000000.5,2026-11-21T00:00:00Z

``custodian`` is a ringfence name (at most 32 characters of ``[a-z0-9_.-]``). ``account`` is
the custodian's account identifier (1 to 90 characters of letters, digits and ``._:/@+-``,
starting with a letter or digit); it becomes the observation's ``address``, which the wallet
registry knows as a fixed-address wallet. ``asset`` is a code the ledger defines; ``amount``
is a decimal string in the asset's major unit, read by ``money.parse_amount`` (so a digit finer
than the asset's scale, a sign, an exponent or a separator is refused, never rounded);
``as_of`` is an ISO 8601 UTC time. One account holds one row per asset.

Each row becomes one ``Observation`` at height 0 and the row's as-of time, with source
``statement:<custodian>:<first 16 hex of the file's SHA-256>``. Parsing is all or nothing,
with the same bulk-then-diagnose design as UTXO snapshots (snapshots.py).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Final

from ringfence.core import limits
from ringfence.core.custody.files import (
    body_lines,
    float_notation,
    line_error,
    parse_timestamp,
    split_columns,
    split_holdings_file,
)
from ringfence.core.custody.holdings import Observation
from ringfence.core.custody.registry import Chain
from ringfence.core.errors import InputError, Result
from ringfence.core.ledger.model import check_name
from ringfence.core.money import Asset, parse_amount

magic: Final = "# ringfence custodian statement v1"
columns: Final = "account,asset,amount,as_of"
metadata_keys: Final = ("custodian",)
source_prefix: Final = "statement"

_account = r"[0-9A-Za-z][0-9A-Za-z._:/@+-]{0,89}"
_timestamp = r"[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}(?:\.[0-9]{1,9})?Z"
# Amounts are bounded by ``parse_amount`` (80 characters), so the pattern leaves their length
# alone: the bulk pass and the line-by-line pass then refuse exactly the same rows.
_amount = r"[0-9]+(?:\.[0-9]+)?"
_body_pattern: Final = re.compile(
    rf"(?:{_account},[A-Z][A-Z0-9]{{0,11}},{_amount},{_timestamp}\n)*"
)
_account_pattern: Final = re.compile(_account + r"\Z")


@dataclass(frozen=True, slots=True)
class Statement:
    """A parsed statement: one observation per row, in file order."""

    custodian: str
    source: str  # statement:<custodian>:<first 16 hex digits of the file's SHA-256>
    observations: tuple[Observation, ...]


def parse_statement(data: bytes, assets: Mapping[str, Asset]) -> Statement:
    """Parse a whole statement file's bytes against the ledger's ``assets`` (by code)."""
    text = split_holdings_file(data, magic, metadata_keys, columns)
    if "custodian" not in text.metadata:
        raise InputError(Result.holdings_file_header_invalid, "no '# custodian:' line")
    custodian = text.metadata["custodian"]
    try:
        check_name(custodian, "custodian")
    except InputError as error:
        raise InputError(Result.holdings_file_header_invalid, error.detail) from None
    source = f"{source_prefix}:{custodian}:{text.digest}"
    observations = None
    if _body_pattern.fullmatch(text.body):
        observations = _observe(split_columns(text.body, text.rows, 4), assets, source)
    if observations is None:
        _diagnose(text.body, text.body_first_line, assets)
        raise AssertionError("the bulk check refused a statement the line check accepts")
    return Statement(custodian, source, observations)


def _chain_of(asset: Asset) -> Chain:
    if asset.chain not in Chain.__members__:
        raise InputError(Result.chain_unknown, f"asset {asset.code} is on {asset.chain!r}")
    return Chain(asset.chain)


def _observe(
    columns: list[list[str]], assets: Mapping[str, Asset], source: str
) -> tuple[Observation, ...] | None:
    """One observation per row when every row passes, else ``None``: the line check then
    names the first bad line. Asset lookups and timestamps are cached per distinct value."""
    chains: dict[str, tuple[Asset, Chain]] = {}
    times: dict[str, int] = {}
    accounts, codes = columns[0], columns[1]
    # An asset code holds no comma, so "code,account" names an account's asset unambiguously.
    if len(set(map(",".join, zip(codes, accounts, strict=True)))) != len(accounts):
        return None
    observations = []
    try:
        for account, code, amount_text, as_of in zip(*columns, strict=True):
            known = chains.get(code)
            if known is None:
                asset = assets.get(code)
                if asset is None:
                    return None
                known = chains[code] = (asset, _chain_of(asset))
            time_ns = times.get(as_of)
            if time_ns is None:
                time_ns = times[as_of] = parse_timestamp(as_of)
            amount = parse_amount(amount_text, known[0])
            observations.append(Observation(known[1], account, code, amount, 0, time_ns, source))
    except InputError:
        return None
    return tuple(observations)


def _diagnose(body: str, first_line: int, assets: Mapping[str, Asset]) -> None:
    """Check the rows one by one and raise for the first bad one."""
    seen: set[tuple[str, str]] = set()
    for number, line in enumerate(body_lines(body), start=first_line):
        if not line or len(line) > limits.holdings_line_bytes_max:
            raise line_error(Result.holdings_row_malformed, number, "empty or too long")
        fields = line.split(",")
        if len(fields) != len(columns.split(",")):
            raise line_error(
                Result.holdings_row_column_count_wrong,
                number,
                f"{len(fields)} columns, expected {len(columns.split(','))}: {columns}",
            )
        account, code, amount_text, as_of = fields
        if not _account_pattern.match(account):
            raise line_error(Result.account_invalid, number, f"{account[:90]!r}")
        asset = assets.get(code)
        if asset is None:
            raise line_error(Result.asset_not_found, number, f"{code[:40]!r}")
        if float_notation.match(amount_text):
            raise line_error(Result.amount_must_not_be_float, number, f"{amount_text[:40]!r}")
        try:
            _chain_of(asset)
            parse_amount(amount_text, asset)
            parse_timestamp(as_of)
        except InputError as error:
            raise line_error(error.code, number, error.detail) from None
        if (account, code) in seen:
            raise line_error(
                Result.statement_row_duplicate, number, f"{account} {code} listed twice"
            )
        seen.add((account, code))
