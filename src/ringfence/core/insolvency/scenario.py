"""A failure scenario: the petition date, the prices at that date and what went wrong.

The scenario file is a JSON document (docs/insolvency.md); ``parse_scenario`` turns its decoded
value into a ``Scenario`` or raises ``InputError`` naming the first thing wrong, and checks
every name against the firm (assets, pools, wallets, clients) so that a typo cannot silently
simulate a different failure. Amounts are decimal strings in the asset's major unit and go
through ``money.parse_amount``: finer than the asset's scale is refused, never rounded.

Values. Claims in different assets are compared (the estate's pro rata share, the preference
screen's de-minimis test, the cash payout) at petition-date prices. A price is a decimal
string of the quote currency per major unit of the asset, at most 18 decimals. Every value is
an exact integer of *value atoms*: 10^-value_scale of the quote currency, with ``value_scale``
the largest of the quote's scale and, per asset, its scale plus its price's decimals (trailing
zeros dropped), so that the value of any number of minor units of any asset is an integer,
nothing is rounded until cash is paid out, and the integers stay as small as exactness allows
(Python multiplies small integers faster).
"""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime
from enum import StrEnum, unique
from typing import Any

from ringfence.core import limits
from ringfence.core.errors import InputError, Result
from ringfence.core.ledger.model import check_id
from ringfence.core.money import Asset, check_units, parse_amount

ns_per_day = 86_400 * 10**9
window_days_default = 90  # 11 U.S.C. §547(b)(4)(A)
_scenario_keys = frozenset(
    {
        "petition_date", "quote", "prices", "hacks", "house_losses", "commingled_pools",
        "breaches", "loans", "admin_costs", "payout", "preference", "displayed_transfers",
        "description", "deposits_not_arrived",
    }
)


@unique
class Payout(StrEnum):
    """How the estate pays its unsecured creditors (customer property is always returned in
    kind): in the asset of each claim (Mt. Gox's rehabilitation) or in cash at petition-date
    prices (FTX's plan)."""

    in_kind = "in_kind"
    cash = "cash"


@dataclass(frozen=True, slots=True)
class Valuation:
    """Petition-date prices as value atoms per minor unit of each asset (exact integers)."""

    quote: str
    quote_scale: int
    value_scale: int
    atoms_per_unit: Mapping[str, int]

    def value(self, asset: str, units: int) -> int:
        return units * self.atoms_per_unit[asset]

    def cash_units(self, atoms: int) -> int:
        """Value atoms as minor units of the quote currency, rounded down (never pays more)."""
        assert atoms >= 0
        divisor: int = 10 ** (self.value_scale - self.quote_scale)
        return atoms // divisor

    def quote_atoms(self, cash_units: int) -> int:
        multiplier: int = 10 ** (self.value_scale - self.quote_scale)
        return cash_units * multiplier


@dataclass(frozen=True, slots=True)
class Hack:
    """``units`` of ``asset`` stolen from ``wallet``: gone, recovered by nobody."""

    wallet: str
    asset: str
    units: int


@dataclass(frozen=True, slots=True)
class HouseLoss:
    """The firm lost ``units`` of its own ``asset`` (a bad trade, a failed counterparty)."""

    asset: str
    units: int


@dataclass(frozen=True, slots=True)
class Breach:
    """``units`` of ``asset`` taken from ``pool``'s wallets for the firm's own use, now in the
    firm's wallets. ``traced``: the breach is quantified and the pool stays identifiable (its
    clients share the loss pro rata); untraced, the whole pool fails the tracing test."""

    pool: str
    asset: str
    units: int
    traced: bool = True


@dataclass(frozen=True, slots=True)
class Loan:
    """``client`` owes the firm ``units`` of ``asset``, secured by their collateral in
    ``pool``: set off against that collateral before anything is returned."""

    client: str
    pool: str
    asset: str
    units: int


@dataclass(frozen=True, slots=True)
class Displayed:
    """A transfer the client's app showed as done; it counts only if the ledger posted it."""

    id: int
    client: str
    asset: str
    units: int
    description: str = ""


@dataclass(frozen=True, slots=True)
class Scenario:
    petition_ns: int
    valuation: Valuation
    hacks: tuple[Hack, ...] = ()
    house_losses: tuple[HouseLoss, ...] = ()
    commingled: Mapping[str, str] | None = None  # pool -> why it fails the tracing test
    breaches: tuple[Breach, ...] = ()
    loans: tuple[Loan, ...] = ()
    admin_costs: int = 0  # value atoms
    payout: Payout = Payout.in_kind
    de_minimis: int = 0  # value atoms; a client's moves worth at most this are not held back
    window_ns: int = window_days_default * ns_per_day
    displayed: tuple[Displayed, ...] = ()
    description: str = ""
    # Deposits the ledger booked whose coins never arrived (Prime Trust): reconciliation finds
    # the withdrawals other clients' assets paid for, and their pools fail the tracing test.
    deposits_not_arrived: tuple[int, ...] = ()

    def __post_init__(self) -> None:
        assert 0 < self.petition_ns <= limits.timestamp_ns_max
        assert self.admin_costs >= 0
        assert self.de_minimis >= 0
        assert 0 <= self.window_ns <= limits.preference_window_days_max * ns_per_day


@dataclass(frozen=True, slots=True)
class FirmNames:
    """What a scenario may name: the firm's assets, pools (with the wallets of each, ``""``
    for the house) and clients."""

    assets: Mapping[str, Asset]
    pools: Collection[str]
    wallets: Mapping[str, str]  # wallet -> pool ("" the house)
    clients: Collection[str]


def parse_scenario(document: object, firm: FirmNames, petition_default_ns: int) -> Scenario:
    """The scenario in ``document`` (decoded JSON), checked against ``firm``."""
    if not isinstance(document, dict):
        raise InputError(Result.scenario_invalid, "the scenario is not a JSON object")
    unknown = sorted(set(document) - _scenario_keys)
    if unknown:
        raise InputError(Result.field_unknown, f"scenario field {unknown[0]!r}")
    valuation = _valuation(document, firm.assets)
    preference = _object(document.get("preference", {}), "preference")
    window_days = _count(preference.get("window_days", window_days_default), "window_days")
    if window_days > limits.preference_window_days_max:
        raise InputError(Result.scenario_invalid, f"window_days {window_days} is too long")
    description = document.get("description", "")
    if not isinstance(description, str) or len(description) > 1_000:
        raise InputError(Result.scenario_invalid, "description must be a short string")
    return Scenario(
        petition_ns=_petition_ns(document.get("petition_date"), petition_default_ns),
        valuation=valuation,
        hacks=tuple(_hack(entry, firm) for entry in _list(document, "hacks")),
        house_losses=tuple(_house_loss(entry, firm) for entry in _list(document, "house_losses")),
        commingled=_commingled(document, firm),
        breaches=tuple(_breach(entry, firm) for entry in _list(document, "breaches")),
        loans=tuple(_loan(entry, firm) for entry in _list(document, "loans")),
        admin_costs=_quote_amount(document.get("admin_costs", "0"), valuation, "admin_costs"),
        payout=_payout(document.get("payout", Payout.in_kind.value)),
        de_minimis=_quote_amount(preference.get("de_minimis", "0"), valuation, "de_minimis"),
        window_ns=window_days * ns_per_day,
        displayed=tuple(
            _displayed(entry, firm) for entry in _list(document, "displayed_transfers")
        ),
        description=description,
        deposits_not_arrived=_transfer_ids(document.get("deposits_not_arrived", [])),
    )


# ---------------------------------------------------------------------- fields


def _object(value: object, what: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise InputError(Result.scenario_invalid, f"{what} must be an object")
    return value


def _list(document: Mapping[str, Any], key: str) -> list[dict[str, Any]]:
    value = document.get(key, [])
    if not isinstance(value, list):
        raise InputError(Result.scenario_invalid, f"{key} must be a list")
    if len(value) > limits.scenario_entries_max:
        raise InputError(Result.scenario_invalid, f"{key} has more than the maximum entries")
    return [_object(entry, f"an entry of {key}") for entry in value]


def _fields(entry: Mapping[str, Any], what: str, required: Sequence[str], optional: Sequence[str]
            = ()) -> None:
    for key in required:
        if key not in entry:
            raise InputError(Result.field_required, f"{what}: {key}")
    unknown = sorted(set(entry) - set(required) - set(optional))
    if unknown:
        raise InputError(Result.field_unknown, f"{what}: {unknown[0]!r}")


def _count(value: object, what: str) -> int:
    if type(value) is not int or value < 0:
        raise InputError(Result.scenario_invalid, f"{what} must be a whole number, not {value!r}")
    return value


def _petition_ns(value: object, default_ns: int) -> int:
    """An integer of nanoseconds, an ISO-8601 date (midnight UTC) or date and time with a zone."""
    if value is None:
        return default_ns
    if type(value) is int:
        if not 0 < value <= limits.timestamp_ns_max:
            raise InputError(Result.timestamp_invalid, f"petition_date {value}")
        return value
    if not isinstance(value, str) or len(value) > 40:
        raise InputError(Result.timestamp_invalid, f"petition_date {value!r}")
    try:
        if len(value) == 10:
            moment = datetime.combine(date.fromisoformat(value), datetime.min.time(), UTC)
        else:
            moment = datetime.fromisoformat(value)
    except ValueError:
        raise InputError(Result.timestamp_invalid, f"petition_date {value!r}") from None
    if moment.tzinfo is None:
        raise InputError(Result.timestamp_invalid, "petition_date needs a time zone (Z)")
    epoch = datetime(1970, 1, 1, tzinfo=UTC)
    delta = moment - epoch
    ns = (delta.days * 86_400 + delta.seconds) * 10**9 + delta.microseconds * 1_000
    if not 0 < ns <= limits.timestamp_ns_max:
        raise InputError(Result.timestamp_invalid, f"petition_date {value!r}")
    return ns


def _valuation(document: Mapping[str, Any], assets: Mapping[str, Asset]) -> Valuation:
    quote = _object(document.get("quote", {"code": "USD", "scale": 2}), "quote")
    _fields(quote, "quote", ("code", "scale"))
    quote_asset = Asset(quote["code"], _count(quote["scale"], "quote scale"), 1)
    prices = _object(document.get("prices"), "prices")
    for code in prices:
        if code not in assets:
            raise InputError(Result.asset_not_found, f"price for {code!r}")
    missing = sorted(set(assets) - set(prices))
    if missing:
        raise InputError(Result.scenario_price_missing, f"no petition-date price for {missing[0]}")
    price_unit = Asset(quote_asset.code, limits.price_scale_max, 1)
    # Each price as (digits, decimals) with no trailing zeros: "64000.00" is (64000, 0).
    exact = {code: _trimmed(parse_amount(prices[code], price_unit)) for code in assets}
    value_scale = max(
        [quote_asset.scale, *(a.scale + exact[code][1] for code, a in assets.items())]
    )
    atoms = {
        code: exact[code][0] * 10 ** (value_scale - a.scale - exact[code][1])
        for code, a in assets.items()
    }
    return Valuation(quote_asset.code, quote_asset.scale, value_scale, atoms)


def _trimmed(units: int) -> tuple[int, int]:
    """A price in units of 10^-18 as (digits, decimals) with the trailing zeros dropped."""
    decimals = limits.price_scale_max
    while decimals and units % 10 == 0:
        units //= 10
        decimals -= 1
    return units, decimals


def _quote_amount(value: object, valuation: Valuation, what: str) -> int:
    quote = Asset(valuation.quote, valuation.quote_scale, 1)
    try:
        return valuation.quote_atoms(parse_amount(value, quote))
    except InputError as error:
        raise InputError(error.code, f"{what}: {error.detail}") from None


def _asset_amount(entry: Mapping[str, Any], firm: FirmNames, what: str) -> tuple[str, int]:
    code = entry["asset"]
    if not isinstance(code, str) or code not in firm.assets:
        raise InputError(Result.asset_not_found, f"{what}: asset {code!r}")
    try:
        units = parse_amount(entry["amount"], firm.assets[code])
    except InputError as error:
        raise InputError(error.code, f"{what}: {error.detail}") from None
    if units == 0:
        raise InputError(Result.amount_must_not_be_zero, what)
    return code, units


def _pool(name: object, firm: FirmNames, what: str) -> str:
    if not isinstance(name, str) or name not in firm.pools:
        raise InputError(Result.scenario_pool_unknown, f"{what}: pool {name!r}")
    return name


def _client(name: object, firm: FirmNames, what: str) -> str:
    if not isinstance(name, str) or name not in firm.clients:
        raise InputError(Result.client_not_found, f"{what}: client {name!r}")
    return name


def _hack(entry: Mapping[str, Any], firm: FirmNames) -> Hack:
    _fields(entry, "hack", ("wallet", "asset", "amount"))
    wallet = entry["wallet"]
    if not isinstance(wallet, str) or wallet not in firm.wallets:
        raise InputError(Result.scenario_wallet_unknown, f"hack: wallet {wallet!r}")
    return Hack(wallet, *_asset_amount(entry, firm, "hack"))


def _house_loss(entry: Mapping[str, Any], firm: FirmNames) -> HouseLoss:
    _fields(entry, "house loss", ("asset", "amount"))
    return HouseLoss(*_asset_amount(entry, firm, "house loss"))


def _breach(entry: Mapping[str, Any], firm: FirmNames) -> Breach:
    _fields(entry, "breach", ("pool", "asset", "amount"), ("traced",))
    traced = entry.get("traced", True)
    if not isinstance(traced, bool):
        raise InputError(Result.scenario_invalid, "breach: traced must be true or false")
    pool = _pool(entry["pool"], firm, "breach")
    return Breach(pool, *_asset_amount(entry, firm, "breach"), traced)


def _loan(entry: Mapping[str, Any], firm: FirmNames) -> Loan:
    _fields(entry, "loan", ("client", "pool", "asset", "amount"))
    client = _client(entry["client"], firm, "loan")
    pool = _pool(entry["pool"], firm, "loan")
    return Loan(client, pool, *_asset_amount(entry, firm, "loan"))


def _commingled(document: Mapping[str, Any], firm: FirmNames) -> dict[str, str]:
    """``["pool", ...]`` or ``[{"pool": ..., "reason": ...}, ...]``."""
    value = document.get("commingled_pools", [])
    if not isinstance(value, list) or len(value) > limits.scenario_entries_max:
        raise InputError(Result.scenario_invalid, "commingled_pools must be a list")
    pools: dict[str, str] = {}
    for item in value:
        entry = _object({"pool": item} if isinstance(item, str) else item, "commingled pool")
        _fields(entry, "commingled pool", ("pool",), ("reason",))
        reason = entry.get("reason", "commingling")
        if not isinstance(reason, str) or not 0 < len(reason) <= 200:
            raise InputError(Result.scenario_invalid, "commingled pool: reason")
        pools[_pool(entry["pool"], firm, "commingled pool")] = reason
    return pools


def _payout(value: object) -> Payout:
    if value not in (Payout.in_kind.value, Payout.cash.value):
        raise InputError(Result.scenario_payout_unknown, f"payout {value!r}: in_kind or cash")
    return Payout(value)


def _transfer_ids(value: object) -> tuple[int, ...]:
    if not isinstance(value, list) or len(value) > limits.scenario_entries_max:
        raise InputError(Result.scenario_invalid, "deposits_not_arrived must be a list of ids")
    return tuple(check_id(item, "deposit not arrived") for item in value)


def _displayed(entry: Mapping[str, Any], firm: FirmNames) -> Displayed:
    _fields(entry, "displayed transfer", ("id", "client", "asset", "amount"), ("description",))
    identifier = entry["id"]
    try:
        transfer_id = check_units(identifier)
    except InputError:
        raise InputError(Result.id_must_be_integer, f"displayed transfer {identifier!r}") from None
    if transfer_id == 0:
        raise InputError(Result.id_must_not_be_zero, "displayed transfer")
    description = entry.get("description", "")
    if not isinstance(description, str) or len(description) > 200:
        raise InputError(Result.scenario_invalid, "displayed transfer: description")
    client = _client(entry["client"], firm, "displayed transfer")
    asset, units = _asset_amount(entry, firm, "displayed transfer")
    return Displayed(transfer_id, client, asset, units, description)
