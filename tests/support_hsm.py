"""A SoftHSM2 for tests: one configuration and token folder per test process, initialised once.

PKCS#11 state is per process: SoftHSM2 reads ``SOFTHSM2_CONF`` and scans its token folder when
the module is first initialised, so every token any test of the process uses is made here,
before that, and every test module takes its tokens from this one fixture. Tokens:

- ``ringfence-test``: the one the signer tests log into;
- ``ringfence-other``: only ever offered a wrong PIN;
- ``ringfence-vault-a`` and ``ringfence-vault-b``: two devices, each holding one key of a 2-of-3
  vault (a vault's keys never share a device).

Without softhsm2 the tests skip, except under ``CI=true``, where they fail: a CI run must not
pass by skipping the real device.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from ringfence.adapters.hsm import default_module_path

token_label = "ringfence-test"
other_token_label = "ringfence-other"
vault_token_labels = ("ringfence-vault-a", "ringfence-vault-b")
user_pin = "246810"
security_officer_pin = "13579111"


@pytest.fixture(scope="session")
def softhsm(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A SoftHSM2 configuration with fresh tokens; returns the module's path."""
    tool = shutil.which("softhsm2-util")
    if tool is None or not Path(default_module_path).is_file():
        reason = "softhsm2 is not installed (make tools)"
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(f"{reason} (CI=true: the HSM tests must run)")
        pytest.skip(reason)
    folder = tmp_path_factory.mktemp("softhsm")
    (folder / "tokens").mkdir()
    configuration = folder / "softhsm2.conf"
    configuration.write_text(
        f"directories.tokendir = {folder / 'tokens'}\n"
        "objectstore.backend = file\n"
        "log.level = ERROR\n",
        encoding="ascii",
    )
    with pytest.MonkeyPatch.context() as patch:
        # Read when the module is first initialised in this process, which is after this.
        patch.setenv("SOFTHSM2_CONF", str(configuration))
        for label in (token_label, other_token_label, *vault_token_labels):
            subprocess.run(
                [tool, "--init-token", "--free", "--label", label,
                 "--pin", user_pin, "--so-pin", security_officer_pin],
                check=True, capture_output=True, timeout=60,
            )  # fmt: skip
        yield default_module_path
