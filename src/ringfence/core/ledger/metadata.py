"""A transfer's metadata: a few short keys naming what the transfer refers to outside the ledger
(the chain txid of a deposit, an external reference, a memo), each with one value.

Metadata is part of the transfer's body: it is journaled with the record, hashed with its entry
and compared by a retry (the same id with other metadata is
``exists_with_different_metadata``). Its one encoding is written here and nowhere else, so the
journal, the stores and a retry's comparison cannot disagree on what two maps are:

    count u8, then per key in ascending byte order:
        key length u8, key (ASCII), value length u16 big-endian, value (UTF-8)

The encoding is canonical: keys are sorted and unique, every length is explicit, and
``decode_metadata`` refuses any byte string that ``encode_metadata`` would not have written,
so one map has exactly one encoding. No metadata is the empty byte string, which the journal
does not write at all (a transfer without metadata encodes exactly as before metadata existed).

The rules (core/limits.py): at most ``metadata_keys_max`` keys; a key is 1-32 of
``a-z 0-9 _ . -`` starting with a letter; a value is 1-256 bytes of UTF-8 without control
characters; the whole encoding is at most ``metadata_bytes_max`` bytes. A malformed key or value
is ``metadata_invalid``; more keys or bytes than the limits allow is ``metadata_too_large``.
"""

from __future__ import annotations

import re
import struct
from collections.abc import Iterator, Mapping
from typing import Final, NamedTuple, NoReturn

from ringfence.core import limits
from ringfence.core.errors import InputError, Result

Metadata = Mapping[str, str]


class RecordMetadata(NamedTuple):
    """The metadata of one committed transfer in a batch: the index of its record in the
    batch's committed records and its canonical encoding."""

    record_index: int
    encoded: bytes


class _NoMetadata(Mapping[str, str]):
    """The empty, read-only and hashable map that is ``Transfer.metadata``'s default (a frozen
    dataclass needs a hashable default)."""

    __slots__ = ()

    def __getitem__(self, key: str) -> NoReturn:
        raise KeyError(key)

    def __iter__(self) -> Iterator[str]:
        return iter(())

    def __len__(self) -> int:
        return 0

    def __hash__(self) -> int:
        return 0

    def __repr__(self) -> str:
        return "{}"


# One shared instance, so the engine tells a transfer without metadata by identity (one
# comparison on its hot path).
no_metadata: Final[Metadata] = _NoMetadata()

_key_pattern: Final = re.compile(r"[a-z][a-z0-9_.-]{0,31}\Z")
# C0 controls, DEL and the C1 controls: nothing a memo needs, and what terminals and logs
# would interpret.
_control: Final = re.compile(r"[\x00-\x1f\x7f-\x9f]")

assert limits.metadata_key_length_max == 32  # the pattern above
assert limits.metadata_keys_max < 2**8  # the count is a u8
assert limits.metadata_value_bytes_max < 2**16  # a value's length is a u16


def metadata_encoding(metadata: object) -> bytes | Result:
    """The canonical encoding of ``metadata`` (``b""`` for an empty map), or the ``Result``
    that says why it is not metadata. The engine's check: it never raises."""
    if not isinstance(metadata, Mapping):
        return Result.metadata_invalid
    if not metadata:
        return b""
    if len(metadata) > limits.metadata_keys_max:
        return Result.metadata_too_large
    pairs: list[tuple[bytes, bytes]] = []
    for key, value in metadata.items():
        if type(key) is not str or not _key_pattern.match(key):
            return Result.metadata_invalid
        if type(value) is not str or not value or _control.search(value):
            return Result.metadata_invalid
        try:
            raw = value.encode("utf-8")
        except UnicodeEncodeError:  # a lone surrogate is no UTF-8
            return Result.metadata_invalid
        if len(raw) > limits.metadata_value_bytes_max:
            return Result.metadata_too_large
        pairs.append((key.encode("ascii"), raw))
    pairs.sort()
    parts = [len(pairs).to_bytes(1, "big")]
    for key_bytes, raw in pairs:
        parts.append(len(key_bytes).to_bytes(1, "big") + key_bytes)
        parts.append(len(raw).to_bytes(2, "big") + raw)
    encoded = b"".join(parts)
    if len(encoded) > limits.metadata_bytes_max:
        return Result.metadata_too_large
    return encoded


def encode_metadata(metadata: Metadata) -> bytes:
    """The canonical encoding; ``InputError`` naming the problem for anything else."""
    encoded = metadata_encoding(metadata)
    if isinstance(encoded, Result):
        raise InputError(encoded, _detail(metadata))
    return encoded


def check_metadata(metadata: object) -> dict[str, str]:
    """``metadata`` as a plain map of checked keys and values, keys in encoding order;
    ``InputError`` (``metadata_invalid`` or ``metadata_too_large``) for anything else."""
    encoded = metadata_encoding(metadata)
    if isinstance(encoded, Result):
        raise InputError(encoded, _detail(metadata))
    return decode_metadata(encoded)


def _detail(metadata: object) -> str:
    """What is wrong with metadata that is not (the first pair at fault, if one is)."""
    if not isinstance(metadata, Mapping):
        return f"metadata is an object of strings, not {type(metadata).__name__}"
    if len(metadata) > limits.metadata_keys_max:
        return f"metadata has {len(metadata)} keys, at most {limits.metadata_keys_max}"
    for key, value in metadata.items():
        if isinstance(metadata_encoding({key: value}), Result):
            return (
                f"metadata {key!r}: a key of 1-32 of a-z 0-9 _ . - starting with a letter, a "
                f"value of 1-{limits.metadata_value_bytes_max} bytes without control characters"
            )
    return f"metadata is over {limits.metadata_bytes_max} bytes encoded"


def decode_metadata(encoded: bytes) -> dict[str, str]:
    """The map a canonical encoding holds (empty for ``b""``); ``ValueError`` for bytes that
    ``encode_metadata`` would not have written (stored bytes are input: a tampered store must
    be reported, never crash its reader)."""
    if not encoded:
        return {}
    if len(encoded) > limits.metadata_bytes_max:
        raise ValueError(f"metadata is {len(encoded)} bytes")
    count, offset = encoded[0], 1
    metadata: dict[str, str] = {}
    for _ in range(count):
        key_end = offset + 1 + (encoded[offset] if offset < len(encoded) else 0)
        key = encoded[offset + 1 : key_end]
        value_end = key_end + 2 + int.from_bytes(encoded[key_end : key_end + 2], "big")
        if value_end > len(encoded) or key_end + 2 > len(encoded):
            raise ValueError("metadata is torn")
        try:
            metadata[key.decode("ascii")] = encoded[key_end + 2 : value_end].decode("utf-8")
        except UnicodeDecodeError as error:
            raise ValueError(f"metadata does not decode: {error}") from error
        offset = value_end
    if offset != len(encoded) or metadata_encoding(metadata) != encoded:
        raise ValueError("metadata is not in its canonical encoding")
    return metadata


def metadata_matches(metadata: Metadata, wanted: Metadata) -> bool:
    """Whether ``metadata`` holds every pair of ``wanted`` (exact, case-sensitive values)."""
    return all(metadata.get(key) == value for key, value in wanted.items())


def parse_metadata_filter(pairs: Mapping[str, object]) -> dict[str, str]:
    """A list's metadata filter, ``key -> value`` (each as a stored pair must be), at most
    ``limits.metadata_filters_max`` pairs: ``metadata_invalid`` or ``metadata_too_large``."""
    if len(pairs) > limits.metadata_filters_max:
        raise InputError(
            Result.metadata_too_large,
            f"{len(pairs)} metadata filters, at most {limits.metadata_filters_max}",
        )
    return check_metadata(dict(pairs))


# ---------------------------------------------------------------------- the journal's section

# A transfers entry's metadata section (core/ledger/journal.py says where it sits): a u32 count,
# then per record with metadata its index (u32) and the encoding's length (u16), then the
# encoding itself.
_section_count: Final = struct.Struct(">I")
_section_head: Final = struct.Struct(">IH")


def encode_metadata_section(metadata: list[RecordMetadata], records: int) -> list[bytes]:
    """The section's parts for a batch of ``records`` committed records; at least one has
    metadata (a batch with none has no section at all)."""
    assert metadata
    parts = [_section_count.pack(len(metadata))]
    index_last = -1
    for index, encoded in metadata:
        assert index_last < index < records  # one per record, in record order
        assert 0 < len(encoded) <= limits.metadata_bytes_max
        parts.append(_section_head.pack(index, len(encoded)))
        parts.append(encoded)
        index_last = index
    return parts


def decode_metadata_section(
    body: bytes, offset: int, records: int, where: str
) -> list[RecordMetadata]:
    """The section that starts at ``offset`` and runs to the end of ``body``; ``ValueError``
    naming ``where`` for a section ``encode_metadata_section`` would not have written."""
    if len(body) < offset + _section_count.size:
        raise ValueError(f"{where} has a torn metadata section")
    (count,) = _section_count.unpack_from(body, offset)
    if not 0 < count <= records:
        raise ValueError(f"{where} counts {count} records with metadata")
    offset += _section_count.size
    found = []
    index_last = -1
    for _ in range(count):
        if len(body) < offset + _section_head.size:
            raise ValueError(f"{where} has a torn metadata section")
        index, length = _section_head.unpack_from(body, offset)
        offset += _section_head.size
        encoded = body[offset : offset + length]
        offset += length
        if not index_last < index < records or len(encoded) != length or not length:
            raise ValueError(f"{where}: metadata of record {index} is out of order or torn")
        decode_metadata(encoded)  # canonical, or ValueError
        found.append(RecordMetadata(index, encoded))
        index_last = index
    if offset != len(body):
        raise ValueError(f"{where} has {len(body) - offset} bytes after its metadata")
    return found
