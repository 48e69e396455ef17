"""Policy versions: drafts, four-eyes approval by the governing quorum, publication and the
time-lock, and their journal records."""

from __future__ import annotations

import json
import struct

import pytest
from tests.support import ASSETS
from tests.support_policy import ALICE_ADDRESS, SHARED_ADDRESS, policy_document, policy_text

from ringfence.core.errors import InputError, Result
from ringfence.core.ledger.journal import EntryKind, header_bytes
from ringfence.core.policy.codec import decode_policy_events, encode_policy_events
from ringfence.core.policy.versions import (
    PolicyApproved,
    PolicyBook,
    PolicyDrafted,
    PolicyPublished,
    VersionState,
)

assets = {asset.code: asset for asset in ASSETS}
S = 10**9  # a second in nanoseconds
LOCK = 3600 * S


def drafted(book: PolicyBook, text: bytes, author: str = "root", at: int = S) -> int:
    version = book.next_version
    assert book.apply(PolicyDrafted(version, author, at, text), assets) is Result.ok
    return version


def published(book: PolicyBook, text: bytes, at: int, approvers: tuple[str, ...]) -> int:
    version = drafted(book, text, at=at)
    for approver in approvers:
        assert book.apply(PolicyApproved(version, approver, at), assets) is Result.ok
    assert book.apply(PolicyPublished(version, "root", at, at + LOCK), assets) is Result.ok
    return version


def test_a_draft_is_published_after_two_approvals_and_in_force_after_the_time_lock() -> None:
    book = PolicyBook()
    version = drafted(book, policy_text())
    found = book.versions[version]
    assert book.state(found, S) is VersionState.draft
    assert book.apply(PolicyPublished(version, "root", S, S + LOCK), assets) is (
        Result.policy_quorum_not_reached
    )
    assert book.apply(PolicyApproved(version, "ann", 2 * S), assets) is Result.ok
    assert book.apply(PolicyApproved(version, "ben", 3 * S), assets) is Result.ok
    assert book.state(found, 3 * S) is VersionState.approved
    assert book.apply(PolicyPublished(version, "root", 4 * S, 4 * S + LOCK), assets) is Result.ok
    assert book.state(found, 4 * S) is VersionState.time_locked
    assert book.in_force(4 * S + LOCK - 1) is None
    assert book.in_force(4 * S + LOCK) is found
    assert book.state(found, 4 * S + LOCK) is VersionState.in_force


@pytest.mark.parametrize(
    ("approver", "code"),
    [
        ("root", Result.policy_approver_is_author),
        ("cat", Result.policy_approver_not_eligible),
        ("mallory", Result.policy_approver_not_eligible),
    ],
)
def test_four_eyes_on_a_policy(approver: str, code: Result) -> None:
    book = PolicyBook()
    version = drafted(book, policy_text())
    assert book.apply(PolicyApproved(version, approver, S), assets) is code
    assert book.versions[version].approvals == []


def test_an_approval_counts_once_and_a_version_publishes_once() -> None:
    book = PolicyBook()
    version = drafted(book, policy_text())
    assert book.apply(PolicyApproved(version, "ann", S), assets) is Result.ok
    assert book.apply(PolicyApproved(version, "ann", S), assets) is Result.policy_approval_duplicate
    assert book.apply(PolicyApproved(version, "ben", S), assets) is Result.ok
    assert book.apply(PolicyPublished(version, "root", S, S + LOCK), assets) is Result.ok
    assert book.apply(PolicyPublished(version, "root", S, S + LOCK), assets) is (
        Result.policy_already_published
    )
    assert book.apply(PolicyApproved(version, "root", S), assets) is (
        Result.policy_already_published
    )
    assert book.apply(PolicyApproved(9, "ann", S), assets) is Result.policy_version_not_found


def test_a_journal_that_shortens_the_time_lock_does_not_replay() -> None:
    book = PolicyBook()
    version = drafted(book, policy_text())
    for approver in ("ann", "ben"):
        book.apply(PolicyApproved(version, approver, S), assets)
    assert book.apply(PolicyPublished(version, "root", S, S + 1), assets) is (
        Result.policy_governance_invalid
    )


def test_the_policy_in_force_governs_the_next_not_the_draft_itself() -> None:
    book = PolicyBook()
    published(book, policy_text(), S, ("ann", "ben"))
    lax = policy_document(governance={"group": "treasury", "approvals": 1, "time_lock_s": 0})
    version = drafted(book, json.dumps(lax).encode(), at=2 * LOCK)
    # cat is in the draft's governance group, not in the one in force: refused.
    assert book.apply(PolicyApproved(version, "cat", 2 * LOCK), assets) is (
        Result.policy_approver_not_eligible
    )
    assert book.apply(PolicyApproved(version, "ann", 2 * LOCK), assets) is Result.ok
    assert book.apply(PolicyPublished(version, "root", 2 * LOCK, 2 * LOCK), assets) is (
        Result.policy_quorum_not_reached
    )


def test_a_draft_that_does_not_parse_is_refused_by_name() -> None:
    with pytest.raises(InputError) as caught:
        PolicyBook().apply(PolicyDrafted(1, "root", S, b"{}"), assets)
    assert caught.value.code is Result.policy_format_unsupported


def test_whitelist_entries_keep_the_time_they_were_first_added() -> None:
    book = PolicyBook()
    first = published(book, policy_text(), S, ("ann", "ben"))
    later = 5 * LOCK
    entries = policy_document()["whitelist"]["entries"][1:]  # alice's entries removed
    entries.append({"address": "0xD1220A0cf47c7B9Be7A2E6BA89F429762e7b9aDb", "chain": "ethereum"})
    text = policy_text(whitelist={"cool_down_s": 60, "entries": entries})
    second = published(book, text, later, ("ann", "ben"))
    compiled = book.versions[second].compiled
    assert compiled is not None
    assert compiled.whitelist[SHARED_ADDRESS] == [("", S + LOCK)]
    assert compiled.whitelist["0xD1220A0cf47c7B9Be7A2E6BA89F429762e7b9aDb"] == [("", later + LOCK)]
    assert ALICE_ADDRESS not in compiled.whitelist
    assert book.in_force(later + LOCK).version == second  # type: ignore[union-attr]
    assert book.in_force(later + LOCK - 1).version == first  # type: ignore[union-attr]


def test_events_round_trip_through_the_journal() -> None:
    text = policy_text()
    events = [
        PolicyDrafted(1, "root", S, text),
        PolicyApproved(1, "ann", 2 * S),
        PolicyPublished(1, "root", 3 * S, 3 * S + LOCK),
        PolicyDrafted(2, "ben", 4 * S, b"{}"),
    ]
    body = encode_policy_events(5, 9, events)
    assert body[4] == EntryKind.policies
    assert (len(body) - header_bytes) % 128 == 0
    assert decode_policy_events(body) == events


def test_an_edited_document_no_longer_matches_its_hash() -> None:
    body = bytearray(encode_policy_events(5, 9, [PolicyDrafted(1, "root", S, policy_text())]))
    body[header_bytes + 128 + 20] ^= 1  # a byte of the first chunk
    with pytest.raises(ValueError, match="does not match its hash"):
        decode_policy_events(bytes(body))


def test_a_torn_or_foreign_body_does_not_decode() -> None:
    body = encode_policy_events(5, 9, [PolicyApproved(1, "ann", S)])
    with pytest.raises(ValueError, match="torn"):
        decode_policy_events(body[:-1])
    unknown = body[:header_bytes] + struct.pack(">B127x", 9)
    with pytest.raises(ValueError, match="record type 9"):
        decode_policy_events(unknown)
