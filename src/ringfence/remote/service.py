"""``RemoteService``: the REST API of ``ringfence serve`` as typed Python calls.

One method per operation of the OpenAPI document (operations.py holds the table; a test
compares it with docs/openapi.json). Each method sends one request and returns the decoded
JSON answer, or raises ``ProblemError`` carrying the service's result code (errors.py draws
the exception tree). Lists return one ``Page``; ``each`` walks every page of a list, and
``each_event`` the event stream. Writes take an ``idempotency_key``: the service answers a
repeated key with the first answer (``Idempotency-Replayed``) and refuses it with another body.

The caller brings the credentials (an API key or an OIDC access token: both are bearer
tokens) and, for HTTPS, the trust: a CA file to verify the server with and, for mutual TLS,
a certificate and key of its own. Tests pass an ``httpx2.Client`` of their own (``http``):
FastAPI's ``TestClient`` runs the app in process, ``httpx2.MockTransport`` records requests.

Length (over 500 lines, argued): one short method per operation of the API, in the order of
docs/api.md's table, is the client's whole surface; splitting it would split one class.
"""

from __future__ import annotations

import json
import ssl
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar, cast

import httpx2

from ringfence.remote import operations as op
from ringfence.remote.documents import (
    Account,
    Balance,
    Document,
    Event,
    Page,
    Results,
    Transfer,
)
from ringfence.remote.errors import AnswerUnreadableError, ProblemError, ServiceUnreachableError
from ringfence.remote.operations import Operation

__all__ = ["Answer", "RemoteService", "tls_context"]

T = TypeVar("T")
_problem_media_type = "application/problem+json"
_json_media_type = "application/json"
_zip_media_type = "application/zip"
# A listing walked by ``each`` stops after this many pages, whatever the service says: a
# cursor that never ends is a fault to report, not a loop to spin in.
pages_walked_max = 1_000_000
Query = Mapping[str, str | int | bool | Sequence[str] | None]


@dataclass(frozen=True, slots=True)
class Answer:
    """One answer: its status, its decoded document (text for /metrics, bytes for a zip), and
    whether the service replayed it for an ``Idempotency-Key`` it had seen."""

    status: int
    document: Any
    replayed: bool


def tls_context(
    ca_file: str | None = None,
    certificate_file: str | None = None,
    key_file: str | None = None,
) -> ssl.SSLContext:
    """A client TLS context: the system's trust, or only ``ca_file``'s; with
    ``certificate_file`` (and ``key_file`` when the key is apart), the client's own
    certificate for a server that asks for one (mutual TLS). Hostnames are checked."""
    context = ssl.create_default_context(cafile=ca_file)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    if certificate_file is not None:
        context.load_cert_chain(certificate_file, key_file)
    return context


class RemoteService:
    """A connection to one ``ringfence serve``; close it, or use it as a context manager."""

    def __init__(
        self,
        base_url: str = "",
        token: str | None = None,
        *,
        timeout_s: float = 30.0,
        tls: ssl.SSLContext | None = None,
        http: httpx2.Client | None = None,
    ) -> None:
        """``base_url`` such as ``https://ringfence.example:8443``; ``token`` an API key or
        an access token, sent as ``Authorization: Bearer``; ``tls`` from ``tls_context``
        (default: the system's trust). ``http``: a client to send through instead (its own
        base URL and transport are used; ``base_url``, ``timeout_s`` and ``tls`` are not)."""
        self.token = token
        self._owned = http is None
        if http is None:
            verify: ssl.SSLContext | bool = tls if tls is not None else True
            http = httpx2.Client(base_url=base_url, timeout=timeout_s, verify=verify)
        self.http = http

    def __enter__(self) -> RemoteService:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()

    def close(self) -> None:
        if self._owned:
            self.http.close()

    # ------------------------------------------------------------------ the one way out

    def send(
        self,
        operation: Operation,
        path: Mapping[str, str] | None = None,
        query: Query | None = None,
        body: Any = None,
        idempotency_key: str | None = None,
    ) -> Answer:
        """Send ``operation`` and read its answer: the lower level every method uses."""
        unknown = set(query or {}) - set(operation.query)
        assert not unknown, f"{operation.path} takes no {sorted(unknown)}"
        assert (body is not None) == operation.body, operation.path
        headers = {"Accept": f"{_json_media_type}, {_problem_media_type}"}
        if self.token is not None:
            headers["Authorization"] = f"Bearer {self.token}"
        if idempotency_key is not None:
            assert operation.body, "only a write takes an Idempotency-Key"
            headers["Idempotency-Key"] = idempotency_key
        content = None
        if body is not None:
            headers["Content-Type"] = _json_media_type
            content = json.dumps(body).encode("utf-8")
        try:
            response = self.http.request(
                operation.method,
                operation.url(**(path or {})),
                params=_query_text(query or {}),
                headers=headers,
                content=content,
            )
        except httpx2.TransportError as error:
            raise ServiceUnreachableError(
                f"{operation.method} {operation.path}: {error}"
            ) from error
        return _answer(response)

    def _read(self, operation: Operation, query: Query | None = None, **path: str) -> Any:
        return self.send(operation, path, query).document

    def _write(self, operation: Operation, body: Any, key: str | None = None, **path: str) -> Any:
        return self.send(operation, path, None, body, key).document

    # ------------------------------------------------------------------ pages

    def each(self, listing: Callable[..., Page[T]], **filters: Any) -> Iterator[T]:
        """Every item of a list (``service.each(service.transfers, client="alice")``),
        page by page, following ``next_cursor`` until it is None."""
        cursor: str | None = None
        for _ in range(pages_walked_max):
            page = listing(**filters, cursor=cursor)
            yield from page["items"]
            cursor = page["next_cursor"]
            if cursor is None:
                return
        raise AnswerUnreadableError(200, f"more than {pages_walked_max} pages")

    def each_event(
        self, after: str = "", types: str = "", limit: int | None = None
    ) -> Iterator[Event]:
        """Every event after ``after`` up to the head of the journal, page by page."""
        for _ in range(pages_walked_max):
            page = self.events(after=after, types=types, limit=limit)
            yield from page["items"]
            if page["next_cursor"] is None:
                return
            after = page["next_cursor"]
        raise AnswerUnreadableError(200, f"more than {pages_walked_max} pages")

    # ------------------------------------------------------------------ definitions

    def health(self) -> Document:
        return cast(Document, self._read(op.health))

    def assets(self) -> Page[Document]:
        return cast(Page[Document], self._read(op.list_assets))

    def create_assets(
        self, assets: Sequence[Document], idempotency_key: str | None = None
    ) -> Results:
        return cast(
            Results, self._write(op.create_assets, {"assets": list(assets)}, idempotency_key)
        )

    def clients(self) -> Page[Document]:
        return cast(Page[Document], self._read(op.list_clients))

    def create_clients(
        self, clients: Sequence[Document], idempotency_key: str | None = None
    ) -> Results:
        return cast(
            Results, self._write(op.create_clients, {"clients": list(clients)}, idempotency_key)
        )

    def pools(self) -> Page[Document]:
        return cast(Page[Document], self._read(op.list_pools))

    def create_pools(
        self, pools: Sequence[Document], idempotency_key: str | None = None
    ) -> Results:
        return cast(Results, self._write(op.create_pools, {"pools": list(pools)}, idempotency_key))

    # ------------------------------------------------------------------ accounts, balances

    def accounts(
        self,
        *,
        client: str = "",
        pool: str = "",
        asset: str = "",
        cursor: str | None = None,
        limit: int | None = None,
    ) -> Page[Account]:
        query = {"client": client, "pool": pool, "asset": asset, "cursor": cursor, "limit": limit}
        return cast(Page[Account], self._read(op.list_accounts, query))

    def create_accounts(
        self, accounts: Sequence[Document], idempotency_key: str | None = None
    ) -> Results:
        return cast(
            Results, self._write(op.create_accounts, {"accounts": list(accounts)}, idempotency_key)
        )

    def account(self, account_id: str | int) -> Account:
        return cast(Account, self._read(op.get_account, account_id=str(account_id)))

    def balances(
        self,
        *,
        client: str = "",
        pool: str = "",
        asset: str = "",
        cursor: str | None = None,
        limit: int | None = None,
        as_of: str | None = None,
        as_of_seq: str | int | None = None,
    ) -> Page[Balance]:
        """Balances now, or at a past point: ``as_of`` a time (Unix nanoseconds, ISO-8601
        with its zone, or a date) or ``as_of_seq`` a journal sequence."""
        query = {
            "client": client,
            "pool": pool,
            "asset": asset,
            "cursor": cursor,
            "limit": limit,
            "as_of": as_of,
            "as_of_seq": _text(as_of_seq),
        }
        return cast(Page[Balance], self._read(op.list_balances, query))

    def balance(
        self, account_id: str | int, *, as_of: str | None = None, as_of_seq: str | int | None = None
    ) -> Balance:
        query = {"as_of": as_of, "as_of_seq": _text(as_of_seq)}
        return cast(Balance, self._read(op.get_balance, query, account_id=str(account_id)))

    def positions(
        self, *, as_of: str | None = None, as_of_seq: str | int | None = None
    ) -> Page[Document]:
        """Pool positions with their coverage (staff)."""
        query = {"as_of": as_of, "as_of_seq": _text(as_of_seq)}
        return cast(Page[Document], self._read(op.positions, query))

    # ------------------------------------------------------------------ transfers

    def submit_transfers(
        self, transfers: Sequence[Document], idempotency_key: str | None = None
    ) -> Results:
        """Up to 8,189 transfers in the wire format (docs/ledger.md), decided as one batch."""
        body = {"transfers": list(transfers)}
        return cast(Results, self._write(op.create_transfers, body, idempotency_key))

    def transfer(self, transfer_id: str | int) -> Transfer:
        return cast(Transfer, self._read(op.get_transfer, transfer_id=str(transfer_id)))

    def transfers(
        self,
        *,
        account: str | int = "",
        client: str = "",
        code: str = "",
        from_ns: int = 0,
        to_ns: int = 0,
        metadata: Mapping[str, str] | None = None,
        cursor: str | None = None,
        limit: int | None = None,
    ) -> Page[Transfer]:
        """Transfers, oldest first; timestamps in [from_ns, to_ns) when given; carrying every
        pair of ``metadata`` exactly (``{"txid": "4a5e..."}``) when given."""
        query: Query = {
            "account": str(account),
            "client": client,
            "code": code,
            "from_ns": from_ns or None,
            "to_ns": to_ns or None,
            "metadata": [f"{key}={value}" for key, value in (metadata or {}).items()],
            "cursor": cursor,
            "limit": limit,
        }
        return cast(Page[Transfer], self._read(op.list_transfers, query))

    # ------------------------------------------------------------------ withdrawals, policies

    def request_withdrawal(self, request: Document, idempotency_key: str | None = None) -> Document:
        """A withdrawal, sweep or rebalance (docs/withdrawals.md)."""
        return cast(Document, self._write(op.request_withdrawal, request, idempotency_key))

    def withdrawals(
        self,
        *,
        status: str = "",
        client: str = "",
        cursor: str | None = None,
        limit: int | None = None,
    ) -> Page[Document]:
        query = {"status": status, "client": client, "cursor": cursor, "limit": limit}
        return cast(Page[Document], self._read(op.list_withdrawals, query))

    def withdrawal(self, withdrawal_id: str | int) -> Document:
        return cast(Document, self._read(op.get_withdrawal, withdrawal_id=str(withdrawal_id)))

    def approve_withdrawal(
        self, withdrawal_id: str | int, signature: str | None = None
    ) -> Document:
        """``signature``: the approver's signature of the approval instruction, hex (required
        when the policy that decided the withdrawal says ``approvals_signed``)."""
        body = _signature_body(signature)
        return cast(
            Document, self._write(op.approve_withdrawal, body, withdrawal_id=str(withdrawal_id))
        )

    def reject_withdrawal(
        self, withdrawal_id: str | int, signature: str | None = None
    ) -> Document:
        body = _signature_body(signature)
        return cast(
            Document, self._write(op.reject_withdrawal, body, withdrawal_id=str(withdrawal_id))
        )

    def withdrawal_approval_instruction(
        self, withdrawal_id: str | int, approver: str = "", decision: str = "approve"
    ) -> Document:
        """The approval instruction to sign (``instruction``, hex) for an approval given with
        ``approve_withdrawal(..., signature=...)``; ``approver`` defaults to the caller."""
        query = {"approver": approver or None, "decision": decision}
        path = {"withdrawal_id": str(withdrawal_id)}
        return cast(Document, self._read(op.withdrawal_approval_instruction, query, **path))

    def process_withdrawals(self, confirmations: int | None = None) -> Document:
        body = {} if confirmations is None else {"confirmations": confirmations}
        return cast(Document, self._write(op.process_withdrawals, body))

    def policies(self) -> Page[Document]:
        return cast(Page[Document], self._read(op.list_policies))

    def policy(self, version: str | int) -> Document:
        return cast(Document, self._read(op.get_policy, version=str(version)))

    def draft_policy(self, policy: Document) -> Document:
        return cast(Document, self._write(op.draft_policy, {"policy": policy}))

    def approve_policy(self, version: str | int, signature: str | None = None) -> Document:
        body = _signature_body(signature)
        return cast(Document, self._write(op.approve_policy, body, version=str(version)))

    def policy_approval_instruction(self, version: str | int, approver: str = "") -> Document:
        query = {"approver": approver or None}
        return cast(
            Document, self._read(op.policy_approval_instruction, query, version=str(version))
        )

    def publish_policy(self, version: str | int) -> Document:
        return cast(Document, self._write(op.publish_policy, {}, version=str(version)))

    def simulate_policy(self, request: Document) -> Document:
        """``{"from": ..., "policy": {...}}`` or ``{"from": ..., "version": N}``."""
        return cast(Document, self._write(op.simulate_policy, request))

    # ------------------------------------------------------------------ audit, events

    def verify_audit(self) -> Document:
        return cast(Document, self.send(op.audit_verify).document)

    def metrics(self) -> str:
        """The Prometheus exposition text (staff)."""
        return cast(str, self._read(op.metrics))

    def events(self, *, after: str = "", types: str = "", limit: int | None = None) -> Page[Event]:
        """Events after ``after`` (a ``next_cursor``), of ``types`` (``transfer.*,...``)."""
        query = {"after": after, "types": types, "limit": limit}
        return cast(Page[Event], self._read(op.list_events, query))

    def webhooks(self) -> Document:
        return cast(Document, self._read(op.list_webhooks))

    def subscribe_webhook(
        self, url: str, types: Sequence[str], after: str | None = None
    ) -> Document:
        """A new subscription; its signing secret is in the answer, and only there."""
        body: Document = {"url": url, "types": list(types)}
        if after is not None:
            body["after"] = after
        return cast(Document, self._write(op.create_webhook, body))

    def webhook(self, subscription_id: str) -> Document:
        return cast(Document, self._read(op.get_webhook, subscription_id=subscription_id))

    def delete_webhook(self, subscription_id: str) -> Document:
        return cast(Document, self._read(op.delete_webhook, subscription_id=subscription_id))

    def replay_webhook(self, subscription_id: str, after: str) -> Document:
        body = {"after": after}
        return cast(Document, self._write(op.replay_webhook, body, subscription_id=subscription_id))

    # ------------------------------------------------------------------ reconciliation

    def reconcile(self, documents: Mapping[str, str] | None = None) -> Document:
        """Run and journal a reconciliation: ``as_of``, ``observations``, ``settings``, each
        the text the command line would read from its file."""
        return cast(Document, self._write(op.reconcile, dict(documents or {})))

    def segregation_statement(
        self, *, as_of: str | None = None, as_of_seq: str | int | None = None
    ) -> Document:
        query = {"as_of": as_of, "as_of_seq": _text(as_of_seq)}
        return cast(Document, self._read(op.segregation, query))

    def segregation_statement_from(self, documents: Mapping[str, str]) -> Document:
        """The statement over uploaded ``observations`` and ``settings`` (journals nothing)."""
        return cast(Document, self._write(op.segregation_from, dict(documents)))

    def client_statement(self, client: str, from_time: str, to_time: str) -> Document:
        query = {"from": from_time, "to": to_time}
        return cast(Document, self._read(op.client_statement, query, client=client))

    def register(self) -> Document:
        return cast(Document, self._read(op.register))

    def breaks(self, *, include_cured: bool = False) -> Document:
        return cast(Document, self._read(op.list_breaks, {"include_cured": include_cured}))

    def reconciliation_break(self, break_id: str | int) -> Document:
        return cast(Document, self._read(op.get_break, break_id=str(break_id)))

    def explain_break(self, break_id: str | int, cause: str, action: str) -> Document:
        body = {"cause": cause, "action": action}
        return cast(Document, self._write(op.explain_break, body, break_id=str(break_id)))

    def cure_break(
        self, break_id: str | int, documents: Mapping[str, str] | None = None
    ) -> Document:
        """Cure with ``correction`` and ``make_good`` (transfer ids) when the cause needs."""
        body = dict(documents or {})
        return cast(Document, self._write(op.cure_break, body, break_id=str(break_id)))

    def ledger_breaks(self) -> Document:
        return cast(Document, self._read(op.ledger_breaks))

    # ------------------------------------------------------------------ reports, proofs

    def por_rounds(self) -> Document:
        return cast(Document, self._read(op.list_rounds))

    def build_por_round(
        self,
        number: str | int,
        *,
        snapshot: str | int | None = None,
        documents: Mapping[str, str] | None = None,
        private: bool = False,
        idempotency_key: str | None = None,
    ) -> Document:
        """Build, sign and keep round ``number`` (the next one; one already kept answers with
        its summary and ``built`` false): ``documents`` are ``holdings`` and ``control``, the
        text of the files ``por build`` reads."""
        body: dict[str, Any] = {"round": str(number), **dict(documents or {})}
        if snapshot is not None:
            body["snapshot"] = str(snapshot)
        if private:
            body["private"] = True
        return cast(Document, self._write(op.build_round, body, idempotency_key))

    def por_round(self, number: str | int) -> Document:
        """One round's signed record; ``number`` may be ``latest``."""
        return cast(Document, self._read(op.get_round, number=str(number)))

    def inclusion_proofs(self, client: str, number: str | int = "latest") -> Document:
        """The client's key and inclusion proofs in a round (that client, or the auditor)."""
        return cast(Document, self._read(op.get_proofs, number=str(number), client=client))

    def risk_scan(self) -> Document:
        return cast(Document, self._read(op.risk_scan))

    def apply_fills(
        self, fills: Sequence[Mapping[str, Any]], idempotency_key: str | None = None
    ) -> Document:
        """Fills from the venue's matching engine, each journaled with its fee in one store
        transaction; a result per fill (``index``, ``result``). An operator's call."""
        return cast(Document, self._write(op.apply_fills, {"fills": [dict(f) for f in fills]},
                                          idempotency_key))

    def insurance_funds(self) -> Document:
        return cast(Document, self._read(op.insurance_funds))

    def regulatory_report(self, report: str, documents: Mapping[str, str]) -> Document:
        return cast(Document, self._write(op.regulatory_report, dict(documents), report=report))

    def in_kind_returns(self, scenario: Mapping[str, Any]) -> Document:
        """What each client would get back in kind if the firm failed in ``scenario`` (the
        failure scenario as ``insolvency simulate`` reads it), and in what order."""
        return cast(Document, self._write(op.in_kind_returns, {"scenario": dict(scenario)}))

    def simulate_insolvency(self, scenario: Document) -> Document:
        """``insolvency simulate``: every client's recovery, segregated and commingled."""
        return cast(Document, self._write(op.insolvency_simulation, {"scenario": scenario}))

    def resolution_pack(
        self, *, scenario: Document | None = None, documents: Mapping[str, str] | None = None
    ) -> bytes:
        """The resolution pack as zip bytes (its ``index.json`` lists every file with its
        SHA-256): with ``scenario``, a failure simulation in it; ``documents`` are
        ``register``, ``policies`` and ``prices``, the text of the files the command reads."""
        body: dict[str, Any] = dict(documents or {})
        if scenario is not None:
            body["scenario"] = scenario
        return cast(bytes, self._write(op.resolution_pack, body))

    # ------------------------------------------------------------------ custody

    def wallets(
        self,
        *,
        pool: str = "",
        house: bool = False,
        chain: str = "",
        cursor: str | None = None,
        limit: int | None = None,
    ) -> Page[Document]:
        """Wallets by number; only a pool's, the house's (``house``) or a chain's if asked."""
        query = {"pool": pool, "house": house or None, "chain": chain, "cursor": cursor,
                 "limit": limit}  # fmt: skip
        return cast(Page[Document], self._read(op.list_wallets, query))

    def wallet(self, name: str, *, cursor: str | None = None, limit: int | None = None) -> Document:
        """One wallet with a page of its addresses (``address_page``)."""
        query = {"cursor": cursor, "limit": limit}
        return cast(Document, self._read(op.get_wallet, query, name=name))

    def create_wallet(self, wallet: Document, idempotency_key: str | None = None) -> Results:
        """Define a wallet as ``wallets create`` does (``name``, ``chain``, ``scheme``,
        ``keys``; ``pool``, ``tier``, ``network``)."""
        return cast(Results, self._write(op.create_wallet, dict(wallet), idempotency_key))

    def assign_addresses(
        self,
        wallet: str,
        *,
        count: int = 1,
        start: int = 0,
        client: str = "",
        change: bool = False,
        idempotency_key: str | None = None,
    ) -> Results:
        """Derive ``count`` addresses of ``wallet`` from ``start`` and assign them to
        ``client`` (its deposit addresses) or, with none, to the wallet's pool."""
        body = {"count": count, "start": start, "client": client, "change": change}
        return cast(Results, self._write(op.assign_addresses, body, idempotency_key, name=wallet))

    def designate_wallet(
        self, wallet: str, *, pool: str | None = None, tier: str | None = None
    ) -> Results:
        """Move ``wallet`` to another pool (``""``: the house) or tier; what is None stays."""
        body = {key: value for key, value in (("pool", pool), ("tier", tier)) if value is not None}
        return cast(Results, self._write(op.designate_wallet, body, name=wallet))

    def record_client_address(self, client: str, address: str) -> Results:
        """Record ``address`` as the client's own, outside the firm."""
        body = {"address": address}
        return cast(Results, self._write(op.record_client_address, body, client=client))

    def deposit_addresses(
        self, client: str, *, cursor: str | None = None, limit: int | None = None
    ) -> Page[Document]:
        query = {"cursor": cursor, "limit": limit}
        return cast(Page[Document], self._read(op.deposit_addresses, query, client=client))


def _text(value: str | int | None) -> str | None:
    return None if value is None else str(value)


def _query_text(query: Query) -> dict[str, str | list[str]]:
    """Parameters as the service reads them: absent when None or empty, booleans in words, a
    list as the parameter repeated."""
    sent: dict[str, str | list[str]] = {}
    for name, value in query.items():
        if value is None or value == "" or (isinstance(value, list | tuple) and not value):
            continue
        if isinstance(value, list | tuple):
            sent[name] = [str(item) for item in value]
        elif isinstance(value, bool):
            sent[name] = "true" if value else "false"
        else:
            sent[name] = str(value)
    return sent


def _answer(response: httpx2.Response) -> Answer:
    media = response.headers.get("content-type", "").split(";")[0].strip().lower()
    if response.status_code >= 400 and media == _problem_media_type:
        raise _problem(response)
    if not 200 <= response.status_code < 300:
        raise AnswerUnreadableError(response.status_code, f"{media or 'no media type'} answer")
    replayed = response.headers.get("idempotency-replayed", "") == "true"
    if media == "text/plain":
        return Answer(response.status_code, response.text, replayed)
    if media == _zip_media_type:
        return Answer(response.status_code, response.content, replayed)
    if media != _json_media_type:
        raise AnswerUnreadableError(response.status_code, f"{media or 'no media type'}, not JSON")
    try:
        document = response.json()
    except ValueError as error:
        raise AnswerUnreadableError(response.status_code, f"not JSON: {error}") from None
    return Answer(response.status_code, document, replayed)


def _problem(response: httpx2.Response) -> ProblemError:
    try:
        document = response.json()
    except ValueError:
        return ProblemError("problem_unreadable", response.status_code)
    if not isinstance(document, dict) or not isinstance(document.get("code"), str):
        return ProblemError("problem_unreadable", response.status_code)
    return ProblemError(
        document["code"],
        response.status_code,
        str(document.get("title", "")),
        str(document.get("detail", "")),
        str(document.get("instance", "")),
    )


def _signature_body(signature: str | None) -> dict[str, Any]:
    """An approval's body: empty, or the approver's signature (hex)."""
    return {} if signature is None else {"signature": signature}
