"""A typed client of ringfence's REST API, for programs that call a running ``ringfence serve``.

    from ringfence.remote import RemoteService, ProblemError, tls_context

    with RemoteService("https://ringfence.internal:8443", token,
                       tls=tls_context("ca.pem")) as service:
        service.submit_transfers([...], idempotency_key="2026-12-07-deposits-1")
        for transfer in service.each(service.transfers, client="alice"):
            ...

It speaks HTTP only: it imports nothing of the service, the core or the adapters (an
import-linter contract keeps it so), so it sees exactly what any other caller sees, and can be
read against docs/api.md and docs/openapi.json alone. ``errors.py`` draws its exception tree.
"""

from ringfence.remote.documents import (
    Account,
    Balance,
    Document,
    Event,
    ItemResult,
    Page,
    Results,
    Transfer,
)
from ringfence.remote.errors import (
    AnswerUnreadableError,
    ProblemError,
    RemoteError,
    ServiceUnreachableError,
)
from ringfence.remote.operations import Operation, every_operation
from ringfence.remote.service import Answer, RemoteService, tls_context

__all__ = [
    "Account",
    "Answer",
    "AnswerUnreadableError",
    "Balance",
    "Document",
    "Event",
    "ItemResult",
    "Operation",
    "Page",
    "ProblemError",
    "RemoteError",
    "RemoteService",
    "Results",
    "ServiceUnreachableError",
    "Transfer",
    "every_operation",
    "tls_context",
]
