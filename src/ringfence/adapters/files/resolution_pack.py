"""Resolution packs as zip files (the ``ResolutionPackFiles`` port).

A pack is written beside its final name (``NAME.partial``) and renamed when whole, so no reader
sees half of one. Files are deflated at the fastest level: a pack of millions of rows is
written in seconds, and its index's hashes are of the bytes as stored, not of the zip.
"""

from __future__ import annotations

import io
import zipfile
from collections.abc import Iterator
from pathlib import Path


class ZipPackArchive:
    """One pack being written to ``path``."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.partial = path.with_name(path.name + ".partial")
        path.parent.mkdir(parents=True, exist_ok=True)
        self.archive = zipfile.ZipFile(self.partial, "w", zipfile.ZIP_DEFLATED, compresslevel=1)

    def add_bytes(self, name: str, data: bytes) -> None:
        self.archive.writestr(name, data)

    def add_stream(self, name: str, chunks: Iterator[bytes]) -> None:
        with self.archive.open(name, "w", force_zip64=True) as sink:
            for chunk in chunks:
                sink.write(chunk)

    def finish(self) -> None:
        self.archive.close()
        self.partial.replace(self.path)

    def abandon(self) -> None:
        self.archive.close()
        self.partial.unlink(missing_ok=True)


class ZipResolutionPackFiles:
    """Packs as zip files on the local file system."""

    def create(self, path: str) -> ZipPackArchive:
        return ZipPackArchive(Path(path))

    def names(self, path: str) -> list[str]:
        with zipfile.ZipFile(path) as archive:
            return archive.namelist()

    def read(self, path: str, name: str) -> bytes:
        with zipfile.ZipFile(path) as archive:
            return archive.read(name)

    def lines(self, path: str, name: str) -> Iterator[str]:
        with zipfile.ZipFile(path) as archive:
            yield from io.TextIOWrapper(archive.open(name), "utf-8")
