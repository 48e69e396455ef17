"""The regulatory reports' input files, parsed from bytes the shell has read.

Four JSON documents, each carrying ``"version": 1`` (a later format gets a new number and
this module refuses what it does not know) and identified in every report by the SHA-256 of its
bytes, so a report says exactly which register or policy schedule it was computed from.
Formats, with every field, are in docs/regulatory.md:

- the **sub-custodian register** (``--register``): who holds client assets for the firm, its
  approval and due diligence, and which wallets it holds;
- the **insurance schedule** (``--policies``): the policies, their limits and deductibles in
  one quote currency, what they cover and when;
- the **haircut schedule** (``--haircuts``): per asset, the haircut in basis points applied to
  collateral value (CFTC tokenised-collateral pilot);
- the **margin requirements** (``--requirements``): per pool, asset and client, the collateral
  required, and the residual-interest deadline they must be covered by (CFTC 1.22(c)).

Amounts are decimal strings in the asset's (or the quote currency's) major unit, parsed by
core/money.py: never floats, never finer than the scale. Times are as core/recon/times.py reads
them. Every defect is an ``InputError`` naming the entry and the field; nothing is guessed.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Collection, Mapping
from dataclasses import dataclass
from enum import StrEnum, unique
from typing import Any

from ringfence.core import limits
from ringfence.core.errors import InputError, Result
from ringfence.core.ledger.model import check_name, custody_tiers
from ringfence.core.ledger.wire import check_json_depth
from ringfence.core.money import Asset, parse_amount
from ringfence.core.recon.times import parse_time

file_version = 1
_quote_asset_number = 1  # a quote currency is no asset of the ledger; its number is unused


@dataclass(frozen=True, slots=True)
class FileIdentity:
    """Which file a report was computed from: its format version and the SHA-256 of its bytes."""

    version: int
    sha256: str


@unique
class Approval(StrEnum):
    approved = "approved"
    pending = "pending"  # proposed, not yet approved: holding client assets there is a finding
    revoked = "revoked"


@dataclass(frozen=True, slots=True)
class DueDiligence:
    """One due-diligence record: a SOC 1 or SOC 2 report (or another review) covering a
    period ending ``period_end_ns``, received on ``received_ns``."""

    kind: str
    period_end_ns: int
    received_ns: int


@dataclass(frozen=True, slots=True)
class SubCustodian:
    name: str
    status: Approval
    approved_ns: int  # 0 unless approved
    due_diligence: tuple[DueDiligence, ...]
    wallets: tuple[str, ...]

    def approved_at(self, at_ns: int) -> bool:
        return self.status is Approval.approved and self.approved_ns <= at_ns


@dataclass(frozen=True, slots=True)
class SubCustodianRegister:
    identity: FileIdentity
    sub_custodians: tuple[SubCustodian, ...]

    def location_of(self) -> dict[str, SubCustodian]:
        """Wallet name -> the sub-custodian holding it (wallets not listed are the firm's own)."""
        return {wallet: s for s in self.sub_custodians for wallet in s.wallets}


@dataclass(frozen=True, slots=True)
class Quote:
    """The currency reports are valued in, and its scale (USD at 2: cents)."""

    code: str
    scale: int

    def asset(self) -> Asset:
        """The quote as an ``Asset`` so core/money.py can parse and format its amounts."""
        return Asset(self.code, self.scale, _quote_asset_number)


@dataclass(frozen=True, slots=True)
class Policy:
    """An insurance policy: it pays up to ``limit`` above ``deductible`` (quote minor units)
    for holdings in ``tiers`` or ``wallets`` over [start_ns, end_ns)."""

    id: str
    insurer: str
    limit: int
    deductible: int
    tiers: tuple[str, ...]
    wallets: tuple[str, ...]
    start_ns: int
    end_ns: int

    def active(self, at_ns: int) -> bool:
        return self.start_ns <= at_ns < self.end_ns

    def covers(self, wallet: str, tier: str) -> bool:
        return wallet in self.wallets or tier in self.tiers


@dataclass(frozen=True, slots=True)
class InsuranceSchedule:
    identity: FileIdentity
    quote: Quote
    policies: tuple[Policy, ...]


@dataclass(frozen=True, slots=True)
class HaircutSchedule:
    identity: FileIdentity
    quote: Quote
    haircuts_bps: dict[str, int]  # asset -> basis points


@dataclass(frozen=True, slots=True)
class MarginRequirements:
    identity: FileIdentity
    deadline_ns: int
    required: dict[tuple[str, str, str], int]  # (pool, asset, client) -> minor units


# ---------------------------------------------------------------------- shared


def _document(
    text: bytes, what: str, fields: Collection[str]
) -> tuple[FileIdentity, dict[str, Any]]:
    if len(text) > limits.regulatory_file_bytes_max:
        raise InputError(Result.regulatory_file_invalid, f"{what} is too large")
    check_json_depth(text)
    try:
        document = json.loads(text)
    except (json.JSONDecodeError, UnicodeDecodeError) as error:
        raise InputError(Result.line_malformed, f"{what}: {error}") from None
    if not isinstance(document, dict):
        raise InputError(Result.regulatory_file_invalid, f"{what}: not an object")
    unknown = set(document) - {"version", *fields}
    if unknown:
        raise InputError(Result.field_unknown, f"{what}: {sorted(unknown)[0]}")
    version = document.get("version")
    if version != file_version or type(version) is not int:
        raise InputError(Result.regulatory_file_version_unsupported, f"{what}: {version!r}")
    return FileIdentity(version, hashlib.sha256(text).hexdigest()), document


def _entries(document: dict[str, Any], key: str, what: str) -> list[dict[str, Any]]:
    rows = document.get(key)
    if not isinstance(rows, list):
        raise InputError(Result.field_required, f'{what}: a list under "{key}"')
    if len(rows) > limits.regulatory_entries_max:
        raise InputError(
            Result.regulatory_file_invalid,
            f"{what}: more than {limits.regulatory_entries_max} entries",
        )
    for index, row in enumerate(rows, start=1):
        if not isinstance(row, dict):
            raise InputError(Result.regulatory_file_invalid, f"{what} {index}: not an object")
    return rows


def _fields(
    row: dict[str, Any], required: Collection[str], optional: Collection[str], where: str
) -> None:
    unknown = set(row) - {*required, *optional}
    if unknown:
        raise InputError(Result.field_unknown, f"{where}: {sorted(unknown)[0]}")
    for name in required:
        if name not in row:
            raise InputError(Result.field_required, f"{where}: {name}")


def _text(value: object, where: str, code: Result) -> str:
    if not isinstance(value, str) or not 0 < len(value) <= 64 or not value.isascii():
        raise InputError(code, f"{where}: {value!r}")
    if not value.isprintable():
        raise InputError(code, f"{where}: not printable")
    return value


def _time(value: object, where: str, end_of_day: bool = False) -> int:
    if isinstance(value, int) and not isinstance(value, bool):
        value = str(value)
    if not isinstance(value, str):
        raise InputError(Result.timestamp_invalid, f"{where}: {value!r}")
    found = parse_time(value, where, end_of_day)
    assert found is not None
    return found


def _names(value: object, where: str, allowed: Collection[str] | None = None) -> tuple[str, ...]:
    if not isinstance(value, list):
        raise InputError(Result.regulatory_file_invalid, f"{where}: not a list")
    names = tuple(check_name(name, where) for name in value)
    if len(set(names)) != len(names):
        raise InputError(Result.regulatory_file_invalid, f"{where}: a name given twice")
    if allowed is not None and not set(names) <= set(allowed):
        raise InputError(
            Result.wallet_tier_invalid, f"{where}: {sorted(set(names) - set(allowed))[0]}"
        )
    return names


def _quote(document: dict[str, Any], what: str) -> Quote:
    code, scale = document.get("quote"), document.get("quote_scale")
    if type(scale) is not int or not 0 <= scale <= limits.price_scale_max:
        raise InputError(Result.regulatory_file_invalid, f"{what}: quote_scale {scale!r}")
    quote = Quote(_text(code, f"{what}: quote", Result.regulatory_file_invalid), scale)
    quote.asset()  # refuses a code that is not one
    return quote


# ---------------------------------------------------------------------- the files


def parse_sub_custodian_register(text: bytes, wallets: Collection[str]) -> SubCustodianRegister:
    """The register; every wallet it names must be a registered wallet, held by one only."""
    identity, document = _document(text, "register", ("sub_custodians",))
    found: list[SubCustodian] = []
    held: set[str] = set()
    for index, row in enumerate(_entries(document, "sub_custodians", "register"), start=1):
        where = f"sub-custodian {index}"
        _fields(row, ("name", "status", "wallets"), ("approved_on", "due_diligence"), where)
        name = check_name(row["name"], where)
        if any(s.name == name for s in found):
            raise InputError(Result.sub_custodian_duplicate, name)
        try:
            status = Approval(row["status"])
        except ValueError:
            raise InputError(
                Result.sub_custodian_status_invalid, f"{name}: {row['status']!r}"
            ) from None
        approved_ns = 0
        if status is Approval.approved:
            if "approved_on" not in row:
                raise InputError(Result.field_required, f"{name}: approved_on")
            approved_ns = _time(row["approved_on"], f"{name}: approved_on")
        names = _names(row["wallets"], f"{name}: wallets")
        for wallet in names:
            if wallet not in wallets:
                raise InputError(Result.wallet_not_found, f"{name}: {wallet}")
            if wallet in held:
                raise InputError(Result.sub_custodian_wallet_listed_twice, wallet)
            held.add(wallet)
        records = _due_diligence(row.get("due_diligence", []), name)
        found.append(SubCustodian(name, status, approved_ns, records, names))
    return SubCustodianRegister(identity, tuple(found))


def _due_diligence(rows: object, name: str) -> tuple[DueDiligence, ...]:
    if not isinstance(rows, list) or len(rows) > limits.regulatory_entries_max:
        raise InputError(Result.regulatory_file_invalid, f"{name}: due_diligence")
    records = []
    for index, row in enumerate(rows, start=1):
        where = f"{name}: due diligence {index}"
        if not isinstance(row, dict):
            raise InputError(Result.regulatory_file_invalid, where)
        _fields(row, ("kind", "period_end", "received_on"), (), where)
        records.append(
            DueDiligence(
                _text(row["kind"], f"{where}: kind", Result.regulatory_file_invalid),
                _time(row["period_end"], f"{where}: period_end", end_of_day=True),
                _time(row["received_on"], f"{where}: received_on"),
            )
        )
    return tuple(records)


def parse_insurance_schedule(text: bytes, wallets: Collection[str]) -> InsuranceSchedule:
    """The policies, in the order they respond (docs/regulatory.md: a later policy covers what
    earlier ones left uncovered)."""
    identity, document = _document(text, "policies", ("quote", "quote_scale", "policies"))
    quote = _quote(document, "policies")
    found: list[Policy] = []
    for index, row in enumerate(_entries(document, "policies", "policies"), start=1):
        where = f"policy {index}"
        required = ("id", "insurer", "limit", "deductible", "start", "end")
        _fields(row, required, ("tiers", "wallets"), where)
        policy_id = _text(row["id"], f"{where}: id", Result.insurance_policy_invalid)
        if any(p.id == policy_id for p in found):
            raise InputError(Result.insurance_policy_duplicate, policy_id)
        tiers = _names(row.get("tiers", []), f"{policy_id}: tiers", custody_tiers)
        covered = _names(row.get("wallets", []), f"{policy_id}: wallets")
        for wallet in covered:
            if wallet not in wallets:
                raise InputError(Result.wallet_not_found, f"{policy_id}: {wallet}")
        if not tiers and not covered:
            raise InputError(Result.insurance_policy_invalid, f"{policy_id}: covers nothing")
        start, end = (
            _time(row["start"], f"{policy_id}: start"),
            _time(row["end"], f"{policy_id}: end"),
        )
        if end <= start:
            raise InputError(Result.insurance_policy_invalid, f"{policy_id}: ends before it starts")
        limit = parse_amount(row["limit"], quote.asset())
        if limit == 0:
            raise InputError(Result.insurance_policy_invalid, f"{policy_id}: limit 0")
        found.append(
            Policy(
                policy_id,
                _text(row["insurer"], f"{where}: insurer", Result.insurance_policy_invalid),
                limit,
                parse_amount(row["deductible"], quote.asset()),
                tiers,
                covered,
                start,
                end,
            )
        )
    return InsuranceSchedule(identity, quote, tuple(found))


def parse_haircut_schedule(text: bytes, assets: Mapping[str, Asset]) -> HaircutSchedule:
    identity, document = _document(text, "haircuts", ("quote", "quote_scale", "haircuts"))
    quote = _quote(document, "haircuts")
    haircuts: dict[str, int] = {}
    for index, row in enumerate(_entries(document, "haircuts", "haircuts"), start=1):
        where = f"haircut {index}"
        _fields(row, ("asset", "haircut_bps"), (), where)
        asset, bps = row["asset"], row["haircut_bps"]
        if asset not in assets:
            raise InputError(Result.asset_not_found, f"{where}: {asset!r}")
        if asset in haircuts:
            raise InputError(Result.haircut_invalid, f"{where}: {asset} given twice")
        if type(bps) is not int or not 0 <= bps <= limits.haircut_bps_max:
            raise InputError(Result.haircut_invalid, f"{where}: haircut_bps {bps!r}")
        haircuts[asset] = bps
    return HaircutSchedule(identity, quote, haircuts)


def parse_margin_requirements(
    text: bytes,
    assets: Mapping[str, Asset],
    pools: Mapping[str, bool],
    clients: Collection[str],
) -> MarginRequirements:
    """Collateral required per pool, asset and client; ``pools`` says which pools are
    segregated (custody terms): only theirs have residual interest to cover anything."""
    identity, document = _document(text, "requirements", ("deadline", "requirements"))
    if "deadline" not in document:
        raise InputError(Result.field_required, "requirements: deadline")
    deadline = _time(document["deadline"], "requirements: deadline")
    required: dict[tuple[str, str, str], int] = {}
    for index, row in enumerate(_entries(document, "requirements", "requirements"), start=1):
        where = f"requirement {index}"
        _fields(row, ("pool", "asset", "client", "required"), (), where)
        pool, asset, client = row["pool"], row["asset"], row["client"]
        if pool not in pools:
            raise InputError(Result.pool_not_found, f"{where}: {pool!r}")
        if not pools[pool]:
            raise InputError(
                Result.margin_requirement_invalid, f"{where}: {pool} is not segregated"
            )
        if asset not in assets:
            raise InputError(Result.asset_not_found, f"{where}: {asset!r}")
        if client not in clients:
            raise InputError(Result.client_not_found, f"{where}: {client!r}")
        key = (pool, asset, client)
        if key in required:
            raise InputError(Result.margin_requirement_duplicate, f"{where}: {key}")
        required[key] = parse_amount(row["required"], assets[asset])
    return MarginRequirements(identity, deadline, required)
