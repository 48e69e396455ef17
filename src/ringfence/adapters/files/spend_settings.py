"""The signing service's settings file (``RINGFENCE_SPENDS``, JSON): which keys sign for which
wallets, where spends are kept, and how each chain is reached (docs/spends.md, "Settings").

    {
      "store": "/var/lib/ringfence/spends",
      "wallets": {
        "omni-vault": {"keys": ["pkcs11:token=vault-a;object=omni-vault",
                                "pkcs11:token=vault-b;object=omni-vault"],
                       "script": ["02…", "03…", "02…"], "threshold": 2},
        "omni-eth": {"keys": ["pkcs11:token=hot;object=omni-eth"]}
      },
      "bitcoin": {"snapshots": "/var/lib/ringfence/utxo", "outbox": "/var/lib/ringfence/outbox",
                  "network": "mainnet", "fee_rate_sat_per_kvb": 5000},
      "ethereum": {"rpc_url": "http://127.0.0.1:8545", "chain_id": 1}
    }

``keys`` are PKCS#11 URIs (docs/hsm.md); a Bitcoin wallet's ``script`` lists every public key
of its script (a vault's third key may be held offline) as compressed SEC 1 hex. Nothing here
is trusted to decide what is signed: a script must hash to the wallet's registered address
(else ``spend_keys_invalid``), and a key that is not one of its script's is never asked.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ringfence.core.errors import InputError, Result

settings_bytes_max = 1 << 20


@dataclass(frozen=True, slots=True)
class WalletKeys:
    keys: tuple[str, ...]
    script: tuple[bytes, ...] = ()
    threshold: int = 1


@dataclass(frozen=True, slots=True)
class SpendSettings:
    store: Path
    wallets: dict[str, WalletKeys] = field(default_factory=dict)
    bitcoin: dict[str, Any] | None = None
    ethereum: dict[str, Any] | None = None


def read_spend_settings(path: Path) -> SpendSettings:
    try:
        data = path.read_bytes()[: settings_bytes_max + 1]
        if len(data) > settings_bytes_max:
            raise ValueError("larger than 1 MiB")
        document = json.loads(data)
        return _settings(document, path.parent)
    except (OSError, ValueError, KeyError, TypeError) as error:
        raise InputError(Result.spend_keys_invalid, f"{path}: {error}") from None


def _settings(document: Any, base: Path) -> SpendSettings:
    if not isinstance(document, dict) or set(document) - {
        "store",
        "wallets",
        "bitcoin",
        "ethereum",
    }:
        raise ValueError("an object of store, wallets, bitcoin and ethereum")
    wallets = {}
    for name, entry in dict(document.get("wallets", {})).items():
        keys = tuple(str(key) for key in entry["keys"])
        script = tuple(bytes.fromhex(key) for key in entry.get("script", ()))
        threshold = int(entry.get("threshold", 1))
        wallets[str(name)] = WalletKeys(keys, script, threshold)
    return SpendSettings(
        base / str(document["store"]),
        wallets,
        _section(
            document.get("bitcoin"), {"snapshots", "outbox", "network", "fee_rate_sat_per_kvb"}
        ),
        _section(document.get("ethereum"), {"rpc_url", "chain_id"}),
    )


def _section(section: Any, names: set[str]) -> dict[str, Any] | None:
    if section is None:
        return None
    if not isinstance(section, dict) or set(section) != names:
        raise ValueError(f"a section of {', '.join(sorted(names))}")
    if "network" in section and section["network"] not in ("mainnet", "testnet", "regtest"):
        raise ValueError(f"network {section['network']!r}")
    for number in ("fee_rate_sat_per_kvb", "chain_id"):
        if number in section and type(section[number]) is not int:
            raise ValueError(f"{number} is an integer")
    return section
