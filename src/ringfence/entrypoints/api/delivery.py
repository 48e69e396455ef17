"""The webhook delivery worker of ``ringfence serve``: a thread that runs one delivery pass
(service/webhooks.py ``deliver``) every ``interval_s`` seconds until the server stops.

It reads events under the API's one lock (the ledger service is not thread-safe) and posts
them outside it, so a slow receiver never holds up a request. A pass that fails (a store that
cannot be read) is logged by its class and message, which carry no secret, and the next pass
tries again."""

from __future__ import annotations

import logging
import threading

from ringfence.core.errors import RingfenceError
from ringfence.entrypoints.api.calls import Api
from ringfence.service import webhooks
from ringfence.service.webhooks import Delivered

log = logging.getLogger("ringfence.webhooks")


class DeliveryWorker:
    def __init__(self, api: Api, interval_s: float) -> None:
        assert interval_s > 0
        self.api = api
        self.interval_s = interval_s
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="webhook-delivery", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join()

    def _run(self) -> None:
        while not self._stop.wait(self.interval_s):
            try:
                deliver_once(self.api)
            except RingfenceError as error:
                log.warning("webhook delivery pass failed: %s: %s", type(error).__name__, error)


def deliver_once(api: Api) -> Delivered:
    """One delivery pass over the API's bundle, reading the ledger under the API's lock."""
    bundle = api.bundle
    read = webhooks.locked_reader(bundle.current, api.lock)
    return webhooks.deliver(read, bundle.webhooks, bundle.sender, bundle.clock)
