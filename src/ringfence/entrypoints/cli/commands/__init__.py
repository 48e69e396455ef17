"""The commands, one module per area (``ringfence NAME ...``), registered at start-up.

Each module defines ``name`` (the command word) and either ``app`` (a ``typer.Typer`` group) or
``command`` (one command), or ``register_commands(root)`` when it adds several (the ledger's own). A
command parses its arguments, calls the service, and renders the result with the helpers in
``ringfence.entrypoints.cli.output`` (``opened``, ``reported``, ``write_json``, ...).
"""
