"""The regulatory files: versioned, hashed, and every defect named with nothing guessed."""

from __future__ import annotations

import hashlib
from typing import Any

import pytest
from tests.unit.core.regulatory.support import document

from ringfence.core.errors import InputError, Result
from ringfence.core.money import Asset
from ringfence.core.regulatory.files import (
    Approval,
    parse_haircut_schedule,
    parse_insurance_schedule,
    parse_margin_requirements,
    parse_sub_custodian_register,
)

ASSETS = {"BTC": Asset("BTC", 8, 1, chain="bitcoin")}
WALLETS = ("w1", "w2", "w3")
ANCHOR = {
    "name": "anchor",
    "status": "approved",
    "approved_on": "2026-01-15",
    "due_diligence": [
        {"kind": "soc2_type2", "period_end": "2026-06-30", "received_on": "2026-08-01"}
    ],
    "wallets": ["w1"],
}
POLICY = {
    "id": "crime",
    "insurer": "syndicate 1",
    "limit": "1000000.00",
    "deductible": "50000",
    "tiers": ["hot"],
    "start": "2026-01-01",
    "end": "2027-01-01",
}


def refused(parse: Any, text: bytes, code: Result) -> None:
    with pytest.raises(InputError) as caught:
        parse(text)
    assert caught.value.code is code, caught.value


def test_a_register_reads_back_with_its_hash() -> None:
    text = document(
        sub_custodians=[ANCHOR, {"name": "newco", "status": "pending", "wallets": ["w2"]}]
    )
    register = parse_sub_custodian_register(text, WALLETS)
    assert register.identity.sha256 == hashlib.sha256(text).hexdigest()
    anchor, newco = register.sub_custodians
    assert (anchor.status, anchor.wallets, newco.status) == (
        Approval.approved,
        ("w1",),
        Approval.pending,
    )
    assert anchor.due_diligence[0].kind == "soc2_type2"
    assert register.location_of() == {"w1": anchor, "w2": newco}


@pytest.mark.parametrize(
    ("change", "code"),
    [
        ({"version": 2}, Result.regulatory_file_version_unsupported),
        ({"sub_custodians": [ANCHOR, ANCHOR]}, Result.sub_custodian_duplicate),
        ({"sub_custodians": [{**ANCHOR, "status": "maybe"}]}, Result.sub_custodian_status_invalid),
        ({"sub_custodians": [{**ANCHOR, "wallets": ["nope"]}]}, Result.wallet_not_found),
        (
            {"sub_custodians": [ANCHOR, {**ANCHOR, "name": "b"}]},
            Result.sub_custodian_wallet_listed_twice,
        ),
        (
            {"sub_custodians": [{k: v for k, v in ANCHOR.items() if k != "approved_on"}]},
            Result.field_required,
        ),
        ({"sub_custodians": [{**ANCHOR, "extra": 1}]}, Result.field_unknown),
        ({"sub_custodians": [{**ANCHOR, "approved_on": "yesterday"}]}, Result.timestamp_invalid),
        ({"sub_custodians": "anchor"}, Result.field_required),
    ],
)
def test_register_defects(change: dict[str, Any], code: Result) -> None:
    fields = {"sub_custodians": [ANCHOR], **change}
    refused(lambda t: parse_sub_custodian_register(t, WALLETS), document(**fields), code)
    refused(lambda t: parse_sub_custodian_register(t, WALLETS), b"{", Result.line_malformed)


def test_policies_in_quote_minor_units() -> None:
    schedule = parse_insurance_schedule(
        document(quote="USD", quote_scale=2, policies=[POLICY]), WALLETS
    )
    (policy,) = schedule.policies
    assert (policy.limit, policy.deductible, policy.tiers) == (100_000_000, 5_000_000, ("hot",))


@pytest.mark.parametrize(
    ("change", "code"),
    [
        ({"limit": 1.5}, Result.amount_must_not_be_float),
        ({"limit": "1.005"}, Result.amount_finer_than_asset_scale),
        ({"limit": "-1"}, Result.amount_must_not_be_negative),
        ({"limit": "0"}, Result.insurance_policy_invalid),
        ({"tiers": ["lukewarm"]}, Result.wallet_tier_invalid),
        ({"tiers": [], "wallets": []}, Result.insurance_policy_invalid),
        ({"wallets": ["nope"]}, Result.wallet_not_found),
        ({"end": "2025-01-01"}, Result.insurance_policy_invalid),
    ],
)
def test_policy_defects(change: dict[str, Any], code: Result) -> None:
    text = document(quote="USD", quote_scale=2, policies=[{**POLICY, **change}])
    refused(lambda t: parse_insurance_schedule(t, WALLETS), text, code)


def test_policy_ids_are_unique() -> None:
    text = document(quote="USD", quote_scale=2, policies=[POLICY, POLICY])
    refused(lambda t: parse_insurance_schedule(t, WALLETS), text, Result.insurance_policy_duplicate)


def test_haircuts() -> None:
    text = document(quote="USD", quote_scale=2, haircuts=[{"asset": "BTC", "haircut_bps": 2000}])
    assert parse_haircut_schedule(text, ASSETS).haircuts_bps == {"BTC": 2000}
    for bad in (10_001, -1, 20.0, True):
        text = document(quote="USD", quote_scale=2, haircuts=[{"asset": "BTC", "haircut_bps": bad}])
        refused(lambda t: parse_haircut_schedule(t, ASSETS), text, Result.haircut_invalid)
    text = document(quote="USD", quote_scale=2, haircuts=[{"asset": "XRP", "haircut_bps": 1}])
    refused(lambda t: parse_haircut_schedule(t, ASSETS), text, Result.asset_not_found)


def test_margin_requirements() -> None:
    pools = {"margin": True, "earn": False}
    row = {"pool": "margin", "asset": "BTC", "client": "alice", "required": "0.5"}
    text = document(deadline="2026-11-20T23:00:00Z", requirements=[row])
    parsed = parse_margin_requirements(text, ASSETS, pools, ("alice",))
    assert parsed.required == {("margin", "BTC", "alice"): 50_000_000}
    assert parsed.deadline_ns == 1_795_215_600 * 10**9

    def parse(text: bytes) -> Any:
        return parse_margin_requirements(text, ASSETS, pools, ("alice",))

    for changed, code in (
        ({"pool": "earn"}, Result.margin_requirement_invalid),
        ({"pool": "none"}, Result.pool_not_found),
        ({"client": "zed"}, Result.client_not_found),
        ({"required": "0.000000001"}, Result.amount_finer_than_asset_scale),
    ):
        refused(parse, document(deadline="2026-11-20", requirements=[{**row, **changed}]), code)
    refused(
        parse,
        document(deadline="2026-11-20", requirements=[row, row]),
        Result.margin_requirement_duplicate,
    )
    refused(parse, document(requirements=[row]), Result.field_required)
