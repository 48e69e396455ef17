"""Command groups beyond the ledger's own, one module per area (``ringfence NAME ...``).

Each module defines ``name`` (the command word) and ``app`` (a ``typer.Typer``); the CLI
registers every module here at start-up. Modules may use the helpers in
``ringfence.entrypoints.cli`` (``opened``, ``reported``, ``write_json``, ``JsonOption``, ...).
"""
