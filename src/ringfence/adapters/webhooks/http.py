"""Posting a signed webhook message to a receiver, with urllib3 (the HTTP library under
requests; a connection pool per host, explicit timeouts, and no redirect or retry of its own:
the service decides when to retry, on its schedule)."""

from __future__ import annotations

from collections.abc import Mapping

import urllib3

from ringfence.service.ports import DeliveryAnswer

# Receivers' answers are not read beyond their status; a little is kept for the error text.
_answer_bytes_read_max = 256


class HttpWebhookSender:
    """Thread-safe (urllib3's pool manager is)."""

    def __init__(self) -> None:
        self._pool = urllib3.PoolManager(num_pools=16, retries=False)

    def post(
        self, url: str, body: bytes, headers: Mapping[str, str], timeout_s: float
    ) -> DeliveryAnswer:
        try:
            response = self._pool.request(
                "POST",
                url,
                body=body,
                headers=dict(headers),
                timeout=urllib3.Timeout(total=timeout_s),
                redirect=False,
                retries=False,
                preload_content=False,
            )
        except urllib3.exceptions.HTTPError as error:
            return DeliveryAnswer(None, f"{type(error).__name__}: {error}")
        try:
            status = response.status
            if 200 <= status < 300:
                return DeliveryAnswer(status)
            text = response.read(_answer_bytes_read_max).decode("utf-8", "replace")
            return DeliveryAnswer(status, f"HTTP {status}: {text}")
        except urllib3.exceptions.HTTPError as error:
            return DeliveryAnswer(None, f"{type(error).__name__}: {error}")
        finally:
            # The rest of the answer is read and dropped (within the timeout) so that the
            # connection can be used again.
            try:
                response.drain_conn()
            finally:
                response.release_conn()
