"""Holdings sources (``service.ports.HoldingsSource``) over chains and custodians' records.

- ``ethereum.EthereumHoldings``: Ether and ERC-20 balances and inflows from an Ethereum
  JSON-RPC node (web3.py); its tests run against a real local node (anvil).
- ``utxo_snapshot.UtxoSnapshotSource``: Bitcoin holdings and inflows from UTXO-set snapshot
  files (no Bitcoin node is installable here).
- ``statements.StatementSource``: holdings from custodian statement files.

Each module is imported on its own (``from ringfence.adapters.chains.ethereum import ...``), so
choosing one source does not load the others' libraries.
"""
