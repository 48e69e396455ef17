"""Signers for the journal key (the ``Signer`` port): a key file, and a key held in memory.

A key file holds the 32-byte Ed25519 seed as 64 hexadecimal digits and a newline (the one text
form of every key file, core/principals/authorisation.py), created readable and writable by its
owner only and never replaced. Keep it where the database's writers cannot write
(another machine, another user): whoever holds it can sign a rewritten journal. An HSM adapter
(PKCS#11) plugs into the same port; its key never leaves the device.
"""

from __future__ import annotations

import os
from pathlib import Path

import nacl.signing

from ringfence.core.errors import InputError, Result
from ringfence.core.principals.authorisation import key_file_text, parse_key_file


def write_key_file(path: Path, seed: bytes) -> None:
    """A new key file at ``path``, readable by its owner only and durable when this returns;
    ``FileExistsError`` if there is one already (a key file is never replaced)."""
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(descriptor, "w", encoding="ascii") as file:
        file.write(key_file_text(seed))
        file.flush()
        os.fsync(file.fileno())


class KeyFileSigner:
    """The journal key in a file, read on first use (reading the ledger needs no key)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._key: nacl.signing.SigningKey | None = None

    def public_key(self) -> bytes | None:
        key = self._load()
        return None if key is None else bytes(key.verify_key)

    def create(self) -> bytes:
        key = nacl.signing.SigningKey.generate()
        try:
            write_key_file(self.path, bytes(key))
        except FileExistsError:
            raise InputError(Result.journal_key_exists, str(self.path)) from None
        except OSError as error:
            raise InputError(Result.journal_key_invalid, f"{self.path}: {error}") from None
        self._key = key
        return bytes(key.verify_key)

    def sign(self, message: bytes) -> bytes:
        key = self._load()
        if key is None:
            raise InputError(Result.journal_key_missing, f"no journal key at {self.path}")
        return key.sign(message).signature

    def _load(self) -> nacl.signing.SigningKey | None:
        if self._key is None:
            try:
                text = self.path.read_text(encoding="ascii")
            except FileNotFoundError:
                return None
            except (OSError, UnicodeDecodeError) as error:
                raise InputError(Result.journal_key_invalid, f"{self.path}: {error}") from None
            try:
                seed = parse_key_file(text)
            except InputError as error:
                detail = f"{self.path}: {error.detail}"
                raise InputError(Result.journal_key_invalid, detail) from None
            self._key = nacl.signing.SigningKey(seed)
        return self._key


class MemorySigner:
    """A journal key held in memory: for ``memory://`` ledgers, tests and benchmarks."""

    def __init__(self, seed: bytes | None = None) -> None:
        assert seed is None or len(seed) == 32
        self._key = None if seed is None else nacl.signing.SigningKey(seed)

    def public_key(self) -> bytes | None:
        return None if self._key is None else bytes(self._key.verify_key)

    def create(self) -> bytes:
        if self._key is not None:
            raise InputError(Result.journal_key_exists, "this signer already holds a key")
        self._key = nacl.signing.SigningKey.generate()
        return bytes(self._key.verify_key)

    def sign(self, message: bytes) -> bytes:
        if self._key is None:
            raise InputError(Result.journal_key_missing, "this signer holds no key")
        return self._key.sign(message).signature


class NoSigner:
    """No journal key configured: reading works, writing is refused with ``advice``."""

    def __init__(self, advice: str) -> None:
        self.advice = advice

    def public_key(self) -> bytes | None:
        return None

    def create(self) -> bytes:
        raise InputError(Result.journal_key_missing, self.advice)

    def sign(self, message: bytes) -> bytes:
        raise InputError(Result.journal_key_missing, self.advice)
