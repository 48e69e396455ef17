"""adapters/files/resolution_pack.py: a pack appears under its name only when whole."""

from __future__ import annotations

from pathlib import Path

from ringfence.adapters.files.resolution_pack import ZipResolutionPackFiles


def test_a_finished_pack_is_read_back_file_by_file(tmp_path: Path) -> None:
    files = ZipResolutionPackFiles()
    path = str(tmp_path / "packs" / "pack.zip")  # its folder is made
    archive = files.create(path)
    archive.add_bytes("firm.json", b"{}\n")
    archive.add_stream("clients.csv", iter([b"client,number\n", b"alice,1\n", b"bob,2\n"]))
    assert not Path(path).exists()  # written beside its name until finished
    archive.finish()
    assert sorted(files.names(path)) == ["clients.csv", "firm.json"]
    assert files.read(path, "firm.json") == b"{}\n"
    assert list(files.lines(path, "clients.csv")) == ["client,number\n", "alice,1\n", "bob,2\n"]
    assert [p.name for p in (tmp_path / "packs").iterdir()] == ["pack.zip"]


def test_an_abandoned_pack_leaves_nothing(tmp_path: Path) -> None:
    archive = ZipResolutionPackFiles().create(str(tmp_path / "pack.zip"))
    archive.add_bytes("firm.json", b"{}\n")
    archive.abandon()
    assert list(tmp_path.iterdir()) == []
