"""``ringfence serve``: the REST API over the ledger named by ``--db`` (docs/api.md), with
API keys and, optionally, OIDC/JWT bearer tokens (``--oidc-*``), over HTTP or, with
``--tls-cert``, HTTPS only (``--tls-client-ca``: mutual TLS)."""

from __future__ import annotations

import ssl
from typing import Annotated, Any

import typer

from ringfence import bootstrap
from ringfence.core.errors import InputError, Result
from ringfence.entrypoints.cli.output import (
    ApiKeysFileOption,
    WebhooksFileOption,
    database_url,
    reported,
    say,
    target,
)

name = "serve"

RoundsFolder = Annotated[
    str | None,
    typer.Option(
        "--rounds",
        metavar="DIR",
        help="The proof-of-reserves rounds' directory (default: por/ beside the database).",
    ),
]
DeliverEvery = Annotated[
    float,
    typer.Option(
        "--deliver-every",
        metavar="SECONDS",
        min=0,
        help="Deliver webhooks this often (0: not at all; `ringfence events deliver` then).",
    ),
]
OidcIssuer = Annotated[
    str | None,
    typer.Option("--oidc-issuer", metavar="URL", help="Accept bearer tokens of this issuer (iss)."),
]
OidcAudience = Annotated[
    str | None,
    typer.Option("--oidc-audience", metavar="AUD", help="The audience (aud) tokens must name."),
]
OidcKeys = Annotated[
    str | None,
    typer.Option(
        "--oidc-keys", metavar="FILE|URL", help="The issuer's key set (JWKS): a file or https URL."
    ),
]
OidcAlgorithms = Annotated[
    str,
    typer.Option(
        "--oidc-algorithms", metavar="ALGS", help="Allowed, comma-separated (RS256,ES256,EdDSA)."
    ),
]
OidcRoles = Annotated[
    str,
    typer.Option("--oidc-roles", metavar="ROLES", help="Roles a token may carry (default: all)."),
]
OidcRoleClaim = Annotated[str, typer.Option("--oidc-role-claim", help="(ringfence_role)")]
OidcClientClaim = Annotated[str, typer.Option("--oidc-client-claim", help="(ringfence_client)")]
OidcNameClaim = Annotated[str, typer.Option("--oidc-name-claim", help="(sub)")]
OidcLeeway = Annotated[
    int | None, typer.Option("--oidc-leeway", metavar="SECONDS", help="Clock skew (30).")
]
TokenRevocations = Annotated[
    str | None,
    typer.Option(
        "--token-revocations", metavar="FILE",
        help="Tokens revoked before their exp (jti, or sub since a time); re-read on change.",
    ),
]
TlsCert = Annotated[
    str | None,
    typer.Option("--tls-cert", metavar="FILE", help="Serve HTTPS only, with this certificate."),
]
TlsKey = Annotated[
    str | None,
    typer.Option("--tls-key", metavar="FILE", help="The certificate's private key (PEM)."),
]
TlsClientCa = Annotated[
    str | None,
    typer.Option(
        "--tls-client-ca", metavar="FILE", help="Require client certificates from this CA."
    ),
]


def command(
    context: typer.Context,
    *,
    host: Annotated[str, typer.Option(help="Address to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port to listen on.", min=1, max=65535)] = 8080,
    api_keys: ApiKeysFileOption = None,
    webhooks: WebhooksFileOption = None,
    rounds: RoundsFolder = None,
    deliver_every: DeliverEvery = 2.0,
    oidc_issuer: OidcIssuer = None,
    oidc_audience: OidcAudience = None,
    oidc_keys: OidcKeys = None,
    oidc_algorithms: OidcAlgorithms = "",
    oidc_roles: OidcRoles = "",
    oidc_role_claim: OidcRoleClaim = "",
    oidc_client_claim: OidcClientClaim = "",
    oidc_name_claim: OidcNameClaim = "",
    oidc_leeway: OidcLeeway = None,
    token_revocations: TokenRevocations = None,
    tls_cert: TlsCert = None,
    tls_key: TlsKey = None,
    tls_client_ca: TlsClientCa = None,
) -> None:
    """Serve the REST API until interrupted: each route one service call, API keys with
    roles, errors as RFC 9457 problems, metrics at /metrics, webhooks delivered; and the
    operator console and the client portal (sign in at / with an API key)."""
    import uvicorn

    from ringfence.entrypoints.api.app import create_app
    from ringfence.service.tokens import token_settings

    with reported(False):
        tls = tls_options(tls_cert, tls_key, tls_client_ca)
        tokens = None
        if oidc_issuer or oidc_audience or oidc_keys:
            tokens = token_settings(
                oidc_issuer or "", oidc_audience or "", algorithms=oidc_algorithms,
                roles=oidc_roles, role_claim=oidc_role_claim, client_claim=oidc_client_claim,
                name_claim=oidc_name_claim, leeway_s=oidc_leeway,
            )  # fmt: skip
        bundle = bootstrap.open_service(
            database_url(context),
            target(context).journal_key,
            api_keys,
            webhooks_file=webhooks,
            rounds_folder=rounds,
            tokens=tokens,
            key_set=oidc_keys,
            token_revocations=token_revocations,
        )
    try:
        where = f"{'https' if tls else 'http'}://{host}:{port}"
        say(f"ringfence serving {bootstrap.redacted_url(database_url(context))} on {where}")
        app = create_app(bundle, deliver_every or None)
        uvicorn.run(app, host=host, port=port, log_level="warning", **tls)
    finally:
        bundle.close()


def tls_options(certificate: str | None, key: str | None, client_ca: str | None) -> dict[str, Any]:
    """uvicorn's TLS settings, checked first by loading them into a context as the server will
    (``tls_settings_invalid`` for a missing or mismatched file, before anything listens).
    With a certificate the port speaks TLS only: a plain HTTP request gets no answer."""
    if certificate is None:
        if key is not None or client_ca is not None:
            raise InputError(
                Result.tls_settings_invalid, "--tls-key and --tls-client-ca need --tls-cert"
            )
        return {}
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    try:
        context.load_cert_chain(certificate, key)
        if client_ca is not None:
            context.load_verify_locations(client_ca)
    except (OSError, ssl.SSLError) as error:
        raise InputError(Result.tls_settings_invalid, f"{type(error).__name__}: {error}") from None
    options: dict[str, Any] = {"ssl_certfile": certificate, "ssl_keyfile": key}
    if client_ca is not None:
        options.update(ssl_ca_certs=client_ca, ssl_cert_reqs=ssl.CERT_REQUIRED)
    return options
