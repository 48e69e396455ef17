"""Regulatory outputs beyond the daily statement: possession and control (R4), the
residual-interest deadline, the weekly crypto-collateral report, the sub-custodian register and
insurance cover. Pure: the service gathers balances, holdings and the operator's files, and these
modules compute. docs/regulatory.md maps each output to the rule it serves."""
