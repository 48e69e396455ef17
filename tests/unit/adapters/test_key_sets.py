"""Key set sources (adapters/key_sets.py): a file bounded in size, a URL over HTTPS only
(loopback aside), failures as ``SourceError`` (the service answers 503, and may retry)."""

from __future__ import annotations

from pathlib import Path

import pytest

from ringfence.adapters.key_sets import KeySetFile, KeySetUrl
from ringfence.core import limits
from ringfence.core.errors import InputError, Result, SourceError


def test_a_file_is_read_and_bounded(tmp_path: Path) -> None:
    path = tmp_path / "jwks.json"
    path.write_bytes(b'{"keys": []}')
    assert KeySetFile(path).read() == b'{"keys": []}'
    path.write_bytes(b" " * (limits.token_key_set_bytes_max + 1))
    with pytest.raises(InputError) as raised:
        KeySetFile(path).read()
    assert raised.value.code is Result.token_key_set_invalid
    with pytest.raises(SourceError):
        KeySetFile(tmp_path / "missing.json").read()


@pytest.mark.parametrize(
    "url", ["http://id.example/jwks", "ftp://id.example/jwks", "file:///etc/passwd"]
)
def test_a_url_in_the_clear_is_refused(url: str) -> None:
    with pytest.raises(InputError) as raised:
        KeySetUrl(url)
    assert raised.value.code is Result.token_settings_invalid


def test_an_issuer_that_does_not_answer_is_a_source_error() -> None:
    with pytest.raises(SourceError):
        KeySetUrl("http://127.0.0.1:9/jwks", timeout_s=2.0).read()


def test_a_url_on_loopback_is_read_and_bounded() -> None:
    import http.server
    import threading

    bodies = [b'{"keys": []}', b" " * (limits.token_key_set_bytes_max + 1)]

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            body = bodies.pop(0)
            self.send_response(200)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *_: object) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        source = KeySetUrl(f"http://127.0.0.1:{server.server_address[1]}/jwks")
        assert source.read() == b'{"keys": []}'
        with pytest.raises(InputError) as raised:
            source.read()
        assert raised.value.code is Result.token_key_set_invalid
    finally:
        server.shutdown()
        server.server_close()
        thread.join()
