"""Policy versions: draft, approve by a quorum (four-eyes), publish, take effect after a
time-lock.

Every version is a new draft with the next number; a draft is never edited. It is published
only once ``approvals`` distinct members of the governance group, none of them its author,
have approved it, and takes effect ``time_lock_s`` after publication. Governance is the
policy's own data, so the bar a draft must clear is the one set by the policy in force when it
is approved and published, never by the draft itself; only when no version is in force yet
(the first policy) does a draft's own governance apply.

The version in force at a time is the published one whose time-lock ended last at or before
it. A whitelist entry counts as added when the first version holding it takes effect; its
cool-down runs from then (decide.py).

Like the wallet registry, the book decides each change and returns a ``Result``; a refused
change leaves it untouched. The service journals the accepted ones (codec.py) and replays
them through the same methods.
"""

from __future__ import annotations

import bisect
import hashlib
from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum, unique

from ringfence.core import limits
from ringfence.core.errors import Result
from ringfence.core.money import Asset
from ringfence.core.policy.decide import CompiledPolicy
from ringfence.core.policy.document import Governance, PolicyDocument, parse_policy
from ringfence.core.principals.approval import (
    ApprovalDecision,
    ApprovalSubject,
    approval_message,
)


@unique
class VersionState(StrEnum):
    draft = "draft"  # awaiting its quorum
    approved = "approved"  # quorum reached, not yet published
    time_locked = "time_locked"  # published, not yet in force
    in_force = "in_force"
    superseded = "superseded"


@dataclass(frozen=True, slots=True)
class PolicyDrafted:
    version: int
    author: str
    at_ns: int
    text: bytes


@dataclass(frozen=True, slots=True)
class PolicyApproved:
    """An approval of a version; ``signature`` the approver's Ed25519 signature of the
    approval instruction (core/principals/approval.py), None when journaled without one."""

    version: int
    approver: str
    at_ns: int
    signature: bytes | None = None


@dataclass(frozen=True, slots=True)
class PolicyPublished:
    version: int
    publisher: str
    at_ns: int
    effective_at_ns: int


PolicyEvent = PolicyDrafted | PolicyApproved | PolicyPublished


@dataclass(slots=True)
class PolicyVersion:
    version: int
    text: bytes
    author: str
    drafted_at_ns: int
    document: PolicyDocument
    approvals: list[tuple[str, int]] = field(default_factory=list)  # (approver, at)
    signatures: dict[str, bytes] = field(default_factory=dict)  # approver -> signature kept
    publisher: str = ""
    published_at_ns: int = 0
    effective_at_ns: int = 0
    compiled: CompiledPolicy | None = None  # once published

    @property
    def digest(self) -> str:
        return hashlib.sha256(self.text).hexdigest()

    @property
    def document_digest(self) -> bytes:
        """SHA-256 of the document as drafted: what an approval of this version signs."""
        return hashlib.sha256(self.text).digest()

    @property
    def published(self) -> bool:
        return bool(self.published_at_ns)

    def approvers(self) -> list[str]:
        return [name for name, _ in self.approvals]


@dataclass(slots=True)
class PolicyBook:
    versions: dict[int, PolicyVersion] = field(default_factory=dict)
    # (effective_at, version) of every published version, ascending.
    _effective: list[tuple[int, int]] = field(default_factory=list)

    @property
    def next_version(self) -> int:
        return len(self.versions) + 1

    # ------------------------------------------------------------------ changes

    def apply(self, event: PolicyEvent, assets: Mapping[str, Asset]) -> Result:
        """Apply one change (``InputError`` only from a draft that does not parse)."""
        if isinstance(event, PolicyDrafted):
            return self._draft(event, assets)
        if isinstance(event, PolicyApproved):
            return self._approve(event)
        return self._publish(event)

    def _draft(self, event: PolicyDrafted, assets: Mapping[str, Asset]) -> Result:
        if event.version != self.next_version:
            return Result.policy_version_not_found
        if len(self.versions) >= limits.policy_versions_max:
            return Result.policy_versions_exceeded
        document = parse_policy(event.text, assets)
        self.versions[event.version] = PolicyVersion(
            event.version, event.text, event.author, event.at_ns, document
        )
        return Result.ok

    def _approve(self, event: PolicyApproved) -> Result:
        found = self.versions.get(event.version)
        if found is None:
            return Result.policy_version_not_found
        if found.published:
            return Result.policy_already_published
        if event.approver == found.author:
            return Result.policy_approver_is_author
        group, _ = self.governance_members(found, event.at_ns)
        if event.approver not in group:
            return Result.policy_approver_not_eligible
        if event.approver in found.approvers():
            return Result.policy_approval_duplicate
        found.approvals.append((event.approver, event.at_ns))
        if event.signature is not None:
            found.signatures[event.approver] = event.signature
        return Result.ok

    def _publish(self, event: PolicyPublished) -> Result:
        found = self.versions.get(event.version)
        if found is None:
            return Result.policy_version_not_found
        if found.published:
            return Result.policy_already_published
        if not self.quorum_reached(found, event.at_ns):
            return Result.policy_quorum_not_reached
        governance = self.governance(found, event.at_ns)
        if event.effective_at_ns != event.at_ns + governance.time_lock_s * 10**9:
            return Result.policy_governance_invalid  # a journal that says another time-lock
        before = self.in_force(event.effective_at_ns)
        found.publisher = event.publisher
        found.published_at_ns = event.at_ns
        found.effective_at_ns = event.effective_at_ns
        found.compiled = CompiledPolicy(
            found.document, found.version, whitelisted_since(found, before)
        )
        bisect.insort(self._effective, (found.effective_at_ns, found.version))
        return Result.ok

    # ------------------------------------------------------------------ reading

    def in_force(self, at_ns: int) -> PolicyVersion | None:
        """The version in force at ``at_ns``: the last whose time-lock had ended by then."""
        position = bisect.bisect_right(self._effective, (at_ns, limits.policy_versions_max + 1))
        if position == 0:
            return None
        return self.versions[self._effective[position - 1][1]]

    def governance(self, version: PolicyVersion, at_ns: int) -> Governance:
        """The governance a version must satisfy at ``at_ns``: the policy in force's, or its
        own when none is in force yet."""
        ruling = self.in_force(at_ns) or version
        return ruling.document.governance

    def approvals_signed(self, version: PolicyVersion, at_ns: int) -> bool:
        """Whether an approval of ``version`` at ``at_ns`` must be signed: as the governing
        policy (the one in force, or the version itself when none is) says."""
        ruling = self.in_force(at_ns) or version
        return ruling.document.approvals_signed

    def governance_members(self, version: PolicyVersion, at_ns: int) -> tuple[frozenset[str], int]:
        """The governance group's members (never the author) and the approvals it needs."""
        ruling = self.in_force(at_ns) or version
        governance = ruling.document.governance
        members = frozenset(ruling.document.groups[governance.group]) - {version.author}
        return members, governance.approvals

    def quorum_reached(self, version: PolicyVersion, at_ns: int) -> bool:
        members, needed = self.governance_members(version, at_ns)
        return len(set(version.approvers()) & members) >= needed

    def state(self, version: PolicyVersion, at_ns: int) -> VersionState:
        if not version.published:
            reached = self.quorum_reached(version, at_ns)
            return VersionState.approved if reached else VersionState.draft
        if version.effective_at_ns > at_ns:
            return VersionState.time_locked
        in_force = self.in_force(at_ns)
        if in_force is not None and in_force.version == version.version:
            return VersionState.in_force
        return VersionState.superseded


def policy_approval_message(ledger_id: bytes, version: PolicyVersion, approver: str) -> bytes:
    """The approval instruction ``approver`` signs to approve ``version`` (its number and the
    SHA-256 of its document) in the ledger ``ledger_id``."""
    return approval_message(
        ledger_id,
        approver=approver,
        subject=ApprovalSubject.policy_version,
        decision=ApprovalDecision.approve,
        subject_id=version.version,
        body_digest=version.document_digest,
    )


def whitelisted_since(
    version: PolicyVersion, before: PolicyVersion | None
) -> dict[tuple[str, str], int]:
    """When each of ``version``'s whitelist entries was added: as ``before`` (the version it
    replaces) says for an entry it held too, else when ``version`` takes effect."""
    earlier: Mapping[tuple[str, str], int] = {}
    if before is not None and before.compiled is not None:
        earlier = {
            (address, client): since
            for address, entries in before.compiled.whitelist.items()
            for client, since in entries
        }
    return {
        (entry.address, entry.client): earlier.get(
            (entry.address, entry.client), version.effective_at_ns
        )
        for entry in version.document.whitelist
    }
