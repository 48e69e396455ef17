"""Fixed-width journal records of regulatory checks: the residual-interest deadline check (a
``residual_deadlines`` entry, kind 22).

The residual-interest deadline report (core/regulatory/residual.py) is computed from the
journal and an operator's margin requirements, which the journal does not hold; journaling a
check keeps what its statuses are computed from, so that a breach is an event of the journal
(core/events/catalogue.py) and can be replayed and audited like every other. Framed like every
entry of plain records (core/ledger/framing.py: the journal's header, then 128-byte big-endian
records, chained by SHA-256). Records, by their first byte:

    1 check   as-of time, deadline, SHA-256 of the margin requirements document, lines
    2 line    pool, asset, funds, requirement, target, Σ undermargined, accounts undermargined

An entry holds one check record and then exactly its lines. The statuses are not stored:
they are computed again from these facts (``DeadlineCheck.lines``), so a reader can never be
told "breach" by a record whose figures say otherwise.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass
from typing import Final

from ringfence.core import limits
from ringfence.core.ledger.framing import framed, record_bytes, u128_bytes, u128_of, unframed
from ringfence.core.ledger.journal import EntryKind, name_bytes, text_of
from ringfence.core.regulatory.residual import DeadlineFacts, DeadlineLine

_check: Final = struct.Struct(">BQQ32sI75x")
_line: Final = struct.Struct(">B32s12s16s16s16s16sI15x")
assert _check.size == _line.size == record_bytes

_record_check: Final = 1
_record_line: Final = 2
sha256_bytes: Final = 32
asset_code_bytes: Final = 12


@dataclass(frozen=True, slots=True)
class DeadlineCheck:
    """One residual-interest deadline check: as of when, against which deadline and which
    requirements document (its SHA-256), and each custody pool and asset's facts."""

    as_of_ns: int
    deadline_ns: int
    requirements_sha256: bytes
    facts: tuple[DeadlineFacts, ...]

    def lines(self) -> list[DeadlineLine]:
        """Each line with its status, computed from the facts."""
        return [fact.line(self.as_of_ns, self.deadline_ns) for fact in self.facts]


def encode_deadline_check(seq: int, timestamp: int, check: DeadlineCheck) -> bytes:
    """A ``residual_deadlines`` entry's body: the check record, then one record per line."""
    assert len(check.requirements_sha256) == sha256_bytes
    assert 0 <= check.as_of_ns <= limits.timestamp_ns_max
    assert 0 <= check.deadline_ns <= limits.timestamp_ns_max
    assert len(check.facts) < limits.journal_records_per_batch_max
    records = [
        _check.pack(
            _record_check, check.as_of_ns, check.deadline_ns, check.requirements_sha256,
            len(check.facts),
        )
    ]  # fmt: skip
    for fact in check.facts:
        code = fact.asset.encode("ascii")
        assert 0 < len(code) <= asset_code_bytes
        assert 0 <= fact.accounts_undermargined < 2**32
        records.append(
            _line.pack(
                _record_line, name_bytes(fact.pool), code, u128_bytes(fact.funds),
                u128_bytes(fact.requirement), u128_bytes(fact.target),
                u128_bytes(fact.undermargined), fact.accounts_undermargined,
            )
        )  # fmt: skip
    return framed(EntryKind.residual_deadlines, seq, timestamp, records)


def decode_deadline_check(body: bytes) -> DeadlineCheck:
    """The check of a ``residual_deadlines`` entry; ``ValueError`` on a body this code would
    not have written (another kind, a record out of place, a count that does not match)."""
    header, raws = unframed(body, (EntryKind.residual_deadlines,), "a residual_deadlines entry")
    if not raws or raws[0][0] != _record_check:
        raise ValueError(f"journal entry {header.seq}: no check record first")
    _, as_of_ns, deadline_ns, digest, count = _check.unpack(raws[0])
    kept = len(raws) - 1
    if count != kept:
        raise ValueError(f"journal entry {header.seq}: {count} lines announced, {kept} kept")
    facts = []
    for index, raw in enumerate(raws[1:], start=1):
        if raw[0] != _record_line:
            raise ValueError(f"journal entry {header.seq}: record {index} is not a line")
        _, pool, code, funds, requirement, target, short, accounts = _line.unpack(raw)
        try:
            names = (text_of(pool), text_of(code))
        except UnicodeDecodeError as error:
            raise ValueError(f"journal entry {header.seq}: record {index}: {error}") from None
        facts.append(
            DeadlineFacts(
                *names, u128_of(funds), u128_of(requirement), u128_of(target), u128_of(short),
                accounts,
            )
        )  # fmt: skip
    return DeadlineCheck(as_of_ns, deadline_ns, digest, tuple(facts))
