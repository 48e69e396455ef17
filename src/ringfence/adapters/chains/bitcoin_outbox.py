"""Finalised Bitcoin transactions handed on through an outbox folder: the ``Broadcaster``.

No Bitcoin node runs here, so a signed transaction is written as ``<txid>.hex`` (the raw
transaction in lowercase hex, as ``sendrawtransaction`` takes it) into a folder that a relay
next to a node, or an operator, sends from. The file is written whole (a temporary file
flushed, then renamed), so a relay never reads half a transaction; writing the same
transaction again leaves the same file. Confirmation comes back through the next UTXO
snapshot, not through this folder.
"""

from __future__ import annotations

import os
from pathlib import Path

from ringfence.core.errors import StorageError


class OutboxBroadcaster:
    def __init__(self, folder: Path) -> None:
        self.folder = folder

    def broadcast(self, txid: str, raw: bytes) -> None:
        assert len(txid) == 64 and all(c in "0123456789abcdef" for c in txid)
        path = self.folder / f"{txid}.hex"
        try:
            self.folder.mkdir(parents=True, exist_ok=True)
            temporary = path.with_suffix(".tmp")
            with temporary.open("w", encoding="ascii") as file:
                file.write(raw.hex() + "\n")
                file.flush()
                os.fsync(file.fileno())
            temporary.replace(path)
        except OSError as error:
            raise StorageError(f"outbox {self.folder}: {error}") from None

    def sent(self) -> list[str]:
        """The txids in the outbox."""
        return sorted(path.stem for path in self.folder.glob("*.hex"))
