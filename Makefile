# Every target builds what it needs: on a fresh machine `make demo` and `make test` are enough.

PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
DEMO_DB := demo/ringfence.db
# Outside tools the tests and the demo run for real: a local Ethereum node (anvil, from npm)
# and a headless browser (Debian's chromium) for the client verifier page, and a software HSM
# (Debian's softhsm2) for the PKCS#11 signers.
TOOLS := .tools
ANVIL_VERSION := 1.7.1
ANVIL := $(TOOLS)/node_modules/@foundry-rs/anvil-linux-amd64/bin/anvil

.PHONY: venv tools test lint format demo demo-pack bench clean web-bundle

# The stamp depends on pyproject.toml, so a change of dependencies reinstalls and a re-run
# without one does nothing.
venv: $(STAMP)

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check --upgrade pip
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -e '.[dev]'
	touch $@

tools: $(ANVIL) /usr/bin/chromium /usr/bin/softhsm2-util

$(ANVIL):
	npm install --silent --no-audit --no-fund --prefix $(TOOLS) \
		@foundry-rs/anvil-linux-amd64@$(ANVIL_VERSION)
	test -x $@ && touch $@

# Debian's chromium, never a downloaded browser. Needs root (as on CI) or a machine that has it.
/usr/bin/chromium:
	apt-get install -y -q chromium >/dev/null || \
		(apt-get update -q >/dev/null && apt-get install -y -q chromium >/dev/null)

# Debian's softhsm2: the PKCS#11 module and the tool the tests initialise their token with.
/usr/bin/softhsm2-util:
	apt-get install -y -q softhsm2 >/dev/null || \
		(apt-get update -q >/dev/null && apt-get install -y -q softhsm2 >/dev/null)

# The ristretto255 script inline in the browser verifier (verify.html) from the pinned
# @noble/curves and @noble/hashes, bundled by esbuild. The page in the repository already
# carries it, with the packages' licence; run this only to change their versions.
web-bundle: venv
	$(BIN)/python tools/web/build_ristretto255.py

# Static checks, in order, stopping at the first failure.
lint: venv
	$(BIN)/ruff check src tests tools
	$(BIN)/mypy src
	$(BIN)/lint-imports
	$(BIN)/python tools/tidy.py src

test: lint tools
	$(BIN)/pytest -n auto --dist worksteal --durations=25

format: venv
	$(BIN)/ruff format src tests tools
	$(BIN)/ruff check --fix src tests tools

demo: venv tools
	rm -f $(DEMO_DB) $(DEMO_DB)-wal $(DEMO_DB)-shm $(DEMO_DB)-journal
	mkdir -p demo
	$(BIN)/ringfence --db sqlite:///$(DEMO_DB) demo --out demo
	$(BIN)/ringfence --db sqlite:///$(DEMO_DB) audit verify

# The practitioner's resolution pack of the demo's day, from the files the demo kept in
# demo/inputs/ (its failure scenario, sub-custodian register, policies and prices): the register,
# the insurance schedule and the in-kind return schedule are in it, each hashed in its index.
# Apart from `demo` because it replays the journal again (about a third of the demo's time).
demo-pack: venv
	test -f $(DEMO_DB) || $(MAKE) demo
	$(BIN)/ringfence --db sqlite:///$(DEMO_DB) resolution-pack --out demo/resolution-pack.zip \
		--scenario demo/inputs/scenario.json --register demo/inputs/register.json \
		--policies demo/inputs/policies.json --prices demo/inputs/prices.json

bench: venv
	$(BIN)/ringfence bench ledger

clean:
	rm -rf $(VENV) $(TOOLS) demo build dist .mypy_cache .ruff_cache .pytest_cache .hypothesis \
		.import_linter_cache
	find . -name __pycache__ -type d -prune -exec rm -rf {} +
	find . -name '*.egg-info' -type d -prune -exec rm -rf {} +
