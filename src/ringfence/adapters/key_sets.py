"""Where the keys that sign bearer tokens come from (the ``KeySetSource`` port): a JSON Web
Key Set in a file, or an issuer's ``jwks_uri``, fetched with urllib3 (explicit timeouts, no
redirects, no retries, a bounded body: the service decides when to ask again); and the list of
tokens revoked before their ``exp`` (the ``TokenRevocationSource`` port), in a file."""

from __future__ import annotations

from pathlib import Path

import urllib3

from ringfence.core import limits
from ringfence.core.errors import InputError, Result, SourceError

key_set_timeout_s = 10.0


class KeySetFile:
    """A key set kept in a file (an issuer's keys copied by the operator, or a test's)."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def read(self) -> bytes:
        try:
            with self.path.open("rb") as file:
                data = file.read(limits.token_key_set_bytes_max + 1)
        except OSError as error:
            raise SourceError(f"key set {self.path}: {error.strerror or error}") from None
        return _bounded(data, str(self.path))


class TokenRevocationFile:
    """The list of revoked bearer tokens, in a file the operator edits (``--token-revocations
    FILE``); replaced whole or written in place, either changes its stamp."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.location = str(path)

    def stamp(self) -> tuple[int, ...]:
        try:
            found = self.path.stat()
        except OSError as error:
            raise SourceError(f"token revocations {self.path}: {error.strerror or error}") from None
        return (found.st_mtime_ns, found.st_size, found.st_ino, found.st_ctime_ns)

    def read(self) -> bytes:
        try:
            with self.path.open("rb") as file:
                return file.read(limits.token_revocations_bytes_max + 1)
        except OSError as error:
            raise SourceError(f"token revocations {self.path}: {error.strerror or error}") from None


class KeySetUrl:
    """An issuer's ``jwks_uri``. HTTPS, except on loopback (a test's issuer): a key set read
    in the clear could be swapped on the way, and with it every token's meaning."""

    def __init__(self, url: str, timeout_s: float = key_set_timeout_s) -> None:
        parsed = urllib3.util.parse_url(url)
        loopback = parsed.host in ("127.0.0.1", "localhost", "::1", "[::1]")
        if parsed.scheme != "https" and not (parsed.scheme == "http" and loopback):
            raise InputError(Result.token_settings_invalid, f"key set URL {url!r}: https://")
        self.url = url
        self.timeout_s = timeout_s
        self._pool = urllib3.PoolManager(num_pools=1, retries=False)

    def read(self) -> bytes:
        try:
            response = self._pool.request(
                "GET",
                self.url,
                headers={"Accept": "application/jwk-set+json, application/json"},
                timeout=urllib3.Timeout(total=self.timeout_s),
                redirect=False,
                retries=False,
                preload_content=False,
            )
        except urllib3.exceptions.HTTPError as error:
            raise SourceError(f"key set {self.url}: {type(error).__name__}") from None
        try:
            if response.status != 200:
                raise SourceError(f"key set {self.url}: HTTP {response.status}")
            data = response.read(limits.token_key_set_bytes_max + 1)
        except urllib3.exceptions.HTTPError as error:
            raise SourceError(f"key set {self.url}: {type(error).__name__}") from None
        finally:
            response.release_conn()
        return _bounded(data, self.url)


def _bounded(data: bytes, where: str) -> bytes:
    if len(data) > limits.token_key_set_bytes_max:
        raise InputError(
            Result.token_key_set_invalid,
            f"{where}: more than {limits.token_key_set_bytes_max} bytes",
        )
    return data
