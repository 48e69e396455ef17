"""``ringfence wallets derive`` end to end, no database needed: in process, and the BIP84 vector
through the installed console script."""

from __future__ import annotations

import pytest
from bip_utils import Bip32Secp256k1, Bip39SeedGenerator
from embit.descriptor import Descriptor
from tests import support_cli as cli
from tests.support_cli import Run

from ringfence.core import errors

# BIP84's test vector: the account key of the "abandon … about" mnemonic and its addresses.
ZPUB = (
    "zpub6rFR7y4Q2AijBEqTUquhVz398htDFrtymD9xYYfG1m4wAcvPhXNfE3EfH1r1ADqtfSdVCToUG868RvUUkgDKf31m"
    "GDtKsAYz2oz2AGutZYs"
)
ZPRV = (
    "zprvAdG4iTXWBoARxkkzNpNh8r6Qag3irQB8PzEMkAFeTRXxHpbF9z4QgEvBRmfvqWvGp42t42nvgGpNgYSJA9iefm1y"
    "YNZKEm7z6qUWCroSQnE"
)
RECEIVE = [
    "bc1qcr8te4kr609gcawutmrza0j4xv80jy8z306fyu",
    "bc1qnjg0jd8228aq7egyzacy8cys3knf9xvrerkf9g",
]
CHANGE_0 = "bc1q8c6fshw2dlwun7ekn9qwf37cu2rn755upcp6el"

MASTER = Bip32Secp256k1.FromSeed(Bip39SeedGenerator("abandon " * 11 + "about").Generate())
VAULT = [str(MASTER.DerivePath(f"m/48'/0'/{k}'/2'").PublicKey().ToExtended()) for k in range(3)]
BIP84_XPUB = str(MASTER.DerivePath("m/84'/0'/0'").PublicKey().ToExtended())
ETH_ACCOUNT = str(MASTER.DerivePath("m/44'/60'/0'").PublicKey().ToExtended())


def run(*arguments: str) -> Run:
    return cli.run(None, "wallets", "derive", *arguments)


def keys(*xpubs: str) -> list[str]:
    return [argument for xpub in xpubs for argument in ("--xpub", xpub)]


def test_bip84_plain_list_is_the_vector() -> None:
    result = cli.run_installed(None, "wallets", "derive", *keys(ZPUB), "--count", "2")
    assert result.status == 0, result.stderr
    assert result.stdout.splitlines() == RECEIVE


def test_bip84_json_document() -> None:
    result = run(*keys(ZPUB), "--count", "1", "--change", "--json")
    assert result.status == 0, result.stderr
    document = result.document
    assert document["ok"] is True
    assert document["addresses"] == [CHANGE_0]
    assert document["kind"] == "bip84"
    assert document["network"] == "mainnet"
    assert document["chain"] == "change"
    assert (document["start"], document["count"]) == (0, 1)
    assert document["descriptor"].startswith("wpkh(xpub6CatWdiZiodm")
    assert document["descriptor"].split("#")[0].endswith("/1/*)")


def test_start_and_count_across_progress_chunks() -> None:
    start, count = 5, 10_007  # more than one chunk of 10,000
    result = run(*keys(ZPUB), "--count", str(count), "--start", str(start), "--json")
    assert result.status == 0, result.stderr
    found = result.document["addresses"]
    assert len(found) == count
    assert len(set(found)) == count
    reference = Descriptor.from_string(f"wpkh({BIP84_XPUB}/0/*)")
    for index in (start, start + 9_999, start + 10_000, start + count - 1):
        assert found[index - start] == reference.derive(index).address()


def test_multisig_vault_matches_embit() -> None:
    result = run(*keys(*VAULT), "--kind", "multisig", "--count", "3", "--start", "7", "--json")
    assert result.status == 0, result.stderr
    text = "wsh(sortedmulti(2," + ",".join(f"{x}/0/*" for x in VAULT) + "))"
    reference = Descriptor.from_string(text)
    assert result.document["addresses"] == [reference.derive(i).address() for i in (7, 8, 9)]
    assert result.document["descriptor"].startswith(text + "#")


def test_eth_account() -> None:
    result = run(*keys(ETH_ACCOUNT), "--kind", "eth", "--count", "1")
    assert result.status == 0, result.stderr
    assert result.stdout.strip() == "0x9858EfFD232B4033E47d90003D41EC34EcaEda94"


@pytest.mark.parametrize(
    ("arguments", "code"),
    [
        ((*keys(ZPUB[:-1] + "t"), "--count", "1"), "xpub_checksum_invalid"),
        ((*keys("not-a-key"), "--count", "1"), "xpub_malformed"),
        ((*keys(ZPRV), "--count", "1"), "xpub_not_public"),
        ((*keys(ZPUB), "--count", "1", "--network", "testnet"), "xpub_wrong_network"),
        ((*keys(ZPUB), "--count", "0"), "derivation_count_invalid"),
        ((*keys(ZPUB), "--count", "2", "--start", "2147483647"), "derivation_index_invalid"),
        ((*keys(ZPUB), "--count", "1", "--start", "-1"), "derivation_index_invalid"),
        (
            (*keys(*VAULT[:2]), "--kind", "multisig", "--count", "1"),
            "multisig_requires_three_xpubs",
        ),
        (
            (*keys(VAULT[0], VAULT[1], VAULT[0]), "--kind", "multisig", "--count", "1"),
            "multisig_xpubs_must_differ",
        ),
        ((*keys(ZPUB, ZPUB), "--count", "1"), "single_signature_requires_one_xpub"),
    ],
)
def test_bad_input_exits_2_with_the_code(arguments: tuple[str, ...], code: str) -> None:
    plain = run(*arguments)
    assert plain.status == errors.exit_status_input == 2
    assert plain.stdout == ""
    assert plain.stderr.startswith(f"error: {code}")
    as_json = run(*arguments, "--json")
    assert as_json.status == 2
    assert as_json.document["ok"] is False
    assert as_json.document["error"] == code


def test_unknown_kind_is_a_usage_error() -> None:
    result = run(*keys(ZPUB), "--count", "1", "--kind", "p2tr")
    assert result.status == 2
    assert "p2tr" in result.stderr
