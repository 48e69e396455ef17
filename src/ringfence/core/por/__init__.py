"""Proof of reserves: liabilities trees, rounds, inclusion proofs, attestation of reserves."""
