"""A ledger writer that is killed with SIGKILL by ``test_crash.py``.

It opens (or creates) a SQLite ledger, then submits deterministic batches forever. Batch ``k``
always holds the same events (ids ``k * 10_000 + i``), so after a restart it can resubmit the
batch it was working on and get ``exists`` for whatever had already committed. After each
batch is acknowledged it appends ``k`` to an acknowledgement log and fsyncs it: everything in
that log must survive the kill.
"""

from __future__ import annotations

import hashlib
import os
import random
import sys
import time

from ringfence.adapters.clock import SystemClock
from ringfence.adapters.signing import MemorySigner
from ringfence.adapters.storage.sqlite import SqliteStore
from ringfence.core.errors import Result
from ringfence.core.ledger.model import (
    AccountClass,
    AccountDefinition,
    Pool,
    PoolKind,
    Terms,
    Transfer,
    TransferCode,
    TransferFlags,
)
from ringfence.core.money import Asset
from ringfence.core.principals.authorisation import public_key_of
from ringfence.core.principals.records import Principal, PrincipalChange, PrincipalRole
from ringfence.service.ledger import LedgerService

clients = 50
hot, house = 1, 2
base = 100


def seed_of(name: str) -> bytes:
    return hashlib.sha256(f"crash writer key {name}".encode()).digest()


def set_up(service: LedgerService) -> None:
    """Definitions, principals and funding, each step skipped once it is in the journal."""
    names = [f"c{i:03d}" for i in range(clients)]
    if not service.ledger.principals.by_name:
        admin = Principal("admin", PrincipalRole.admin, public_key_of(seed_of("admin")))
        assert service.change_principals([PrincipalChange(admin, None)]) == [Result.ok]
    if not service.ledger.accounts:
        service.define_assets([Asset("BTC", 8, 1, "bitcoin")])
        service.define_clients(names)
        service.define_pools([Pool("omni", PoolKind.omnibus, Terms.custody)])
        accounts = [
            AccountDefinition(hot, "BTC", AccountClass.custody, "omni-hot", "hot", "omni"),
            AccountDefinition(house, "BTC", AccountClass.custody, "house-hot", "hot"),
        ] + [
            AccountDefinition(base + i, "BTC", AccountClass.client, name, "available", "omni")
            for i, name in enumerate(names)
        ]
        service.define_accounts(accounts)
    if len(service.ledger.principals.by_name) <= clients:
        changes = [
            service.endorse(
                Principal(name, PrincipalRole.client, public_key_of(seed_of(name)), name),
                "admin",
                seed_of("admin"),
            )
            for name in names
        ]
        results = service.change_principals(changes)
        assert all(r in (Result.ok, Result.exists) for r in results), set(results)
    funding = [Transfer(i + 1, hot, base + i, 10**12, TransferCode.deposit) for i in range(clients)]
    results = service.submit(funding)
    assert all(r in (Result.ok, Result.exists) for r in results), set(results)


def batch(k: int, signer: LedgerService | None = None) -> list[Transfer]:
    """Deposits, withdrawals and internal transfers that always succeed (every client is funded
    at set-up); some linked in pairs. With a ``signer``, each internal transfer is signed by its
    payer."""
    rng = random.Random(k)
    events = []
    size = rng.choice((1, 16, 128, 500))
    for i in range(size):
        transfer_id = k * 10_000 + i + 1
        client = rng.randrange(clients)
        flags = TransferFlags.linked if i % 6 == 1 and i + 1 < size else TransferFlags.none
        if i % 2 == 0:
            events.append(Transfer(transfer_id, hot, base + client, 1_000, TransferCode.deposit))
        elif i % 4 == 3:
            # A withdrawal on every other odd event: signing and verifying every one of them
            # would slow the writer below a batch between two kills on a busy machine.
            events.append(
                Transfer(transfer_id, base + client, hot, 1, TransferCode.withdrawal, flags)
            )
        else:
            payee = (client + 1) % clients
            payment = Transfer(
                transfer_id,
                base + client,
                base + payee,
                1,
                TransferCode.internal_transfer,
                flags,
                authorised_by=f"c{client:03d}",
            )
            if signer is not None:
                payment = signer.authorise(payment, seed_of(payment.authorised_by))
            events.append(payment)
    return events


def open_service(path: str) -> LedgerService:
    return LedgerService(
        SqliteStore(path), SystemClock(), MemorySigner(bytes(32)), checkpoint_interval_batches=3
    )


def main(path: str, acknowledgements: str) -> None:
    service = open_service(path)
    set_up(service)
    done = 0
    if os.path.exists(acknowledgements):
        with open(acknowledgements, encoding="ascii") as log:
            done = max((int(line) for line in log if line.strip()), default=0)
    descriptor = os.open(acknowledgements, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    k = done + 1
    sys.stdout.write("writing\n")
    sys.stdout.flush()
    while True:
        results = service.submit(batch(k, service))
        assert all(r in (Result.ok, Result.exists) for r in results), set(results)
        os.write(descriptor, f"{k}\n".encode("ascii"))
        os.fsync(descriptor)
        k += 1
        time.sleep(0.002)  # keeps the journal small enough to audit after every kill


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
