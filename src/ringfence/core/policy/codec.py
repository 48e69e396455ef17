"""Fixed-width journal records of policy versions (a ``policies`` entry).

Framed like every entry of plain records (core/ledger/framing.py: the journal's header, then
128-byte big-endian records, chained by SHA-256), so no version can be drafted, approved or
published without a link in the chain. Records, by their first byte:

    1 drafted    version, author, when, the document's length and SHA-256
    2 chunk      version, chunk number, length, up to 118 bytes of the document
    3 approved   version, approver, when, the approver's Ed25519 signature of the approval
                 instruction (64 zero bytes: none, as in journals written before approvals
                 were signed)
    4 published  version, publisher, when, when it takes effect

A drafted record is followed by its document's chunks, in order; the decoder checks that they
add up to the length and hash the drafted record names.
"""

from __future__ import annotations

import hashlib
import struct
from typing import Final

from ringfence.core.ledger.framing import framed, record_bytes, unframed
from ringfence.core.ledger.journal import EntryKind, name_bytes, text_of
from ringfence.core.policy.versions import (
    PolicyApproved,
    PolicyDrafted,
    PolicyEvent,
    PolicyPublished,
)
from ringfence.core.principals.approval import no_signature

_drafted: Final = struct.Struct(">BI32sQI32s47x")
_chunk: Final = struct.Struct(">BIIB118s")
_approved: Final = struct.Struct(">BI32sQ64s19x")
_published: Final = struct.Struct(">BI32sQQ75x")
assert _drafted.size == _chunk.size == _approved.size == _published.size == record_bytes
_chunk_bytes: Final = 118

_record_drafted: Final = 1
_record_chunk: Final = 2
_record_approved: Final = 3
_record_published: Final = 4


def encode_policy_events(seq: int, timestamp: int, events: list[PolicyEvent]) -> bytes:
    assert events
    records: list[bytes] = []
    for event in events:
        records.extend(_encode(event))
    return framed(EntryKind.policies, seq, timestamp, records)


def _encode(event: PolicyEvent) -> list[bytes]:
    if isinstance(event, PolicyApproved):
        signature = no_signature if event.signature is None else event.signature
        assert len(signature) == len(no_signature)
        return [
            _approved.pack(
                _record_approved, event.version, name_bytes(event.approver), event.at_ns,
                signature,
            )
        ]  # fmt: skip
    if isinstance(event, PolicyPublished):
        return [
            _published.pack(
                _record_published, event.version, name_bytes(event.publisher), event.at_ns,
                event.effective_at_ns,
            )
        ]  # fmt: skip
    text = event.text
    records = [
        _drafted.pack(
            _record_drafted, event.version, name_bytes(event.author), event.at_ns, len(text),
            hashlib.sha256(text).digest(),
        )
    ]  # fmt: skip
    for number, offset in enumerate(range(0, len(text), _chunk_bytes)):
        piece = text[offset : offset + _chunk_bytes]
        records.append(_chunk.pack(_record_chunk, event.version, number, len(piece), piece))
    return records


def decode_policy_events(body: bytes) -> list[PolicyEvent]:
    """The events of a ``policies`` entry; ``ValueError`` on a body this code would not have
    written (a torn record, an unknown type, a document that does not match its hash)."""
    header, raws = unframed(body, (EntryKind.policies,), "a policies entry")
    events: list[PolicyEvent] = []
    drafting: tuple[int, str, int, int, bytes] | None = None
    pieces: list[bytes] = []
    for raw in raws:
        kind = raw[0]
        if kind == _record_chunk and drafting is not None:
            _, version, number, length, data = _chunk.unpack(raw)
            if version != drafting[0] or number != len(pieces) or not 0 < length <= _chunk_bytes:
                raise ValueError(f"journal entry {header.seq}: chunk {number} out of place")
            pieces.append(data[:length])
            continue
        if drafting is not None:
            events.append(_finished(drafting, pieces, header.seq))
            drafting, pieces = None, []
        if kind == _record_drafted:
            _, version, author, at_ns, length, digest = _drafted.unpack(raw)
            drafting = (version, text_of(author), at_ns, length, digest)
        elif kind == _record_approved:
            _, version, approver, at_ns, signed = _approved.unpack(raw)
            signature = None if signed == no_signature else signed
            events.append(PolicyApproved(version, text_of(approver), at_ns, signature))
        elif kind == _record_published:
            _, version, publisher, at_ns, effective = _published.unpack(raw)
            events.append(PolicyPublished(version, text_of(publisher), at_ns, effective))
        else:
            raise ValueError(f"journal entry {header.seq}: record type {kind} out of place")
    if drafting is not None:
        events.append(_finished(drafting, pieces, header.seq))
    return events


def _finished(
    drafting: tuple[int, str, int, int, bytes], pieces: list[bytes], seq: int
) -> PolicyDrafted:
    version, author, at_ns, length, digest = drafting
    text = b"".join(pieces)
    if len(text) != length or hashlib.sha256(text).digest() != digest:
        raise ValueError(f"journal entry {seq}: policy version {version} does not match its hash")
    return PolicyDrafted(version, author, at_ns, text)
