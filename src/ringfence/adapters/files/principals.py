"""Principals' files (the ``PrincipalFiles`` port): key files, and transfer lines written back
signed.

A key file holds a 32-byte Ed25519 seed as 64 hexadecimal digits and a newline, the one text
form of every key file (core/principals/authorisation.py), written by adapters/signing.py's
``write_key_file``: readable by its owner only, durable when made, never replaced. Beside it,
``PATH.pub`` holds the public key the same way (as ``ssh-keygen`` does): the part its owner
hands to the admin who registers it, readable by anyone. Signed lines
are written beside their final name and renamed, so a line refused on the way leaves no
half-signed file.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

from ringfence.adapters.signing import write_key_file
from ringfence.core.errors import InputError, Result, StorageError
from ringfence.core.principals.authorisation import parse_key_file, public_key_of


class LocalPrincipalFiles:
    """Key files and signed transfer files on the local file system."""

    def create_key(self, path: str, seed: bytes) -> None:
        public = Path(path + ".pub")
        try:
            if public.exists():
                raise FileExistsError(public)
            write_key_file(Path(path), seed)
            public.write_text(public_key_of(seed).hex() + "\n", encoding="ascii")
        except FileExistsError as error:
            raise StorageError(f"{error.args[0]} exists; a key file is never replaced") from None
        except OSError as error:
            raise StorageError(f"cannot create {path}: {error.strerror}") from None

    def read_key(self, path: str) -> bytes:
        try:
            text = Path(path).read_text(encoding="ascii")
        except UnicodeDecodeError:
            raise InputError(Result.signing_key_invalid, f"{path} is not a key file") from None
        return parse_key_file(text)

    def write_lines(self, path: str, lines: Iterator[str]) -> None:
        final = Path(path)
        partial = final.with_name(final.name + ".partial")
        try:
            with partial.open("w", encoding="utf-8") as stream:
                for text in lines:
                    stream.write(f"{text}\n")
            partial.replace(final)
        finally:
            partial.unlink(missing_ok=True)
