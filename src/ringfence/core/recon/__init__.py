"""Reconciliation: the daily segregation statement, internal and external reconciliation,
breaks and their lifecycle, commingling detection, client statements and the register.

Pure, like all of core: the service (service/recon.py) gathers the ledger, the registry,
observations and prices, calls ``reconcile`` and journals what it returns. Formulas, fields and
the break lifecycle are in docs/reconciliation.md.

- ``statement``: requirements, funds, the segregation statement (R1), internal lines (R5)
- ``breaks``: external lines (R6), the break book, explain / correct / make good
- ``commingling``: findings with severity and evidence
- ``history``: balances at a time, causes of residual interest, client statements (R7), the
  register of positions (R8), withdrawals funded by other clients
- ``codec``: the journal records of runs and actions
- ``files``: observation, price and settings files
- ``run``: the pipeline
"""
