"""Documents handed in with a request, by name (``service.ports.RegulatoryFiles``): the REST
API's counterpart of the local files the command line names.

A request carries each document as the exact text of the file the command line would read
(``{"observations": "<JSON lines>", "settings": "<JSON>"}``), so the core parses the same
bytes with the same named errors, and a report names a document by the SHA-256 of the same
bytes whichever way it came in. Bounded as the files are: one byte past the limit is enough to
refuse a document by name.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from ringfence.adapters.files.regulatory import RegulatoryDocuments
from ringfence.core.custody.holdings import Observation
from ringfence.core.errors import InputError, Result


class UploadedFiles(RegulatoryDocuments):
    """Documents by name; a name not handed in is ``field_required``."""

    def __init__(self, documents: Mapping[str, bytes]) -> None:
        self.documents = dict(documents)

    def read(self, name: str, bytes_max: int) -> bytes:
        found = self.documents.get(name)
        if found is None:
            raise InputError(Result.field_required, name)
        return found[: bytes_max + 1]

    def write_observations(self, name: str, observations: Sequence[Observation]) -> None:
        raise InputError(Result.field_unknown, f"{name}: a request's documents are read only")
