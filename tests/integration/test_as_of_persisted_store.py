"""Persisted snapshots of the past as a real store holds them, misbehaving: a ``past_states``
table rebuilt without its column types is read as findings, never a crash."""

from __future__ import annotations

import logging
import sqlite3
from pathlib import Path

import pytest
from tests.integration.test_as_of_persisted import _ledger, _read, _written


def test_a_table_rebuilt_without_types_is_ignored_not_a_crash(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    path = tmp_path / "ledger.db"
    _, seen = _written(path)
    with sqlite3.connect(path) as db:
        db.execute("DROP TABLE past_states")
        db.execute("CREATE TABLE past_states (seq PRIMARY KEY, entry_hash, body, signature)")
        db.executemany(
            "INSERT INTO past_states VALUES (?, ?, ?, ?)",
            [
                ("3", b"\0" * 32, b"\0" * 64, b"\0" * 64),
                (4, "\0" * 32, b"\0" * 64, b"\0" * 64),
                (5, b"\0" * 32, 12, b"\0" * 64),
                (6, b"\0" * 32, b"\0" * 64, None),
            ],
        )
    caplog.set_level(logging.WARNING, logger="ringfence.ledger.past")
    ledger = _ledger(path)
    for seq, expected in seen.items():
        assert _read(ledger, seq) == expected
    assert "not bytes" in caplog.text
    ledger.close()
