"""Fixed-width journal records of the venue's book (entry kinds 17-21).

Framed like every entry of plain records (core/ledger/framing.py): the journal's header, then
128-byte big-endian records, each starting with its type. Names are ASCII, zero-padded (they
hold no zero byte); a bucket's name is at most 21 bytes, a symbol at most 22.

    instruments  1 instrument  symbol, kind, underlying, settlement asset and scale, price
                               scale, tick, size and its scale, inverse, tier schedule, expiry,
                               strike and its scale, option type
                 2 revenue     a settlement asset and the house revenue account fees go to
                 3 profile     the scan's scenario profile (1 grid, 2 span)
                 4 config      a piece of the risk configuration, canonical JSON, in order
    buckets      1 bucket      name, client, mode, settlement asset, scope (the pool is its
                               collateral account's, in the ledger's own accounts entry)
                 2 taker       a market and the bucket that takes its close orders
    fills        1 fill        id, bucket, symbol, lots (signed), price, fee
    positions    1 position    bucket, symbol, lots, the basis's sign and byte lengths, then
                 2 more        the basis (numerator, then denominator, big-endian) in pieces
                 3 round       a liquidation round applied
                 4 halted      a market halted with a loss nobody could absorb
                 5 fund        a fund's history row: funding or liquidation, round, market,
                               amount (fees in), paid out, balance after, unresolved
                 6 fill id     a fill known by its id only (a book imported from a file)
    market_data  1 time        the market data's time
                 2 value       a price, volatility, price range or multiplier by name
                 3 close       an underlying's close of one day (appended, or that day's
                               replaced, as the volatility model keeps them)
                 4 posting     the volatility model's posting of one underlying on one day

A position whose lots and basis are both zero is closed (no longer held). A fills entry is
appended in the same store transaction as the transfers entry charging its fees, right
before it (service/ledger/transfers.py ``submit_joined``).
"""

from __future__ import annotations

import struct
from collections.abc import Sequence
from dataclasses import dataclass, field
from fractions import Fraction
from typing import Final

from ringfence.core import limits
from ringfence.core.ledger.framing import framed, record_bytes, u128_bytes, u128_of, unframed
from ringfence.core.ledger.journal import EntryKind, key_of, name_bytes, text_of
from ringfence.core.risk.instruments import (
    Bucket,
    Instrument,
    InstrumentKind,
    MarginMode,
    OptionType,
    Position,
)
from ringfence.core.risk.market import MarketData
from ringfence.core.risk.posting import Posting
from ringfence.core.risk.settlement import Fill

_instrument: Final = struct.Struct(">B24sB32s12sBBQQBB16sQQBB4x")
_revenue: Final = struct.Struct(">B12s16s99x")
_profile: Final = struct.Struct(">BB126x")
_config: Final = struct.Struct(">BHB120s4x")
_bucket: Final = struct.Struct(">B21s32sB12s32s29x")
_taker: Final = struct.Struct(">B24s21s82x")
_fill: Final = struct.Struct(">B16s21s24sqQ16s34x")
_position: Final = struct.Struct(">B21s24sqBHH")
_more: Final = struct.Struct(">B127s")
_round: Final = struct.Struct(">B16s111x")
_halted: Final = struct.Struct(">B24s103x")
_fund: Final = struct.Struct(">BB16s24s16s16s16s16s22x")
_fill_id: Final = struct.Struct(">B16s111x")
_time: Final = struct.Struct(">BQ119x")
_value: Final = struct.Struct(">BB32s16s78x")
_close: Final = struct.Struct(">B32sQ16s71x")
_posting: Final = struct.Struct(">B32sQIIQQQQ47x")
_fixed: Final = (
    _instrument, _revenue, _profile, _config, _bucket, _taker, _fill, _more, _round, _halted,
    _fund, _fill_id, _time, _value, _close, _posting,
)  # fmt: skip
assert all(record.size == record_bytes for record in _fixed)
_position_head_bytes: Final = record_bytes - _position.size  # basis bytes in the first record
_config_piece_bytes: Final = 120
_more_piece_bytes: Final = 127

_kinds: Final = {kind: number for number, kind in enumerate(InstrumentKind, start=1)}
_option_types: Final = {OptionType.call: 1, OptionType.put: 2}
_modes: Final = {mode: number for number, mode in enumerate(MarginMode, start=1)}
_profiles: Final = {"grid": 1, "span": 2}
_market_maps: Final = ("prices", "volatilities_ppm", "price_ranges_ppm", "multipliers_ppm")
_fund_funding, _fund_liquidation = 1, 2


@dataclass(frozen=True, slots=True)
class Settings:
    """The book's settings: house revenue accounts per settlement asset, the scan profile and
    the risk configuration as canonical JSON (``RiskConfig.to_dict``)."""

    revenue_accounts: tuple[tuple[str, int], ...]
    profile: str
    config_json: bytes


@dataclass(frozen=True, slots=True)
class FundRow:
    """One row of the insurance funds' history: a funding (``round_id`` 0) or a liquidation
    round's effect on one market's fund."""

    round_id: int
    market: str
    amount: int  # funding: the amount; liquidation: the fees in
    paid_out: int
    balance: int
    unresolved: int
    funding: bool


@dataclass(frozen=True, slots=True)
class PositionChanges:
    """What a settlement, a liquidation round or an import set: positions (closed when lots
    and basis are zero), rounds applied, markets halted, funds' history, fill ids known."""

    positions: tuple[Position, ...] = ()
    rounds: tuple[int, ...] = ()
    halted: tuple[str, ...] = ()
    funds: tuple[FundRow, ...] = ()
    fill_ids: tuple[int, ...] = ()


@dataclass(frozen=True, slots=True)
class MarketRecord:
    """Market data as a scan saw it, with the closes it set and the postings it made."""

    market: MarketData
    closes: tuple[tuple[str, int, int], ...] = ()  # (underlying, day, close)
    postings: tuple[Posting, ...] = field(default=())


# ---------------------------------------------------------------------- instruments


def encode_instruments(
    seq: int, timestamp: int, instruments: Sequence[Instrument], settings: Settings | None
) -> bytes:
    records = [_encode_instrument(i) for i in instruments]
    if settings is not None:
        records += [
            _revenue.pack(2, asset.encode("ascii"), u128_bytes(account))
            for asset, account in settings.revenue_accounts
        ]
        records.append(_profile.pack(3, _profiles[settings.profile]))
        text = settings.config_json
        assert len(text) <= limits.venue_config_bytes_max
        for index, low in enumerate(range(0, len(text), _config_piece_bytes)):
            piece = text[low : low + _config_piece_bytes]
            records.append(_config.pack(4, index, len(piece), piece))
    return framed(EntryKind.instruments, seq, timestamp, records)


def _encode_instrument(i: Instrument) -> bytes:
    return _instrument.pack(
        1, name_bytes(i.symbol), _kinds[i.kind], name_bytes(i.underlying),
        i.settlement.encode("ascii"), i.settlement_scale, i.price_scale, i.tick_units,
        i.size_units, i.size_scale, int(i.inverse), name_bytes(i.tiers), i.expiry_ns,
        i.strike_units, i.strike_scale,
        0 if i.option_type is None else _option_types[i.option_type],
    )  # fmt: skip


def decode_instruments(body: bytes) -> tuple[list[Instrument], Settings | None]:
    _, records = unframed(body, (EntryKind.instruments,), "an instruments entry")
    instruments: list[Instrument] = []
    revenue: list[tuple[str, int]] = []
    profile = ""
    pieces: list[bytes] = []
    for raw in records:
        kind = raw[0]
        if kind == 1:
            instruments.append(_decode_instrument(raw))
        elif kind == 2:
            _, asset, account = _revenue.unpack(raw)
            revenue.append((text_of(asset), u128_of(account)))
        elif kind == 3:
            profile = key_of(_profiles, _profile.unpack(raw)[1])
        elif kind == 4:
            _, index, length, piece = _config.unpack(raw)
            if index != len(pieces) or not 0 < length <= _config_piece_bytes:
                raise ValueError(f"config piece {index} out of order")
            pieces.append(piece[:length])
        else:
            raise ValueError(f"unknown instruments record type {kind}")
    if not profile:
        if revenue or pieces:
            raise ValueError("settings without a profile")
        return instruments, None
    return instruments, Settings(tuple(revenue), profile, b"".join(pieces))


def _decode_instrument(raw: bytes) -> Instrument:
    fields = _instrument.unpack(raw)
    (_, symbol, kind, underlying, settlement, settlement_scale, price_scale, tick, size,
     size_scale, inverse, tiers, expiry, strike, strike_scale, option) = fields
    return Instrument(
        text_of(symbol), key_of(_kinds, kind), text_of(underlying), text_of(settlement),
        settlement_scale, price_scale, tick, size, size_scale, bool(inverse), text_of(tiers),
        expiry, strike, strike_scale, None if option == 0 else key_of(_option_types, option),
    )  # fmt: skip


# ---------------------------------------------------------------------- buckets


def encode_buckets(
    seq: int, timestamp: int, buckets: Sequence[Bucket], takers: Sequence[tuple[str, str]] = ()
) -> bytes:
    records = [
        _bucket.pack(
            1, name_bytes(b.name), name_bytes(b.client), _modes[b.mode],
            b.settlement.encode("ascii"), name_bytes(b.scope),
        )
        for b in buckets
    ]
    records += [_taker.pack(2, name_bytes(s), name_bytes(b)) for s, b in takers]
    return framed(EntryKind.buckets, seq, timestamp, records)


def decode_buckets(body: bytes) -> tuple[list[Bucket], list[tuple[str, str]]]:
    _, records = unframed(body, (EntryKind.buckets,), "a buckets entry")
    buckets: list[Bucket] = []
    takers: list[tuple[str, str]] = []
    for raw in records:
        if raw[0] == 1:
            _, name, client, mode, settlement, scope = _bucket.unpack(raw)
            buckets.append(Bucket(text_of(name), text_of(client), key_of(_modes, mode),
                                  text_of(settlement), text_of(scope)))
        elif raw[0] == 2:
            _, symbol, bucket = _taker.unpack(raw)
            takers.append((text_of(symbol), text_of(bucket)))
        else:
            raise ValueError(f"unknown buckets record type {raw[0]}")
    return buckets, takers


# ---------------------------------------------------------------------- fills


def encode_fills(seq: int, timestamp: int, fills: Sequence[Fill]) -> bytes:
    records = [
        _fill.pack(
            1, u128_bytes(f.id), name_bytes(f.bucket), name_bytes(f.symbol), f.quantity_lots,
            f.price_units, u128_bytes(f.fee_units),
        )
        for f in fills
    ]
    return framed(EntryKind.fills, seq, timestamp, records)


def decode_fills(body: bytes) -> list[Fill]:
    _, records = unframed(body, (EntryKind.fills,), "a fills entry")
    fills = []
    for raw in records:
        if raw[0] != 1:
            raise ValueError(f"unknown fills record type {raw[0]}")
        _, fill_id, bucket, symbol, lots, price, fee = _fill.unpack(raw)
        fills.append(Fill(u128_of(fill_id), text_of(bucket), text_of(symbol), lots, price,
                          u128_of(fee)))
    return fills


# ---------------------------------------------------------------------- positions


def encode_positions(seq: int, timestamp: int, changes: PositionChanges) -> bytes:
    records: list[bytes] = []
    for position in changes.positions:
        records += _encode_position(position)
    records += [_round.pack(3, u128_bytes(r)) for r in changes.rounds]
    records += [_halted.pack(4, name_bytes(symbol)) for symbol in changes.halted]
    records += [
        _fund.pack(
            5, _fund_funding if row.funding else _fund_liquidation, u128_bytes(row.round_id),
            name_bytes(row.market), u128_bytes(row.amount), u128_bytes(row.paid_out),
            u128_bytes(row.balance), u128_bytes(row.unresolved),
        )
        for row in changes.funds
    ]
    records += [_fill_id.pack(6, u128_bytes(fill_id)) for fill_id in changes.fill_ids]
    return framed(EntryKind.positions, seq, timestamp, records)


def _encode_position(position: Position) -> list[bytes]:
    basis = position.basis
    numerator = abs(basis.numerator)
    numerator_bytes = numerator.to_bytes((numerator.bit_length() + 7) // 8, "big")
    denominator = basis.denominator.to_bytes((basis.denominator.bit_length() + 7) // 8, "big")
    assert len(numerator_bytes) + len(denominator) <= limits.position_basis_bytes_max
    data = numerator_bytes + denominator
    head = _position.pack(
        1, name_bytes(position.bucket), name_bytes(position.symbol), position.quantity_lots,
        int(basis < 0), len(numerator_bytes), len(denominator),
    )  # fmt: skip
    first = data[:_position_head_bytes].ljust(_position_head_bytes, b"\0")
    records = [head + first]
    for low in range(_position_head_bytes, len(data), _more_piece_bytes):
        records.append(_more.pack(2, data[low : low + _more_piece_bytes]))
    return records


def decode_positions(body: bytes) -> PositionChanges:
    _, records = unframed(body, (EntryKind.positions,), "a positions entry")
    positions: list[Position] = []
    rounds: list[int] = []
    halted: list[str] = []
    funds: list[FundRow] = []
    fill_ids: list[int] = []
    index = 0
    while index < len(records):
        raw = records[index]
        index += 1
        kind = raw[0]
        if kind == 1:
            position, used = _decode_position(records, index - 1)
            positions.append(position)
            index += used
        elif kind == 3:
            rounds.append(u128_of(_round.unpack(raw)[1]))
        elif kind == 4:
            halted.append(text_of(_halted.unpack(raw)[1]))
        elif kind == 5:
            _, how, round_id, market, amount, paid, balance, unresolved = _fund.unpack(raw)
            if how not in (_fund_funding, _fund_liquidation):
                raise ValueError(f"unknown fund row kind {how}")
            funds.append(FundRow(u128_of(round_id), text_of(market), u128_of(amount),
                                 u128_of(paid), u128_of(balance), u128_of(unresolved),
                                 how == _fund_funding))
        elif kind == 6:
            fill_ids.append(u128_of(_fill_id.unpack(raw)[1]))
        else:
            raise ValueError(f"unknown positions record type {kind}")
    return PositionChanges(tuple(positions), tuple(rounds), tuple(halted), tuple(funds),
                           tuple(fill_ids))


def _decode_position(records: list[bytes], at: int) -> tuple[Position, int]:
    """The position whose first record is ``records[at]``, and how many more it took."""
    raw = records[at]
    _, bucket, symbol, lots, negative, numerator_length, denominator_length = (
        _position.unpack_from(raw)
    )
    length = numerator_length + denominator_length
    if length > limits.position_basis_bytes_max or denominator_length == 0:
        raise ValueError("a position's basis has impossible lengths")
    data = raw[_position.size :]
    more = 0
    while len(data) < length:
        more += 1
        if at + more >= len(records) or records[at + more][0] != 2:
            raise ValueError("a position's basis is cut short")
        data += records[at + more][1:]
    numerator = int.from_bytes(data[:numerator_length], "big")
    denominator = int.from_bytes(data[numerator_length:length], "big")
    if denominator == 0 or negative not in (0, 1):
        raise ValueError("a position's basis is not a fraction")
    basis = Fraction(-numerator if negative else numerator, denominator)
    if abs(lots) > limits.quantity_lots_max:
        raise ValueError(f"a position of {lots} lots")
    return Position(text_of(bucket), text_of(symbol), lots, basis), more


# ---------------------------------------------------------------------- market data


def encode_market(seq: int, timestamp: int, record: MarketRecord) -> bytes:
    market = record.market
    records = [_time.pack(1, market.now_ns)]
    for number, name in enumerate(_market_maps, start=1):
        values = getattr(market, name)
        records += [
            _value.pack(2, number, name_bytes(key), u128_bytes(value))
            for key, value in sorted(values.items())
        ]
    records += [
        _close.pack(3, name_bytes(underlying), day, u128_bytes(close))
        for underlying, day, close in record.closes
    ]
    records += [
        _posting.pack(
            4, name_bytes(p.underlying), p.day, p.returns, p.floor_shortfall_days,
            p.volatility_ppm, p.calculated_ppm, p.posted_ppm, p.multiplier_ppm,
        )
        for p in record.postings
    ]
    return framed(EntryKind.market_data, seq, timestamp, records)


def decode_market(body: bytes) -> MarketRecord:
    _, records = unframed(body, (EntryKind.market_data,), "a market data entry")
    if not records or records[0][0] != 1:
        raise ValueError("a market data entry starts with its time")
    now_ns = _time.unpack(records[0])[1]
    maps: list[dict[str, int]] = [{} for _ in _market_maps]
    closes: list[tuple[str, int, int]] = []
    postings: list[Posting] = []
    for raw in records[1:]:
        kind = raw[0]
        if kind == 2:
            _, number, name, value = _value.unpack(raw)
            if not 1 <= number <= len(_market_maps):
                raise ValueError(f"unknown market value kind {number}")
            maps[number - 1][text_of(name)] = u128_of(value)
        elif kind == 3:
            _, underlying, day, close = _close.unpack(raw)
            closes.append((text_of(underlying), day, u128_of(close)))
        elif kind == 4:
            _, underlying, *counts = _posting.unpack(raw)
            postings.append(Posting(text_of(underlying), *counts))
        else:
            raise ValueError(f"unknown market data record type {kind}")
    market = MarketData(now_ns, *maps)
    return MarketRecord(market, tuple(closes), tuple(postings))
