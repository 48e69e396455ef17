"""Withdrawals and policy versions on PostgreSQL: journaled as their own entry kinds (schema
7), read back by another service, and replayed by the audit."""

from __future__ import annotations

from tests.support import journal_signer
from tests.support_policy import OTHER_ADDRESS
from tests.support_withdrawals import RecordingChain, actor, withdrawal_world

from ringfence.adapters.clock import ManualClock
from ringfence.adapters.storage.postgres import PostgresStore
from ringfence.service import withdrawals
from ringfence.service.audit import verify_store
from ringfence.service.ledger import LedgerService
from ringfence.service.policy import books


def test_withdrawals_round_trip_through_postgres(postgres_url: str) -> None:
    clock = ManualClock()
    ledger = LedgerService(PostgresStore(postgres_url), clock, journal_signer())
    try:
        withdrawal_world(ledger, clock)
        body = {"id": "1", "pool": "main", "asset": "ETH", "amount": "12", "client": "bob",
                "destination": OTHER_ADDRESS}  # fmt: skip
        withdrawals.request(ledger, actor("ops"), body)
        withdrawals.approve(ledger, actor("ann"), 1)
        withdrawals.approve(ledger, actor("ben"), 1)
        withdrawals.process(ledger, actor("ops"), RecordingChain())
        assert withdrawals.show(ledger, actor("ops"), 1)["status"] == "posted"
        written = books(ledger).withdrawals.withdrawals
    finally:
        ledger.close()
    reader = LedgerService(PostgresStore(postgres_url), clock, journal_signer())
    try:
        assert books(reader).withdrawals.withdrawals == written
        report = verify_store(reader.store)
        assert report.ok, report.to_json()
    finally:
        reader.close()
