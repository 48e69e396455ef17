"""Every operation of the REST API the client calls: method, path template, query parameters
and whether it sends a JSON body, as the OpenAPI document (docs/openapi.json) declares them.
``tests/unit/remote/test_operations.py`` compares this table with that document and checks
that each entry is what exactly one method of ``RemoteService`` sends."""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["Operation", "every_operation"]


@dataclass(frozen=True, slots=True)
class Operation:
    method: str
    path: str  # a template: /v1/accounts/{account_id}
    query: tuple[str, ...] = ()
    body: bool = False

    def url(self, **values: str) -> str:
        """The path with each ``{name}`` replaced by its value, percent-encoded."""
        from urllib.parse import quote

        return self.path.format(**{name: quote(value, safe="") for name, value in values.items()})


def _get(path: str, *query: str) -> Operation:
    return Operation("GET", path, query)


def _post(path: str) -> Operation:
    """A write: the service reads a JSON body (``{}`` when the call takes nothing more)."""
    return Operation("POST", path, body=True)


_page = ("cursor", "limit")
_as_of = ("as_of", "as_of_seq")

list_assets = _get("/v1/assets")
create_assets = _post("/v1/assets")
list_clients = _get("/v1/clients")
create_clients = _post("/v1/clients")
list_pools = _get("/v1/pools")
create_pools = _post("/v1/pools")
list_accounts = _get("/v1/accounts", "client", "pool", "asset", *_page)
create_accounts = _post("/v1/accounts")
get_account = _get("/v1/accounts/{account_id}")
list_balances = _get("/v1/balances", "client", "pool", "asset", *_page, *_as_of)
get_balance = _get("/v1/balances/{account_id}", *_as_of)
create_transfers = _post("/v1/transfers")
list_transfers = _get(
    "/v1/transfers", "account", "client", "code", "from_ns", "to_ns", "metadata", *_page
)
get_transfer = _get("/v1/transfers/{transfer_id}")
request_withdrawal = _post("/v1/withdrawals")
list_withdrawals = _get("/v1/withdrawals", "status", "client", *_page)
get_withdrawal = _get("/v1/withdrawals/{withdrawal_id}")
approve_withdrawal = _post("/v1/withdrawals/{withdrawal_id}/approve")
reject_withdrawal = _post("/v1/withdrawals/{withdrawal_id}/reject")
withdrawal_approval_instruction = _get(
    "/v1/withdrawals/{withdrawal_id}/approval-instruction", "approver", "decision"
)
process_withdrawals = _post("/v1/withdrawals/process")
list_policies = _get("/v1/policies")
draft_policy = _post("/v1/policies")
simulate_policy = _post("/v1/policies/simulate")
get_policy = _get("/v1/policies/{version}")
approve_policy = _post("/v1/policies/{version}/approve")
publish_policy = _post("/v1/policies/{version}/publish")
policy_approval_instruction = _get("/v1/policies/{version}/approval-instruction", "approver")
positions = _get("/v1/positions", *_as_of)
audit_verify = Operation("POST", "/v1/audit/verify")
health = _get("/v1/health")
metrics = _get("/metrics")
list_events = _get("/v1/events", "after", "types", "limit")
list_webhooks = _get("/v1/webhooks")
create_webhook = _post("/v1/webhooks")
get_webhook = _get("/v1/webhooks/{subscription_id}")
delete_webhook = Operation("DELETE", "/v1/webhooks/{subscription_id}")
replay_webhook = _post("/v1/webhooks/{subscription_id}/replay")
reconcile = _post("/v1/reconciliations")
segregation = _get("/v1/statements/segregation", *_as_of)
segregation_from = _post("/v1/statements/segregation")
client_statement = _get("/v1/statements/clients/{client}", "from", "to")
register = _get("/v1/statements/register")
list_breaks = _get("/v1/breaks", "include_cured")
get_break = _get("/v1/breaks/{break_id}")
explain_break = _post("/v1/breaks/{break_id}/explain")
cure_break = _post("/v1/breaks/{break_id}/cure")
ledger_breaks = _get("/v1/ledger-breaks")
list_rounds = _get("/v1/por/rounds")
build_round = _post("/v1/por/rounds")
get_round = _get("/v1/por/rounds/{number}")
get_proofs = _get("/v1/por/rounds/{number}/proofs/{client}")
risk_scan = _get("/v1/risk/scan")
apply_fills = _post("/v1/risk/fills")
insurance_funds = _get("/v1/liquidation/funds")
regulatory_report = _post("/v1/regulatory/{report}")
in_kind_returns = _post("/v1/regulatory/in-kind")
insolvency_simulation = _post("/v1/insolvency/simulations")
resolution_pack = _post("/v1/resolution-packs")
list_wallets = _get("/v1/wallets", "pool", "house", "chain", *_page)
create_wallet = _post("/v1/wallets")
get_wallet = _get("/v1/wallets/{name}", *_page)
assign_addresses = _post("/v1/wallets/{name}/addresses")
designate_wallet = _post("/v1/wallets/{name}/designation")
record_client_address = _post("/v1/clients/{client}/addresses")
deposit_addresses = _get("/v1/clients/{client}/deposit-addresses", *_page)

every_operation: tuple[Operation, ...] = tuple(
    value for value in list(globals().values()) if isinstance(value, Operation)
)
