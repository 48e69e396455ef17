"""Journal authenticity: which key vouches for each entry, and whether a published head is
still in the journal.

The hash chain (core/ledger/journal.py) makes any edit visible to someone who remembers a later
hash; it does not stop a database writer from re-hashing everything after an edit. The journal key
does: every entry carries its signature over ``head_message(seq, hash)``, and only the key's
holder can produce one. ``KeyChain`` follows the key through the entries in chain order (the
first ``journal_keys`` entry declares it, each later one hands it on) and names the first
entry that is unsigned or wrongly signed. Entries written before a journal's first key (a
journal older than signing) are vouched for by that first declaration's signature, because
its hash chains over them.

What this cannot see on its own, and what does see it (docs/ledger.md has the table):
- a journal re-signed from genesis under another key: ``finish`` with the firm's published
  public key names it;
- the last entries cut off (the remaining chain is still validly signed): a head published
  before the cut (a proof-of-reserves round, the resolution pack, ``--expect-head``) names it;
- the key holder rewriting history: only heads published before the rewrite name it.
"""

from __future__ import annotations

import struct
from collections.abc import Collection, Mapping
from dataclasses import dataclass, field
from typing import Final

import nacl.exceptions
import nacl.signing

from ringfence.core.errors import InputError, Result
from ringfence.core.ledger.journal import (
    EntryHeader,
    EntryKind,
    JournalEntry,
    decode_header,
    header_bytes,
    header_for,
)

# ---------------------------------------------------------------------- journal key entries

# Domain tags: a signature over one kind of message can never be taken for another.
tag_journal_head: Final = b"ringfence/journal-head/v1\0"
tag_journal_key: Final = b"ringfence/journal-key/v1\0"
tag_past_state: Final = b"ringfence/past-state/v1\0"
# What a snapshot of the past holds is what this version's replay made of the journal up to its
# entry. Bump this whenever replay behaviour changes (what an entry does to balances, pending
# transfers, breaks or reversal totals, or the snapshot's encoding): it is signed with each
# snapshot, so those persisted by a version whose replay differs no longer verify after an
# upgrade and are ignored (taken again by the next replay), never served.
past_state_format: Final = 1
public_key_bytes: Final = 32
signature_bytes: Final = 64
_journal_key = struct.Struct(">32s64s32x")
assert _journal_key.size == 128


def head_message(seq: int, entry_hash: bytes) -> bytes:
    """What the journal key signs for an entry: its place and its hash, which chains over
    everything before it."""
    assert 0 < seq < 2**64
    assert len(entry_hash) == 32
    return tag_journal_head + seq.to_bytes(8, "big") + entry_hash


def key_possession_message(seq: int, previous_hash: bytes, public_key: bytes) -> bytes:
    """What a newly declared key signs: that it takes over at exactly this place in this
    chain, so its declaration cannot be copied into another journal or another position."""
    assert 0 < seq < 2**64
    assert len(previous_hash) == 32
    assert len(public_key) == public_key_bytes
    return tag_journal_key + seq.to_bytes(8, "big") + previous_hash + public_key


def past_state_message(
    seq: int, entry_hash: bytes, state_digest: bytes, state_format: int = past_state_format
) -> bytes:
    """What the journal key signs for a persisted snapshot of the past (service/ledger/
    past_seal.py): the engine's state (its SHA-256) right after the entry at ``seq`` whose hash
    is ``entry_hash``, as replay of ``state_format`` makes it. Moved to another entry, or to
    another journal, or taken by a version whose replay differs, it no longer verifies."""
    assert 0 < seq < 2**64
    assert len(entry_hash) == 32
    assert len(state_digest) == 32
    assert 0 < state_format < 2**32
    return (
        tag_past_state
        + state_format.to_bytes(4, "big")
        + seq.to_bytes(8, "big")
        + entry_hash
        + state_digest
    )


def encode_journal_key(seq: int, timestamp: int, public_key: bytes, possession: bytes) -> bytes:
    """A ``journal_keys`` entry: the new key and its signature of ``key_possession_message``."""
    assert len(public_key) == public_key_bytes
    assert len(possession) == signature_bytes
    header = header_for(EntryKind.journal_keys, seq, timestamp, 1, 0)
    return header + _journal_key.pack(public_key, possession)


def decode_journal_key(body: bytes) -> tuple[EntryHeader, bytes, bytes]:
    """The header, the declared public key and its possession signature."""
    header = decode_header(body)
    if header.kind is not EntryKind.journal_keys:
        raise ValueError(f"journal entry {header.seq} is not a journal key entry")
    if header.records != 1 or header.expiries or len(body) != header_bytes + _journal_key.size:
        raise ValueError(f"journal entry {header.seq} is not one journal key record")
    public_key, possession = _journal_key.unpack_from(body, header_bytes)
    return header, public_key, possession


@dataclass(frozen=True, slots=True)
class Finding:
    """One problem with the journal's authenticity, named like the audit's problems."""

    kind: str  # journal_entry_unsigned, journal_signature_invalid, journal_unsigned, ...
    seq: int
    detail: str


@dataclass(frozen=True, slots=True)
class KeyDeclaration:
    seq: int  # the journal_keys entry that put the key in force
    public_key: bytes


def signature_valid(public_key: bytes, message: bytes, signature: bytes) -> bool:
    """True when ``signature`` is ``public_key``'s Ed25519 signature of ``message``."""
    if len(public_key) != public_key_bytes or len(signature) != signature_bytes:
        return False
    try:
        nacl.signing.VerifyKey(public_key).verify(message, signature)
    except (nacl.exceptions.BadSignatureError, nacl.exceptions.CryptoError, ValueError):
        return False
    return True


@dataclass
class KeyChain:
    """The journal key in force, followed entry by entry in chain order."""

    current: bytes | None = None
    declarations: list[KeyDeclaration] = field(default_factory=list)
    unsigned_prefix: int = 0  # entries before the first declaration
    entries: int = 0

    def follow(self, entry: JournalEntry) -> Finding | None:
        """Check one entry's signature and take in a key it declares; the entry must come
        right after the one followed before (the caller checks the hash chain)."""
        self.entries += 1
        if entry.kind is EntryKind.journal_keys:
            return self._follow_declaration(entry)
        if self.current is None:
            self.unsigned_prefix += 1
            return None
        return signature_finding(entry, self.current)

    def _follow_declaration(self, entry: JournalEntry) -> Finding | None:
        try:
            _, public_key, possession = decode_journal_key(entry.body)
        except ValueError as error:
            return Finding("journal_key_entry_invalid", entry.seq, str(error))
        message = key_possession_message(entry.seq, entry.previous_hash, public_key)
        if not signature_valid(public_key, message, possession):
            return Finding(
                "journal_key_entry_invalid",
                entry.seq,
                f"key {public_key.hex()} did not sign its own declaration at this place",
            )
        # The first key signs its own declaration; a later one is handed on by the key before.
        finding = signature_finding(entry, self.current or public_key)
        if finding is None:
            self.current = public_key
            self.declarations.append(KeyDeclaration(entry.seq, public_key))
        return finding

    def finish(self, trusted_keys: Collection[bytes]) -> list[Finding]:
        """What the whole walk says: a journal no key vouches for, or one vouched for only by
        keys other than those the firm published."""
        if self.entries and not self.declarations:
            detail = "no entry declares a journal key: nothing vouches for these entries"
            return [Finding("journal_unsigned", 1, detail)]
        declared = {declaration.public_key for declaration in self.declarations}
        if trusted_keys and not declared & set(trusted_keys):
            first = self.declarations[0]
            keys = ", ".join(sorted(key.hex() for key in declared))
            return [
                Finding(
                    "journal_key_not_trusted",
                    first.seq,
                    f"the journal is signed by {keys}, none of them a key you trust",
                )
            ]
        return []


def signature_finding(entry: JournalEntry, public_key: bytes) -> Finding | None:
    if not entry.signature:
        return Finding(
            "journal_entry_unsigned",
            entry.seq,
            f"it carries no signature though key {public_key.hex()} was in force",
        )
    if not signature_valid(public_key, head_message(entry.seq, entry.hash), entry.signature):
        return Finding(
            "journal_signature_invalid",
            entry.seq,
            f"its signature is not key {public_key.hex()}'s over its place and hash",
        )
    return None


def published_head_findings(
    published: Mapping[int, bytes], seen: Mapping[int, bytes], last_seq: int
) -> list[Finding]:
    """Each published head (seq -> hash) the journal no longer holds: cut off, or replaced."""
    findings = []
    for seq, expected in sorted(published.items()):
        if seq > last_seq:
            detail = f"the journal ends at entry {last_seq}; a head was published at {seq}"
            findings.append(Finding("published_head_missing", seq, detail))
        elif seen.get(seq) != expected:
            found = seen.get(seq)
            detail = (
                f"published as {expected.hex()}, the journal holds "
                f"{found.hex() if found is not None else 'nothing'}"
            )
            findings.append(Finding("published_head_mismatch", seq, detail))
    return findings


def parse_published_head(text: str) -> tuple[int, bytes]:
    """``SEQ:HASH`` (a journal entry and its 64-hex-digit hash) as (seq, hash)."""
    seq_text, _, hash_text = text.partition(":")
    if not (seq_text.isascii() and seq_text.isdigit() and 0 < len(seq_text) <= 20):
        raise InputError(Result.published_head_invalid, f"{text!r}: expected SEQ:HASH")
    seq = int(seq_text)
    if not 0 < seq < 2**64 or len(hash_text) != 64:
        raise InputError(Result.published_head_invalid, f"{text!r}: expected SEQ:HASH")
    try:
        return seq, bytes.fromhex(hash_text)
    except ValueError:
        raise InputError(Result.published_head_invalid, f"{text!r}: not hexadecimal") from None


def parse_public_key(text: str) -> bytes:
    """A journal public key given as 64 hexadecimal digits."""
    try:
        key = bytes.fromhex(text)
    except ValueError:
        raise InputError(Result.journal_key_invalid, f"{text!r}: not hexadecimal") from None
    if len(key) != public_key_bytes:
        raise InputError(Result.journal_key_invalid, f"{text!r}: not 32 bytes")
    return key
