"""Principals: who may authorise a movement, with which key, and who vouched for that key.

A principal is a person or a system holding an Ed25519 key, with one role: ``client`` (acting
for exactly one client of the ledger) or staff (``operator``, ``approver``, ``compliance``,
``auditor``, ``admin``, acting for none). Today only a client principal authorises anything:
an internal transfer out of its own client's account (core/ledger/engine.py); the roles are fixed
now so that the service's identities can use the same records.

The registry lives in the journal (entries of kind ``principals``, core/ledger/journal.py) and is
replayed on open and by the audit, in journal order, so that each transfer is checked against
the keys as they stood when it was made. Each record declares a principal's name, role, client,
public key and status; principals are numbered u32 in order of first registration, and a later
record for the same name rotates its key or revokes it.

**Naming.** A client's principal is named like the client by default (principal ``alice`` acts
for client ``alice``), which is what the tools assume; a client may have more principals (a
company's treasurers), each acting for it alone. A name that is a client's name can only be a
principal acting for that client, so "authorised by bob" never means someone acting for alice.

**Endorsement.** A key enters the journal only with an admin's evidence: every record carries
the signature of an active admin over it (``endorsement_message``), except the very first
record of a ledger, which must register an admin: the ledger's trust anchor. A database writer
who appends a principal of its own has no admin key, so the audit refuses the record, and every
transfer signed with its key fails with it.

Rules, each refusal a ``Result``: keys are valid Ed25519 points that no other principal uses
and that were never revoked; a client principal names an existing client, staff name none; a
later record keeps the role and client; an active record with the current key is ``exists``,
with another key a rotation (or, after a revocation, a reinstatement with a new key); a revoked
record revokes the current key (naming it); the last active admin cannot be revoked.
"""

from __future__ import annotations

import re
import struct
from collections.abc import Collection
from dataclasses import dataclass, field
from enum import IntEnum, unique
from typing import Final

from ringfence.core import limits
from ringfence.core.errors import InputError, Result
from ringfence.core.ledger.model import check_name
from ringfence.core.principals.authorisation import (
    is_valid_public_key,
    padded_name,
    sign,
    signature_verifies,
)

endorsement_domain: Final = b"ringfence/endorsement/v1".ljust(32, b"\0")
_endorsement: Final = struct.Struct(">32s32s32s32s32s32sBB30x")
assert _endorsement.size == limits.endorsement_message_bytes


@unique
class PrincipalRole(IntEnum):
    """A principal's role; the numbers are stored in the journal and fixed forever."""

    client = 1
    operator = 2
    approver = 3
    compliance = 4
    auditor = 5
    admin = 6


@unique
class PrincipalStatus(IntEnum):
    active = 1
    revoked = 2


@dataclass(frozen=True, slots=True)
class Principal:
    """One record of the registry: a principal as declared from this point in the journal."""

    name: str
    role: PrincipalRole
    public_key: bytes
    client: str = ""  # the client a client principal acts for; empty for staff
    status: PrincipalStatus = PrincipalStatus.active

    def __post_init__(self) -> None:
        check_name(self.name, "principal")
        if not isinstance(self.role, PrincipalRole):
            raise InputError(Result.principal_role_unknown, repr(self.role))
        if not isinstance(self.status, PrincipalStatus):
            raise InputError(Result.principal_role_unknown, f"status {self.status!r}")
        if type(self.public_key) is not bytes or len(self.public_key) != 32:
            raise InputError(Result.principal_key_invalid, "a public key is 32 bytes")
        if self.client:
            check_name(self.client, "client")


@dataclass(frozen=True, slots=True)
class Endorsement:
    """An admin's signature over a principal's record (``endorsement_message``)."""

    endorser: str
    signature: bytes


@dataclass(frozen=True, slots=True)
class PrincipalChange:
    """A record to add, with its endorsement (None only for a ledger's first admin)."""

    principal: Principal
    endorsement: Endorsement | None


@dataclass(slots=True)
class PrincipalState:
    """A principal as the registry holds it: its number, its current record, and every
    (timestamp, public key, status) it has had, oldest first."""

    number: int
    principal: Principal
    history: list[tuple[int, bytes, PrincipalStatus]] = field(default_factory=list)

    @property
    def active(self) -> bool:
        return self.principal.status is PrincipalStatus.active


def parse_role(text: object) -> PrincipalRole:
    """A role by its name (``client``, ``operator``, ``approver``, ``compliance``, ``auditor``,
    ``admin``)."""
    if not isinstance(text, str) or text not in PrincipalRole.__members__:
        choices = ", ".join(PrincipalRole.__members__)
        raise InputError(Result.principal_role_unknown, f"{text!r}: one of {choices}")
    return PrincipalRole[text]


def parse_public_key_hex(text: object) -> bytes:
    """An Ed25519 public key written as 64 lowercase hex digits, checked to be a valid key."""
    if not isinstance(text, str) or not re.fullmatch(r"[0-9a-f]{64}", text):
        raise InputError(Result.principal_key_invalid, "a public key is 64 lowercase hex digits")
    key = bytes.fromhex(text)
    if not is_valid_public_key(key):
        raise InputError(Result.principal_key_invalid, "not a valid Ed25519 public key")
    return key


def endorsement_message(ledger_id: bytes, endorser: str, principal: Principal) -> bytes:
    """What an admin signs to vouch for a principal's record (224 bytes): the domain tag, the
    ledger id (as for instructions, core/principals/authorisation.py), the endorser's name, then the
    record's name, client, public key, role and status. The principal's number is not signed:
    the registry assigns it, and the replay checks it."""
    assert len(ledger_id) == 32
    return _endorsement.pack(
        endorsement_domain,
        ledger_id,
        padded_name(endorser),
        padded_name(principal.name),
        padded_name(principal.client),
        principal.public_key,
        principal.role,
        principal.status,
    )


def endorse(ledger_id: bytes, endorser: str, seed: bytes, principal: Principal) -> PrincipalChange:
    """The change that registers ``principal``, endorsed by the admin ``endorser`` whose key
    has ``seed`` (the signing side: an admin's tool)."""
    signature = sign(seed, endorsement_message(ledger_id, endorser, principal))
    return PrincipalChange(principal, Endorsement(endorser, signature))


class Principals:
    """The registry of principals, decided here and journaled by the service."""

    def __init__(self) -> None:
        self.by_name: dict[str, PrincipalState] = {}
        self.by_number: dict[int, PrincipalState] = {}
        self.key_owners: dict[bytes, str] = {}  # every key ever registered -> its principal
        self.revoked_keys: set[bytes] = set()

    def apply(
        self,
        change: PrincipalChange,
        clients: Collection[str],
        ledger_id: bytes,
        timestamp: int,
        *,
        verify_signatures: bool = True,
    ) -> tuple[Result, int]:
        """Decide a change and, if ``ok``, record it. Returns the result and the endorser's
        number (0 for the trust anchor, or when refused). ``verify_signatures=False`` only
        when rebuilding from the ledger's own journal on open (the audit verifies)."""
        result, endorser = self.decide(change, clients, ledger_id, verify_signatures)
        if result is Result.ok:
            self._record(change.principal, timestamp)
        return result, endorser

    def decide(
        self,
        change: PrincipalChange,
        clients: Collection[str],
        ledger_id: bytes,
        verify_signatures: bool = True,
    ) -> tuple[Result, int]:
        principal = change.principal
        refused = self._check_identity(principal, clients)
        if refused is None:
            refused = self._check_key(principal)
        if refused is not None:
            return refused, 0
        return self._check_endorsement(change, ledger_id, verify_signatures)

    def _check_identity(self, principal: Principal, clients: Collection[str]) -> Result | None:
        """Role, client and name; against the current record, if any (``exists`` when the
        record changes nothing)."""
        if principal.role is PrincipalRole.client:
            if not principal.client:
                return Result.principal_client_required
            if principal.client not in clients:
                return Result.client_not_found
        elif principal.client:
            return Result.principal_client_forbidden_for_staff
        if principal.name in clients and principal.client != principal.name:
            return Result.principal_name_taken_by_client
        current = self.by_name.get(principal.name)
        if current is None:
            if principal.status is PrincipalStatus.revoked:
                return Result.principal_not_found
            if len(self.by_number) >= limits.principals_max:
                return Result.principals_exceeded
            return None
        if current.principal.role is not principal.role:
            return Result.principal_exists_with_different_role
        if current.principal.client != principal.client:
            return Result.principal_exists_with_different_client
        if current.principal == principal:
            return Result.exists
        return None

    def _check_key(self, principal: Principal) -> Result | None:
        key = principal.public_key
        if not is_valid_public_key(key):
            return Result.principal_key_invalid
        current = self.by_name.get(principal.name)
        if principal.status is PrincipalStatus.revoked:
            assert current is not None
            if not current.active or key != current.principal.public_key:
                return Result.principal_key_revoked  # only the current, active key is revoked
            if principal.role is PrincipalRole.admin and self.admins_active() == 1:
                return Result.principal_is_last_admin
            return None
        if key in self.revoked_keys:
            return Result.principal_key_revoked
        if self.key_owners.get(key, principal.name) != principal.name:
            return Result.principal_key_in_use
        return None

    def _check_endorsement(
        self, change: PrincipalChange, ledger_id: bytes, verify_signatures: bool
    ) -> tuple[Result, int]:
        endorsement = change.endorsement
        if not self.by_name:  # the trust anchor: the ledger's first principal, an admin
            if change.principal.role is not PrincipalRole.admin:
                return Result.principal_first_must_be_admin, 0
            if endorsement is not None:
                return Result.endorser_not_an_active_admin, 0
            return Result.ok, 0
        if endorsement is None:
            return Result.endorsement_required, 0
        endorser = self.by_name.get(endorsement.endorser)
        if endorser is None or not endorser.active:
            return Result.endorser_not_an_active_admin, 0
        if endorser.principal.role is not PrincipalRole.admin:
            return Result.endorser_not_an_active_admin, 0
        message = endorsement_message(ledger_id, endorsement.endorser, change.principal)
        public_key = endorser.principal.public_key
        if verify_signatures and not signature_verifies(
            public_key, message, endorsement.signature
        ):
            return Result.endorsement_signature_invalid, 0
        return Result.ok, endorser.number

    def admins_active(self) -> int:
        return sum(
            1
            for state in self.by_name.values()
            if state.active and state.principal.role is PrincipalRole.admin
        )

    def _record(self, principal: Principal, timestamp: int) -> PrincipalState:
        current = self.by_name.get(principal.name)
        if current is None:
            current = PrincipalState(len(self.by_number) + 1, principal)
            assert current.number not in self.by_number
            self.by_name[principal.name] = current
            self.by_number[current.number] = current
        elif principal.status is PrincipalStatus.revoked:
            assert current.principal.public_key == principal.public_key
            self.revoked_keys.add(principal.public_key)
        current.principal = principal
        current.history.append((timestamp, principal.public_key, principal.status))
        self.key_owners.setdefault(principal.public_key, principal.name)
        assert self.key_owners[principal.public_key] == principal.name
        assert len(self.by_number) <= limits.principals_max
        return current

    def number_of(self, name: str) -> int:
        state = self.by_name.get(name)
        return 0 if state is None else state.number
