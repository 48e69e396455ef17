"""Spends kept between the withdrawal lifecycle's steps: the ``SpendStore`` port.

``SpendDirectory`` keeps one JSON file per spend (``<spend id>.json``) and one per withdrawal
naming its current spend (``withdrawal-<id>.json``), each written to a temporary file, flushed
to disk and renamed over the old one, so a reader sees a whole record or the one before, and a
crash never leaves half of one. The spend file is written before the withdrawal's, so a
withdrawal never names a spend that is not there. ``MemorySpendStore`` is the same in memory.
"""

from __future__ import annotations

import json
import os
from dataclasses import asdict
from pathlib import Path
from typing import Any

from ringfence.core.custody.spends import SpendRecord, SpendState
from ringfence.core.errors import StorageError

_bytes_fields = ("unsigned", "signed")


def record_to_json(record: SpendRecord) -> dict[str, Any]:
    document = asdict(record)
    for name in _bytes_fields:
        document[name] = document[name].hex()
    document["state"] = record.state.value
    document["outpoints"] = list(record.outpoints)
    document["wallets"] = list(record.wallets)
    return document


def record_from_json(document: dict[str, Any]) -> SpendRecord:
    try:
        fields = dict(document)
        for name in _bytes_fields:
            fields[name] = bytes.fromhex(fields[name])
        fields["state"] = SpendState(fields["state"])
        fields["outpoints"] = tuple(fields["outpoints"])
        fields["wallets"] = tuple(fields["wallets"])
        return SpendRecord(**fields)
    except (KeyError, TypeError, ValueError) as error:
        raise StorageError(f"a spend record that does not read back: {error}") from None


class MemorySpendStore:
    def __init__(self) -> None:
        self._records: dict[str, SpendRecord] = {}
        self._withdrawals: dict[str, str] = {}

    def get(self, spend_id: str) -> SpendRecord | None:
        return self._records.get(spend_id)

    def for_withdrawal(self, withdrawal_id: str) -> SpendRecord | None:
        spend_id = self._withdrawals.get(withdrawal_id)
        return None if spend_id is None else self._records[spend_id]

    def put(self, record: SpendRecord) -> None:
        self._records[record.spend_id] = record
        self._withdrawals[record.withdrawal_id] = record.spend_id

    def records(self) -> list[SpendRecord]:
        return list(self._records.values())


class SpendDirectory:
    """Spends as JSON files in ``folder`` (made on first write)."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder

    def get(self, spend_id: str) -> SpendRecord | None:
        if not _is_hex_id(spend_id):
            return None
        document = self._read(self.folder / f"{spend_id}.json")
        return None if document is None else record_from_json(document)

    def for_withdrawal(self, withdrawal_id: str) -> SpendRecord | None:
        document = self._read(self._withdrawal_path(withdrawal_id))
        if document is None:
            return None
        record = self.get(str(document.get("spend_id", "")))
        if record is None:
            raise StorageError(f"withdrawal {withdrawal_id} names a spend that is not kept")
        return record

    def put(self, record: SpendRecord) -> None:
        assert _is_hex_id(record.spend_id)
        self._write(self.folder / f"{record.spend_id}.json", record_to_json(record))
        self._write(
            self._withdrawal_path(record.withdrawal_id),
            {"withdrawal_id": record.withdrawal_id, "spend_id": record.spend_id},
        )

    def records(self) -> list[SpendRecord]:
        if not self.folder.is_dir():
            return []
        found = []
        for path in sorted(self.folder.glob("*.json")):
            if _is_hex_id(path.stem):
                document = self._read(path)
                if document is not None:
                    found.append(record_from_json(document))
        return found

    def _withdrawal_path(self, withdrawal_id: str) -> Path:
        # Withdrawal ids are 1-64 of [0-9A-Za-z._:-] (SpendOrder): ':' is the one character
        # some file systems refuse, and it is spelled out.
        return self.folder / f"withdrawal-{withdrawal_id.replace(':', '%3A')}.json"

    @staticmethod
    def _read(path: Path) -> dict[str, Any] | None:
        try:
            document = json.loads(path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            return None
        except (OSError, ValueError) as error:
            raise StorageError(f"spend file {path}: {error}") from None
        if not isinstance(document, dict):
            raise StorageError(f"spend file {path} is not an object")
        return document

    def _write(self, path: Path, document: dict[str, Any]) -> None:
        try:
            self.folder.mkdir(parents=True, exist_ok=True)
            temporary = path.with_suffix(".tmp")
            with temporary.open("w", encoding="utf-8") as file:
                json.dump(document, file, indent=1)
                file.flush()
                os.fsync(file.fileno())
            temporary.replace(path)
        except OSError as error:
            raise StorageError(f"spend file {path}: {error}") from None


def _is_hex_id(text: str) -> bool:
    return len(text) == 64 and all(c in "0123456789abcdef" for c in text)
